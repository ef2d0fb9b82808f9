"""Backbones and skeleton graphs, behind one registry (:data:`MODELS`).

Each backbone class declares the inputs it consumes (``input_kind``, a key of
:data:`mrmp.data.features.ENCODERS`) and builds itself for a dataset's skeleton (``for_skeleton``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from mrmp.config import ModelConfig
from mrmp.errors import ConfigError
from mrmp.models.gcn import AttentionGCN
from mrmp.models.graph import adjacency, normalize_adjacency, skeleton_adjacency
from mrmp.models.stgcn import STGCN

__all__ = [
    "MODELS",
    "MODEL_RECIPES",
    "AttentionGCN",
    "STGCN",
    "build_model",
    "input_kind",
    "adjacency",
    "normalize_adjacency",
    "skeleton_adjacency",
]

#: Model name (``ModelConfig.name``) -> backbone class.
MODELS: dict[str, type[AttentionGCN] | type[STGCN]] = {"gcn": AttentionGCN, "stgcn": STGCN}


#: Model name -> its dense schedule where it differs from the config defaults (those of the paper's
#: GCN), ``{section: {field: value}}`` under a dataset's own settings for it (``docs/results.md`` §1, §8).
MODEL_RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "gcn": {"model": {"norm": True}},  # a layer norm over the node embeddings: SBU +0.8, FPHA +0.9 (§1)
    "stgcn": {
        "model": {"dropout": 0.1},
        "train": {"lr": 3e-3, "epochs": 200, "amp": "auto"},  # bf16 where native: 1.6× faster (§1)
        "prune": {"warmup_epochs": 200},
    },
}


def _model_class(cfg: ModelConfig) -> type[AttentionGCN] | type[STGCN]:
    if cfg.name not in MODELS:
        raise ConfigError(f"unknown model {cfg.name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[cfg.name]


def input_kind(cfg: ModelConfig) -> str:
    """``chunks`` or ``frames``: which inputs the backbone named in ``cfg`` consumes."""
    return _model_class(cfg).input_kind


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
        persons: M, bodies per frame.
    """
    return _model_class(cfg).for_skeleton(cfg, in_features, num_joints, num_classes, edges, persons)
