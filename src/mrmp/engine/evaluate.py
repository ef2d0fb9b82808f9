"""Evaluation helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from mrmp.data.features import InputPipeline

if TYPE_CHECKING:
    from mrmp.engine.setup import Bundle, Data

__all__ = ["predict", "accuracy", "rate_report"]


@torch.no_grad()
def predict(model: nn.Module, inputs: InputPipeline, batch_size: int = 512) -> Tensor:
    """Predicted class (N,) of every sequence of ``inputs``: the most probable class averaged over
    the pipeline's test-time views (:meth:`~mrmp.data.features.InputPipeline.views`)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    preds = []
    for start in range(0, len(inputs), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(inputs)))
        probs = sum(model(view.to(device)).softmax(1) for view in inputs.views(idx))
        preds.append(probs.argmax(1).cpu())
    model.train(was_training)
    return torch.cat(preds)


def accuracy(model: nn.Module, inputs: InputPipeline, labels: Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on ``inputs``."""
    return float((predict(model, inputs, batch_size) == labels).float().mean())


def rate_report(
    bundle: Bundle, data: Data, rate: float | None, threshold: str | None = None, scope: str | None = None
) -> dict[str, Any]:
    """Accuracy and sparsity of a checkpoint's model at ``rate`` (None: its default rate).

    Evaluated through :func:`~mrmp.engine.setup.pruned_view` (``threshold`` defaults to the
    checkpoint's default rule), so the bundle is left as it was. ``layers`` holds, per prunable
    weight, its observed ``rate``, ``kept`` and ``total`` counts and whether the per-layer floor
    of global ranking bound it (``floor_bound``: it keeps more than global ranking alone gives it).
    """
    from mrmp.engine.setup import default_rate, default_threshold, pruned_view
    from mrmp.pruning import layer_sparsity

    threshold = threshold or default_threshold(bundle.cfg)
    rate = default_rate(bundle.cfg) if rate is None else rate
    with pruned_view(bundle, rate, threshold, scope) as model:
        stats = layer_sparsity(model, bundle.names)
        acc = accuracy(model, data.test, data.test_labels)
    bound = bundle.method.floor_bound(bundle, rate, threshold, scope)
    zeros = sum(z for z, _ in stats.values())
    total = sum(t for _, t in stats.values())
    return {
        "accuracy": acc,
        "n": len(data.test),
        "rate": rate,
        "threshold": threshold if bundle.pruner is not None else "magnitude",
        "observed_rate": zeros / total,
        "nonzero": total - zeros,
        "total": total,
        "layers": {
            n: {"rate": z / t, "kept": t - z, "total": t, "floor_bound": bound[n]} for n, (z, t) in stats.items()
        },
        "method": bundle.cfg.prune.method,
    }
