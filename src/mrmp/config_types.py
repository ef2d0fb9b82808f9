"""Types and ranges of config fields, checked wherever a configuration is built.

A field of a config section is annotated with its type and, for numbers and lists, its bounds:
``epochs: Annotated[int, Range(1)] = 600``. :func:`check_fields` (called by every section's
``__post_init__``) checks each value against its annotation, whatever built it — flags,
``--set``, a TOML file, a stored checkpoint or Python — and names the field in its error:

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Train:
...     epochs: Annotated[int, Range(1)] = 600
...     lr: Annotated[float, Range(0, lo_open=True)] = 1e-3
...
...     def __post_init__(self) -> None:
...         check_fields(self, "train")
>>> Train(lr=2)
Train(epochs=600, lr=2.0)
>>> Train(epochs="ten")
Traceback (most recent call last):
...
mrmp.errors.ConfigError: train.epochs must be an integer >= 1, got 'ten'
"""

from __future__ import annotations

import enum
import functools
import math
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from mrmp.errors import ConfigError

__all__ = ["Annotated", "NonEmpty", "Pattern", "Range", "check_fields", "describe"]

_SCALARS = {int: "an integer", float: "a number", str: "text", bool: "true or false"}


@dataclass(frozen=True)
class Range:
    """Bounds of a number (``lo`` ≤ x ≤ ``hi``, strict where ``*_open``); None: unbounded.

    >>> str(Range(0, 1, hi_open=True)), str(Range(1)), str(Range(0, lo_open=True))
    ('in [0, 1)', '>= 1', '> 0')
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def holds(self, x: float) -> bool:
        above = self.lo is None or (x > self.lo if self.lo_open else x >= self.lo)
        below = self.hi is None or (x < self.hi if self.hi_open else x <= self.hi)
        return above and below

    def __str__(self) -> str:
        lo, hi = _text(self.lo), _text(self.hi)
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {lo}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {hi}"
        return f"in {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"


def _text(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class Pattern:
    """Text that matches a regular expression as a whole, described in words.

    >>> Pattern(r"[xyz]*", "letters among x, y, z").holds("xz")
    True
    """

    regex: str
    words: str

    def holds(self, text: str) -> bool:
        return re.fullmatch(self.regex, text) is not None

    def __str__(self) -> str:
        return f"({self.words})"


@dataclass(frozen=True)
class NonEmpty:
    """A list field that needs at least one item."""

    def __str__(self) -> str:
        return "at least one"


def describe(hint: Any) -> str:
    """What a value of type ``hint`` is, in words (its text form on the command line).

    >>> describe(tuple[Annotated[int, Range(1)], ...])
    'comma-separated values, each an integer >= 1'
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        return ", ".join(
            [
                " ".join([describe(args[0]), *(str(m) for m in args[1:] if isinstance(m, Range | Pattern))]),
                *(str(m) for m in args[1:] if isinstance(m, NonEmpty)),
            ]
        )
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(e.value for e in hint)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (typing.Union, types.UnionType):
        return describe(next(a for a in args if a is not type(None))) + " or none"
    if origin is tuple:
        count = "" if args[-1] is Ellipsis else f"{len(args)} "
        return f"{count}comma-separated values, each {describe(args[0])}"
    return _SCALARS[hint]


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind, include_extras=True)


def check_fields(section: Any, name: str) -> None:
    """Check (and normalise: int → float, list → tuple) every field of the frozen dataclass ``section``.

    Raises:
        ConfigError: ``name.field must be <what the annotation says>, got <value>``.
    """
    for field, hint in _hints(type(section)).items():
        value = getattr(section, field)
        fixed = _conform(hint, value)
        if fixed is _BAD:
            raise ConfigError(f"{name}.{field} must be {describe(hint)}, got {value!r}")
        if fixed is not value:
            object.__setattr__(section, field, fixed)


_BAD = object()


def _conform(hint: Any, value: Any) -> Any:
    """``value`` as a value of ``hint`` (int → float, list → tuple), or ``_BAD``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        return _bounded(_conform(args[0], value), args[1:])
    if origin in (typing.Union, types.UnionType):
        return None if value is None else _conform(next(a for a in args if a is not type(None)), value)
    if origin is Literal:
        return value if value in args and isinstance(value, str | bool | int) else _BAD
    if origin is tuple:
        return _items(args, value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value if isinstance(value, hint) else _BAD
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value) if abs(value) < 1e308 else math.inf  # a TOML integer may be 10**400
        return number if math.isfinite(number) else _BAD
    return value if isinstance(value, hint) and (hint is bool or not isinstance(value, bool)) else _BAD


def _items(args: Sequence[Any], value: Any) -> Any:
    if not isinstance(value, tuple | list):
        return _BAD
    kinds = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
    if len(kinds) != len(value):
        return _BAD
    items = tuple(_conform(k, v) for k, v in zip(kinds, value, strict=True))
    return _BAD if any(i is _BAD for i in items) else items


def _bounded(value: Any, marks: Sequence[Any]) -> Any:
    if value is _BAD:
        return _BAD
    for mark in marks:
        if isinstance(mark, Range | Pattern) and not mark.holds(value):
            return _BAD
        if isinstance(mark, NonEmpty) and not value:
            return _BAD
    return value
