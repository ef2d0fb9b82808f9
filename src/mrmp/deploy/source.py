"""The deploy package's only door into :mod:`mrmp.engine`: a checkpoint's model at a rate.

Every call into the engine (``load_bundle``, ``pruned_view``, ``default_rate``,
``default_threshold``) sits in :func:`open_checkpoint` and :func:`snapshot` and is imported
there, so that reading and running exported files never loads the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from mrmp.config import check_rate
from mrmp.deploy.plain import build_plain
from mrmp.pruning.select import resolve

if TYPE_CHECKING:
    from mrmp.engine.setup import Bundle

__all__ = ["Snapshot", "open_checkpoint", "snapshot"]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A checkpoint's model at one rate as a plain backbone (:func:`mrmp.deploy.plain.build_plain`).

    Attributes:
        model: The plain backbone holding the effective (masked) weights; eval mode, no gradients.
        state: Its state dict (the effective weights under their plain names).
        rate: The rate used (the checkpoint's default when none was asked for).
        threshold: The threshold rule used (the trained one when none was asked for).
        scope: The ranking scope asked for (None: the run's default).
    """

    model: nn.Module
    state: dict[str, Tensor]
    rate: float
    threshold: str
    scope: str | None


def open_checkpoint(path: str | Path) -> Bundle:
    """The model stored in a training checkpoint (:func:`mrmp.engine.setup.load_bundle`)."""
    from mrmp.engine.setup import load_bundle

    return load_bundle(path)[0]


@torch.no_grad()
def snapshot(
    bundle: Bundle, rate: float | None = None, threshold: str | None = None, scope: str | None = None
) -> Snapshot:
    """The bundle's model at ``rate`` (see :func:`mrmp.engine.setup.pruned_view`) as plain weights.

    The bundle is left as it was (the view restores a band-stop model's masks on exit).
    """
    from mrmp.engine.setup import default_rate, default_threshold, pruned_view

    rate = default_rate(bundle.cfg) if rate is None else check_rate(rate)
    plain = build_plain(bundle.cfg, bundle.meta)
    with pruned_view(bundle, rate, threshold, scope) as view:
        state = {k: getattr(*resolve(view, k)).detach().clone() for k in plain.state_dict()}
    plain.load_state_dict(state)
    return Snapshot(plain.requires_grad_(False), state, rate, threshold or default_threshold(bundle.cfg), scope)
