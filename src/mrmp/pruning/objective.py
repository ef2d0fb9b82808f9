"""The multi-rate training loss as one module, so that DDP sees a single forward per step.

without a handle (dense / MP):  L = CE(f(x), y), or with a teacher's logits t (a weight average's):
                                L = (1 − α)·CE(f(x), y) + α·T²·KL(softmax(t/T) ‖ softmax(f(x)/T))
one rate (SRMP):                L = CE(f_{a(r)}(x), y) + λ · D_KL(P‖Q)
several rates (MRMP):           L = mean_k CE(f_{a(r_k)}(x_k), y_k) + λ · D_KL(P‖Q), rates r_k drawn
                                per step; with ``split_batch`` the batch is cut into one share x_k per
                                rate (a step then costs about one forward/backward of the backbone plus
                                K mask evaluations), otherwise every rate sees the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mrmp.pruning.magnitude import MagnitudeRates
from mrmp.pruning.multirate import MultiRate
from mrmp.pruning.scope import Scope
from mrmp.pruning.thresholds import ThresholdRule, get_threshold

__all__ = ["MultiRateLoss", "StepOutput", "distillation"]


def distillation(student: Tensor, teacher: Tensor, temperature: float = 1.0) -> Tensor:
    """T²·KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over the batch (Hinton et al., 2015);
    logits (N, classes); the teacher's side carries no gradient.

    >>> z = torch.tensor([[2.0, 0.0, -1.0]])
    >>> abs(float(distillation(z, z))) < 1e-6, float(distillation(z, -z)) > 0
    (True, True)
    """
    t = temperature
    target = F.softmax(teacher.detach().float() / t, 1)
    return t * t * F.kl_div(F.log_softmax(student.float() / t, 1), target, reduction="batchmean")


class StepOutput(NamedTuple):
    """Loss terms of one step (scalars) and the logits (N, classes): at the lowest rate, or each
    share of the batch at its own rate."""

    loss: Tensor
    ce: Tensor
    kl: Tensor
    logits: Tensor


class MultiRateLoss(nn.Module):
    """Loss of one batch at the rates of one step.

    Args:
        model: The backbone (owns the latent weights).
        pruner: Rate handle over ``model`` (band-stop :class:`~mrmp.pruning.MultiRate` or top-|w|
            :class:`~mrmp.pruning.MagnitudeRates`), or None for plain cross-entropy.
        threshold: Training threshold rule (or its name), see :mod:`mrmp.pruning.thresholds`.
        scope: Ranking scope of that rule; default: the handle's scale.
        kl_weight: λ in front of D_KL(P‖Q) (0: no KL term).
        kl_samples: Latent weights sampled per step for the KL estimate (0: all).
        split_batch: Give each rate its own share of the batch (else each sees the whole batch).
        distill: Distil the first (lowest) rate's predictions into the others; every rate then
            sees the whole batch.
        label_smoothing: Cross-entropy label smoothing.
        teacher_weight: α of the distillation term towards a teacher's logits passed to
            :meth:`forward` (plain cross-entropy only, ``pruner`` None).
        temperature: T of that term.
        class_weights: Per-class weights (classes,) of the cross-entropy, or None (all 1).

    >>> import torch
    >>> from mrmp.pruning import multirate
    >>> net = torch.nn.Linear(4, 3)
    >>> loss = MultiRateLoss(net, multirate(net), kl_samples=0)
    >>> out = loss(torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]), [0.5, 0.9])
    >>> out.logits.shape, bool(out.loss >= out.ce)
    (torch.Size([6, 3]), True)
    """

    def __init__(
        self,
        model: nn.Module,
        pruner: MultiRate | MagnitudeRates | None,
        *,
        threshold: str | ThresholdRule = "prior",
        scope: Scope | str | None = None,
        kl_weight: float = 1.0,
        kl_samples: int = 0,
        split_batch: bool = True,
        distill: bool = False,
        label_smoothing: float = 0.0,
        teacher_weight: float = 0.0,
        temperature: float = 1.0,
        class_weights: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.pruner = pruner
        self.threshold = get_threshold(threshold, training=True)
        self.scope = None if scope is None else Scope.parse(scope)
        self.kl_weight = kl_weight
        self.kl_samples = kl_samples
        self.split_batch = split_batch
        self.distill = distill
        self.smoothing = label_smoothing
        self.teacher_weight, self.temperature = teacher_weight, temperature
        self.class_weights: Tensor | None
        self.register_buffer("class_weights", class_weights)

    def forward(
        self,
        x: Tensor,
        y: Tensor,
        rates: Sequence[float] = (),
        generator: torch.Generator | None = None,
        teacher: Tensor | None = None,
    ) -> StepOutput:
        """Loss on inputs ``x`` (N, …) and labels ``y``, class indices (N,) or probabilities
        (N, classes), e.g. mixup's; ``rates`` are the rates of this step; ``teacher``: logits
        (N, classes) to distil, weighted by ``teacher_weight`` (without a rate handle only)."""
        if self.pruner is None:
            logits = self.model(x)
            ce = self._ce(logits, y)
            loss = ce
            if teacher is not None and self.teacher_weight > 0:
                soft = distillation(logits, teacher, self.temperature)
                loss = (1 - self.teacher_weight) * ce + self.teacher_weight * soft
            return StepOutput(loss, ce, torch.zeros_like(ce), logits)
        if teacher is not None:
            raise ValueError("a teacher's logits are distilled without a rate handle only")
        self.pruner.set_hard(False)
        with self.pruner.shared_step():  # the latents do not change between this step's rates
            ce, logits = self._rates_ce(x, y, rates)
        kl = self.pruner.kl(self.kl_samples, generator) if self.kl_weight > 0 else torch.zeros_like(ce)
        return StepOutput(ce + self.kl_weight * kl, ce, kl, logits)

    def _ce(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(logits, y, weight=self.class_weights, label_smoothing=self.smoothing)

    def _rates_ce(self, x: Tensor, y: Tensor, rates: Sequence[float]) -> tuple[Tensor, Tensor]:
        """Cross-entropy averaged over the rates (weighted by share sizes), and the logits."""
        split = self.split_batch and len(rates) > 1 and not self.distill
        shares = torch.arange(len(x), device=x.device).tensor_split(len(rates)) if split else None
        ces, weights, outs = [], [], []
        for k, r in enumerate(rates):
            xk, yk = (x[shares[k]], y[shares[k]]) if shares is not None else (x, y)
            if len(xk) == 0:
                continue
            self.pruner.set_rate(r, self.threshold, self.scope)
            logits = self.model(xk)
            ce = self._ce(logits, yk)
            if self.distill and outs:
                ce = 0.5 * ce + 0.5 * distillation(logits, outs[0])
            ces.append(ce)
            weights.append(len(xk))
            outs.append(logits)
        # logits of the whole batch: each share at its own rate, or the first (lowest) rate
        first = torch.cat(outs) if shares is not None else outs[0]
        w = torch.tensor(weights, dtype=x.dtype, device=x.device)
        return (torch.stack(ces) * w).sum() / w.sum(), first
