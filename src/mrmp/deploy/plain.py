"""The plain inference backbone of a run: no latent weights, no parametrisations, no dropout."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mrmp.config import RunConfig
from mrmp.meta import Meta
from mrmp.models import build_model, input_kind

__all__ = ["build_plain", "example_input"]


def build_plain(cfg: RunConfig, meta: Meta) -> nn.Module:
    """The bare backbone of ``cfg`` for ``meta``: no parametrisations, dropout as identity, eval mode."""
    model = build_model(
        cfg.model,
        in_features=meta.in_features,
        num_joints=meta.num_joints,
        num_classes=meta.num_classes,
        edges=meta.edges,
        persons=meta.persons,
    )
    _replace_dropout(model)
    return model.eval()


def _replace_dropout(model: nn.Module) -> None:
    for name, child in list(model.named_children()):
        if isinstance(child, nn.modules.dropout._DropoutNd):
            setattr(model, name, nn.Identity())
        else:
            _replace_dropout(child)


def example_input(cfg: RunConfig, meta: Meta, batch: int = 1, seed: int = 0) -> Tensor:
    """A random input of the backbone's layout: chunks (N, V, F) or frames (N, C, T, V/M, M)."""
    g = torch.Generator().manual_seed(seed)
    if input_kind(cfg.model) == "chunks":
        shape: tuple[int, ...] = (batch, meta.num_joints, meta.in_features)
    else:
        m = meta.persons
        shape = (batch, meta.in_features, cfg.features.frames, meta.num_joints // m, m)
    return torch.randn(shape, generator=g)
