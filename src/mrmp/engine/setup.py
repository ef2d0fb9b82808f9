"""Build data, model and pruning handle from a :class:`RunConfig` or a checkpoint."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mrmp.config import RunConfig
from mrmp.data import SkeletonSet, load_dataset
from mrmp.data.features import InputPipeline, Skeleton
from mrmp.engine.checkpoint import first_non_finite, load_checkpoint
from mrmp.errors import CheckpointError, ConfigError, one_line
from mrmp.meta import Meta
from mrmp.methods import Method, get_method
from mrmp.models import build_model, input_kind
from mrmp.pruning import RateHandle, Scope, ThresholdRule, select_weights

__all__ = [
    "Meta",
    "Bundle",
    "Data",
    "load_data",
    "data_of",
    "build_bundle",
    "load_bundle",
    "pruned_view",
    "default_rate",
    "default_threshold",
    "use_default_rate",
]


@dataclass
class Data:
    """Train and test inputs of one split."""

    dataset: SkeletonSet
    train: InputPipeline
    test: InputPipeline
    train_labels: Tensor
    test_labels: Tensor
    meta: Meta


def load_data(cfg: RunConfig, root: str | None = None, scale: float | None = None) -> Data:
    """Load the dataset and split named in ``cfg`` (``root`` overrides ``cfg.data.root``)."""
    dc = cfg.data
    ds = load_dataset(
        dc.dataset,
        root or dc.root,
        skip_bad=dc.skip_bad,
        seed=dc.seed,
        coords=dc.coords,
        cache=dc.cache,
        workers=dc.workers,
    )
    return data_of(ds, cfg, scale)


def data_of(ds: SkeletonSet, cfg: RunConfig, scale: float | None = None) -> Data:
    """The train and test inputs of a loaded set's split ``cfg.data.split`` (benchmarks, tests)."""
    split = ds.split(cfg.data.split)
    for side in ("train", "test"):
        if len(getattr(split, side)) == 0:
            raise ConfigError(f"dataset {cfg.data.dataset!r}: split {cfg.data.split!r} has no {side} sequences")
    kind = input_kind(cfg.model)
    skeleton = Skeleton(ds.persons, ds.edges, ds.body)
    train = InputPipeline(ds.select(split.train), cfg.features, kind, skeleton, scale)
    test = InputPipeline(ds.select(split.test), cfg.features, kind, skeleton, train.scale)
    labels = torch.as_tensor(ds.labels, dtype=torch.long)
    meta = Meta(
        in_features=train.num_features,
        num_joints=ds.num_joints,
        num_classes=ds.num_classes,
        persons=ds.persons,
        edges=tuple((int(i), int(j)) for i, j in ds.edges),
        scale=train.scale,
        class_names=tuple(ds.class_names),
    )
    return Data(ds, train, test, labels[split.train], labels[split.test], meta)


@dataclass
class Bundle:
    """A model with its pruning state.

    Attributes:
        model: The backbone (band-stop or fixed masks attached for pruned methods).
        pruner: The rate handle of rate-switchable models (``srmp``, ``mrmp``, ``mrmag``), else None.
        names: Qualified names of the prunable weights.
    """

    cfg: RunConfig
    meta: Meta
    model: nn.Module
    pruner: RateHandle | None
    names: list[str]

    @property
    def method(self) -> Method:
        """The training method of this bundle's run (see :mod:`mrmp.methods`)."""
        return get_method(self.cfg.prune.method)


def _exclude(cfg: RunConfig) -> tuple[str, ...]:
    return () if cfg.prune.prune_classifier else ("classifier.weight",)


def build_bundle(
    cfg: RunConfig, meta: Meta, generator: torch.Generator | None = None, weights: Mapping[str, Tensor] | None = None
) -> Bundle:
    """Fresh model for ``cfg`` with the method's parametrisation attached.

    Args:
        generator: RNG of the prior draws of band-stop latents.
        weights: A dense state dict to load into the plain model before attaching (warm start:
            band-stop latents become W / s, MP masks are taken from these weights); without it,
            MP models get all-ones fixed masks (to be filled from a checkpoint).
    """
    model = build_model(
        cfg.model,
        in_features=meta.in_features,
        num_joints=meta.num_joints,
        num_classes=meta.num_classes,
        edges=meta.edges,
        persons=meta.persons,
    )
    if weights is not None:
        model.load_state_dict(weights)
    names = select_weights(model, exclude=_exclude(cfg))
    method = get_method(cfg.prune.method)
    pruner = method.attach(model, names, cfg.prune, generator, warm=weights is not None)
    return Bundle(cfg, meta, model, pruner, names)


def load_bundle(path: str | Path, device: str = "cpu") -> tuple[Bundle, dict[str, Any]]:
    """Rebuild the model stored in a checkpoint; returns it with the raw payload."""
    payload = load_checkpoint(path)
    try:
        cfg = RunConfig.from_stored(payload["config"])
        meta = Meta.from_dict(payload["meta"])
        bundle = build_bundle(cfg, meta)
        bundle.model.load_state_dict(payload["model"])
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{path}: checkpoint does not match its config ({one_line(exc)})") from None
    bad = first_non_finite(payload["model"])
    if bad is not None:
        raise CheckpointError(f"{path}: tensor {bad!r} holds NaN or infinite values; the checkpoint is damaged")
    bundle.model.to(device).eval()
    use_default_rate(bundle)
    return bundle, payload


def use_default_rate(bundle: Bundle) -> None:
    """Put a band-stop model at its :func:`default_rate` with its default threshold, hard masks."""
    if bundle.pruner is not None:
        bundle.pruner.set_rate(default_rate(bundle.cfg), default_threshold(bundle.cfg))
        bundle.pruner.set_hard(True)


def default_threshold(cfg: RunConfig) -> str:
    """The threshold rule a band-stop checkpoint is evaluated with when none is asked for: its
    training rule's ``evaluated_with``, ``anchored`` (observed rate = requested) for every rule."""
    return get_method(cfg.prune.method).default_threshold(cfg.prune)


def default_rate(cfg: RunConfig) -> float:
    """The rate a checkpoint is used at when none is asked for: the trained rate of MP / SRMP,
    the lowest seen rate of MRMP, 0 for dense."""
    return get_method(cfg.prune.method).default_rate(cfg.prune)


def pruned_view(
    bundle: Bundle, rate: float, threshold: str | ThresholdRule | None = None, scope: Scope | str | None = None
) -> contextlib.AbstractContextManager[nn.Module]:
    """Context manager: the bundle's model at ``rate`` with hard masks; on exit the bundle is as before.

    Band-stop models switch their masks (no copy; the latent weights are untouched) and switch
    back on exit; ``threshold`` defaults to :func:`default_threshold`, ``scope`` (``exact`` /
    ``anchored`` / ``empirical`` ranking) to the model's latent scale. Dense and MP models yield a copy
    magnitude-pruned within ``scope`` (default: the run's ``prune.scope``), i.e. MP without
    fine-tuning at ``rate``; an MP model at or below its trained rate is yielded as trained.

    Usage: ``with pruned_view(bundle, 0.9) as model: accuracy(model, ...)``.
    """
    return bundle.method.view(bundle, rate, threshold, scope)
