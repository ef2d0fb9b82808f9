"""Helpers shared by the loaders: numeric text tables, skip-bad collection, splits.

Text tables are parsed with numpy's fast reader; when that fails, or the result is not
what was expected, the file is re-parsed line by line to raise a :class:`DataError` that
names the 1-based line, the column and the offending token.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from mrmp.data.base import Split
from mrmp.errors import DataError
from mrmp.io import not_regular

__all__ = ["read_all", "read_skeleton", "read_table", "read_text", "stratified_split"]

T = TypeVar("T")


def read_text(path: Path) -> str:
    """Return the UTF-8 text of ``path``, or raise a :class:`DataError` saying why not."""
    if path.exists() and not path.is_dir() and not path.is_file():  # a FIFO would block the read
        raise DataError(path, not_regular(path) or "not a regular file")
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, "expected a file, found a folder") from None
    except UnicodeDecodeError as err:
        raise DataError(path, f"not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise DataError(path, f"cannot read file: {err.strerror or err}") from None


def read_table(path: Path, columns: int, *, sep: str | None = None, layout: str = "") -> np.ndarray:
    """Read a numeric text table with one row per non-blank line.

    Args:
        path: Text file.
        columns: Values expected on every line.
        sep: Column separator; ``None`` means any run of whitespace.
        layout: What a line holds, quoted in error messages (e.g. ``"frame + 21 joints × xyz"``).

    Returns:
        float32 array (rows, columns) of finite values, at least one row.

    Raises:
        DataError: Unreadable or empty file, wrong column count, non-numeric or non-finite value.
    """
    text = read_text(path)
    table = _fast_parse(text, sep)
    usable = table is not None and table.shape[0] > 0 and table.shape[1] == columns
    if not (usable and np.isfinite(table).all()):
        table = _exact_parse(path, text, columns, sep, layout)
    return table


def read_skeleton(path: Path, joints: int, *, sep: str | None = None, layout: str = "") -> np.ndarray:
    """Read a skeleton file whose lines hold a frame number then ``joints`` × (x, y, z).

    Returns:
        float32 array (T, joints, 3); the frame-number column is dropped.
    """
    table = read_table(path, 1 + joints * 3, sep=sep, layout=layout)
    return np.ascontiguousarray(table[:, 1:].reshape(len(table), joints, 3))


def read_all(
    items: Sequence[T], read: Callable[[T], np.ndarray], *, skip_bad: bool, source: Path
) -> tuple[list[int], list[np.ndarray], list[str]]:
    """Read every item, skipping (and listing) the bad ones when ``skip_bad`` is set.

    Args:
        items: Anything ``read`` accepts, e.g. file paths.
        read: Returns one sequence or raises :class:`DataError`.
        skip_bad: Skip items whose ``read`` raises instead of propagating the error.
        source: The dataset's root, named when no sequence is left.

    Returns:
        Positions of the items read, their arrays, and one ``"<path>: <reason>"`` per skipped item.

    Raises:
        DataError: A bad item without ``skip_bad``, or no sequence at all.
    """
    kept: list[int] = []
    arrays: list[np.ndarray] = []
    skipped: list[str] = []
    for position, item in enumerate(items):
        try:
            arrays.append(read(item))
        except DataError as err:
            if not skip_bad:
                raise
            skipped.append(str(err))
            continue
        kept.append(position)
    if not arrays:
        found = f"all {len(items)} skipped as malformed" if items else "none found"
        raise DataError(source, f"no readable sequences ({found})")
    return kept, arrays, skipped


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int = 0) -> Split:
    """Deterministic stratified train/test split.

    Each class's samples are shuffled with ``seed`` and ``round(test_fraction × n)`` of them
    (half rounded up) go to the test set.

    Returns:
        A :class:`Split` with sorted int64 index arrays.
    """
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test.append(members[: int(np.floor(test_fraction * len(members) + 0.5))])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return Split(train=train_idx.astype(np.int64), test=test_idx.astype(np.int64))


def _fast_parse(text: str, sep: str | None) -> np.ndarray | None:
    """Parse with numpy's C reader; ``None`` if it rejects the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.loadtxt(io.StringIO(text), dtype=np.float32, delimiter=sep, comments=None, ndmin=2)
    except ValueError:
        return None


def _exact_parse(path: Path, text: str, columns: int, sep: str | None, layout: str) -> np.ndarray:
    """Parse line by line; raise a :class:`DataError` at the first bad line."""
    what = f"{columns} values" + (f" ({layout})" if layout else "")
    rows: list[np.ndarray] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        tokens = [token.strip() for token in line.split(sep)]
        if len(tokens) != columns:
            raise DataError(path, f"expected {what}, found {len(tokens)}", number)
        rows.append(_parse_row(path, number, tokens))
    if not rows:
        raise DataError(path, f"empty file: expected lines of {what}")
    return np.stack(rows)


def _parse_row(path: Path, number: int, tokens: list[str]) -> np.ndarray:
    """Convert one line's tokens to finite float32 values."""
    values: list[float] = []
    for column, token in enumerate(tokens, start=1):
        try:
            values.append(float(token))
        except ValueError:
            raise DataError(
                path, f"non-numeric value {token!r} in column {column}: expected a number", number
            ) from None
    with np.errstate(over="ignore"):
        row = np.asarray(values, dtype=np.float64).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(row))
    if bad.size:
        column = int(bad[0])
        raise DataError(
            path,
            f"value {tokens[column]!r} in column {column + 1} is not a finite float32 number",
            number,
        )
    return row
