"""Training and evaluation engine."""

from __future__ import annotations

from mrmp.engine.checkpoint import load_checkpoint, save_checkpoint
from mrmp.engine.evaluate import accuracy, predict, rate_report
from mrmp.engine.setup import Bundle, Data, Meta, build_bundle, load_bundle, load_data, pruned_view
from mrmp.engine.train import FitResult, fit, sample_rates, sigma_at

__all__ = [
    "fit",
    "FitResult",
    "accuracy",
    "predict",
    "rate_report",
    "Bundle",
    "Data",
    "Meta",
    "build_bundle",
    "load_bundle",
    "load_data",
    "pruned_view",
    "load_checkpoint",
    "save_checkpoint",
    "sample_rates",
    "sigma_at",
]
