"""Multi-rate pruning of any PyTorch model: a leaf library over torch (and :mod:`mrmp.errors`).

Band-stop latent weights (:mod:`.parametrizations`), priors and KL (:mod:`.priors`, :mod:`.kl`),
rates and the σ schedule (:mod:`.rates`), threshold rules (:mod:`.thresholds`), the handle
(:mod:`.multirate`), the multi-rate loss (:mod:`.objective`) and the MP baseline
(:func:`magnitude_prune`).
"""

from __future__ import annotations

from mrmp.pruning.kl import kl_divergence, soft_histogram
from mrmp.pruning.multirate import MultiRate, magnitude_prune, multirate
from mrmp.pruning.objective import MultiRateLoss, StepOutput
from mrmp.pruning.parametrizations import BandStop, FixedMask
from mrmp.pruning.priors import PRIORS, Gaussian, Laplace, Prior, Uniform, get_prior
from mrmp.pruning.rates import DEFAULT_SEEN_RATES, check_rate, parse_rates, sample_rates, sigma_at
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
    "MultiRate",
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
]
