"""Training and evaluation engine."""

from __future__ import annotations

from mrmp.engine.checkpoint import load_checkpoint, save_checkpoint
from mrmp.engine.evaluate import accuracy, predict, rate_report
from mrmp.engine.recipe import fit_recipe
from mrmp.engine.setup import Bundle, Data, Meta, build_bundle, load_bundle, load_data, pruned_view
from mrmp.engine.train import FitResult, Run, build_objective, fit

__all__ = [
    "fit",
    "fit_recipe",
    "FitResult",
    "Run",
    "build_objective",
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
]
