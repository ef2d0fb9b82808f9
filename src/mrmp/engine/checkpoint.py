"""Atomic checkpoint files: config + weights + optimizer + epoch + RNG state, no pickled modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mrmp.io import CHECKPOINT, atomic_write_bytes, read_payload

__all__ = ["FORMAT", "atomic_write_bytes", "save_checkpoint", "load_checkpoint"]

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
