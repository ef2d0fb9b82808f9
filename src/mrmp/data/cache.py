"""On-disk cache of parsed datasets, memory-mapped when read, so that large sets stream.

One entry, ``<cache>/<name>-<key>/``:

- ``frames.npy``: float32 (F, V, C), every sequence's frames one after the other;
- ``offsets.npy``: int64 (N + 1,), sequence ``i`` is ``frames[offsets[i]:offsets[i + 1]]``;
- ``labels.npy``: int64 (N,);
- ``set.json``: the rest of the :class:`SkeletonSet` (ids, class names, edges, splits, persons,
  body, skipped files).

``key`` hashes the format version, the dataset name, the loader settings that shape the data
(e.g. ``skip_bad``) and each source file's (path, size, mtime), so an edited, added or removed
file builds a new entry. An entry is written sequence by sequence into a temporary folder (memory
bounded by one sequence) and renamed into place, so a reader sees a whole entry or none, and a
second run opens it without parsing: ``frames.npy`` is memory-mapped (``np.load(mmap_mode="r")``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from mrmp.data.base import Body, SkeletonSet, Split, coordinate_problem
from mrmp.errors import DataError

__all__ = [
    "CACHE_ENV",
    "FrameStore",
    "cache_key",
    "cached",
    "default_cache",
    "derived_store",
    "read_entry",
    "write_entry",
]

#: Environment variable naming the cache folder (default ``~/.cache/mrmp``).
CACHE_ENV = "MRMP_CACHE"
_VERSION = 1
_HEADER_SHAPE = (10**13, 1, 1)  # a placeholder header at least as long as the final one


def default_cache() -> Path:
    """``$MRMP_CACHE``, else ``~/.cache/mrmp``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "mrmp")


class FrameStore(Sequence[np.ndarray]):
    """Variable-length sequences (T_i, V, C) kept back to back in one (F, V, C) array.

    Args:
        frames: (F, V, C) float32, typically memory-mapped.
        offsets: (N + 1,) start of each sequence in ``frames``, then F.
        index: The sequences this store shows (a subset), all when None.
        folder: The cache entry the arrays come from: pickling reopens it instead of copying.
    """

    def __init__(
        self, frames: np.ndarray, offsets: np.ndarray, index: np.ndarray | None = None, folder: Path | None = None
    ) -> None:
        self.frames, self.offsets, self.folder = frames, offsets, folder
        self.index = np.arange(len(offsets) - 1) if index is None else np.asarray(index, dtype=np.int64)

    @classmethod
    def open(cls, folder: Path, index: np.ndarray | None = None) -> FrameStore:
        """The store of a cache entry, ``frames.npy`` memory-mapped."""
        frames = np.load(folder / "frames.npy", mmap_mode="r")
        return cls(frames, np.load(folder / "offsets.npy"), index, folder)

    def __reduce__(self) -> tuple[Any, ...]:
        if self.folder is None:
            return (FrameStore, (np.asarray(self.frames), self.offsets, self.index))
        return (FrameStore.open, (self.folder, self.index))

    def __len__(self) -> int:
        return len(self.index)

    @overload
    def __getitem__(self, i: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, i: slice) -> FrameStore: ...
    def __getitem__(self, i: int | slice) -> np.ndarray | FrameStore:
        if isinstance(i, slice):
            return self.subset(np.arange(len(self))[i])
        k = self.index[i]
        return self.frames[self.offsets[k] : self.offsets[k + 1]]

    def subset(self, index: Sequence[int] | np.ndarray) -> FrameStore:
        """The sequences at positions ``index`` of this store (no copy)."""
        return FrameStore(self.frames, self.offsets, self.index[np.asarray(index, dtype=np.int64)], self.folder)

    def release(self) -> None:
        """Drop the pages read so far from this process's resident memory (``madvise(DONTNEED)``).

        A memory map's pages count in the resident set once read and stay until the kernel needs
        them; releasing after each batch keeps a process that reads the whole set at the size of
        one batch. The pages stay in the page cache, so reading them again costs no disk access.
        """
        mapping = getattr(self.frames, "_mmap", None)  # np.memmap's mapping (None: an array in memory)
        if mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            mapping.madvise(mmap.MADV_DONTNEED)

    @property
    def lengths(self) -> np.ndarray:
        """Frames of each sequence (N,)."""
        return (self.offsets[self.index + 1] - self.offsets[self.index]).astype(np.int64)


def cache_key(name: str, sources: Iterable[Path], settings: dict[str, Any]) -> str:
    """Hex digest of the format version, ``name``, ``settings`` and the sources' (path, size, mtime)."""
    stats = []
    for path in sources:
        st = os.stat(path)
        stats.append((os.path.abspath(path), st.st_size, st.st_mtime_ns))
    text = json.dumps([_VERSION, name, settings, stats], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


Build = Callable[[], tuple[Iterator[np.ndarray], Callable[[Sequence[np.ndarray]], SkeletonSet]]]


def cached(
    cache: Path | None, name: str, sources: Sequence[Path], settings: dict[str, Any], build: Build
) -> SkeletonSet:
    """The set ``name`` from its cache entry in ``cache``, built there first if it is missing.

    Args:
        cache: The cache folder; None: build the set in memory (a list of arrays), no cache.
        sources: The files the set is parsed from (their path, size and mtime key the entry).
        settings: Loader settings that change the parsed data (part of the key).
        build: Returns the sequences (parsed lazily, one at a time) and a function that makes the
            set around the sequences read (called once the iterator is exhausted).
    """
    if cache is None:
        sequences, finish = build()
        return finish(list(sequences))
    entry = Path(cache) / f"{name}-{cache_key(name, sources, settings)}"
    if not (entry / "set.json").is_file():
        sequences, finish = build()
        write_entry(entry, sequences, finish)
    return read_entry(entry)


def derived_store(
    store: FrameStore, name: str, transform: Callable[[list[np.ndarray]], list[np.ndarray]], chunk: int = 256
) -> FrameStore:
    """``store`` with ``transform`` applied to every sequence of its entry, computed once.

    The result lives beside the entry's frames (``<entry>/<name>/frames.npy``, same offsets), is
    written ``chunk`` sequences at a time into a temporary folder and renamed into place, and is
    shown through ``store``'s index. ``transform`` maps a list of (T_i, V, C) arrays to arrays of
    the same lengths; ``name`` must identify it (e.g. a hash of its settings).
    """
    if store.folder is None:
        raise ValueError("derived_store needs a store opened from a cache entry")
    folder = store.folder / name
    if not (folder / "offsets.npy").is_file():
        tmp = folder.with_name(f"{name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            whole = FrameStore.open(store.folder)
            parts = (_chunk(whole, a, chunk, transform) for a in range(0, len(whole), chunk))
            np.save(tmp / "offsets.npy", _write_frames(tmp / "frames.npy", (s for part in parts for s in part)))
            tmp.rename(folder)
        except OSError:
            if not (folder / "offsets.npy").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return FrameStore.open(folder, store.index)


def _chunk(
    store: FrameStore, start: int, size: int, transform: Callable[[list[np.ndarray]], list[np.ndarray]]
) -> list[np.ndarray]:
    """``transform`` of the sequences ``start .. start + size`` of ``store``, its pages released."""
    out = transform([np.array(store[i]) for i in range(start, min(start + size, len(store)))])
    store.release()
    return out


def write_entry(
    entry: Path, sequences: Iterable[np.ndarray], finish: Callable[[Sequence[np.ndarray]], SkeletonSet]
) -> None:
    """Write a cache entry atomically: into ``<entry>.tmp-<pid>``, then renamed to ``entry``."""
    tmp = entry.with_name(f"{entry.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        offsets = _write_frames(tmp / "frames.npy", sequences)
        np.save(tmp / "offsets.npy", offsets)
        ds = finish(FrameStore.open(tmp))
        np.save(tmp / "labels.npy", np.asarray(ds.labels, dtype=np.int64))
        (tmp / "set.json").write_text(json.dumps(_describe(ds)))
        try:
            tmp.rename(entry)
        except OSError:  # another process wrote it first: keep theirs
            if not (entry / "set.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_frames(path: Path, sequences: Iterable[np.ndarray]) -> np.ndarray:
    """Append every (T_i, V, C) sequence to an ``.npy`` file; returns the offsets (N + 1,)."""
    offsets, shape = [0], None
    with open(path, "wb") as f:
        for seq in sequences:
            seq = np.ascontiguousarray(seq, dtype=np.float32)
            if shape is None:
                shape = seq.shape[1:]
                _header(f, (_HEADER_SHAPE[0], *shape))
            elif seq.shape[1:] != shape:
                raise DataError(path, f"sequence {len(offsets) - 1} has (V, C) = {seq.shape[1:]}, expected {shape}")
            if problem := coordinate_problem(seq):
                raise DataError(path, f"sequence {len(offsets) - 1}: {problem}")
            f.write(seq.tobytes())
            offsets.append(offsets[-1] + len(seq))
        if shape is None:
            raise DataError(path, "no sequence to cache")
        end = f.tell()
        f.seek(0)
        _header(f, (offsets[-1], *shape))
        f.seek(end)
    return np.asarray(offsets, dtype=np.int64)


def _header(f: Any, shape: tuple[int, ...]) -> None:
    """Write an ``.npy`` 1.0 header for float32 ``shape``, padded to the placeholder's length."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": shape}
    start = f.tell()
    np.lib.format.write_array_header_1_0(f, header)
    if f.tell() - start != 128:  # placeholder and final header must both fill 128 bytes
        raise DataError(Path(getattr(f, "name", "?")), f"unexpected .npy header length {f.tell() - start}")


def _describe(ds: SkeletonSet) -> dict[str, Any]:
    """JSON-ready fields of ``ds`` except the sequences and labels."""
    return {
        "name": ds.name,
        "ids": list(ds.ids),
        "class_names": list(ds.class_names),
        "edges": [list(e) for e in ds.edges],
        "splits": {k: {"train": s.train.tolist(), "test": s.test.tolist()} for k, s in ds.splits.items()},
        "persons": ds.persons,
        "skipped": list(ds.skipped),
        "body": dataclasses.asdict(ds.body),
    }


def read_entry(entry: Path) -> SkeletonSet:
    """The set of a cache entry written by :func:`write_entry`, its sequences a memory-mapped :class:`FrameStore`."""
    try:
        meta = json.loads((entry / "set.json").read_text())
        store = FrameStore.open(entry)
        labels = np.load(entry / "labels.npy")
    except (OSError, ValueError) as err:
        raise DataError(entry, f"unreadable cache entry ({err}): delete the folder to rebuild it") from None
    body = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["body"].items()}
    return SkeletonSet(
        name=meta["name"],
        sequences=store,
        labels=labels,
        ids=meta["ids"],
        class_names=tuple(meta["class_names"]),
        edges=tuple((int(i), int(j)) for i, j in meta["edges"]),
        splits={
            k: Split(np.asarray(s["train"], np.int64), np.asarray(s["test"], np.int64))
            for k, s in meta["splits"].items()
        },
        persons=int(meta["persons"]),
        skipped=tuple(meta["skipped"]),
        body=Body(**body),
    )
