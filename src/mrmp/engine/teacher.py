"""A finished dense run as a teacher (``train.teacher``): its predictions on every training batch,
distilled into the run being trained (Hinton et al., 2015), whatever either backbone is.

The teacher sees the student's batch: the same sequences, cropped and augmented by the same draws
(:meth:`~mrmp.data.features.InputPipeline.augmented_frames`), resampled to its own length and
encoded into its own inputs (its streams, chunk descriptors or frames), then blended by the same
mixup draws. So a GCN on chunk descriptors with a distance stream can teach an ST-GCN on joint
and bone frames of the same dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from mrmp.config import FeatureConfig, RunConfig
from mrmp.data.features import ENCODERS, NORMALISATION, input_features, resample
from mrmp.engine.setup import Data, load_bundle
from mrmp.errors import ConfigError
from mrmp.models import input_kind

__all__ = ["Teacher", "load_teacher"]


@dataclass
class Teacher:
    """A frozen model with the input settings it was trained on.

    Attributes:
        model: The teacher's network, in evaluation mode, without gradients.
        features: Its feature settings (streams, chunks or frames).
        kind: Its input kind, a key of :data:`~mrmp.data.features.ENCODERS`.
        parents: Parent joint of every joint (the bone stream), as in the student's data.
        persons: Bodies per frame.
        rescale: Student scale / teacher scale: the student's frames, divided by its dataset
            scale, times this are the teacher's.
    """

    model: nn.Module
    features: FeatureConfig
    kind: str
    parents: list[int]
    persons: int
    rescale: float = 1.0

    def inputs(self, frames: Tensor) -> Tensor:
        """The teacher's inputs of augmented student frames (N, T, V, C): resampled to its length, encoded."""
        encoder = ENCODERS[self.kind]
        length = encoder.frames(self.features)
        if frames.shape[1] != length:
            full = torch.full((frames.shape[0],), frames.shape[1], dtype=torch.long)
            frames = resample(frames, full, length)
        return encoder.encode(frames * self.rescale, self.features, self.parents, self.persons)

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        """Logits (N, classes) of the teacher's inputs ``x``."""
        return self.model(x)


def load_teacher(path: str | Path, cfg: RunConfig, data: Data, device: torch.device) -> Teacher:
    """The dense run at ``path`` (its folder or its ``checkpoint.pt``) as a teacher of the run of
    ``cfg`` on ``data``.

    Raises:
        ConfigError: No checkpoint at ``path``, or not a dense run of this data's joints, classes,
            persons and coordinates, or one that normalises the sequences otherwise.
        CheckpointError: Its checkpoint is damaged.
    """
    path = Path(path)
    checkpoint = path / "checkpoint.pt" if path.is_dir() else path
    if not checkpoint.is_file():
        raise ConfigError(f"train.teacher: {path}: no checkpoint (expected a run folder or its checkpoint.pt)")
    bundle, _ = load_bundle(checkpoint)
    if not bundle.method.plain:
        raise ConfigError(f"train.teacher: {checkpoint}: a dense run is needed, got method {bundle.cfg.prune.method!r}")
    for what in ("num_joints", "num_classes", "persons"):
        theirs, ours = getattr(bundle.meta, what), getattr(data.meta, what)
        if theirs != ours:
            name = what.replace("num_", "")
            raise ConfigError(f"train.teacher: {checkpoint}: trained with {theirs} {name}, this data has {ours}")
    if bundle.cfg.data.coords != cfg.data.coords:
        raise ConfigError(
            f"train.teacher: {checkpoint}: data.coords={bundle.cfg.data.coords!r}, this run has {cfg.data.coords!r}"
        )
    for name in NORMALISATION:
        theirs, ours = getattr(bundle.cfg.features, name), getattr(cfg.features, name)
        if theirs != ours:
            raise ConfigError(f"train.teacher: {checkpoint}: features.{name}={theirs!r}, this run has {ours!r}")
    kind = input_kind(bundle.cfg.model)
    wanted = input_features(bundle.cfg.features, kind, data.train.coords, data.train.joints)
    if wanted != bundle.meta.in_features:
        raise ConfigError(
            f"train.teacher: {checkpoint}: its inputs have {bundle.meta.in_features} features, "
            f"its settings on this data give {wanted}"
        )
    model = bundle.model.to(device).eval().requires_grad_(False)
    rescale = data.train.scale / bundle.meta.scale
    return Teacher(model, bundle.cfg.features, kind, data.train.parents, data.train.persons, rescale)
