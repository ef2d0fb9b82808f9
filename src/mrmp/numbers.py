"""Numbers from text, ASCII only: ``int()`` and ``float()`` also take other scripts' digits
('١٢' → 12), full-width forms ('０.５') and underscores ('1_5' → 15), which a config value should not.

>>> parse_int("12"), parse_float("-1e-3"), parse_float("inf")
(12, -0.001, inf)
>>> parse_int("1_5")
Traceback (most recent call last):
...
ValueError: not an ASCII integer: '1_5'
"""

from __future__ import annotations

import re

__all__ = ["comma_items", "parse_float", "parse_int"]

_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.ASCII | re.I)


def parse_int(text: str) -> int:
    """An integer written in ASCII digits, with an optional sign; ValueError otherwise."""
    if not _INT.fullmatch(text.strip()):
        raise ValueError(f"not an ASCII integer: {text!r}")
    return int(text)


def parse_float(text: str) -> float:
    """A number written in ASCII (decimal or exponent form, ``inf``, ``nan``); ValueError otherwise."""
    if not _FLOAT.fullmatch(text.strip()):
        raise ValueError(f"not an ASCII number: {text!r}")
    return float(text)


def comma_items(text: str) -> list[str]:
    """The stripped items of a comma-separated list; [] for blank text; ValueError for an empty
    item (``0.5,,0.9`` or a trailing comma: most likely a value left out).

    >>> comma_items(" 0.5, 0.9"), comma_items("")
    (['0.5', '0.9'], [])
    >>> comma_items("0.5,,0.9")
    Traceback (most recent call last):
    ...
    ValueError: empty item in the list '0.5,,0.9'
    """
    if not text.strip():
        return []
    items = [p.strip() for p in text.split(",")]
    if not all(items):
        raise ValueError(f"empty item in the list {text!r}")
    return items
