"""First-Person Hand Action benchmark (hand skeletons) in its original layout.

Layout: ``root/data_split_action_recognition.txt`` (a ``Training <n>`` header, ``n`` lines
``Subject_1/open_juice_bottle/2 0``, then ``Test <m>`` and its ``m`` lines) and
``root/Hand_pose_annotation_v1/<entry>/skeleton.txt`` with one whitespace-separated line of
64 values per frame: the frame index, then 21 hand joints × (x, y, z) in millimetres.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrmp.data.base import Body, SkeletonSet, Split, check_label
from mrmp.data.text import read_all, read_skeleton, read_text
from mrmp.errors import DataError

__all__ = ["FPHA_BODY", "FPHA_EDGES", "load_fpha"]

JOINTS = 21
SPLIT_FILE = "data_split_action_recognition.txt"
POSE_FOLDER = "Hand_pose_annotation_v1"
FILE_NAME = "skeleton.txt"

#: Wrist to each MCP, then MCP → PIP → DIP → TIP along thumb, index, middle, ring, pinky.
FPHA_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1),
    (0, 2),
    (0, 3),
    (0, 4),
    (0, 5),
    (1, 6),
    (6, 7),
    (7, 8),
    (2, 9),
    (9, 10),
    (10, 11),
    (3, 12),
    (12, 13),
    (13, 14),
    (4, 15),
    (15, 16),
    (16, 17),
    (5, 18),
    (18, 19),
    (19, 20),
)

#: The wrist as the root; wrist → middle knuckle (MMCP) and index → pinky knuckle as the axes.
FPHA_BODY = Body(root=0, primary=(0, 3), secondary=(2, 5), units="millimetres")

_SECTIONS = ("Training", "Test")
_ORDER = "a 'Training <count>' header and its lines, then 'Test <count>' and its lines"
_HEADER = re.compile(r"(Training|Test)\s+(\d+)")
_LAYOUT = f"FPHA layout root/{SPLIT_FILE} and root/{POSE_FOLDER}/<subject>/<action>/<sequence>/{FILE_NAME}"
_LINE = "frame index, then 21 joints × x,y,z, whitespace-separated"


@dataclass(frozen=True)
class _Entry:
    """One split-file line: ``rel`` (``Subject_n/action/seq``) with its label."""

    rel: str
    label: int
    line: int
    section: str


def load_fpha(root: Path, *, skip_bad: bool = False) -> SkeletonSet:
    """Load FPHA hand skeletons with the standard 1:1 action-recognition split.

    Args:
        root: The ``fpha`` folder holding the split file and ``Hand_pose_annotation_v1``.
        skip_bad: Skip unreadable, malformed or missing sequence files (listed in ``skipped``).

    Returns:
        A :class:`SkeletonSet` of float32 sequences (T, 21, 3) in split-file order (training
        entries first), ``persons=1``, one split ``default``.

    Raises:
        DataError: Missing layout, malformed split file, or a bad sequence without ``skip_bad``.
    """
    root = Path(root)
    split_file, poses = _locate(root)
    entries = _parse_split_file(split_file)
    class_names = _class_names(split_file, entries)

    def read(entry: _Entry) -> np.ndarray:
        path = poses / entry.rel / FILE_NAME
        if not path.is_file():
            raise DataError(split_file, f"entry {entry.rel!r} has no file {path}", entry.line)
        return read_skeleton(path, JOINTS, layout=_LINE)

    kept, sequences, skipped = read_all(entries, read, skip_bad=skip_bad, source=root)
    entries = [entries[i] for i in kept]
    section = np.array([e.section for e in entries])
    return SkeletonSet(
        name="fpha",
        sequences=sequences,
        labels=np.array([e.label for e in entries], dtype=np.int64),
        ids=[e.rel for e in entries],
        class_names=class_names,
        edges=FPHA_EDGES,
        splits={
            "default": Split(
                train=np.flatnonzero(section == "Training").astype(np.int64),
                test=np.flatnonzero(section == "Test").astype(np.int64),
            )
        },
        persons=1,
        skipped=tuple(skipped),
        body=FPHA_BODY,
    )


def _locate(root: Path) -> tuple[Path, Path]:
    """Return the split file and the pose folder, or raise naming what is missing."""
    if not root.is_dir():
        raise DataError(root, f"FPHA folder not found: expected the {_LAYOUT}")
    split_file, poses = root / SPLIT_FILE, root / POSE_FOLDER
    if not split_file.is_file():
        raise DataError(root, f"unknown layout: no {SPLIT_FILE}; expected the {_LAYOUT}")
    if not poses.is_dir():
        raise DataError(poses, f"missing folder: expected the {_LAYOUT}")
    return split_file, poses


def _parse_split_file(path: Path) -> list[_Entry]:
    """Parse the ``Training``/``Test`` sections, checking each header's count."""
    entries: list[_Entry] = []
    headers: list[tuple[str, int, int]] = []  # (section, announced count, line)
    first_line: dict[str, int] = {}
    for number, text in enumerate(read_text(path).splitlines(), start=1):
        tokens = text.split()
        if not tokens:
            continue
        header = _HEADER.fullmatch(" ".join(tokens))
        if header:
            _check_count(path, headers, entries)
            section = header.group(1)
            if len(headers) >= len(_SECTIONS) or section != _SECTIONS[len(headers)]:
                message = f"unexpected header {text.strip()!r}: expected {_ORDER}"
                raise DataError(path, message, number)
            headers.append((section, int(header.group(2)), number))
            continue
        if not headers:
            message = f"expected a header 'Training <count>', found {text.strip()!r}"
            raise DataError(path, message, number)
        entry = _parse_entry(path, number, tokens, headers[-1][0])
        if entry.rel in first_line:
            message = f"duplicate entry {entry.rel!r} (first on line {first_line[entry.rel]})"
            raise DataError(path, message, number)
        first_line[entry.rel] = number
        entries.append(entry)
    if len(headers) < len(_SECTIONS):
        missing = _SECTIONS[len(headers)]
        raise DataError(path, f"no '{missing} <count>' header: expected {_ORDER}")
    _check_count(path, headers, entries)
    return entries


def _parse_entry(path: Path, number: int, tokens: list[str], section: str) -> _Entry:
    """One ``Subject_n/action/sequence label`` line."""
    expected = "expected '<Subject_n>/<action>/<sequence> <label>'"
    if len(tokens) != 2:
        raise DataError(path, f"{expected}, found {len(tokens)} fields", number)
    rel, label = tokens
    if not (label.isascii() and label.isdigit()):
        raise DataError(path, f"non-numeric label {label!r}: {expected}", number)
    parts = rel.split("/")
    if len(parts) < 2 or "" in parts or ".." in parts or rel.startswith("/"):
        raise DataError(path, f"bad entry path {rel!r}: {expected}", number)
    return _Entry(rel=rel, label=int(label), line=number, section=section)


def _check_count(path: Path, headers: list[tuple[str, int, int]], entries: list[_Entry]) -> None:
    """The last header's announced count must match its entries."""
    if not headers:
        return
    section, announced, line = headers[-1]
    found = sum(e.section == section for e in entries)
    if found != announced:
        message = f"header '{section} {announced}' announces {announced} entries, found {found}"
        raise DataError(path, message, line)


def _class_names(path: Path, entries: list[_Entry]) -> tuple[str, ...]:
    """Action folder name of each label 0..K-1 (consistent across entries)."""
    names: dict[int, tuple[str, int]] = {}
    for e in entries:
        check_label(path, e.label, e.line)
        action = e.rel.split("/")[-2]
        name, line = names.setdefault(e.label, (action, e.line))
        if name != action:
            message = f"label {e.label} is action {action!r} here but {name!r} on line {line}"
            raise DataError(path, message, e.line)
    missing = sorted(set(range(max(names, default=-1) + 1)) - set(names))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise DataError(path, f"no entry has label(s) {shown}: labels must cover 0..{max(names)}")
    return tuple(names[k][0] for k in range(len(names)))
