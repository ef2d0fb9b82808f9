"""The baselines of the paper's method, registered in :data:`mrmp.methods.METHODS`: gradual
magnitude pruning (GMP) and multi-rate magnitude training (MRMP without band-stop and KL).

>>> from mrmp.config import PruneConfig
>>> from mrmp.methods import get_method
>>> get_method("gmp").label(PruneConfig(method="gmp", rate=0.9)), get_method("mrmag").band_stop
('GMP r=0.9', False)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from mrmp.methods import MaskedMethod, MultiRateMethod, Ranking, register_method
from mrmp.pruning import MagnitudeRates, RateHandle, gradual_update, magnitude_prune
from mrmp.pruning.scope import Scope
from mrmp.pruning.thresholds import ThresholdRule, get_threshold

if TYPE_CHECKING:
    from mrmp.config import PruneConfig
    from mrmp.engine.setup import Bundle

__all__ = ["GradualMagnitudePruning", "MultiRateMagnitude"]


@register_method
class GradualMagnitudePruning(MaskedMethod):
    """GMP (Zhu & Gupta, 2017): one run per ``rate``, from the dense weights (``prune.source`` or
    the dense warm-up phase), its fixed masks narrowed by magnitude along the cubic schedule
    (:func:`~mrmp.pruning.cubic_sparsity`) over the first ``prune.gmp_end`` of the steps, every
    ``prune.gmp_every`` steps (0: every epoch), then fine-tuned at ``rate`` (exact)."""

    name = "gmp"
    warm_up = True
    phased = True

    def attach(
        self,
        model: nn.Module,
        names: Sequence[str],
        pc: PruneConfig,
        generator: torch.Generator | None = None,
        warm: bool = False,
    ) -> RateHandle | None:
        """All-ones fixed masks (the schedule starts at rate 0; a checkpoint fills them)."""
        magnitude_prune(model, 0.0, scope=pc.scope, include=list(names), floor=pc.floor)
        return None

    def before_step(self, bundle: Bundle, step: int, total: int, per_epoch: int) -> None:
        """Narrow the masks to the schedule's rate where it updates them (masked weights stay masked)."""
        pc = bundle.cfg.prune
        rate = gradual_update(step, total, pc.rate, pc.gmp_end, pc.gmp_every or per_epoch)
        if rate is not None:
            magnitude_prune(bundle.model, rate, scope=pc.scope, include=bundle.names, floor=pc.floor)

    def pruned_up_to(self, pc: PruneConfig) -> float:
        return pc.rate

    def label(self, pc: PruneConfig) -> str:
        return f"GMP r={pc.rate:g}"


@register_method
class MultiRateMagnitude(MultiRateMethod):
    """Multi-rate magnitude training (US-Nets / DSNN style), the ablation of MRMP's band-stop and KL:
    shared plain weights trained at MRMP's sandwich rates, each through the top-|w| mask of the
    current weights at that rate (ranked within ``prune.scope`` with ``prune.floor``; nested across
    rates). Any rate, seen or not, is evaluated with its top-|w| mask, ranked as MRMP's are
    (``anchored`` by default: an unseen rate narrows the masks of the nearest seen rate below it,
    every layer's rate up by the same step); the training threshold rule and the prior are unused."""

    name = "mrmag"
    band_stop = False

    def attach(
        self,
        model: nn.Module,
        names: Sequence[str],
        pc: PruneConfig,
        generator: torch.Generator | None = None,
        warm: bool = False,
    ) -> RateHandle | None:
        """A :class:`~mrmp.pruning.MagnitudeRates` handle over the model's own weights."""
        return MagnitudeRates(model, include=list(names), scope=pc.scope, floor=pc.floor, seen=self.trained_rates(pc))

    def default_threshold(self, pc: PruneConfig) -> str:
        return "anchored"

    def ranking(
        self, bundle: Bundle, rate: float, threshold: str | ThresholdRule | None, scope: Scope | str | None
    ) -> Ranking | None:
        """The plain weights, ranked as ``exact`` unless the rule anchors (``anchored``), whatever else it is."""
        pruner = bundle.pruner
        anchor = get_threshold(threshold or self.default_threshold(bundle.cfg.prune)).anchor(pruner, rate)
        scores = {n: pruner.latent(n).detach() for n in pruner.names}
        return scores, pruner.scale if scope is None else Scope.parse(scope), pruner.floor, anchor

    def label(self, pc: PruneConfig) -> str:
        return "multi-rate magnitude"
