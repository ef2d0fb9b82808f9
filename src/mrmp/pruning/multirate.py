"""Make chosen weights of any ``nn.Module`` latent and rate-switchable.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
>>> mr = multirate(net, prior="gaussian", generator=torch.Generator().manual_seed(0))
>>> mr.set_rate(0.9)
>>> round(mr.observed_rate(), 1)
0.9
>>> net(torch.randn(4, 8)).shape
torch.Size([4, 2])
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from mrmp.errors import ConfigError
from mrmp.pruning.kl import KL_ESTIMATORS
from mrmp.pruning.parametrizations import BandStop, FixedMask
from mrmp.pruning.priors import Prior, get_prior
from mrmp.pruning.rates import check_rate
from mrmp.pruning.scope import Scope
from mrmp.pruning.select import Include, check_floor, layer_sparsity, magnitude_masks, resolve, select_weights
from mrmp.pruning.thresholds import PriorThreshold, ThresholdRule, get_threshold

__all__ = ["MultiRate", "multirate", "magnitude_prune"]

_PRIOR_RULE = PriorThreshold()


def _fan_in(weight: Tensor) -> int:
    return int(weight[0].numel()) if weight.dim() > 1 else int(weight.numel())


class MultiRate:
    """Handle over the band-stop parametrised weights of one model.

    Args:
        model: The module to modify in place.
        prior: Prior Q (or its name) of the latent weights.
        include: Which weights (see :func:`mrmp.pruning.select.select_weights`).
        exclude: Qualified names to leave dense.
        grouping: ``global``: one KL over all latents; ``layer``: the mean of per-layer KLs.
        scale: ``global``: one scale s for all tensors (that of the largest), so the latents of
            small layers start — and stay — large and few of their weights are pruned, while
            the big layers take most of the pruning; ``layer``: s_l = 1/(√fan_in · std_Q) per
            tensor, so every layer starts at the prior and is pruned at about the same rate.
            Either way W = s · Ŵ starts at the usual 1/√fan_in initialisation scale. It is also
            the default ranking scope of :meth:`set_rate` (``global`` ranking lets small layers
            keep more weights, as one global scale means to).
        estimator: KL estimate, ``quantile`` or ``value`` (see :mod:`mrmp.pruning.kl`).
        init: ``prior``: draw Ŵ from Q (P = Q at step 0); ``weights``: keep the current weights.
        generator: RNG for the prior draws.
        floor: Per-layer floor f of the ranking rules (``exact``, ``anchored``, ``empirical``)
            under global ranking: every tensor keeps at least ⌈f · (1 − r) · n_l⌉ weights (see
            :func:`~mrmp.pruning.select.magnitude_masks`); 0: none.
        seen: The rates the latents are trained at (``anchored`` reaches any other rate from the
            nearest of them below it).
    """

    def __init__(
        self,
        model: nn.Module,
        prior: Prior | str = "gaussian",
        include: Include = None,
        exclude: Sequence[str] = (),
        grouping: Scope | str = Scope.GLOBAL,
        scale: Scope | str = Scope.GLOBAL,
        estimator: str = "value",
        init: str = "prior",
        generator: torch.Generator | None = None,
        floor: float = 0.0,
        seen: Sequence[float] = (),
    ) -> None:
        self.floor = check_floor(floor)
        self.seen = tuple(check_rate(r) for r in seen)
        self.grouping = Scope.parse(grouping, "grouping")
        self.scale = Scope.parse(scale, "scale")
        if estimator not in KL_ESTIMATORS:
            raise ConfigError(f"unknown KL estimator {estimator!r}; choose one of {sorted(KL_ESTIMATORS)}")
        self.estimator = KL_ESTIMATORS[estimator]
        if init not in ("prior", "weights"):
            raise ConfigError(f"unknown init {init!r}; choose prior or weights")
        self.model = model
        self.prior = get_prior(prior) if isinstance(prior, str) else prior
        self.names = select_weights(model, include, exclude)
        self.masks: dict[str, BandStop] = {}
        self._sample_index: dict[tuple[str, int], Tensor] = {}  # fixed subsets for empirical quantiles
        self._memo: dict[Any, Tensor] | None = None  # within shared_step: values reused by its rates
        weights = {n: getattr(*resolve(model, n)) for n in self.names}
        natural = {n: 1.0 / (math.sqrt(_fan_in(w)) * self.prior.std) for n, w in weights.items()}
        largest = max(self.names, key=lambda n: weights[n].numel())
        for name in self.names:
            module, tensor = resolve(model, name)
            weight = weights[name]
            band = BandStop(natural[largest] if self.scale is Scope.GLOBAL else natural[name])
            parametrize.register_parametrization(module, tensor, band)
            if init == "prior":
                with torch.no_grad():
                    latent = self.prior.sample(tuple(weight.shape), generator) * (natural[name] / band.scale)
                    self.latent(name).copy_(latent.to(weight.device, weight.dtype))
            self.masks[name] = band
        self.rate = 0.0
        self.set_rate(0.0)

    # -- state ---------------------------------------------------------------------------
    def latent(self, name: str) -> nn.Parameter:
        """The latent tensor Ŵ behind the weight ``name``."""
        module, tensor = resolve(self.model, name)
        return module.parametrizations[tensor].original

    def latents(self) -> list[nn.Parameter]:
        return [self.latent(n) for n in self.names]

    def set_rate(
        self, rate: float, threshold: str | ThresholdRule = _PRIOR_RULE, scope: Scope | str | None = None
    ) -> None:
        """Switch every mask to pruning rate ``rate``.

        Args:
            rate: Target fraction of pruned weights, in [0, 1).
            threshold: A rule of :mod:`mrmp.pruning.thresholds` or its name: ``prior``: a(r)
                from the prior's quantile (instant, observed ≈ r); ``exact``: fixed 0/1 masks of
                the top |Ŵ| (observed = r to one weight); ``anchored``: ``exact`` at the
                ``seen`` rates, any other rate from the nearest seen rate below it with every
                layer's rate up by the same step;
                ``empirical``: a band-stop cut-off at the empirical r-quantile of |Ŵ| (observed ≈
                r with soft and hard masks).
            scope: Ranking scope of ``exact`` / ``anchored`` / ``empirical``: within each
                ``layer`` or over all weights (``global``); default: the handle's ``scale``.
        """
        rate = check_rate(rate)
        rule = get_threshold(threshold)
        cuts = rule.compute(self, rate, self.scale if scope is None else Scope.parse(scope))
        for name, cut in cuts.items():
            band = self.masks[name]
            if isinstance(cut, Tensor):
                band.override = cut
            else:
                band.threshold, band.override = cut, None
        self.rate = rate

    def magnitudes(self, name: str, count: int) -> Tensor:
        """|Ŵ| of ``name`` (flat): all of them, or ``count`` at fixed random positions."""
        flat = self.latent(name).detach().reshape(-1)
        if count >= flat.numel():
            return flat.abs()
        idx = self._sample_index.get((name, count))  # a global and a per-layer sample may differ in size
        if idx is None or idx.device != flat.device:
            g = torch.Generator().manual_seed(flat.numel())
            idx = torch.randperm(flat.numel(), generator=g)[:count].to(flat.device)
            self._sample_index[name, count] = idx
        return flat.index_select(0, idx).abs_()

    @contextlib.contextmanager
    def shared_step(self) -> Iterator[None]:
        """The latents stay as they are within the block (the rates of one training step): the
        band-stops' |Ŵ| and the threshold rules' sorted samples are computed once for all rates."""
        self._memo = {}
        try:
            with contextlib.ExitStack() as stack:
                for band in self.masks.values():
                    stack.enter_context(band.shared())
                yield
        finally:
            self._memo = None

    def memo(self, key: Any, compute: Callable[[], Tensor]) -> Tensor:
        """``compute()``, computed once per :meth:`shared_step` block under ``key`` (else every call)."""
        if self._memo is None:
            return compute()
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def set_sigma(self, sigma: float) -> None:
        """Soft masks of crispness σ (training); ``math.inf`` for hard masks."""
        for band in self.masks.values():
            band.sigma, band.hard = float(sigma), math.isinf(sigma)

    @property
    def sigma(self) -> float:
        """Crispness σ of the masks (as last set by :meth:`set_sigma`)."""
        return next(iter(self.masks.values())).sigma

    def set_hard(self, hard: bool = True) -> None:
        """Use the hard 0/1 masks (evaluation, export) or the soft ones (training)."""
        for band in self.masks.values():
            band.hard = hard

    @contextlib.contextmanager
    def at_rate(
        self, rate: float, threshold: str | ThresholdRule = _PRIOR_RULE, scope: Scope | str | None = None
    ) -> Iterator[None]:
        """Temporarily evaluate at another rate with hard masks (arguments as in :meth:`set_rate`);
        the rate, cut-offs, masks and hard/soft state are restored on exit."""
        saved = [(b.threshold, b.override, b.hard) for b in self.masks.values()]
        old_rate = self.rate
        try:
            self.set_rate(rate, threshold, scope)
            self.set_hard(True)
            yield
        finally:
            for band, (a, override, hard) in zip(self.masks.values(), saved, strict=False):
                band.threshold, band.override, band.hard = a, override, hard
            self.rate = old_rate

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimizer groups for the whole model: each latent Ŵ (scale s) gets ``lr / s``, so
        that W = s·Ŵ moves as a dense weight would under ``lr`` (Adam's steps do not depend
        on the gradient's scale), and no weight decay: the KL term is their regulariser (an L2
        term at ``lr / s`` drove FPHA's latents to zero, docs/results.md §1); every other
        parameter gets ``lr`` and the optimizer's weight decay.

        >>> import torch
        >>> net = torch.nn.Linear(4, 2)
        >>> opt = torch.optim.Adam(multirate(net).param_groups(1e-3), lr=1e-3)
        >>> round(opt.param_groups[0]["lr"], 4)
        0.002
        """
        latents = {id(self.latent(n)) for n in self.names}
        groups: list[dict[str, Any]] = [
            {"params": [self.latent(n)], "lr": lr / self.masks[n].scale, "weight_decay": 0.0} for n in self.names
        ]
        rest = [p for p in self.model.parameters() if id(p) not in latents]
        return groups + ([{"params": rest, "lr": lr}] if rest else [])

    # -- losses --------------------------------------------------------------------------
    def kl(self, samples: int = 0, generator: torch.Generator | None = None) -> Tensor:
        """D_KL(P‖Q) of the latent weights, differentiable.

        Args:
            samples: Estimate from this many weights drawn uniformly without regard to layer
                (0: use all weights).
            generator: RNG for the draw.
        """
        latents = [t.reshape(-1) for t in self.latents()]
        if self.grouping is Scope.LAYER:
            return torch.stack([self.estimator(_subsample(t, samples, generator), self.prior) for t in latents]).mean()
        total = sum(t.numel() for t in latents)
        if samples and samples < total:
            parts = [_subsample(t, max(1, round(samples * t.numel() / total)), generator) for t in latents]
        else:
            parts = latents
        return self.estimator(torch.cat(parts), self.prior)

    # -- reporting -----------------------------------------------------------------------
    def layer_rates(self) -> dict[str, float]:
        """Observed pruned fraction of each weight under the current (hard) masks."""
        with self._hard():
            return {n: z / t for n, (z, t) in layer_sparsity(self.model, self.names).items()}

    def counts(self) -> tuple[int, int]:
        """(nonzero, total) prunable weights under the current (hard) masks."""
        with self._hard():
            stats = layer_sparsity(self.model, self.names).values()
        total = sum(t for _, t in stats)
        return total - sum(z for z, _ in stats), total

    def observed_rate(self) -> float:
        """Observed pruned fraction over all prunable weights (hard masks)."""
        nonzero, total = self.counts()
        return 1.0 - nonzero / total

    @contextlib.contextmanager
    def _hard(self) -> Iterator[None]:
        saved = [b.hard for b in self.masks.values()]
        self.set_hard(True)
        try:
            yield
        finally:
            for band, hard in zip(self.masks.values(), saved, strict=False):
                band.hard = hard

    def remove(self) -> nn.Module:
        """Bake the current hard masks into plain dense weights (exact zeros); returns the model."""
        self.set_hard(True)
        for name in self.names:
            module, tensor = resolve(self.model, name)
            parametrize.remove_parametrizations(module, tensor, leave_parametrized=True)
        self.masks = {}
        return self.model


def _subsample(t: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    if not k or k >= t.numel():
        return t
    idx = torch.randint(t.numel(), (k,), generator=generator).to(t.device)
    return t[idx]


def multirate(model: nn.Module, prior: Prior | str = "gaussian", include: Include = None, **kwargs) -> MultiRate:
    """Make ``model``'s chosen weights latent and rate-switchable; see :class:`MultiRate`."""
    return MultiRate(model, prior=prior, include=include, **kwargs)


def magnitude_prune(
    model: nn.Module,
    rate: float,
    scope: Scope | str = Scope.LAYER,
    include: Include = None,
    exclude: Sequence[str] = (),
    floor: float = 0.0,
) -> dict[str, Tensor]:
    """Keep the largest-magnitude weights at ``rate`` with fixed masks (the MP baseline).

    Weights already masked keep their zeros (their magnitude is 0). ``floor``: the per-layer
    floor of global ranking (see :func:`~mrmp.pruning.select.magnitude_masks`). Returns the masks.

    >>> import torch
    >>> from torch import nn
    >>> lin = nn.Linear(10, 10)
    >>> _ = magnitude_prune(lin, 0.7)
    >>> int((lin.weight == 0).sum())
    70
    """
    names = select_weights(model, include, exclude)
    with torch.no_grad():
        weights = {n: getattr(*resolve(model, n)).detach().clone() for n in names}
    masks = magnitude_masks(weights, rate, scope, floor)
    for n in names:
        module, tensor = resolve(model, n)
        existing = module.parametrizations[tensor] if parametrize.is_parametrized(module, tensor) else []
        fixed = [p for p in existing if isinstance(p, FixedMask)]
        if fixed:  # already masked: narrow the mask in place (no re-registration)
            fixed[0].mask.logical_and_(masks[n].bool())
        else:
            parametrize.register_parametrization(module, tensor, FixedMask(masks[n]))
    return masks
