"""Reading and writing mrmp files: the one safe payload reader and atomic writes.

Checkpoints (:mod:`mrmp.engine.checkpoint`) and exports (:mod:`mrmp.deploy.format`) are both
``torch.save`` files of plain dicts, lists, numbers, strings and tensors with a ``format`` tag;
both are read by :func:`read_payload` with ``weights_only=True`` (no code from the file runs).
A leaf module: the inference path reads exports without importing the training engine.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch

from mrmp.errors import CheckpointError, one_line

__all__ = [
    "CHECKPOINT",
    "EXPORT",
    "FileKind",
    "atomic_write_bytes",
    "atomic_write_files",
    "not_regular",
    "read_payload",
]


@dataclass(frozen=True)
class FileKind:
    """One kind of mrmp file: its ``format`` tag and how error messages name it.

    Attributes:
        format: The payload's ``format`` value, e.g. ``mrmp-checkpoint/1``.
        name: The kind in messages ("not a readable mrmp <name>").
        file: The file in the "no such <file>" message.
        misplaced: (format of another kind, message) pairs: what to say when such a file is
            given where this kind is expected.
    """

    format: str
    name: str
    file: str
    misplaced: tuple[tuple[str, str], ...] = ()


CHECKPOINT = FileKind("mrmp-checkpoint/1", "checkpoint", "checkpoint file")
EXPORT = FileKind(
    "mrmp-export/1",
    "export",
    "exported model file",
    misplaced=((CHECKPOINT.format, "a training checkpoint, not an export; run `mrmp export` on it first"),),
)


def not_regular(path: str | Path) -> str | None:
    """Why ``path`` is not a regular file to read (missing, a folder, a FIFO, a device), or None.

    Checked before opening, so that a FIFO or a device in place of a file cannot block a read.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return exc.strerror or "cannot be read"
    if stat.S_ISREG(mode):
        return None
    return "is a folder, not a file" if stat.S_ISDIR(mode) else "is not a regular file (a FIFO, socket or device)"


def atomic_write_bytes(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it over ``path``.

    A crash leaves either the old file or the new one, never a truncated file (the temporary
    file, ``.NAME.*``, is removed when the writer fails, or by the next run that claims the
    folder, see :mod:`mrmp.engine.rundir`). The file gets the mode ``open`` would give it
    (0666 less the umask).
    """
    atomic_write_files({Path(path): write})


def atomic_write_files(files: Mapping[Path, Callable[[IO[bytes]], Any]]) -> None:
    """Write several files atomically together: every temporary file first, then all renames.

    Files that belong together (a sweep's CSV and its plot) then appear together: a writer killed
    while writing leaves none of them replaced.
    """
    done: list[tuple[Path, Path]] = []
    try:
        for path, write in files.items():
            done.append((_write_temp(path, write), path))
        for tmp, path in done:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)
        raise


def _write_temp(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """A temporary file beside ``path`` holding what ``write`` wrote, synced to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide run files from the group
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_payload(path: str | Path, kind: FileKind, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The payload dict of a ``kind`` file, loaded with ``weights_only=True``.

    Only the ``format`` tag is checked; the sections are the caller's to validate.

    Raises:
        CheckpointError: Missing, truncated, corrupted, unsafe or foreign file, naming ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {kind.file}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or unsafe files
        raise CheckpointError(f"{path}: not a readable mrmp {kind.name} ({_load_failure(exc)})") from None
    found = payload.get("format") if isinstance(payload, dict) else None
    if found == kind.format:
        return payload
    hint = dict(kind.misplaced).get(found) if isinstance(found, str) else None
    raise CheckpointError(f"{path}: {hint or f'not an mrmp {kind.name} (expected format {kind.format!r})'}")


def _load_failure(exc: Exception) -> str:
    """Why ``torch.load`` refused a file, in one line (without torch's advice to load it unsafely).

    >>> _load_failure(
    ...     RuntimeError(
    ...         "Weights only load failed. Re-run with weights_only=False.\\n"
    ...         "WeightsUnpickler error: Unsupported global: GLOBAL os.system. Please allowlist it."
    ...     )
    ... )
    'refused by the safe loader: Unsupported global: GLOBAL os.system'
    """
    text = str(exc)
    _, found, reason = text.partition("WeightsUnpickler error:")
    if found:
        first = reason.strip().split("\n\n")[0]  # torch follows it with a blank line and its advice
        return "refused by the safe loader: " + " ".join(first.split()).split(". ")[0].rstrip(".")
    return f"{type(exc).__name__}: {one_line(exc)}"
