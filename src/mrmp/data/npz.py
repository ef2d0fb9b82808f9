"""Any skeleton dataset stored as one ``.npz`` archive of padded arrays.

Arrays (N samples, T padded frames, V joints, C coordinates):

- ``x``: float (N, T, V, C); sample ``i`` uses frames ``[0, lengths[i])``.
- ``y``: int (N,) class labels ``>= 0``.
- ``edges``: int (E, 2) bones as 0-based joint pairs.
- ``lengths`` (optional): int (N,) in ``[1, T]``; all ``T`` when absent.
- ``split`` (optional): (N,) strings ``"train"``/``"test"`` → split ``default``, or int fold ids
  ``0..K-1`` → splits ``fold0``..``fold{K-1}`` (fold ``k`` tests on the samples with id ``k``).
  Absent → split ``default``, a deterministic stratified 80/20 train/test.
- ``class_names`` (optional): strings (K,), one per class.
- ``persons`` (optional): int scalar, bodies per frame; must divide V.
- ``root`` (optional): int scalar, the joint (within one person) bodies are centred on; absent →
  the joint with the most bones.
- ``primary_axis``, ``secondary_axis`` (optional): int (2,) joint pairs (within one person) that
  view alignment maps onto +x and into the x–y plane (see :class:`mrmp.data.base.Body`); absent →
  no alignment is possible for one-person data.
- ``mirror`` (optional): int (J,) for J joints of one person, the joint each joint becomes in the
  mirror image (left and right exchanged, central joints mapped to themselves; a permutation that
  is its own inverse); needed by ``features.mirror`` / ``features.test_mirror``.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np

from mrmp.data.base import Body, SkeletonSet, Split, check_label, coordinate_problem
from mrmp.data.text import stratified_split
from mrmp.errors import DataError, one_line
from mrmp.io import not_regular

__all__ = ["load_npz"]

_ARRAYS = (
    "x",
    "y",
    "edges",
    "lengths",
    "split",
    "class_names",
    "persons",
    "root",
    "primary_axis",
    "secondary_axis",
    "mirror",
)
_REQUIRED = {"x": "float (N, T, V, C)", "y": "int (N,)", "edges": "int (E, 2)"}
_TEST_FRACTION = 0.2


def load_npz(path: Path, *, skip_bad: bool = False) -> SkeletonSet:
    """Load a dataset from one ``.npz`` archive (layout in the module docstring).

    Args:
        path: The ``.npz`` file.
        skip_bad: Skip samples with bad values (non-finite coordinates, a length outside
            ``[1, T]``, a label or split value out of range), listing them in ``skipped``.
            Malformed arrays (shape, dtype, edges, persons, class names) always raise.

    Returns:
        A :class:`SkeletonSet` of float32 sequences (lengths[i], V, C) named ``npz``.

    Raises:
        DataError: Naming the file and the array (and the sample index where relevant).
    """
    path = Path(path)
    arrays = _open(path)
    x = _coords(path, arrays["x"])
    n, t, v, _ = x.shape
    y = _int_array(path, "y", arrays["y"], (n,))
    lengths = np.full(n, t, dtype=np.int64)
    if "lengths" in arrays:
        lengths = _int_array(path, "lengths", arrays["lengths"], (n,))
    edges = _edges(path, arrays["edges"], v)
    persons = _persons(path, arrays.get("persons"), v)
    names = _class_names(path, arrays.get("class_names"))
    body = _body(path, arrays, v // persons)
    split = _split_values(path, arrays.get("split"), n)

    problems = _sample_problems(x, y, lengths, len(names) if names else None, split)
    if problems and not skip_bad:
        i = min(problems)
        raise DataError(path, problems[i])
    kept = np.array([i for i in range(n) if i not in problems], dtype=np.int64)
    if kept.size == 0:
        raise DataError(path, f"no usable samples: all {n} were skipped")
    labels = y[kept]
    if names is None:
        names = tuple(str(k) for k in range(check_label(path, int(labels.max())) + 1))
    return SkeletonSet(
        name="npz",
        sequences=[np.ascontiguousarray(x[i, : lengths[i]]) for i in kept],
        labels=labels,
        ids=[str(i) for i in kept],
        class_names=names,
        edges=edges,
        splits=_splits(path, split, kept, labels),
        persons=persons,
        body=body,
        skipped=tuple(f"{path}: {problems[i]}" for i in sorted(problems)),
    )


def _open(path: Path) -> dict[str, np.ndarray]:
    """Read every array of the archive, checking the names and each array's size first."""
    if not path.exists():
        raise DataError(path, "file not found")
    problem = not_regular(path)
    if problem:
        raise DataError(path, problem)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(path, "expected an .npz archive of named arrays, found an .npy")
        with loaded as archive:
            _check_members(path, archive.zip)
            arrays = {name: _read_array(path, archive, name) for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(path, f"not a readable .npz archive ({one_line(err)})") from None
    unknown = sorted(set(arrays) - set(_ARRAYS))
    if unknown:
        raise DataError(path, f"unexpected array(s) {unknown}: expected only {list(_ARRAYS)}")
    for name, layout in _REQUIRED.items():
        if name not in arrays:
            raise DataError(path, f"missing array {name!r}: expected {layout}")
    return arrays


def _memory_bytes() -> int:
    """Physical memory of this machine (bytes), or 0 where the platform does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 0


def _check_members(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse duplicate members, arrays whose header claims more data than the member holds, and
    archives that would not fit in memory once decompressed (a small file may unpack to many
    gigabytes), all before numpy allocates anything."""
    names = archive.namelist()
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(path, f"member(s) {twice} appear more than once in the archive")
    total, memory = sum(info.file_size for info in archive.infolist()), _memory_bytes()
    if memory and total > memory:
        message = (
            f"its arrays take {total:,} bytes decompressed, more than this machine's memory ({memory:,} bytes); "
            "an npz is read whole: split the data, or use a streamed format (ntu, pyskl)"
        )
        raise DataError(path, message)
    for info in archive.infolist():
        with archive.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
            claimed = math.prod(shape) * dtype.itemsize
            if claimed > info.file_size:
                name = info.filename.removesuffix(".npy")
                message = (
                    f"header claims shape {shape} of {dtype} ({claimed:,} bytes), the archive holds {info.file_size:,}"
                )
                raise _bad(path, name, message)


def _read_array(path: Path, archive: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    """One array of the archive; object arrays (which need pickle) are refused."""
    try:
        return np.asarray(archive[name])
    except ValueError:
        message = "holds Python objects: store numbers or fixed-width strings"
        raise _bad(path, name, message) from None


def _coords(path: Path, x: np.ndarray) -> np.ndarray:
    """``x`` as float32 (N, T, V, C); non-finite values are reported per sample later."""
    if x.dtype.kind not in "fiu" or x.ndim != 4 or min(x.shape) < 1:
        raise _bad(path, "x", f"expected {_REQUIRED['x']}, sizes >= 1", x)
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(np.float32)


def _int_array(path: Path, name: str, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Check an integer array's dtype and shape; return it as int64."""
    if a.dtype.kind not in "iu" or a.shape != shape:
        raise _bad(path, name, f"expected int {shape}", a)
    return a.astype(np.int64)


def _edges(path: Path, edges: np.ndarray, joints: int) -> tuple[tuple[int, int], ...]:
    """Bones as 0-based joint pairs within ``[0, joints)``, no self-loops."""
    if edges.dtype.kind not in "iu" or edges.ndim != 2 or edges.shape[1] != 2:
        raise _bad(path, "edges", f"expected {_REQUIRED['edges']}", edges)
    for row, (i, j) in enumerate(edges.tolist()):
        if not (0 <= i < joints and 0 <= j < joints):
            message = f"row {row} = ({i}, {j}) has a joint index outside [0, {joints}) (0-based)"
            raise _bad(path, "edges", message)
        if i == j:
            raise _bad(path, "edges", f"row {row} joins joint {i} to itself")
    return tuple((int(i), int(j)) for i, j in edges.tolist())


def _body(path: Path, arrays: dict[str, np.ndarray], joints: int) -> Body:
    """The optional ``root``, ``primary_axis``, ``secondary_axis`` and ``mirror`` keys, checked against
    one person's joints."""
    root = arrays.get("root")
    if root is not None:
        if root.dtype.kind not in "iu" or root.size != 1 or not 0 <= int(root.reshape(())) < joints:
            raise _bad(path, "root", f"expected an int scalar in [0, {joints}) (a joint of one person)", root)
        root = int(root.reshape(()))
    axes = []
    for key in ("primary_axis", "secondary_axis"):
        axis = arrays.get(key)
        if axis is not None:
            if axis.dtype.kind not in "iu" or axis.shape != (2,) or not all(0 <= int(k) < joints for k in axis):
                raise _bad(path, key, f"expected 2 ints in [0, {joints}) (joints of one person)", axis)
            axis = (int(axis[0]), int(axis[1]))
        axes.append(axis)
    return Body(root=root, primary=axes[0], secondary=axes[1], mirror=_mirror(path, arrays.get("mirror"), joints))


def _mirror(path: Path, mirror: np.ndarray | None, joints: int) -> tuple[int, ...] | None:
    """The optional ``mirror`` key: a permutation of one person's joints that is its own inverse."""
    if mirror is None:
        return None
    expected = f"expected int ({joints},), a permutation of 0..{joints - 1} that is its own inverse"
    if mirror.dtype.kind not in "iu" or mirror.shape != (joints,):
        raise _bad(path, "mirror", expected, mirror)
    m = [int(j) for j in mirror.tolist()]
    if sorted(m) != list(range(joints)):
        raise _bad(path, "mirror", expected, mirror)
    for j, k in enumerate(m):
        if m[k] != j:
            raise _bad(path, "mirror", f"{expected}: joint {j} -> {k} but {k} -> {m[k]}")
    return tuple(m)


def _persons(path: Path, persons: np.ndarray | None, joints: int) -> int:
    """Bodies per frame: a positive int scalar dividing ``joints``."""
    if persons is None:
        return 1
    if persons.dtype.kind not in "iu" or persons.size != 1:
        raise _bad(path, "persons", "expected an int scalar", persons)
    m = int(persons.reshape(()))
    if m < 1 or joints % m:
        raise _bad(path, "persons", f"{m} must be >= 1 and divide the {joints} joints")
    return m


def _class_names(path: Path, names: np.ndarray | None) -> tuple[str, ...] | None:
    """Distinct non-empty class names, or ``None`` when absent."""
    if names is None:
        return None
    if names.dtype.kind not in "US" or names.ndim != 1 or names.size < 1:
        raise _bad(path, "class_names", "expected strings (K,)", names)
    decoded = tuple(_text(s) for s in names.tolist())
    if "" in decoded or len(set(decoded)) != len(decoded):
        raise _bad(path, "class_names", f"names must be distinct and non-empty: {list(decoded)}")
    return decoded


def _split_values(path: Path, split: np.ndarray | None, n: int) -> np.ndarray | None:
    """``split`` as an (N,) str or int64 array (values checked per sample later)."""
    if split is None:
        return None
    if split.shape != (n,) or split.dtype.kind not in "USiu":
        raise _bad(path, "split", f"expected ({n},) strings 'train'/'test' or int fold ids", split)
    if split.dtype.kind in "US":
        return np.array([_text(s) for s in split.tolist()], dtype=str)
    return split.astype(np.int64)


def _sample_problems(
    x: np.ndarray,
    y: np.ndarray,
    lengths: np.ndarray,
    num_classes: int | None,
    split: np.ndarray | None,
) -> dict[int, str]:
    """The first problem of each bad sample, by sample index."""
    found = (_problem(i, x, y, lengths, num_classes, split) for i in range(len(x)))
    return {i: problem for i, problem in enumerate(found) if problem is not None}


def _problem(
    i: int,
    x: np.ndarray,
    y: np.ndarray,
    lengths: np.ndarray,
    num_classes: int | None,
    split: np.ndarray | None,
) -> str | None:
    """What is wrong with sample ``i``, or ``None``."""
    t, length, label = x.shape[1], int(lengths[i]), int(y[i])
    if not 1 <= length <= t:
        return f"array 'lengths': sample {i} has length {length}, expected 1..{t}"
    if label < 0 or (num_classes is not None and label >= num_classes):
        expected = f"0..{num_classes - 1} (one per class name)" if num_classes else ">= 0"
        return f"array 'y': sample {i} has label {label}, expected {expected}"
    if split is not None and split.dtype.kind == "U" and split[i] not in ("train", "test"):
        return f"array 'split': sample {i} is {str(split[i])!r}, expected 'train' or 'test'"
    if split is not None and split.dtype.kind != "U" and split[i] < 0:
        return f"array 'split': sample {i} has fold id {int(split[i])}, expected >= 0"
    problem = coordinate_problem(x[i, :length])
    return f"array 'x': sample {i}: {problem}" if problem else None


def _splits(path: Path, split: np.ndarray | None, kept: np.ndarray, labels: np.ndarray) -> dict[str, Split]:
    """Splits over the kept samples (indices into the returned sequences)."""
    if split is None:
        return {"default": stratified_split(labels, _TEST_FRACTION, seed=0)}
    if split.dtype.kind == "U":
        values = split[kept]
        train, test = np.flatnonzero(values == "train"), np.flatnonzero(values == "test")
        return {"default": Split(train=train, test=test)}
    valid = split[split >= 0]
    folds = int(valid.max()) + 1 if valid.size else 0
    unused = sorted(set(range(folds)) - set(valid.tolist()))
    if unused:
        message = f"fold id(s) {unused} have no samples: ids must cover 0..{folds - 1}"
        raise _bad(path, "split", message)
    ids = split[kept]
    return {f"fold{k}": Split(train=np.flatnonzero(ids != k), test=np.flatnonzero(ids == k)) for k in range(folds)}


def _bad(path: Path, name: str, message: str, found: np.ndarray | None = None) -> DataError:
    """A :class:`DataError` about array ``name``, quoting its dtype and shape if given."""
    if found is not None:
        message += f", found {found.dtype} {found.shape}"
    return DataError(path, f"array {name!r}: {message}")


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
