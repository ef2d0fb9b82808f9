"""Backbones and skeleton graphs."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from mrmp.config import ModelConfig
from mrmp.errors import ConfigError
from mrmp.models.gcn import AttentionGCN
from mrmp.models.graph import adjacency, normalize_adjacency, skeleton_adjacency

__all__ = [
    "AttentionGCN",
    "build_model",
    "input_kind",
    "adjacency",
    "normalize_adjacency",
    "skeleton_adjacency",
]


def input_kind(cfg: ModelConfig) -> str:
    """``chunks`` or ``frames``: which inputs the backbone named in ``cfg`` consumes."""
    if cfg.name == "gcn":
        return "chunks"
    if cfg.name == "stgcn":
        return "frames"
    raise ConfigError(f"unknown model {cfg.name!r}; choose gcn or stgcn")


def build_model(
    cfg: ModelConfig,
    *,
    in_features: int,
    num_joints: int,
    num_classes: int,
    edges: Sequence[tuple[int, int]],
    persons: int = 1,
) -> nn.Module:
    """Build the backbone named in ``cfg`` for a dataset's skeleton.

    Args:
        cfg: Backbone settings.
        in_features: F of chunk inputs, C of frame inputs.
        num_joints: V, all joints of all persons.
        num_classes: Output classes.
        edges: Bones over the V joints (0-based).
        persons: M, bodies per frame (frame-based backbones).
    """
    kind = input_kind(cfg)
    if kind == "chunks":
        return AttentionGCN(cfg, skeleton_adjacency(edges, num_joints), in_features, num_classes)
    from mrmp.models.stgcn import STGCN

    per_person = num_joints // persons
    local = [(i, j) for i, j in edges if i < per_person and j < per_person]
    return STGCN(cfg, skeleton_adjacency(local, per_person), in_features, num_classes)
