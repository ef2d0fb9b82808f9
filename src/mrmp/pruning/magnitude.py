"""Rate-switchable top-|w| masks over plain weights: the multi-rate magnitude baseline's handle.

:class:`MagnitudeRates` has the rate interface of :class:`~mrmp.pruning.MultiRate` that
:class:`~mrmp.pruning.MultiRateLoss` and the views use (``set_rate``, ``at_rate``, ``set_hard``,
``set_sigma``, ``kl``, ``param_groups``), but no latent band-stop and no prior: the weights are the
plain ones (shared by every rate) and the mask of a rate is the top-|W| of the current weights at
that rate (:func:`~mrmp.pruning.select.magnitude_masks`, the observed rate exact to one weight;
nested across rates). Masked weights get zero gradient at that rate; the KL term is 0.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
>>> handle = MagnitudeRates(net)
>>> handle.set_rate(0.75)
>>> handle.observed_rate()
0.75
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from mrmp.pruning.parametrizations import SwitchMask
from mrmp.pruning.rates import check_rate
from mrmp.pruning.scope import Scope
from mrmp.pruning.select import Include, check_floor, layer_sparsity, resolve, select_weights
from mrmp.pruning.thresholds import ThresholdRule, get_threshold

__all__ = ["MagnitudeRates"]


class MagnitudeRates:
    """Handle over the :class:`~mrmp.pruning.parametrizations.SwitchMask` weights of one model.

    Args:
        model: The module to modify in place (its current weights are kept).
        include: Which weights (see :func:`mrmp.pruning.select.select_weights`).
        exclude: Qualified names to leave dense.
        scope: Ranking scope of the masks: over all weights (``global``) or within each ``layer``.
        floor: Per-layer floor f of global ranking (see :func:`~mrmp.pruning.select.magnitude_masks`).
        seen: The rates the weights are trained at (``anchored`` reaches any other rate from the
            nearest of them below it).
    """

    sigma = None  # no band-stop: the masks are always hard

    def __init__(
        self,
        model: nn.Module,
        include: Include = None,
        exclude: Sequence[str] = (),
        scope: Scope | str = Scope.GLOBAL,
        floor: float = 0.0,
        seen: Sequence[float] = (),
    ) -> None:
        self.model = model
        self.seen = tuple(check_rate(r) for r in seen)
        self.scale = Scope.parse(scope)  # named as MultiRate's: the default ranking scope
        self.floor = check_floor(floor)
        self.names = select_weights(model, include, exclude)
        self.masks: dict[str, SwitchMask] = {}
        for name in self.names:
            module, tensor = resolve(model, name)
            self.masks[name] = SwitchMask()
            parametrize.register_parametrization(module, tensor, self.masks[name])
        self.rate = 0.0

    def latent(self, name: str) -> nn.Parameter:
        """The plain weight behind ``name`` (what the masks rank)."""
        module, tensor = resolve(self.model, name)
        return module.parametrizations[tensor].original

    def set_rate(
        self, rate: float, threshold: str | ThresholdRule | None = None, scope: Scope | str | None = None
    ) -> None:
        """Mask every weight with the top-|W| of the current weights at ``rate`` within ``scope``
        (default: the handle's), ranked as the ``threshold`` rule ranks where it gives 0/1 masks
        (``anchored``), else as ``exact``."""
        rate = check_rate(rate)
        rule = get_threshold(threshold) if threshold is not None else None
        if rule is None or not rule.masks:
            rule = get_threshold("exact")
        masks = rule.compute(self, rate, Scope.parse(self.scale if scope is None else scope))
        for name, mask in masks.items():
            self.masks[name].mask = mask
        self.rate = rate

    def set_hard(self, hard: bool = True) -> None:
        """No-op: the masks are always hard."""

    def set_sigma(self, sigma: float) -> None:
        """No-op: there is no band-stop to anneal."""

    def shared_step(self) -> contextlib.AbstractContextManager[None]:
        """No-op: each rate ranks the weights anew (see :meth:`MultiRate.shared_step`)."""
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def at_rate(
        self, rate: float, threshold: str | ThresholdRule | None = None, scope: Scope | str | None = None
    ) -> Iterator[None]:
        """Temporarily mask at another rate (arguments as in :meth:`set_rate`); restored on exit."""
        saved, old_rate = {n: m.mask for n, m in self.masks.items()}, self.rate
        try:
            self.set_rate(rate, threshold, scope)
            yield
        finally:
            for name, mask in saved.items():
                self.masks[name].mask = mask
            self.rate = old_rate

    def kl(self, samples: int = 0, generator: torch.Generator | None = None) -> Tensor:
        """0: no prior, no KL term."""
        return torch.zeros((), device=self.latent(self.names[0]).device)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """One group of all parameters at ``lr`` (the weights are plain, as in dense training)."""
        return [{"params": list(self.model.parameters()), "lr": lr}]

    def observed_rate(self) -> float:
        """Observed pruned fraction over all prunable weights under the current masks."""
        stats = layer_sparsity(self.model, self.names).values()
        return sum(z for z, _ in stats) / sum(t for _, t in stats)
