"""NTU RGB+D 60 / 120: the original ``.skeleton`` text files, as distributed.

Files: ``root/**/SsssCcccPpppRrrrAaaa.skeleton`` (setup, camera, performer, replication, action,
1-based). Each file: line 1 the frame count; per frame a line with the body count; per body one
line of 10 values (body ID, clipped edges, hand states and confidences, restricted, lean x, lean
y, tracking state), a line with the joint count (25), then 25 lines of 12 values (x, y, z in
metres in the Kinect camera frame, depth x / y, colour x / y, orientation w x y z, tracking
state). Only x, y, z are kept.

At most two bodies per sequence are kept, the two with the most motion energy (the summed
variance of their joints over the frames they appear in), the most active first; a sequence with
one body leaves the second block zero (an absent person). Frames without any kept body are
dropped; a sequence without any body (NTU's documented "missing skeletons") is reported in
``skipped`` and left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrmp.data.base import Body, SkeletonSet, Split, mirror_pairs
from mrmp.data.cache import cached
from mrmp.data.text import read_text
from mrmp.errors import DataError

__all__ = [
    "NTU_BODY",
    "NTU_EDGES",
    "NTU_SPLITS",
    "NtuFile",
    "find_ntu",
    "load_ntu",
    "ntu_set",
    "read_ntu_skeleton",
    "skeleton_text",
]

JOINTS = 25
PERSONS = 2
_BODY_VALUES = 10
_JOINT_VALUES = 12

#: Kinect v2 bones (0-based): spine base 0, spine mid 1, neck 2, head 3, left shoulder 4 … hand 7,
#: right shoulder 8 … hand 11, left hip 12 … foot 15, right hip 16 … foot 19, spine shoulder 20,
#: left hand tip 21 / thumb 22, right hand tip 23 / thumb 24.
_BODY_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 20),
    (2, 20),
    (3, 2),
    (4, 20),
    (5, 4),
    (6, 5),
    (7, 6),
    (8, 20),
    (9, 8),
    (10, 9),
    (11, 10),
    (12, 0),
    (13, 12),
    (14, 13),
    (15, 14),
    (16, 0),
    (17, 16),
    (18, 17),
    (19, 18),
    (21, 7),
    (22, 7),
    (23, 11),
    (24, 11),
)

#: Bones of both bodies over the 50 joints (body 2 offset by 25).
NTU_EDGES: tuple[tuple[int, int], ...] = tuple(
    (i + p * JOINTS, j + p * JOINTS) for p in range(PERSONS) for i, j in _BODY_EDGES
)

#: Spine mid as the root; right → left shoulder onto +x and the spine (base → shoulder) towards
#: +y, both of the first (most active) body: most sequences have one body.
#: The mirror exchanges the arms, hands and legs (4–7 ↔ 8–11, 21–22 ↔ 23–24, 12–15 ↔ 16–19).
NTU_BODY = Body(
    root=1,
    primary=(8, 4),
    secondary=(0, 20),
    units="metres",
    pair_axis=False,
    mirror=mirror_pairs(
        JOINTS, [(i, i + 4) for i in range(4, 8)] + [(i, i + 4) for i in range(12, 16)] + [(21, 23), (22, 24)]
    ),
)

_XSUB60 = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
_XSUB120 = (*_XSUB60, 45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86)
_XSUB120 += (89, 91, 92, 93, 94, 95, 97, 98, 100, 103)  # 53 performers: the list of the NTU-120 paper

#: Standard protocols: what decides the training side. ``xsub`` and ``xview`` are NTU-60's and
#: cover its setups 1..17 only; ``xsub120`` and ``xset120`` cover every file.
NTU_SPLITS: dict[str, str] = {
    "xsub": f"NTU-60 cross-subject, setups 1..17: performers {list(_XSUB60)} train",
    "xview": "NTU-60 cross-view, setups 1..17: cameras 2 and 3 train, camera 1 tests",
    "xsub120": f"NTU-120 cross-subject: performers {list(_XSUB120)} train",
    "xset120": "NTU-120 cross-setup: even setup IDs train",
}
_NTU60_SETUPS = 17

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})\.skeleton")
_LAYOUT = "NTU RGB+D files root/**/SsssCcccPpppRrrrAaaa.skeleton"


@dataclass(frozen=True)
class NtuFile:
    """One ``.skeleton`` file and the IDs in its name (1-based)."""

    path: Path
    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def id(self) -> str:
        return self.path.stem


def find_ntu(root: Path) -> list[NtuFile]:
    """Every ``.skeleton`` file under ``root``, sorted by name.

    Raises:
        DataError: No folder, no ``.skeleton`` file, or a file name not in NTU's pattern.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, f"NTU folder not found: expected the {_LAYOUT}")
    files = sorted(root.rglob("*.skeleton"), key=lambda p: (p.name, str(p)))
    if not files:
        raise DataError(root, f"no .skeleton files: expected the {_LAYOUT}")
    found = []
    for path in files:
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise DataError(
                path, "unexpected file name: expected SsssCcccPpppRrrrAaaa.skeleton, e.g. S001C002P003R002A013"
            )
        found.append(NtuFile(path, *(int(g) for g in match.groups())))
    return found


def read_ntu_skeleton(path: Path) -> np.ndarray | None:
    """Read one ``.skeleton`` file.

    Returns:
        float32 (T, 50, 3) — the most active body's 25 joints, then the second's (zero when there
        is none) — or None when no frame holds a body.

    Raises:
        DataError: Naming the 1-based line and what it should hold.
    """
    lines = read_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    reader = _Lines(path, lines)
    frames = reader.integer("the frame count")
    bodies: dict[str, np.ndarray] = {}  # body ID -> (T, 25, 3), NaN where absent
    for t in range(frames):
        for _ in range(reader.integer(f"the body count of frame {t + 1}")):
            body_id = reader.values(
                _BODY_VALUES, "body info: ID, clipped edges, hand states, restricted, lean x/y, tracking"
            )[0]
            joints = reader.integer("the joint count")
            if joints != JOINTS:
                raise DataError(path, f"expected the joint count {JOINTS}, found {joints}", reader.at)
            xyz = reader.block(JOINTS, _JOINT_VALUES)[:, :3]
            track = bodies.setdefault(body_id, np.full((frames, JOINTS, 3), np.nan, dtype=np.float32))
            track[t] = xyz
    if reader.at < len(lines):
        raise DataError(path, f"unexpected line after the {frames} frames of the frame count", reader.at + 1)
    return _two_most_active(list(bodies.values()))


def skeleton_text(frames: Sequence[dict[str, np.ndarray]]) -> str:
    """The ``.skeleton`` text of ``frames`` (per frame: body ID -> (25, 3) joints in metres), the
    inverse of :func:`read_ntu_skeleton` for tests and benchmarks; the other values are constants."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, joints in bodies.items():
            lines += [f"{body_id} 0 1 1 1 1 0 0.0218 -0.2163 2", str(JOINTS)]
            lines += [
                f"{x:.7g} {y:.7g} {z:.7g} 276.8 196.3 1047.2 527.6 -0.2 0.3 0.9 0.1 2" for x, y, z in joints.tolist()
            ]
    return "\r\n".join(lines) + "\r\n"  # the distributed files end lines with CR LF


def _two_most_active(tracks: list[np.ndarray]) -> np.ndarray | None:
    """(T, 50, 3): the two tracks (T, 25, 3) of most motion energy, frames with neither dropped."""
    if not tracks:
        return None
    energy = [float(np.nansum(np.nanvar(t, axis=0))) if np.isfinite(t).any() else 0.0 for t in tracks]
    order = sorted(range(len(tracks)), key=lambda k: -energy[k])[:PERSONS]
    kept = [tracks[k] for k in order]
    present = np.any([np.isfinite(t[:, 0, 0]) for t in kept], axis=0)
    out = np.zeros((int(present.sum()), PERSONS * JOINTS, 3), dtype=np.float32)
    for p, track in enumerate(kept):
        out[:, p * JOINTS : (p + 1) * JOINTS] = np.nan_to_num(track[present], nan=0.0)
    return out if len(out) else None


class _Lines:
    """A cursor over a file's lines that parses and names the line of any error."""

    def __init__(self, path: Path, lines: Sequence[str]) -> None:
        self.path, self.lines, self.at = path, lines, 0

    def _next(self, what: str) -> str:
        if self.at >= len(self.lines):
            raise DataError(self.path, f"file ends early: expected {what}", self.at + 1)
        self.at += 1
        return self.lines[self.at - 1]

    def integer(self, what: str) -> int:
        text = self._next(what).strip()
        if not text.isdigit():
            raise DataError(self.path, f"expected {what} (a non-negative integer), found {text!r}", self.at)
        return int(text)

    def values(self, count: int, what: str) -> list[str]:
        tokens = self._next(f"{count} values ({what})").split()
        if len(tokens) != count:
            raise DataError(self.path, f"expected {count} values ({what}), found {len(tokens)}", self.at)
        return tokens

    def block(self, rows: int, count: int) -> np.ndarray:
        """``rows`` lines of ``count`` numbers (joint lines), float32 (rows, count), finite."""
        first = self.at
        for _ in range(rows):
            self._next(f"{rows} joint lines of {count} values")
        try:
            table = np.array(" ".join(self.lines[first : self.at]).split(), dtype=np.float32)
        except ValueError:
            table = np.zeros(0, dtype=np.float32)
        if table.size == rows * count and np.isfinite(table).all():
            return table.reshape(rows, count)
        for k in range(first, self.at):  # find the bad line
            self.at = k
            tokens = self.values(count, "joint x y z, depth x y, colour x y, orientation w x y z, tracking state")
            _finite(self.path, k + 1, tokens)
        raise AssertionError("unreachable")  # pragma: no cover


def _finite(path: Path, line: int, tokens: list[str]) -> None:
    for column, token in enumerate(tokens, start=1):
        try:
            ok = np.isfinite(np.float32(token))
        except ValueError:
            ok = False
        if not ok:
            raise DataError(path, f"value {token!r} in column {column}: expected a finite number", line)


def ntu_set(files: Sequence[NtuFile], sequences: Sequence[np.ndarray], skipped: Sequence[str]) -> SkeletonSet:
    """The :class:`SkeletonSet` of the files read (``sequences[i]`` from ``files[i]``)."""
    actions = np.array([f.action for f in files], dtype=np.int64)
    classes = 60 if actions.max(initial=1) <= 60 else 120
    return SkeletonSet(
        name="ntu",
        sequences=sequences,
        labels=actions - 1,
        ids=[f.id for f in files],
        class_names=tuple(f"A{k:03d}" for k in range(1, classes + 1)),
        edges=NTU_EDGES,
        splits=_splits(files),
        persons=PERSONS,
        skipped=tuple(skipped),
        body=NTU_BODY,
    )


def _splits(files: Sequence[NtuFile]) -> dict[str, Split]:
    setup = np.array([f.setup for f in files])
    camera = np.array([f.camera for f in files])
    performer = np.array([f.performer for f in files])
    ntu60 = setup <= _NTU60_SETUPS
    sides = {
        "xsub": (ntu60 & np.isin(performer, _XSUB60), ntu60 & ~np.isin(performer, _XSUB60)),
        "xview": (ntu60 & (camera != 1), ntu60 & (camera == 1)),
        "xsub120": (np.isin(performer, _XSUB120), ~np.isin(performer, _XSUB120)),
        "xset120": (setup % 2 == 0, setup % 2 == 1),
    }
    return {
        name: Split(np.flatnonzero(tr).astype(np.int64), np.flatnonzero(te).astype(np.int64))
        for name, (tr, te) in sides.items()
    }


def _read_one(path: Path) -> np.ndarray | tuple[Path, str, int | None] | None:
    """:func:`read_ntu_skeleton`, a :class:`DataError` returned as its (path, message, line)."""
    try:
        return read_ntu_skeleton(path)
    except DataError as err:
        return (err.path, err.message, err.line)


def _parse_all(paths: list[Path], processes: int) -> Iterator[np.ndarray | DataError | None]:
    """:func:`read_ntu_skeleton` of each path in order, errors yielded; on ``processes`` worker
    processes (0: in this one)."""
    pool = ProcessPoolExecutor(processes) if processes > 0 else None
    try:
        results = pool.map(_read_one, paths, chunksize=16) if pool else map(_read_one, paths)
        for result in results:
            yield DataError(*result) if isinstance(result, tuple) else result
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def read_ntu(
    root: Path,
    files: Sequence[NtuFile],
    *,
    skip_bad: bool,
    kept: list[NtuFile],
    skipped: list[str],
    processes: int = 0,
) -> Iterator[np.ndarray]:
    """Yield the sequence of each readable file, appending it to ``kept`` (and the others to ``skipped``).

    Sequences without a skeleton are always skipped (and listed); malformed files only with
    ``skip_bad``. ``processes`` > 0 parses on that many worker processes (the order is kept).

    Raises:
        DataError: A malformed file without ``skip_bad``; no readable file at all.
    """
    for entry, sequence in zip(files, _parse_all([f.path for f in files], processes), strict=True):
        if isinstance(sequence, DataError):
            if not skip_bad:
                raise sequence
            skipped.append(str(sequence))
        elif sequence is None:
            skipped.append(f"{entry.path}: no skeleton in any frame (one of NTU's missing-skeleton samples)")
        else:
            kept.append(entry)
            yield sequence
    if not kept:
        raise DataError(root, f"no readable sequences (all {len(files)} skipped)")


def load_ntu(root: Path, *, skip_bad: bool = False, cache: Path | None = None, processes: int = 0) -> SkeletonSet:
    """Load NTU RGB+D ``.skeleton`` files.

    Args:
        root: Folder holding the ``.skeleton`` files (at any depth).
        skip_bad: Skip malformed files (listed in ``skipped``).
        cache: Cache folder (:mod:`mrmp.data.cache`): parse once into a memory-mapped entry and
            stream from it; None: parse into memory.
        processes: Parse on this many worker processes (0: in this one).

    Returns:
        A :class:`SkeletonSet` of float32 (T, 50, 3) sequences in metres, ``persons=2``, labels
        action − 1, sorted by file name, with the splits of :data:`NTU_SPLITS`.

    Raises:
        DataError: Missing folder or files, a malformed file without ``skip_bad``, nothing readable.
    """
    files = find_ntu(root)

    def build() -> tuple[Iterator[np.ndarray], Callable[[Sequence[np.ndarray]], SkeletonSet]]:
        kept: list[NtuFile] = []
        skipped: list[str] = []
        sequences = read_ntu(root, files, skip_bad=skip_bad, kept=kept, skipped=skipped, processes=processes)
        return sequences, lambda read: ntu_set(kept, read, skipped)

    return cached(cache, "ntu", [f.path for f in files], {"skip_bad": skip_bad}, build)
