"""Multi-rate pruning of any PyTorch model: a leaf library over torch (and :mod:`mrmp.errors`).

Band-stop latent weights (:mod:`.parametrizations`), priors and KL (:mod:`.priors`, :mod:`.kl`),
rates and the σ schedule (:mod:`.rates`), threshold rules (:mod:`.thresholds`), the handle
(:mod:`.multirate`), the multi-rate loss (:mod:`.objective`), the MP baseline
(:func:`magnitude_prune`), the GMP schedule (:mod:`.schedules`) and the multi-rate magnitude
baseline's handle (:mod:`.magnitude`).
"""

from __future__ import annotations

from mrmp.pruning.kl import kl_divergence, soft_histogram
from mrmp.pruning.magnitude import MagnitudeRates
from mrmp.pruning.multirate import MultiRate, magnitude_prune, multirate
from mrmp.pruning.objective import MultiRateLoss, StepOutput
from mrmp.pruning.parametrizations import BandStop, FixedMask, SwitchMask
from mrmp.pruning.priors import PRIORS, Gaussian, Laplace, Prior, Uniform, get_prior
from mrmp.pruning.rates import DEFAULT_SEEN_RATES, check_rate, parse_rates, sample_rates, sigma_at
from mrmp.pruning.schedules import cubic_sparsity, gradual_update
from mrmp.pruning.scope import Scope
from mrmp.pruning.select import layer_sparsity, magnitude_masks, select_weights
from mrmp.pruning.thresholds import (
    THRESHOLD_RULES,
    ThresholdRule,
    get_threshold,
    register_threshold,
    threshold_names,
)

__all__ = [
    "BandStop",
    "FixedMask",
    "SwitchMask",
    "MultiRate",
    "MagnitudeRates",
    "RateHandle",
    "multirate",
    "MultiRateLoss",
    "StepOutput",
    "magnitude_prune",
    "magnitude_masks",
    "select_weights",
    "layer_sparsity",
    "kl_divergence",
    "soft_histogram",
    "Prior",
    "Gaussian",
    "Laplace",
    "Uniform",
    "PRIORS",
    "get_prior",
    "Scope",
    "ThresholdRule",
    "THRESHOLD_RULES",
    "get_threshold",
    "register_threshold",
    "threshold_names",
    "DEFAULT_SEEN_RATES",
    "check_rate",
    "parse_rates",
    "sample_rates",
    "sigma_at",
    "cubic_sparsity",
    "gradual_update",
]

#: A rate-switchable handle over a model's prunable weights (what a bundle's ``pruner`` holds).
RateHandle = MultiRate | MagnitudeRates
