"""Sparsity schedules of gradual magnitude pruning (Zhu & Gupta, 2017).

The rate rises from s_i to s_f along the cubic s_t = s_f + (s_i − s_f)(1 − (t − t₀) / (n Δt))³ over
the first ``end_fraction`` of the training steps (t₀ = 0, n Δt = ``end_fraction`` · T), fast at
first and slowly near the end, then stays at s_f while the network is fine-tuned.
"""

from __future__ import annotations

import math

from mrmp.pruning.rates import check_rate

__all__ = ["cubic_sparsity", "gradual_update"]


def cubic_sparsity(step: int, total: int, final: float, end_fraction: float = 0.75, initial: float = 0.0) -> float:
    """The rate s_t of the cubic schedule at ``step`` of ``total`` steps.

    Args:
        step: Training step t (from 0).
        total: Training steps T of the run.
        final: s_f, reached at step ``end_fraction`` · T and kept afterwards.
        end_fraction: Fraction of the steps over which the rate rises (0: at once).
        initial: s_i at step 0.

    >>> [round(cubic_sparsity(t, 100, 0.9, 0.5), 4) for t in (0, 25, 50, 80)]
    [0.0, 0.7875, 0.9, 0.9]
    """
    end = end_fraction * total
    if step >= end:
        return final
    return final + (initial - final) * (1.0 - step / end) ** 3


def gradual_update(step: int, total: int, final: float, end_fraction: float, every: int) -> float | None:
    """The rate the masks are narrowed to at ``step``, or None where they stay as they are.

    The masks are updated every ``every`` steps while the rate rises, and at the last pruning step
    min(⌈``end_fraction`` · T⌉, T − 1), which prunes at ``final`` exactly (so the run ends there
    even when ``end_fraction`` is 1); after it they are fixed (fine-tuning).

    >>> [gradual_update(t, 10, 0.9, 0.5, 2) for t in (0, 1, 5, 6)]
    [0.0, None, 0.9, None]
    """
    final = check_rate(final)
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    last = max(min(math.ceil(end_fraction * total - 1e-9), total - 1), 0)
    if step == last:
        return final
    if step > last or step % every:
        return None
    return cubic_sparsity(step, total, final, end_fraction)
