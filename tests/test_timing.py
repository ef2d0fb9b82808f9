"""Interleaved timing (mrmp.timing), shared by the sparse-path choice, mrmp bench and the benchmarks."""

from __future__ import annotations

import time

from mrmp.timing import best_times, interleaved_times, median_times


def test_calls_are_interleaved_after_warmup() -> None:
    calls: list[str] = []
    times = interleaved_times([lambda: calls.append("a"), lambda: calls.append("b")], repeats=3, warmup=2)
    assert calls[:4] == ["a", "b"] * 2 and all(sorted(calls[i : i + 2]) == ["a", "b"] for i in range(4, 10, 2))
    orders = []
    interleaved_times([lambda i=i: orders.append(i) for i in range(3)], repeats=30, warmup=0)
    assert len({tuple(orders[i : i + 3]) for i in range(0, 90, 3)}) > 3  # the order changes between rounds
    assert [len(t) for t in times] == [3, 3] and all(s >= 0 for t in times for s in t)
    assert len(interleaved_times([lambda: None], repeats=0, warmup=0)[0]) == 1  # at least one timed call


def test_summaries_order_slow_and_fast_calls() -> None:
    fast, slow = (lambda: None), (lambda: time.sleep(0.02))
    best = best_times([slow, fast], repeats=5, warmup=0)
    median = median_times([slow, fast], repeats=5, warmup=0)
    assert best[0] >= 0.02 and median[0] >= 0.02  # a sleep never takes less than asked
    assert best[1] < best[0]  # the best of 5 no-op calls stays below 20 ms even on a loaded machine
