"""Threshold rules: how a pruning rate becomes the masks of a :class:`~mrmp.pruning.MultiRate`.

Each rule is one object (the analogue of ``compute_mask`` in ``torch.nn.utils.prune``) that maps
(latents, rate, scope) to one cut for every latent tensor: a cut-off a on |Ŵ| (the band-stop keeps
|Ŵ| > a, soft in training) or an explicit 0/1 mask of the tensor's shape. Rules that rank
(``exact``, ``anchored``, ``empirical``) apply the handle's per-layer ``floor`` under global
ranking (see :func:`~mrmp.pruning.select.magnitude_masks`). Rules are found by name in
:data:`THRESHOLD_RULES`, which the CLI choices and the config validation ask.

>>> threshold_names(), threshold_names(trainable=True)
(('prior', 'exact', 'anchored', 'empirical'), ('prior', 'empirical'))
>>> get_threshold("prior").evaluated_with, get_threshold("empirical").evaluated_with
('anchored', 'anchored')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import Tensor

from mrmp.errors import ConfigError
from mrmp.pruning.scope import Scope
from mrmp.pruning.select import anchored_masks, floor_count, magnitude_masks

if TYPE_CHECKING:
    from mrmp.pruning.multirate import MultiRate

__all__ = [
    "Cut",
    "ThresholdRule",
    "PriorThreshold",
    "ExactThreshold",
    "AnchoredThreshold",
    "EmpiricalThreshold",
    "THRESHOLD_RULES",
    "QUANTILE_SAMPLES",
    "register_threshold",
    "get_threshold",
    "threshold_names",
]

#: A cut-off a on |Ŵ|, or an explicit 0/1 mask with the latent's layout.
Cut = float | Tensor

QUANTILE_SAMPLES = 32_768  # latents an ``empirical`` cut-off is estimated from (at most)
_SAME_RATE = 1e-9  # a rate this close above a seen rate is that seen rate


class ThresholdRule:
    """How a rate's cut of every latent tensor is set.

    Attributes:
        name: Registry name (CLI choice, ``PruneConfig.threshold``).
        trainable: Usable while training (the soft band-stop follows a cut-off; fixed masks do not).
        evaluated_with: The rule a model trained with this one is evaluated with by default.
        floored: Ranks the latents, so the handle's per-layer floor applies under global ranking.
        masks: Gives fixed 0/1 masks of the top |Ŵ| (what a plain-weight handle can use).
    """

    name: ClassVar[str]
    trainable: ClassVar[bool] = True
    evaluated_with: ClassVar[str] = "anchored"
    floored: ClassVar[bool] = True
    masks: ClassVar[bool] = False

    def compute(self, handle: MultiRate, rate: float, scope: Scope) -> dict[str, Cut]:  # pragma: no cover
        """The cut of each of ``handle.names`` at ``rate`` (a checked rate), ranked within ``scope``."""
        raise NotImplementedError

    def anchor(self, handle: MultiRate, rate: float) -> float | None:
        """The rate whose masks this rule narrows to reach ``rate`` (None: it ranks at ``rate`` itself)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PriorThreshold(ThresholdRule):
    """The paper's a(r) = F_Q⁻¹((1 + r) / 2) of the prior Q (instant; observed ≈ r as far as P ≈ Q;
    no floor). Models trained with it are evaluated with ``anchored`` by default (observed = r)."""

    name = "prior"
    floored = False

    def compute(self, handle: MultiRate, rate: float, scope: Scope) -> dict[str, Cut]:
        return dict.fromkeys(handle.names, handle.prior.threshold(rate))


class ExactThreshold(ThresholdRule):
    """Fixed 0/1 masks of the top |Ŵ| at every rate (observed = r to one weight; evaluation only)."""

    name = "exact"
    trainable = False
    masks = True

    @torch.no_grad()
    def compute(self, handle: MultiRate, rate: float, scope: Scope) -> dict[str, Cut]:
        return dict(magnitude_masks({n: handle.latent(n) for n in handle.names}, rate, scope, handle.floor))


class AnchoredThreshold(ThresholdRule):
    """``exact`` at the handle's ``seen`` (trained) rates and below the lowest; any other rate starts
    from the masks of the nearest seen rate below it, and every tensor's own rate rises by the same
    step (:func:`~mrmp.pruning.select.anchored_masks`; observed = r to one weight; evaluation only).
    The default evaluation rule of models trained at known rates: global ranking at an unseen rate
    puts the extra pruning where no rate was trained, and beyond the highest seen rate it empties
    first the layers whose every kept weight still matters (docs/results.md §3). A handle with no
    seen rates ranks as ``exact``."""

    name = "anchored"
    trainable = False
    masks = True

    def anchor(self, handle: MultiRate, rate: float) -> float | None:
        below = [r for r in handle.seen if r <= rate + _SAME_RATE]
        return max(below) if below else None

    @torch.no_grad()
    def compute(self, handle: MultiRate, rate: float, scope: Scope) -> dict[str, Cut]:
        scores = {n: handle.latent(n) for n in handle.names}
        return dict(anchored_masks(scores, rate, self.anchor(handle, rate), scope, handle.floor))


class EmpiricalThreshold(ThresholdRule):
    """A band-stop cut-off at the empirical r-quantile of |Ŵ|.

    The quantile is that of all latents or, where there are more than ``QUANTILE_SAMPLES``, of
    that many at fixed positions (the same at every call and on every rank, spread over the tensors
    in proportion to their sizes): the rate is then met to about ±0.5 %, and exactly on small models
    (ties aside), with soft and hard masks alike. Evaluated with ``anchored`` by default.

    Under global ranking with a handle ``floor`` f > 0, each layer's cut-off is the lower of the
    global one and the layer's own (1 − k_l / n_l)-quantile, so it keeps about k_l =
    :func:`~mrmp.pruning.select.floor_count` weights or more: an approximation of ``exact``'s floor
    (estimated on the same samples, no per-row minimum), and floored layers make the observed rate
    fall short of r by what they keep beyond the global cut.
    """

    name = "empirical"

    @torch.no_grad()
    def compute(self, handle: MultiRate, rate: float, scope: Scope) -> dict[str, Cut]:
        if scope is Scope.LAYER:
            return {n: _layer_quantile(handle, n, rate) for n in handle.names}
        sizes = {n: handle.latent(n).numel() for n in handle.names}
        share = min(1.0, QUANTILE_SAMPLES / sum(sizes.values()))
        counts = {n: math.ceil(share * sizes[n]) for n in handle.names}
        cut = _quantile(
            handle, ("pooled", share), lambda: torch.cat([handle.magnitudes(n, c) for n, c in counts.items()]), rate
        )
        if handle.floor == 0:
            return dict.fromkeys(handle.names, cut)
        # Only a layer whose sampled share above the global cut is under its floor needs its own cut-off.
        starved = {
            n
            for n in handle.names
            if _share_above(handle, n, counts[n], cut) < floor_count(sizes[n], rate, handle.floor) / sizes[n]
        }
        return {n: min(cut, _floor_cut(handle, n, sizes[n], rate)) if n in starved else cut for n in handle.names}


def _floor_cut(handle: MultiRate, name: str, size: int, rate: float) -> float:
    """Cut-off of the layer ``name`` that keeps its floor count of latents (from its samples)."""
    return _layer_quantile(handle, name, 1.0 - floor_count(size, rate, handle.floor) / size)


def _layer_quantile(handle: MultiRate, name: str, rate: float) -> float:
    return _quantile(handle, ("layer", name), lambda: handle.magnitudes(name, QUANTILE_SAMPLES), rate)


def _share_above(handle: MultiRate, name: str, count: int, cut: float) -> float:
    """Fraction of ``name``'s ``count`` sampled magnitudes above ``cut``."""
    ranked = handle.memo(("sample", name, count), lambda: _sorted(handle.magnitudes(name, count)))
    at_or_below = torch.searchsorted(ranked, torch.tensor([cut], dtype=ranked.dtype, device=ranked.device), right=True)
    return 1.0 - int(at_or_below) / count


def _quantile(handle: MultiRate, key: tuple, values: Callable[[], Tensor], rate: float) -> float:
    """Cut-off a with round(rate · m) of the m ``values()`` at or below it (sorted once per
    :meth:`~mrmp.pruning.MultiRate.shared_step` for all the rates of a training step)."""
    ranked = handle.memo(key, lambda: _sorted(values()))
    k = round(rate * ranked.numel())
    return 0.0 if k == 0 else float(ranked[k - 1])


def _sorted(values: Tensor) -> Tensor:
    """``values`` (flat) in ascending order; through NumPy on the CPU, whose sort is many times
    faster than ``torch.sort`` there (and than one ``kthvalue``)."""
    if values.device.type == "cpu" and values.dtype in (torch.float32, torch.float64):
        return torch.from_numpy(np.sort(values.numpy()))
    return values.sort().values


THRESHOLD_RULES: dict[str, ThresholdRule] = {}


def register_threshold(rule: ThresholdRule) -> ThresholdRule:
    """Add ``rule`` to :data:`THRESHOLD_RULES` under its name; returns it."""
    THRESHOLD_RULES[rule.name] = rule
    return rule


for _rule in (PriorThreshold(), ExactThreshold(), AnchoredThreshold(), EmpiricalThreshold()):
    register_threshold(_rule)


def threshold_names(trainable: bool = False) -> tuple[str, ...]:
    """Names of the registered rules (only those usable in training when ``trainable``)."""
    return tuple(n for n, r in THRESHOLD_RULES.items() if r.trainable or not trainable)


def get_threshold(rule: str | ThresholdRule, *, training: bool = False) -> ThresholdRule:
    """The rule named ``rule`` (a rule passes through); ``training``: refuse rules not usable in training."""
    if isinstance(rule, ThresholdRule):
        found: ThresholdRule | None = rule
    else:
        found = THRESHOLD_RULES.get(rule)
    if found is None or (training and not found.trainable):
        kind = "training threshold" if training else "threshold rule"
        raise ConfigError(f"unknown {kind} {rule!r}; choose one of {threshold_names(training)}")
    return found
