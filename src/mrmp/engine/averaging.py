"""Weight average of a model, for evaluation and the final checkpoint: an exponential moving
average (EMA), optionally turning into stochastic weight averaging (SWA) for the last steps.

The average covers the model's floating-point state (parameters — latent weights included — and
buffers) and is updated after every optimizer step with torch's own EMA rule
(:func:`torch.optim.swa_utils.get_ema_multi_avg_fn`), with the usual warm-up of the decay,
d_t = min(decay, (1 + t) / (10 + t)), so that the first steps do not weigh on the average. From
step ``swa_from`` on (when given) it is instead the equal average of the weights after each step
from there (:func:`torch.optim.swa_utils.get_swa_multi_avg_fn`), the EMA's state dropped.
:meth:`WeightAverage.applied` swaps the averaged weights into the model for a while.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.optim.swa_utils import get_ema_multi_avg_fn, get_swa_multi_avg_fn

__all__ = ["WeightAverage"]


class WeightAverage:
    """EMA of ``model``'s floating-point state, then (``swa_from``) its equal average.

    Args:
        model: The trained module (its state dict keys are those of the average).
        decay: Largest per-step decay, in (0, 1).
        swa_from: Update (0-based) from which the average is the equal average of the weights
            after each update; None: EMA throughout.

    >>> net = nn.Linear(2, 1)
    >>> avg = WeightAverage(net, decay=0.5)
    >>> with torch.no_grad():
    ...     _ = net.weight.add_(1.0)
    >>> avg.update()
    >>> with avg.applied():
    ...     moved = net.weight.clone()
    >>> bool(torch.all(moved < net.weight))  # the average lags behind the weights
    True
    """

    def __init__(self, model: nn.Module, decay: float, swa_from: int | None = None) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.model, self.decay, self.swa_from, self.steps = model, decay, swa_from, 0
        self.state = {k: v.detach().clone() for k, v in self._floating().items()}

    def _floating(self) -> dict[str, Tensor]:
        return {k: v for k, v in self.model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the model's current weights (after an optimizer step)."""
        current = self._floating()
        keys = list(self.state)
        averaged, now = [self.state[k] for k in keys], [current[k] for k in keys]
        if self.swa_from is not None and self.steps >= self.swa_from:  # its first update copies the weights
            get_swa_multi_avg_fn()(averaged, now, self.steps - self.swa_from)
        else:
            get_ema_multi_avg_fn(min(self.decay, (1 + self.steps) / (10 + self.steps)))(averaged, now, self.steps)
        self.steps += 1

    @contextlib.contextmanager
    def applied(self) -> Iterator[nn.Module]:
        """The model with the averaged weights loaded; its own weights come back on exit."""
        saved = {k: v.detach().clone() for k, v in self._floating().items()}
        self.model.load_state_dict(self.state, strict=False)
        try:
            yield self.model
        finally:
            self.model.load_state_dict(saved, strict=False)

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The averaged model's output on ``x``, in evaluation mode (no dropout), without a gradient
        and without touching the model's own weights or mode."""
        was = self.model.training
        self.model.eval()
        try:
            return functional_call(self.model, self.state, (x,), strict=False)
        finally:
            self.model.train(was)

    def state_dict(self) -> dict[str, object]:
        return {"state": self.state, "steps": self.steps}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.state = {k: v.clone() for k, v in state["state"].items()}  # type: ignore[union-attr]
        self.steps = int(state["steps"])  # type: ignore[arg-type]
