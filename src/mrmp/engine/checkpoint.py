"""Atomic checkpoint files: config + weights + optimizer + epoch + RNG state, no pickled modules."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mrmp.io import CHECKPOINT, atomic_write_bytes, read_payload

__all__ = ["FORMAT", "atomic_write_bytes", "first_non_finite", "save_checkpoint", "load_checkpoint"]

FORMAT = CHECKPOINT.format


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (tensors, numbers, strings, lists, dicts) atomically to ``path``."""
    atomic_write_bytes(path, lambda fh: torch.save({"format": FORMAT, **payload}, fh))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (never executes code from the file).

    Raises:
        CheckpointError: Missing, damaged or foreign file (see :func:`mrmp.io.read_payload`).
    """
    return read_payload(path, CHECKPOINT, map_location)


def first_non_finite(state: Mapping[str, Any]) -> str | None:
    """The name of the first floating-point tensor of ``state`` holding a NaN or an infinity, or None.

    >>> first_non_finite({"a": torch.ones(2), "b": torch.tensor([0.0, float("nan")]), "n": torch.arange(2)})
    'b'
    """
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name
    return None
