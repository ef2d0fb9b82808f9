"""Project error types: every user-facing failure is an :class:`MrmpError`."""

from __future__ import annotations

from pathlib import Path

__all__ = ["MrmpError", "DataError", "ConfigError", "CheckpointError", "TrainingError", "one_line"]


class MrmpError(Exception):
    """Base class for errors the CLI reports on one line (exit code 2)."""


class DataError(MrmpError):
    """Malformed or missing dataset input.

    Args:
        path: File or folder at fault.
        message: What was found and what was expected.
        line: 1-based line number inside ``path`` when it applies.
    """

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {message}")


class ConfigError(MrmpError, ValueError):
    """Invalid option or configuration value (also a :class:`ValueError`)."""


class CheckpointError(MrmpError):
    """Checkpoint or exported file that cannot be read."""


class TrainingError(MrmpError):
    """A training run that cannot go on (e.g. its loss or weights became NaN or infinite)."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The message of ``exc`` (a library's, often several lines) on one line, cut at ``limit`` characters.

    >>> one_line(RuntimeError("Error(s) in loading:\\n\\tsize mismatch for w"))
    'Error(s) in loading: size mismatch for w'
    """
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
