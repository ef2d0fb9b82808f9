"""The in-memory dataset type shared by every loader.

A :class:`SkeletonSet` holds variable-length sequences, each a float32 array of layout
(T, V, C) — frames, joints, coordinates — with integer labels, the skeleton's bones as
0-based joint pairs, and named train/test splits (e.g. ``fold0`` … ``fold4`` for SBU).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mrmp.errors import ConfigError, DataError

__all__ = [
    "mirror_pairs",
    "MAX_CLASSES",
    "MAX_COORDINATE",
    "MAX_JOINTS",
    "Body",
    "Split",
    "SkeletonSet",
    "check_label",
    "coordinate_problem",
]

#: The largest coordinate magnitude a dataset may hold: squares and sums of larger float32
#: values overflow (a 1e30 made the dataset scale inf and every input 0).
MAX_COORDINATE = 1e9
#: The most classes a dataset may have (labels 0..MAX_CLASSES − 1), checked before class lists are built.
MAX_CLASSES = 10_000
#: The most joints a skeleton may have: models hold V × V adjacency and attention matrices.
MAX_JOINTS = 1_000


def coordinate_problem(seq: np.ndarray) -> str | None:
    """What is wrong with the coordinates of one sequence (non-finite or beyond ±``MAX_COORDINATE``), or None."""
    with np.errstate(invalid="ignore"):
        bad = np.argwhere(~(np.abs(seq) <= MAX_COORDINATE))
    if not bad.size:
        return None
    where = ", ".join(f"{axis} {i}" for axis, i in zip(("frame", "joint", "coordinate"), bad[0].tolist(), strict=False))
    return f"value {seq[tuple(bad[0])]:g} at {where} is not finite or beyond ±{MAX_COORDINATE:g}"


def check_label(path: str | Path, label: int, line: int | None = None) -> int:
    """``label`` if it is a class index in [0, ``MAX_CLASSES``); a :class:`DataError` otherwise."""
    if not 0 <= label < MAX_CLASSES:
        raise DataError(path, f"label {label}: expected a class index in 0..{MAX_CLASSES - 1}", line)
    return label


@dataclass(frozen=True)
class Split:
    """Indices into a :class:`SkeletonSet` for one protocol split."""

    train: np.ndarray
    test: np.ndarray


def mirror_pairs(joints: int, pairs: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """The mirror relabelling of ``joints`` joints (:attr:`Body.mirror`) that exchanges each left/right pair.

    >>> mirror_pairs(5, [(1, 2), (3, 4)])
    (0, 2, 1, 4, 3)
    """
    out = list(range(joints))
    for left, right in pairs:
        out[left], out[right] = right, left
    return tuple(out)


@dataclass(frozen=True)
class Body:
    """Where the body is in a dataset's skeleton: joint indices within one person's block.

    Attributes:
        root: Joint the body is centred on (two persons: the midpoint of their roots); None: the
            joint with the most bones.
        primary: Bone-like axis ``(from, to)`` that view alignment maps onto +x (one person; for
            two or more persons the axis from the first person's root to the second's is used, unless
            ``pair_axis`` is False).
        secondary: Axis ``(from, to)`` that alignment maps into the x–y plane, towards +y.
        units: Units of the coordinates, as documented (``metres``, ``millimetres``, …).
        pair_axis: With two or more persons, align on the axis between the first two persons'
            roots (SBU's interactions); False: on ``primary`` of the first person (NTU, where
            most sequences have one person).
        mirror: The joint each joint becomes in the mirror image (left and right exchanged,
            central joints fixed), one person's joints; None: the dataset has no left/right pairs
            (a hand) or does not name them. See :func:`mrmp.data.geometry.mirror_signs`.
    """

    root: int | None = None
    primary: tuple[int, int] | None = None
    secondary: tuple[int, int] | None = None
    units: str = "as stored"
    pair_axis: bool = True
    mirror: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SkeletonSet:
    """A loaded skeleton dataset.

    Attributes:
        name: Dataset name (``sbu``, ``fpha``, ``npz``, ``synthetic``).
        sequences: One float32 array (T_i, V, C) per sequence, finite values: a list, or a
            memory-mapped :class:`~mrmp.data.cache.FrameStore` for cached (streamed) sets.
        labels: int64 array (N,) of class indices in ``[0, num_classes)``.
        ids: One identifier per sequence (relative path or index), for error messages.
        class_names: Name of each class; its length is the number of classes.
        edges: Bones as 0-based joint pairs (i, j) over all V joints.
        splits: Protocol splits by name.
        persons: Bodies per frame (M): the V joints are ``persons`` blocks of V/M joints.
        skipped: Files skipped with ``skip_bad`` (empty otherwise).
        body: Root joint and alignment axes of one person (see :class:`Body`).
    """

    name: str
    sequences: Sequence[np.ndarray]
    labels: np.ndarray
    ids: list[str]
    class_names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    splits: dict[str, Split]
    persons: int = 1
    skipped: tuple[str, ...] = field(default=())
    body: Body = field(default_factory=Body)

    def __post_init__(self) -> None:
        if self.sequences and self.num_joints > MAX_JOINTS:
            raise DataError(self.name, f"{self.num_joints} joints, more than the {MAX_JOINTS} a skeleton may have")
        if self.streamed:  # checked once, when its cache entry was written from the parsed sequences
            return
        for seq, name in zip(self.sequences, self.ids, strict=True):
            problem = coordinate_problem(seq)
            if problem:
                raise DataError(f"{self.name} sequence {name}", problem)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_joints(self) -> int:
        return int(self.sequences[0].shape[1])

    @property
    def num_coords(self) -> int:
        return int(self.sequences[0].shape[2])

    @property
    def streamed(self) -> bool:
        """Whether the sequences are a memory-mapped store (see :mod:`mrmp.data.cache`)."""
        return hasattr(self.sequences, "subset")

    def select(self, index: np.ndarray) -> Sequence[np.ndarray]:
        """The sequences at ``index``: a view of a streamed store, else a list."""
        if self.streamed:
            return self.sequences.subset(index)  # type: ignore[attr-defined]
        return [self.sequences[i] for i in index]

    def split(self, name: str) -> Split:
        """Return the split called ``name`` or raise a :class:`ConfigError` listing the choices."""
        if name not in self.splits:
            raise ConfigError(f"dataset {self.name!r} has no split {name!r}; choose one of {sorted(self.splits)}")
        return self.splits[name]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary, as printed by ``mrmp data --json``."""
        lengths = getattr(self.sequences, "lengths", None)
        lengths = [int(s.shape[0]) for s in self.sequences] if lengths is None else lengths.tolist()
        return {
            "dataset": self.name,
            "sequences": len(self.sequences),
            "classes": self.num_classes,
            "joints": self.num_joints,
            "frames_min": min(lengths),
            "frames_max": max(lengths),
            "splits": {k: {"train": len(v.train), "test": len(v.test)} for k, v in self.splits.items()},
            "skipped": list(self.skipped),
        }
