"""Pruning core: band-stop latent weights, priors and KL, thresholds, MP/SRMP/MRMP pieces."""

from __future__ import annotations

from mrmp.pruning.kl import kl_divergence, soft_histogram
from mrmp.pruning.multirate import THRESHOLDS, MultiRate, magnitude_prune, multirate
from mrmp.pruning.parametrizations import BandStop, FixedMask
from mrmp.pruning.priors import PRIORS, Gaussian, Laplace, Prior, Uniform, get_prior
from mrmp.pruning.select import layer_sparsity, magnitude_masks, select_weights

__all__ = [
    "BandStop",
    "FixedMask",
    "MultiRate",
    "multirate",
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
    "THRESHOLDS",
]
