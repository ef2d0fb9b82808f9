"""SBU Kinect Interaction ("clean" skeletons) in its original folder layout.

Layout: ``root/<set pair>/<class>/<sequence>/skeleton_pos.txt`` with set pairs such as
``s01s02``, class folders ``01``..``08`` (labels 0..7) and one comma-separated line of 91
values per frame: the video frame number, then 2 persons × 15 joints × (x, y, z).

The files hold normalised coordinates (x̂, ŷ in image units, y downwards; ẑ scaled depth). By
default they are converted back to metres in the Kinect camera frame with the inverse given by the
dataset's documentation, x = (1280 − 2560·x̂)/1000, y = (960 − 1920·ŷ)/1000, z = 10000·ẑ/7.8125/1000
(y upwards, the three axes at the same scale, so that rotations and bone lengths are right);
``metres=False`` keeps the normalised values.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from mrmp.data.base import Body, SkeletonSet, Split, mirror_pairs
from mrmp.data.text import read_all, read_skeleton
from mrmp.errors import DataError

__all__ = ["SBU_BODY", "SBU_CLASSES", "SBU_EDGES", "SBU_FOLDS", "load_sbu", "to_metres"]

SBU_CLASSES: tuple[str, ...] = (
    "approaching",
    "departing",
    "kicking",
    "pushing",
    "shaking hands",
    "hugging",
    "exchanging",
    "punching",
)

#: Test set pairs of the standard 5-fold cross-validation; each fold trains on the others.
SBU_FOLDS: tuple[tuple[str, ...], ...] = (
    ("s01s02", "s03s04", "s05s02", "s06s04"),
    ("s02s03", "s02s07", "s03s05", "s05s03"),
    ("s01s03", "s01s07", "s07s01", "s07s03"),
    ("s02s01", "s02s06", "s03s02", "s03s06"),
    ("s04s02", "s04s03", "s04s06", "s06s02", "s06s03"),
)

JOINTS_PER_PERSON = 15
PERSONS = 2
FILE_NAME = "skeleton_pos.txt"

_BODY_EDGES = (
    (0, 1),
    (1, 2),
    (1, 3),
    (3, 4),
    (4, 5),
    (1, 6),
    (6, 7),
    (7, 8),
    (2, 9),
    (9, 10),
    (10, 11),
    (2, 12),
    (12, 13),
    (13, 14),
)

#: Bones of both persons over the 30 joints (person 2 offset by 15).
SBU_EDGES: tuple[tuple[int, int], ...] = tuple(
    (i + p * JOINTS_PER_PERSON, j + p * JOINTS_PER_PERSON) for p in range(PERSONS) for i, j in _BODY_EDGES
)

#: Torso as the root, the spine (torso → neck) as the secondary axis; the axis between the two
#: persons' roots is the primary one.
#: The mirror exchanges the arms (3–5 ↔ 6–8) and the legs (9–11 ↔ 12–14).
SBU_BODY = Body(
    root=2,
    primary=(3, 6),
    secondary=(2, 1),
    units="metres",
    mirror=mirror_pairs(JOINTS_PER_PERSON, [(j, j + 3) for j in (3, 4, 5, 9, 10, 11)]),
)
_NORMALISED_BODY = dataclasses.replace(SBU_BODY, units="normalised (documented inverse: to_metres)")

_PAIR = re.compile(r"s\d\ds\d\d")
_LAYOUT = "SBU layout root/<set pair e.g. s01s02>/<class 01..08>/<sequence>/skeleton_pos.txt"
_LINE = "frame number, then 2 persons × 15 joints × x,y,z, comma-separated"


def to_metres(x: np.ndarray) -> np.ndarray:
    """The documented inverse of SBU's normalisation: (…, 3) normalised → metres, y upwards.

    >>> to_metres(np.array([0.5, 0.5, 0.78125])).tolist()
    [0.0, 0.0, 1.0]
    """
    out = np.empty_like(x, dtype=np.float32)
    out[..., 0] = (1280.0 - 2560.0 * x[..., 0]) / 1000.0
    out[..., 1] = (960.0 - 1920.0 * x[..., 1]) / 1000.0
    out[..., 2] = 10000.0 * x[..., 2] / 7.8125 / 1000.0
    return out


def load_sbu(root: Path, *, skip_bad: bool = False, metres: bool = True) -> SkeletonSet:
    """Load SBU Kinect Interaction from its original folder layout.

    Args:
        root: The ``sbu`` folder holding the 21 set-pair folders.
        skip_bad: Skip unreadable or malformed sequence files (listed in ``skipped``).
        metres: Convert to metres (:func:`to_metres`); False keeps the files' normalised values.

    Returns:
        A :class:`SkeletonSet` of float32 sequences (T, 30, 3) — person 1's joints 0..14 then
        person 2's 15..29 — with ``persons=2``, sorted by (pair, class, sequence), and splits
        ``fold0``..``fold4``.

    Raises:
        DataError: Missing or unrecognised folder layout, or a malformed file without ``skip_bad``.
    """
    root = Path(root)
    entries = _find_sequences(root)
    files = [root / rel / FILE_NAME for rel, _ in entries]
    kept, sequences, skipped = read_all(files, _read_sequence, skip_bad=skip_bad, source=root)
    entries = [entries[i] for i in kept]
    if metres:
        sequences = [to_metres(s) for s in sequences]
    return SkeletonSet(
        name="sbu",
        sequences=sequences,
        labels=np.array([label for _, label in entries], dtype=np.int64),
        ids=[rel for rel, _ in entries],
        class_names=SBU_CLASSES,
        edges=SBU_EDGES,
        splits=_fold_splits([rel.split("/")[0] for rel, _ in entries]),
        persons=PERSONS,
        skipped=tuple(skipped),
        body=SBU_BODY if metres else _NORMALISED_BODY,
    )


def _read_sequence(path: Path) -> np.ndarray:
    return read_skeleton(path, PERSONS * JOINTS_PER_PERSON, sep=",", layout=_LINE)


def _find_sequences(root: Path) -> list[tuple[str, int]]:
    """List ``(pair/class/sequence, label)`` for every sequence folder, sorted."""
    if not root.is_dir():
        raise DataError(root, f"SBU folder not found: expected the {_LAYOUT}")
    pairs = _subfolders(root)
    expected = sorted(p for fold in SBU_FOLDS for p in fold)
    if not any(_PAIR.fullmatch(p.name) for p in pairs):
        raise DataError(root, f"unknown layout: no set-pair folders; expected the {_LAYOUT}")
    for pair in pairs:
        if pair.name not in expected:
            raise DataError(pair, f"unexpected folder: expected one of the set pairs {expected}")
    missing = sorted(set(expected) - {p.name for p in pairs})
    if missing:
        message = f"missing set-pair folder(s) {missing}: the 5-fold protocol needs all 21"
        raise DataError(root / missing[0], message)
    entries: list[tuple[str, int]] = []
    for pair in pairs:
        for cls in _subfolders(pair):
            label = _class_label(cls)
            rels = (f"{pair.name}/{cls.name}/{seq.name}" for seq in _subfolders(cls))
            entries.extend((rel, label) for rel in rels)
    return entries


def _subfolders(folder: Path) -> list[Path]:
    """Sorted non-hidden subfolders of ``folder``."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _class_label(folder: Path) -> int:
    """Label of a class folder ``01``..``08``."""
    names = [f"{k:02d}" for k in range(1, len(SBU_CLASSES) + 1)]
    if folder.name not in names:
        message = f"unexpected folder: expected a class folder {names[0]}..{names[-1]}"
        raise DataError(folder, message)
    return names.index(folder.name)


def _fold_splits(pairs: list[str]) -> dict[str, Split]:
    """``fold0``..``fold4``: test on the fold's set pairs, train on the rest."""
    pair_of = np.array(pairs, dtype=str)
    splits: dict[str, Split] = {}
    for k, test_pairs in enumerate(SBU_FOLDS):
        is_test = np.isin(pair_of, test_pairs)
        splits[f"fold{k}"] = Split(
            train=np.flatnonzero(~is_test).astype(np.int64),
            test=np.flatnonzero(is_test).astype(np.int64),
        )
    return splits
