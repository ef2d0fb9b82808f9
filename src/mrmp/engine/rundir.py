"""Ownership of a run directory: one writer at a time, no silent overwrite, no stale temp files.

``mrmp train`` holds its ``--out`` folder with :func:`claim` for the whole run: an exclusive
``fcntl.flock`` on ``OUT/.lock`` (released by the kernel when the process ends, however it ends),
so a second process on the same folder stops at once with one line and the first run's files
stay as they are. A fresh run refuses a folder that already holds a run unless told to
``overwrite`` it; claiming also removes the temporary files that a killed atomic write left
behind (``.NAME.*`` beside ``NAME``, see :func:`mrmp.io.atomic_write_bytes`).

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp, claim(Path(tmp) / "run"):
...     (Path(tmp) / "run" / "config.json").write_text("{}")
2
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from mrmp.errors import ConfigError

__all__ = ["LOCK_FILE", "RUN_FILES", "claim", "holds_run", "remove_stale_temps"]

#: The lock file inside a run directory.
LOCK_FILE = ".lock"
#: The files a run writes into its directory (and into a sub-folder of its dense phase).
RUN_FILES = ("config.json", "log.jsonl", "metrics.json", "checkpoint.pt")


def holds_run(out: Path) -> list[Path]:
    """The run files in ``out`` and in its immediate sub-folders (a recipe's dense phase)."""
    folders = [out, *(p for p in out.iterdir() if p.is_dir())] if out.is_dir() else []
    return [d / name for d in folders for name in RUN_FILES if (d / name).exists()]


def remove_stale_temps(out: Path) -> list[Path]:
    """Delete the temporary files of killed atomic writes in ``out`` and its sub-folders."""
    folders = [out, *(p for p in out.iterdir() if p.is_dir())] if out.is_dir() else []
    stale = [p for d in folders for name in RUN_FILES for p in d.glob(f".{name}.*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def claim(out: Path, *, resume: bool = False, overwrite: bool = False) -> Iterator[None]:
    """Hold the run directory ``out`` for one writer while the block runs.

    Args:
        out: The run directory (created if missing; removed again if the block fails before
            writing anything into it).
        resume: The run continues the one in ``out`` (no check for an existing run).
        overwrite: A fresh run may replace the run files already in ``out``.

    Raises:
        ConfigError: ``out`` is not a writable folder, another process holds it, or a fresh run
            would replace another run without ``overwrite``.
    """
    created, fd = _open_locked(out)
    try:
        remove_stale_temps(out)
        if not resume:
            _make_room(out, overwrite)
        yield
    except BaseException:
        # Only the lock holder gets here, so it never removes a folder another process is using.
        if created and [p.name for p in out.iterdir()] == [LOCK_FILE]:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        os.close(fd)  # releases the lock


def _open_locked(out: Path, attempts: int = 5) -> tuple[bool, int]:
    """Create ``out`` if needed and lock its lock file: (whether this call created ``out``, fd).

    ``mkdir`` decides atomically which process created the folder. The lock is re-taken when the
    locked file is no longer the one at ``out/.lock`` (a failed fresh run removed its folder
    between our ``open`` and our ``flock``), so two writers can never hold different inodes.
    """
    for _ in range(attempts):
        try:
            out.mkdir(parents=True)
            created = True
        except FileExistsError:
            created = False
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot write a run directory there ({exc.strerror})") from None
        try:
            fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:
            continue  # removed by its failed creator just now
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot write a run directory there ({exc.strerror})") from None
        try:
            _lock(fd, out)
            if _same_file(fd, out / LOCK_FILE):
                return created, fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise ConfigError(f"--out {out}: another mrmp process keeps replacing this folder; choose another --out")


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino)


def _lock(fd: int, out: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        raise ConfigError(
            f"--out {out}: another mrmp process (pid {holder}) is writing this run; wait for it or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _make_room(out: Path, overwrite: bool) -> None:
    found = holds_run(out)
    if not found:
        return
    if not overwrite:
        raise ConfigError(
            f"--out {out} holds another run ({found[0].relative_to(out)}); "
            "continue it with --resume or replace it with --overwrite"
        )
    for path in found:
        path.unlink()
