"""pyskl annotation files: one pickled dict of skeleton annotations and named splits.

Layout (pyskl's ``.pkl`` files, e.g. ``ntu60_3danno.pkl``): a dict with

- ``split``: name -> list of ``frame_dir`` (e.g. ``xsub_train``, ``xsub_val``);
- ``annotations``: list of dicts with ``frame_dir`` (str), ``label`` (int), ``keypoint`` float
  (M, T, V, C) — persons, frames, joints, coordinates —, ``total_frames`` (T) and optionally
  ``keypoint_score`` (M, T, V), which is not used (coordinates only).

Splits pair a ``<p>train<q>`` list with ``<p>val<q>`` or ``<p>test<q>`` into split ``<p><q>``
(underscores at the ends stripped, e.g. ``xsub``; ``default`` when nothing is left).

The file is read by a restricted unpickler that reconstructs only plain containers, strings,
numbers and numpy arrays: any other global (a class, a function such as ``os.system``) is refused
before anything runs. The skeleton layout is inferred from V: 25 joints are NTU's Kinect v2 body
(:data:`mrmp.data.ntu.NTU_EDGES`), 17 the COCO keypoints.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrmp.data.base import Body, SkeletonSet, Split, mirror_pairs
from mrmp.data.cache import cached
from mrmp.data.ntu import JOINTS as NTU_JOINTS
from mrmp.data.ntu import NTU_BODY, NTU_EDGES
from mrmp.errors import DataError

__all__ = ["COCO_EDGES", "LAYOUTS", "load_pyskl", "read_annotations"]

#: COCO keypoints: nose 0, eyes 1/2, ears 3/4, shoulders 5/6, elbows 7/8, wrists 9/10, hips 11/12,
#: knees 13/14, ankles 15/16 — pyskl's ``coco`` tree, rooted at the nose.
COCO_EDGES: tuple[tuple[int, int], ...] = (
    (15, 13),
    (13, 11),
    (16, 14),
    (14, 12),
    (11, 5),
    (12, 6),
    (9, 7),
    (7, 5),
    (10, 8),
    (8, 6),
    (5, 0),
    (6, 0),
    (1, 0),
    (3, 1),
    (2, 0),
    (4, 2),
)

#: Joints per person (V) -> bones and body of one person.
LAYOUTS: dict[int, tuple[tuple[tuple[int, int], ...], Body]] = {
    NTU_JOINTS: (NTU_EDGES[: len(NTU_EDGES) // 2], NTU_BODY),
    # COCO: eyes, ears, shoulders, elbows, wrists, hips, knees and ankles in left/right pairs
    17: (
        COCO_EDGES,
        Body(
            root=0, units="as stored (COCO keypoints)", mirror=mirror_pairs(17, [(k, k + 1) for k in range(1, 17, 2)])
        ),
    ),
}

#: The only globals a pickle may name: what numpy needs to rebuild arrays, dtypes and scalars
#: (and ``_codecs.encode``, which protocol 2 uses for their bytes).
_ALLOWED = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
    for name in ("_reconstruct", "scalar", "_frombuffer")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _Refused(pickle.UnpicklingError):
    """A global outside :data:`_ALLOWED`."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, tuples, strings, numbers and numpy arrays; refuses any other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise _Refused(f"{module}.{name}")
        return super().find_class(module, name)


def read_annotations(path: Path) -> dict[str, Any]:
    """Unpickle a pyskl file with the restricted unpickler.

    Raises:
        DataError: Unreadable file, a refused global, or not a dict with ``split`` and ``annotations``.
    """
    try:
        with open(path, "rb") as f:
            data = _RestrictedUnpickler(f).load()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, "expected a pyskl .pkl file, found a folder") from None
    except _Refused as err:
        message = f"refused: the pickle names {err}, expected only containers, strings, numbers and numpy arrays"
        raise DataError(path, message) from None
    except Exception as err:  # a corrupt pickle raises anything
        raise DataError(path, f"not a readable pickle ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or not {"split", "annotations"} <= set(data):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise DataError(path, f"expected a dict with 'split' and 'annotations' (pyskl format), found {found}")
    return data


def load_pyskl(path: Path, *, skip_bad: bool = False, cache: Path | None = None) -> SkeletonSet:
    """Load a pyskl annotation file.

    Args:
        path: The ``.pkl`` file.
        skip_bad: Skip malformed annotations (listed in ``skipped``); a malformed file always raises.
        cache: Cache folder (:mod:`mrmp.data.cache`): unpickle once into a memory-mapped entry
            (the first run holds the whole pickle in memory; later runs stream); None: in memory.

    Returns:
        A :class:`SkeletonSet` named ``pyskl`` of float32 (T, M·V, C) sequences, M the most persons
        of any annotation (fewer persons padded with zeros: absent), in annotation order.

    Raises:
        DataError: Naming the file and the annotation (index and ``frame_dir``) at fault.
    """
    path = Path(path)

    def build() -> tuple[Iterator[np.ndarray], Callable[[Sequence[np.ndarray]], SkeletonSet]]:
        ds = _read_pyskl(path, skip_bad)
        return iter(ds.sequences), lambda read: dataclasses.replace(ds, sequences=read)

    return cached(cache, "pyskl", [path], {"skip_bad": skip_bad}, build)


def _read_pyskl(path: Path, skip_bad: bool) -> SkeletonSet:
    """The set of a pyskl file, in memory."""
    data = read_annotations(path)
    annotations = data["annotations"]
    if not isinstance(annotations, list) or not annotations:
        raise DataError(path, "'annotations': expected a non-empty list of dicts")
    kept: list[tuple[str, int, np.ndarray]] = []
    skipped: list[str] = []
    for k, entry in enumerate(annotations):
        try:
            kept.append(_annotation(path, k, entry))
        except DataError as err:
            if not skip_bad:
                raise
            skipped.append(str(err))
    if not kept:
        raise DataError(path, f"no usable annotations: all {len(annotations)} were skipped")
    known = {entry.get("frame_dir") for entry in annotations if isinstance(entry, dict)}
    return _skeleton_set(path, data["split"], kept, skipped, known)


def _annotation(path: Path, k: int, entry: Any) -> tuple[str, int, np.ndarray]:
    """(frame_dir, label, keypoint (M, T, V, C) float32) of annotation ``k``, checked."""
    if not isinstance(entry, dict) or not {"frame_dir", "label", "keypoint"} <= set(entry):
        raise DataError(path, f"annotation {k}: expected a dict with frame_dir, label, keypoint")
    name = entry["frame_dir"]
    where = f"annotation {k} (frame_dir {name!r})"
    keypoint, label = entry["keypoint"], entry["label"]
    if not isinstance(keypoint, np.ndarray) or keypoint.dtype.kind not in "fiu" or keypoint.ndim != 4:
        found = f"{keypoint.dtype} {keypoint.shape}" if isinstance(keypoint, np.ndarray) else type(keypoint).__name__
        raise DataError(path, f"{where}: 'keypoint': expected a float array (M, T, V, C), found {found}")
    if min(keypoint.shape) < 1 or keypoint.shape[3] not in (2, 3):
        raise DataError(path, f"{where}: 'keypoint' has shape {keypoint.shape}: expected sizes >= 1 and C = 2 or 3")
    if not isinstance(label, int | np.integer) or label < 0:
        raise DataError(path, f"{where}: 'label' is {label!r}: expected an int >= 0")
    total = entry.get("total_frames", keypoint.shape[1])
    if total != keypoint.shape[1]:
        raise DataError(path, f"{where}: 'total_frames' is {total}, 'keypoint' has {keypoint.shape[1]} frames")
    with np.errstate(over="ignore", invalid="ignore"):
        values = keypoint.astype(np.float32)
    if not np.isfinite(values).all():
        raise DataError(path, f"{where}: 'keypoint' holds non-finite values")
    return str(name), int(label), values


def _skeleton_set(
    path: Path, split: Any, kept: list[tuple[str, int, np.ndarray]], skipped: list[str], known: set[Any]
) -> SkeletonSet:
    joints = {kp.shape[2] for _, _, kp in kept}
    coords = {kp.shape[3] for _, _, kp in kept}
    if len(joints) > 1 or len(coords) > 1:
        raise DataError(path, f"annotations differ in joints {sorted(joints)} or coordinates {sorted(coords)}")
    (v,), (c,) = joints, coords
    if v not in LAYOUTS:
        raise DataError(path, f"'keypoint' has V = {v} joints: supported layouts are V in {sorted(LAYOUTS)}")
    edges, body = LAYOUTS[v]
    if c != 3:
        body = Body(root=body.root, units=body.units, mirror=body.mirror)  # 2-D keypoints: no view alignment
    persons = max(kp.shape[0] for _, _, kp in kept)
    labels = np.array([label for _, label, _ in kept], dtype=np.int64)
    return SkeletonSet(
        name="pyskl",
        sequences=[_frames(kp, persons) for _, _, kp in kept],
        labels=labels,
        ids=[name for name, _, _ in kept],
        class_names=tuple(str(k) for k in range(int(labels.max()) + 1)),
        edges=tuple((i + p * v, j + p * v) for p in range(persons) for i, j in edges),
        splits=_splits(path, split, [name for name, _, _ in kept], known),
        persons=persons,
        skipped=tuple(skipped),
        body=body,
    )


def _frames(keypoint: np.ndarray, persons: int) -> np.ndarray:
    """(M', T, V, C) -> (T, M·V, C), persons beyond M' zero."""
    m, t, v, c = keypoint.shape
    out = np.zeros((t, persons, v, c), dtype=np.float32)
    out[:, :m] = keypoint.transpose(1, 0, 2, 3)
    return out.reshape(t, persons * v, c)


def _splits(path: Path, split: Any, names: list[str], known: set[Any]) -> dict[str, Split]:
    """Named train/test splits over the kept annotations (``names`` in order); every frame_dir a
    split lists must be one of the ``known`` annotations (kept or skipped)."""
    if not isinstance(split, Mapping) or not all(isinstance(v, list | tuple) for v in split.values()):
        raise DataError(path, "'split': expected a dict of name -> list of frame_dir")
    for name, members in split.items():
        unknown = [f for f in members if f not in known]
        if unknown:
            message = f"'split' list {name!r} names frame_dir {unknown[0]!r}: expected one of the annotations"
            raise DataError(path, message + f" ({len(unknown)} unknown)")
    position = {name: i for i, name in enumerate(names)}
    out: dict[str, Split] = {}
    for name in split:
        test = next((name.replace("train", w) for w in ("val", "test") if name.replace("train", w) in split), None)
        if "train" not in str(name) or test is None:
            continue
        sides = [np.array(sorted(position[f] for f in split[s] if f in position), dtype=np.int64) for s in (name, test)]
        out[name.replace("train", "").strip("_") or "default"] = Split(*sides)
    if not out:
        expected = "pairs such as xsub_train / xsub_val"
        raise DataError(path, f"'split' names {sorted(split)}: expected {expected}")
    return out
