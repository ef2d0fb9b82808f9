"""The training objective of each method as one module, so that DDP sees a single forward.

dense / mp:  L = CE(f(x), y)
srmp:        L = CE(f_{a(r)}(x), y) + λ · D_KL(P‖Q)
mrmp:        L = mean_k CE(f_{a(r_k)}(x_k), y_k) + λ · D_KL(P‖Q), rates r_k drawn per step;
             with ``split_batch`` the batch is cut into one share x_k per rate (a step then
             costs about one forward/backward of the backbone plus K mask evaluations),
             otherwise every rate sees the whole batch (K forward/backward passes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mrmp.config import PruneConfig
from mrmp.pruning import MultiRate

__all__ = ["Objective", "StepOutput"]


class StepOutput(NamedTuple):
    loss: Tensor
    ce: Tensor
    kl: Tensor
    logits: Tensor  # (N, classes): at the lowest rate, or each share at its own rate


class Objective(nn.Module):
    """Loss of one batch for the method in ``cfg``.

    Args:
        model: The backbone (owns the latent weights).
        pruner: Band-stop handle (srmp / mrmp) or None.
        cfg: Pruning settings.
        label_smoothing: Cross-entropy label smoothing.
    """

    def __init__(self, model: nn.Module, pruner: MultiRate | None, cfg: PruneConfig,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.pruner = pruner
        self.cfg = cfg
        self.smoothing = label_smoothing

    def forward(self, x: Tensor, y: Tensor, rates: Sequence[float] = (),
                generator: torch.Generator | None = None) -> StepOutput:
        """Loss on inputs ``x`` and labels (N,) ``y``; ``rates`` are the rates of this step."""
        pruner, cfg = self.pruner, self.cfg
        if pruner is None:
            logits = self.model(x)
            ce = F.cross_entropy(logits, y, label_smoothing=self.smoothing)
            return StepOutput(ce, ce, torch.zeros_like(ce), logits)
        pruner.set_hard(False)
        split = cfg.split_batch and len(rates) > 1 and not cfg.distill
        shares = torch.arange(len(x), device=x.device).tensor_split(len(rates)) if split else None
        ces, weights, outs = [], [], []
        for k, r in enumerate(rates):
            xk, yk = (x[shares[k]], y[shares[k]]) if shares is not None else (x, y)
            if len(xk) == 0:
                continue
            pruner.set_rate(r, cfg.threshold, cfg.scale)
            logits = self.model(xk)
            ce = F.cross_entropy(logits, yk, label_smoothing=self.smoothing)
            if cfg.distill and outs:
                teacher = F.softmax(outs[0].detach(), 1)
                ce = 0.5 * ce + 0.5 * F.kl_div(F.log_softmax(logits, 1), teacher, reduction="batchmean")
            ces.append(ce)
            weights.append(len(xk))
            outs.append(logits)
        # logits of the whole batch: each share at its own rate, or the first (lowest) rate
        first = torch.cat(outs) if shares is not None else outs[0]
        w = torch.tensor(weights, dtype=x.dtype, device=x.device)
        ce = (torch.stack(ces) * w).sum() / w.sum()
        kl = pruner.kl(cfg.kl_samples, generator) if cfg.kl_weight > 0 else torch.zeros_like(ce)
        return StepOutput(ce + cfg.kl_weight * kl, ce, kl, first)
