"""Config fields as text: their types, defaults and text forms, and TOML config files.

Every field of :class:`~mrmp.config.RunConfig` is named ``section.field``; its value is parsed
from text by the type of its annotation (int, float, str, bool, ``Literal`` choices, optional
values, tuples as comma lists), or by :data:`FIELD_PARSERS` where it has its own form.
Used by the command line (:mod:`mrmp.cli_config`) and the benchmarks.

>>> parse_field("features.stats", "mean,std")
('mean', 'std')
"""

from __future__ import annotations

import enum
import functools
import tomllib
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from mrmp.config import RunConfig, parse_rates
from mrmp.config_types import describe
from mrmp.errors import ConfigError
from mrmp.io import not_regular
from mrmp.numbers import comma_items, parse_float, parse_int

__all__ = [
    "FIELD_PARSERS",
    "Changes",
    "describe",
    "field_default",
    "field_text",
    "field_types",
    "load_toml",
    "toml_values",
    "fill_defaults",
    "parse_field",
]

#: Config changes by section and field, as :meth:`RunConfig.replace` takes them.
Changes = dict[str, dict[str, Any]]

#: Fields whose text form is not the one of their annotation.
FIELD_PARSERS: dict[str, Callable[[str], Any]] = {"prune.rates": parse_rates}

_BOOLS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
_SCALARS: dict[Any, Callable[[str], Any]] = {
    int: parse_int,
    float: parse_float,
    str: str,
    bool: lambda text: _BOOLS[text.lower()],
}


@functools.cache
def field_types(bounds: bool = False) -> dict[str, Any]:
    """Annotation of every config field, by ``section.field`` key (in declaration order);
    with ``bounds``, the ``Annotated`` form that holds its range (see :mod:`mrmp.config_types`)."""
    out = {}
    for section, kind in typing.get_type_hints(RunConfig).items():
        for name, hint in typing.get_type_hints(kind, include_extras=bounds).items():
            out[f"{section}.{name}"] = hint
    return out


def field_default(key: str) -> Any:
    """Default value of the config field ``key``, e.g. ``field_default("train.lr") == 1e-3``."""
    section, name = key.split(".")
    return getattr(getattr(RunConfig(), section), name)


def _is_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.Enum)


def _not_none(args: Sequence[Any]) -> Any:
    return next(a for a in args if a is not type(None))


def _parse(hint: Any, text: str) -> Any:
    """Value of type ``hint`` from ``text``; KeyError or ValueError when it does not fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_enum(hint):
        return hint(text.strip())
    if origin is Literal:
        return args[[str(a) for a in args].index(text)]
    if origin in (typing.Union, types.UnionType):
        return None if text.strip().lower() in ("", "none") else _parse(_not_none(args), text)
    if origin is tuple:
        items = comma_items(text)
        kinds = [args[0]] * len(items) if args[-1] is Ellipsis else list(args)
        if len(kinds) != len(items):
            raise ValueError(text)
        return tuple(_parse(k, p) for k, p in zip(kinds, items, strict=True))
    return _SCALARS[hint](text.strip())


def parse_field(key: str, text: str) -> Any:
    """Value of the config field ``key`` written as text (tuples as comma lists).

    Raises:
        ConfigError: ``text`` does not fit the field's type (the message says what does).

    >>> parse_field("model.stgcn_channels", "16, 32")
    (16, 32)
    >>> parse_field("train.epochs", "ten")
    Traceback (most recent call last):
    ...
    mrmp.errors.ConfigError: expected an integer, got 'ten'
    """
    if key in FIELD_PARSERS:
        return FIELD_PARSERS[key](text)
    hint = field_types()[key]
    try:
        return _parse(hint, text)
    except (KeyError, ValueError):
        raise ConfigError(f"expected {describe(hint)}, got {text!r}") from None


def load_toml(path: str | Path) -> RunConfig:
    """The configuration of a TOML file with ``[data]``, ``[features]``, ``[model]``, ``[prune]``, ``[train]``."""
    return RunConfig.from_dict(toml_values(path))


def toml_values(path: str | Path) -> Changes:
    """The fields a TOML config file sets, by section."""
    problem = not_regular(path)
    if problem:
        raise ConfigError(f"{path}: cannot read config ({problem})")
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None


def field_text(value: Any) -> str:
    """``value`` as text (tuples as comma lists), the inverse of :func:`parse_field`."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def fill_defaults(cfg: RunConfig, defaults: Changes, given: list[Changes]) -> RunConfig:
    """``cfg`` with the fields of ``defaults`` that none of the ``given`` changes sets."""
    unset = {
        section: {k: v for k, v in values.items() if not any(k in g.get(section, {}) for g in given)}
        for section, values in defaults.items()
    }
    unset = {section: values for section, values in unset.items() if values}
    return cfg.replace(**unset) if unset else cfg
