"""Build data, model and pruning handle from a :class:`RunConfig` or a checkpoint."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mrmp.config import RunConfig
from mrmp.data import SkeletonSet, load_dataset
from mrmp.data.features import InputPipeline, Skeleton
from mrmp.engine.checkpoint import load_checkpoint
from mrmp.errors import CheckpointError
from mrmp.models import build_model, input_kind
from mrmp.pruning import MultiRate, magnitude_prune, select_weights

__all__ = [
    "Meta", "Bundle", "Data", "load_data", "build_bundle", "load_bundle", "pruned_view", "default_rate",
    "default_threshold",
]


@dataclass(frozen=True)
class Meta:
    """What a model needs from its dataset, stored in every checkpoint."""

    in_features: int
    num_joints: int
    num_classes: int
    persons: int
    edges: tuple[tuple[int, int], ...]
    scale: float
    class_names: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "edges": [list(e) for e in self.edges]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Meta:
        return cls(**{**d, "edges": tuple(tuple(e) for e in d["edges"]),
                      "class_names": tuple(d["class_names"])})


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
    ds = load_dataset(dc.dataset, root or dc.root, skip_bad=dc.skip_bad, seed=dc.seed, coords=dc.coords)
    split = ds.split(dc.split)
    kind = input_kind(cfg.model)
    pick = lambda idx: [ds.sequences[i] for i in idx]  # noqa: E731
    skeleton = Skeleton(ds.persons, ds.edges, ds.body)
    train = InputPipeline(pick(split.train), cfg.features, kind, skeleton, scale)
    test = InputPipeline(pick(split.test), cfg.features, kind, skeleton, train.scale)
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
        pruner: The band-stop handle for ``srmp``/``mrmp`` models, else None.
        names: Qualified names of the prunable weights.
    """

    cfg: RunConfig
    meta: Meta
    model: nn.Module
    pruner: MultiRate | None
    names: list[str]


def _exclude(cfg: RunConfig) -> tuple[str, ...]:
    return () if cfg.prune.prune_classifier else ("classifier.weight",)


def build_bundle(cfg: RunConfig, meta: Meta, generator: torch.Generator | None = None) -> Bundle:
    """Fresh model for ``cfg`` with the method's parametrisation attached.

    ``mp`` models get all-ones fixed masks (to be filled by the source weights and masks).
    """
    model = build_model(cfg.model, in_features=meta.in_features, num_joints=meta.num_joints,
                        num_classes=meta.num_classes, edges=meta.edges, persons=meta.persons)
    names = select_weights(model, exclude=_exclude(cfg))
    pruner = None
    if cfg.prune.method in ("srmp", "mrmp"):
        pruner = MultiRate(model, cfg.prune.prior, include=names, grouping=cfg.prune.grouping,
                           scale=cfg.prune.scale, estimator=cfg.prune.kl_estimator, generator=generator)
    elif cfg.prune.method == "mp":
        magnitude_prune(model, 0.0, include=names)  # all-ones fixed masks
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
        raise CheckpointError(f"{path}: checkpoint does not match its config ({exc})") from None
    bundle.model.to(device).eval()
    if bundle.pruner is not None:
        bundle.pruner.set_rate(default_rate(cfg), default_threshold(cfg), cfg.prune.scale)
        bundle.pruner.set_hard(True)
    return bundle, payload


def default_threshold(cfg: RunConfig) -> str:
    """The threshold rule a band-stop checkpoint is evaluated with when none is asked for: the
    paper's ``prior`` for runs trained with it, ``exact`` (the empirical rule on every latent,
    not a sample) for runs trained with ``empirical`` cut-offs."""
    return "exact" if cfg.prune.threshold == "empirical" else "prior"


def default_rate(cfg: RunConfig) -> float:
    """The rate a checkpoint is used at when none is asked for: the trained rate of MP / SRMP,
    the lowest seen rate of MRMP, 0 for dense."""
    pc = cfg.prune
    return {"mp": pc.rate, "srmp": pc.rate, "mrmp": min(pc.rates)}.get(pc.method, 0.0)


def pruned_view(bundle: Bundle, rate: float, threshold: str | None = None, scope: str | None = None) -> nn.Module:
    """The bundle's model at ``rate`` with hard masks.

    Band-stop models switch their masks in place (no copy; the latent weights are untouched);
    ``threshold`` defaults to :func:`default_threshold`;
    ``scope`` only matters for ``exact`` / ``empirical`` thresholds and defaults to the model's latent scale
    (``global`` ranking for one global scale, as small layers are meant to keep more weights;
    ``layer`` for per-layer scales). Dense and MP models are
    magnitude-pruned on a copy with ``scope`` (default: the run's ``prune.scope``), i.e. MP
    without fine-tuning at ``rate``; an MP model at or below its trained rate is returned as
    trained (its pruned weights cannot come back).
    """
    if bundle.pruner is not None:
        bundle.pruner.set_rate(rate, threshold or default_threshold(bundle.cfg), scope or bundle.cfg.prune.scale)
        bundle.pruner.set_hard(True)
        return bundle.model
    pc = bundle.cfg.prune
    if rate == 0 or (pc.method == "mp" and rate <= pc.rate + 1e-12):
        return bundle.model
    model = copy.deepcopy(bundle.model)
    magnitude_prune(model, rate, scope=scope or pc.scope, include=bundle.names)
    return model
