"""The files of a run directory: ``config.json`` / ``metrics.json`` (atomic JSON) and ``log.jsonl``
(one JSON record per epoch, trimmed back to the checkpoint's epoch on resume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mrmp.io import atomic_write_bytes

__all__ = ["append_log", "log_seconds", "truncate_log", "write_json"]


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented, strict JSON (no NaN or Infinity) to ``path`` atomically."""
    atomic_write_bytes(path, lambda fh: fh.write(json.dumps(obj, indent=2, allow_nan=False).encode()))


def log_seconds(path: Path) -> float:
    """Training time of a run: the sum of its log records' ``seconds`` (0 without a log)."""
    return sum(record.get("seconds", 0.0) for _, record in _records(path))


def _records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The log's (line, record) pairs; a line cut short by a kill while it was written is left out."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append((line, json.loads(line)))
        except json.JSONDecodeError:
            continue
    return out


def append_log(path: Path, record: dict[str, Any]) -> None:
    """Add one record (one strict JSON line) to the run's log."""
    line = json.dumps(record, allow_nan=False) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)


def truncate_log(path: Path, epochs: int) -> None:
    """Keep the log records of the first ``epochs`` epochs (those the checkpoint holds)."""
    if not path.exists():
        return
    keep = [line for line, record in _records(path) if record.get("epoch", 0) <= epochs]
    atomic_write_bytes(path, lambda fh: fh.write("".join(k + "\n" for k in keep).encode()))
