"""Pruning rates: validation, rate lists, the rates of one multi-rate step and the σ schedule."""

from __future__ import annotations

import math

import torch

from mrmp.errors import ConfigError
from mrmp.numbers import comma_items, parse_float

__all__ = ["DEFAULT_SEEN_RATES", "MAX_RATES", "check_rate", "parse_rates", "sample_rates", "sigma_at"]

#: Seen rates of the paper: 0.50, 0.55, …, 0.95 and 0.98.
DEFAULT_SEEN_RATES: tuple[float, ...] = (*tuple(round(0.5 + 0.05 * i, 2) for i in range(10)), 0.98)
#: The most rates a rate list may hold (a range's step of 1e-4 over [0, 1) gives 10,000).
MAX_RATES = 10_000


def check_rate(rate: float, *, name: str = "rate") -> float:
    """Validate a pruning rate in [0, 1).

    >>> check_rate(0.9)
    0.9
    >>> check_rate(1.0)
    Traceback (most recent call last):
    ...
    mrmp.errors.ConfigError: rate must be a number in [0, 1), got 1.0
    """
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number in [0, 1), got {rate!r}") from None
    if not math.isfinite(value) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be a number in [0, 1), got {rate!r}")
    return value


def _parse_range(part: str) -> list[float]:
    """The rates of one ``start:stop:step`` range (stop included)."""
    pieces = part.split(":")
    if len(pieces) != 3:
        raise ConfigError(f"rate range must be start:stop:step, got {part!r}")
    try:
        start, stop, step = (parse_float(p) for p in pieces)
    except ValueError:
        raise ConfigError(f"rate range must hold numbers, got {part!r}") from None
    for value in (start, stop):
        check_rate(value, name=f"rate range {part!r}: bound")
    if not 0 < step < 1:
        raise ConfigError(f"rate range step must be in (0, 1), got {part!r}")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_RATES:
        raise ConfigError(f"rate range {part!r} holds {count} rates, more than {MAX_RATES}; use a larger step")
    return [round(start + i * step, 6) for i in range(max(count, 0))]


def parse_rates(text: str) -> tuple[float, ...]:
    """Parse a rate list: comma-separated values and ``start:stop:step`` ranges (stop included).

    >>> parse_rates("0.5:0.6:0.05,0.98")
    (0.5, 0.55, 0.6, 0.98)
    """
    rates: list[float] = []
    try:
        parts = comma_items(text)
    except ValueError:
        raise ConfigError(f"rate list {text!r} has an empty item (a value left out?)") from None
    for part in parts:
        if ":" in part:
            rates.extend(_parse_range(part))
            continue
        try:
            rates.append(parse_float(part))
        except ValueError:
            raise ConfigError(f"rate must be a number, got {part!r}") from None
    if not rates:
        raise ConfigError(f"no rate in {text!r}")
    if len(rates) > MAX_RATES:
        raise ConfigError(f"{len(rates)} rates given, more than {MAX_RATES}")
    return tuple(sorted({check_rate(r) for r in rates}))


def sample_rates(seen: tuple[float, ...], k: int, generator: torch.Generator) -> list[float]:
    """Rates trained in one multi-rate step: the smallest, the largest and k − 2 random others.

    >>> import torch
    >>> sample_rates((0.5, 0.6, 0.7, 0.8, 0.9), 3, torch.Generator().manual_seed(0))[::2]
    [0.5, 0.9]
    """
    ordered = sorted(seen)
    if k >= len(ordered):
        return ordered
    if k == 1:
        return [ordered[int(torch.randint(len(ordered), (1,), generator=generator))]]
    middle = ordered[1:-1]
    pick = torch.randperm(len(middle), generator=generator)[: k - 2].tolist()
    return [ordered[0], *sorted(middle[i] for i in pick), ordered[-1]]


def sigma_at(progress: float, start: float, end: float) -> float:
    """Geometric annealing of σ from ``start`` (progress 0) to ``end`` (progress 1).

    >>> sigma_at(0.5, 2.0, 200.0)
    20.0
    """
    return start * (end / start) ** min(max(progress, 0.0), 1.0)
