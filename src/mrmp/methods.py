"""Training methods as objects behind one registry: dense, MP, SRMP, MRMP and the baselines GMP and
multi-rate magnitude training.

A :class:`Method` says how a model is made prunable (:meth:`~Method.attach`), which rates a
step trains and an evaluation reports, which rates count as seen, how a checkpoint is labelled
and viewed at a rate. The engine, the sweep, the CLI choices, the config validation and the
benchmarks all ask :data:`METHODS`; a new method is one subclass plus :func:`register_method`.

>>> method_names()
('dense', 'mp', 'srmp', 'mrmp', 'gmp', 'mrmag')
>>> get_method("srmp").band_stop, get_method("mp").needs_source
(True, True)
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor, nn

from mrmp.errors import ConfigError
from mrmp.pruning import MultiRate, RateHandle, magnitude_prune, sample_rates
from mrmp.pruning.scope import Scope
from mrmp.pruning.select import effective_weight, floor_bound
from mrmp.pruning.thresholds import ThresholdRule, get_threshold

if TYPE_CHECKING:
    from mrmp.config import PruneConfig
    from mrmp.engine.setup import Bundle

__all__ = [
    "Method",
    "MaskedMethod",
    "BandStopMethod",
    "Dense",
    "MagnitudePruning",
    "SingleRate",
    "MultiRateMethod",
    "METHODS",
    "register_method",
    "get_method",
    "method_names",
]

_TOL = 1e-6  # two rates closer than this are the same rate

#: What a view ranks: (scores by weight name, ranking scope, per-layer floor, the rate ``anchored``
#: narrows the masks of, or None).
Ranking = tuple[dict[str, Tensor], Scope, float, float | None]


class Method:
    """One training method; subclasses set the class attributes and override the hooks.

    Attributes:
        name: Registry name (``PruneConfig.method``, CLI choice).
        plain: The model carries no parametrisation (a valid ``--from`` source).
        band_stop: The model has a band-stop :class:`~mrmp.pruning.MultiRate` handle (latent weights).
        needs_source: Training needs a dense checkpoint (``--from``).
        warm_up: Without a ``--from``, a run trains a dense warm-up phase first (``prune.warmup``).
        phased: A run of this method from the command line trains ``prune.phase_fraction`` of the
            dense schedule ``prune.warmup_epochs`` when no ``train.epochs`` is given (see
            :meth:`default_epochs`); else the config's default.
    """

    name: ClassVar[str]
    plain: ClassVar[bool] = False
    band_stop: ClassVar[bool] = False
    needs_source: ClassVar[bool] = False
    warm_up: ClassVar[bool] = False
    phased: ClassVar[bool] = False

    def default_epochs(self, pc: PruneConfig) -> int | None:
        """Epochs of this method's phase when none are given: ``prune.phase_fraction`` of the dense
        schedule (a quarter by default: SBU 600 → 150), or None for the config's default."""
        return max(1, round(pc.phase_fraction * pc.warmup_epochs)) if self.phased else None

    def check(self, pc: PruneConfig) -> None:
        """Refuse settings this method cannot use (called by :class:`~mrmp.config.PruneConfig`)."""

    def attach(
        self,
        model: nn.Module,
        names: Sequence[str],
        pc: PruneConfig,
        generator: torch.Generator | None = None,
        warm: bool = False,
    ) -> RateHandle | None:
        """Make the weights ``names`` of a freshly built ``model`` prunable; returns the handle.

        ``warm``: the model holds the dense weights of ``pc.source`` (start from them).
        """
        return None

    def uses_warmup(self, pc: PruneConfig) -> bool:
        """Whether a run trains a dense warm-up phase first (see :mod:`mrmp.engine.recipe`):
        :attr:`warm_up` methods with ``prune.warmup`` and no ``prune.source``."""
        return self.warm_up and pc.warmup and not pc.source

    def before_step(self, bundle: Bundle, step: int, total: int, per_epoch: int) -> None:
        """Change the model before training step ``step`` of ``total`` (``per_epoch`` per epoch),
        e.g. narrow its masks; for exact resuming it depends on ``step`` and the model alone."""

    def trained_rates(self, pc: PruneConfig) -> tuple[float, ...]:
        """The rates the model was trained at (seen rates)."""
        return (pc.rate,)

    def default_rate(self, pc: PruneConfig) -> float:
        """The rate a checkpoint is used at when none is asked for: its lowest trained rate."""
        return min(self.trained_rates(pc))

    def default_threshold(self, pc: PruneConfig) -> str:
        """The threshold rule a checkpoint is evaluated with when none is asked for."""
        return get_threshold(pc.threshold).evaluated_with

    def is_seen(self, pc: PruneConfig, rate: float) -> bool:
        """Whether ``rate`` was trained."""
        return any(abs(rate - r) < _TOL for r in self.trained_rates(pc))

    def step_rates(self, pc: PruneConfig, generator: torch.Generator) -> list[float]:
        """The rates one training step trains (none: a plain forward)."""
        return []

    def eval_rates(self, pc: PruneConfig) -> list[float]:
        """The rates reported while training (none: the model as it is); the first is the headline."""
        return []

    def label(self, pc: PruneConfig) -> str:  # pragma: no cover - abstract
        """Short curve label of a run."""
        raise NotImplementedError

    def view(
        self,
        bundle: Bundle,
        rate: float,
        threshold: str | ThresholdRule | None = None,
        scope: Scope | str | None = None,
    ) -> contextlib.AbstractContextManager[nn.Module]:
        """Context manager yielding the bundle's model at ``rate`` with hard masks; on exit what
        the bundle holds is as before (see :meth:`MaskedMethod.view`, :meth:`BandStopMethod.view`)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def ranking(
        self, bundle: Bundle, rate: float, threshold: str | ThresholdRule | None, scope: Scope | str | None
    ) -> Ranking | None:
        """What :meth:`view` ranks at ``rate`` (arguments as there); None where it does not rank."""
        return None

    def floor_bound(
        self,
        bundle: Bundle,
        rate: float,
        threshold: str | ThresholdRule | None = None,
        scope: Scope | str | None = None,
    ) -> dict[str, bool]:
        """Per prunable weight: whether :meth:`view` at ``rate`` keeps more of it than global
        ranking alone would (the per-layer floor binds it)."""
        ranked = self.ranking(bundle, rate, threshold, scope)
        if ranked is None:
            return dict.fromkeys(bundle.names, False)
        scores, used_scope, floor, anchor = ranked
        return floor_bound(scores, rate, used_scope, floor, anchor)


class MaskedMethod(Method):
    """Plain or fixed-mask models: other rates are magnitude pruning (no fine-tuning) on a copy."""

    def pruned_up_to(self, pc: PruneConfig) -> float:
        """Rates at or below this one leave the model as trained (pruned weights cannot return)."""
        return 0.0

    @contextlib.contextmanager
    def view(
        self,
        bundle: Bundle,
        rate: float,
        threshold: str | ThresholdRule | None = None,
        scope: Scope | str | None = None,
    ) -> Iterator[nn.Module]:
        """The model itself at or below :meth:`pruned_up_to`, else a copy magnitude-pruned at
        ``rate`` within ``scope`` (default: the run's ``prune.scope``, with its ``prune.floor``);
        ``threshold`` is unused."""
        pc = bundle.cfg.prune
        if rate <= self.pruned_up_to(pc) + 1e-12:
            yield bundle.model
            return
        model = copy.deepcopy(bundle.model)
        magnitude_prune(model, rate, scope=scope or pc.scope, include=bundle.names, floor=pc.floor)
        yield model

    def ranking(
        self, bundle: Bundle, rate: float, threshold: str | ThresholdRule | None, scope: Scope | str | None
    ) -> Ranking | None:
        """The effective weights, above :meth:`pruned_up_to`."""
        pc = bundle.cfg.prune
        if rate <= self.pruned_up_to(pc) + 1e-12:
            return None
        scores = {n: effective_weight(bundle.model, n).detach() for n in bundle.names}
        return scores, Scope.parse(scope or pc.scope), pc.floor, None


class BandStopMethod(Method):
    """Models with latent weights behind band-stop masks, switchable to any rate; from the
    command line they train ``prune.phase_fraction`` of the dense schedule after a dense warm-up phase
    (``prune.warmup``)."""

    band_stop = True
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
        """A :class:`~mrmp.pruning.MultiRate` handle: latents drawn from the prior, or Ŵ = W / s
        of the loaded dense weights when ``warm`` (rate 0 then reproduces the dense model)."""
        return MultiRate(
            model,
            pc.prior,
            include=list(names),
            grouping=pc.grouping,
            scale=pc.scale,
            estimator=pc.kl_estimator,
            init="weights" if warm else "prior",
            generator=generator,
            floor=pc.floor,
            seen=self.trained_rates(pc),
        )

    @contextlib.contextmanager
    def view(
        self,
        bundle: Bundle,
        rate: float,
        threshold: str | ThresholdRule | None = None,
        scope: Scope | str | None = None,
    ) -> Iterator[nn.Module]:
        """The bundle's own model switched to ``rate`` (``threshold`` defaults to
        :meth:`default_threshold`, ``scope`` to the handle's scale) and restored on exit."""
        rule = threshold or self.default_threshold(bundle.cfg.prune)
        with bundle.pruner.at_rate(rate, rule, scope):
            yield bundle.model

    def ranking(
        self, bundle: Bundle, rate: float, threshold: str | ThresholdRule | None, scope: Scope | str | None
    ) -> Ranking | None:
        """The latents, under a ranking rule (``exact``, ``anchored``, ``empirical``)."""
        pruner = bundle.pruner
        rule = get_threshold(threshold or self.default_threshold(bundle.cfg.prune))
        if not rule.floored:
            return None
        scores = {n: pruner.latent(n).detach() for n in pruner.names}
        return scores, pruner.scale if scope is None else Scope.parse(scope), pruner.floor, rule.anchor(pruner, rate)


def _kl_text(pc: PruneConfig) -> str:
    """The prior a band-stop run is drawn towards, or ``λ = 0`` where it has no KL term."""
    return "λ = 0" if pc.kl_weight == 0 else pc.prior


def _choice_text(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


METHODS: dict[str, Method] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: add an instance of ``cls`` to :data:`METHODS` under its name."""
    METHODS[cls.name] = cls()
    return cls


def method_names() -> tuple[str, ...]:
    """Names of the registered methods, in registration order."""
    return tuple(METHODS)


def get_method(name: str) -> Method:
    """The method registered as ``name``."""
    try:
        return METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; choose {_choice_text(method_names())}") from None


@register_method
class Dense(MaskedMethod):
    """Dense training; other rates are magnitude pruning without fine-tuning."""

    name = "dense"
    plain = True

    def check(self, pc: PruneConfig) -> None:
        if pc.source:
            others = [n for n, m in METHODS.items() if not m.plain]
            raise ConfigError(f"prune.source applies to {_choice_text(others)}, not to {self.name} training")

    def trained_rates(self, pc: PruneConfig) -> tuple[float, ...]:
        return (0.0,)

    def label(self, pc: PruneConfig) -> str:
        return "MP (no FT)"


@register_method
class MagnitudePruning(MaskedMethod):
    """MP: a dense checkpoint magnitude-pruned at ``rate`` within ``scope``, then fine-tuned
    (from the command line for ``prune.phase_fraction`` of the dense schedule, like the other pruned phases)."""

    name = "mp"
    needs_source = True
    phased = True

    def attach(
        self,
        model: nn.Module,
        names: Sequence[str],
        pc: PruneConfig,
        generator: torch.Generator | None = None,
        warm: bool = False,
    ) -> RateHandle | None:
        """Fixed masks: of the loaded dense weights at ``pc.rate`` when ``warm``, else all-ones
        (to be filled from a checkpoint)."""
        magnitude_prune(model, pc.rate if warm else 0.0, scope=pc.scope, include=list(names), floor=pc.floor)
        return None

    def pruned_up_to(self, pc: PruneConfig) -> float:
        return pc.rate

    def label(self, pc: PruneConfig) -> str:
        return f"MP+FT r={pc.rate:g}"


@register_method
class SingleRate(BandStopMethod):
    """SRMP: band-stop latents trained at one rate."""

    name = "srmp"

    def step_rates(self, pc: PruneConfig, generator: torch.Generator) -> list[float]:
        return [pc.rate]

    def eval_rates(self, pc: PruneConfig) -> list[float]:
        return [pc.rate]

    def label(self, pc: PruneConfig) -> str:
        return f"SRMP r={pc.rate:g} ({_kl_text(pc)})"


@register_method
class MultiRateMethod(BandStopMethod):
    """MRMP: band-stop latents trained at ``rates_per_step`` of the seen rates per step."""

    name = "mrmp"

    def trained_rates(self, pc: PruneConfig) -> tuple[float, ...]:
        return tuple(pc.rates)

    def step_rates(self, pc: PruneConfig, generator: torch.Generator) -> list[float]:
        return sample_rates(pc.rates, pc.rates_per_step, generator)

    def eval_rates(self, pc: PruneConfig) -> list[float]:
        """The lowest, middle and highest seen rates."""
        seen = sorted(pc.rates)
        return sorted({seen[0], seen[len(seen) // 2], seen[-1]})

    def label(self, pc: PruneConfig) -> str:
        """``MRMP (gaussian)``; ``MRMP (λ = 0)`` without the KL term."""
        return f"MRMP ({_kl_text(pc)})"


# The baselines register themselves on import (GMP and multi-rate magnitude training).
from mrmp import baselines as _baselines  # noqa: E402, F401
