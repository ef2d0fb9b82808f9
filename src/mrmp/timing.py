"""Wall-clock timing of callables, interleaved so that load drifts hit every candidate alike.

Used by the per-layer sparse/dense choice (:mod:`mrmp.deploy.sparse`), ``mrmp bench`` and the
benchmark scripts.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["best_times", "interleaved_times", "median_times"]


def interleaved_times(fns: Sequence[Callable[[], Any]], repeats: int = 20, warmup: int = 3) -> list[list[float]]:
    """Wall times (seconds) of ``repeats`` calls of each function after ``warmup`` untimed rounds,
    calls interleaved so that load drifts hit all functions alike; each timed round runs them in
    a fresh order (seeded shuffle), so that none always runs after the same neighbour, whose
    cache footprint and thread-pool state it would inherit.

    >>> calls = []
    >>> times = interleaved_times([lambda: calls.append(1), lambda: calls.append(2)], repeats=3, warmup=1)
    >>> calls[:2], sorted(calls[2:4]), sorted(calls[4:6]), [len(t) for t in times]
    ([1, 2], [1, 2], [1, 2], [3, 3])
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    order, shuffle = list(range(len(fns))), random.Random(0).shuffle
    for _ in range(max(repeats, 1)):
        shuffle(order)
        for i in order:
            start = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - start)
    return times


def median_times(fns: Sequence[Callable[[], Any]], repeats: int = 20, warmup: int = 3) -> list[float]:
    """Median of :func:`interleaved_times` for each function (seconds)."""
    return [statistics.median(t) for t in interleaved_times(fns, repeats, warmup)]


def best_times(fns: Sequence[Callable[[], Any]], repeats: int = 20, warmup: int = 3) -> list[float]:
    """Minimum of :func:`interleaved_times` for each function (seconds): load from other processes
    only ever adds time, so the minimum is the best estimate of a short call's own cost."""
    return [min(t) for t in interleaved_times(fns, repeats, warmup)]
