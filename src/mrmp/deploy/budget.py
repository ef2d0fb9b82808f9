"""Export within a budget: the lowest rate on the rate dial whose file size or latency fits.

The masks of one checkpoint are nested (a higher rate keeps a subset of a lower rate's weights),
so file size and latency fall with the rate; :func:`lowest_fitting` bisects a grid of rates
under that assumption, exporting at each probe (≈ log₂(grid) exports).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mrmp.deploy.exported import load_exported
from mrmp.deploy.format import export_pt
from mrmp.deploy.onnx import export_onnx, ort_session
from mrmp.deploy.plain import example_input
from mrmp.errors import ConfigError
from mrmp.timing import interleaved_times

if TYPE_CHECKING:
    from mrmp.engine.setup import Bundle

__all__ = ["EXPORTERS", "TOP_RATE", "export_within", "lowest_fitting"]

#: The highest rate a budget export tries.
TOP_RATE = 0.99

#: Export format → writer (bundle, rate, path, threshold, scope) → summary with ``bytes``.
EXPORTERS: dict[str, Callable[..., dict[str, Any]]] = {"pt": export_pt, "onnx": export_onnx}


@torch.inference_mode()
def _pt_ms(path: Path, batch: int, repeats: int) -> float:
    """Median latency (ms) of the fastest torch form of an exported ``.pt`` (fused, CSR where faster)."""
    exported = load_exported(path, batch=batch, fused=True)
    x = example_input(exported.config, exported.meta, batch)
    return statistics.median(interleaved_times([lambda: exported.module(x)], repeats)[0]) * 1e3


def _onnx_ms(path: Path, batch: int, repeats: int, example: torch.Tensor) -> float:
    """Median latency (ms) of onnxruntime (one thread) on an exported ONNX file."""
    session = ort_session(path)
    feed = {"x": example.numpy()}
    return statistics.median(interleaved_times([lambda: session.run(None, feed)], repeats)[0]) * 1e3


def lowest_fitting(fits: Callable[[float], bool], step: float = 0.01, top: float = TOP_RATE) -> float | None:
    """The lowest rate of the grid 0, ``step``, …, ``top`` for which ``fits`` holds, by bisection
    (``fits`` assumed monotone: once true, true at every higher rate); None when ``top`` fails.

    >>> lowest_fitting(lambda r: r >= 0.372)
    0.38
    >>> lowest_fitting(lambda r: False) is None
    True
    """
    grid = [round(i * step, 10) for i in range(round(top / step) + 1)]
    lo, hi = 0, len(grid) - 1
    if not fits(grid[hi]):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(grid[mid]):
            hi = mid
        else:
            lo = mid + 1
    return grid[lo]


def export_within(
    bundle: Bundle,
    path: str | Path,
    fmt: str,
    max_kb: float | None = None,
    max_ms: float | None = None,
    batch: int = 1,
    threshold: str | None = None,
    scope: str | None = None,
    step: float = 0.01,
    repeats: int = 50,
) -> dict[str, Any]:
    """Export ``bundle`` at the lowest rate of the grid (``step``) whose file is at most
    ``max_kb`` KB and whose median latency on ``batch`` sequences is at most ``max_ms`` ms
    (``.pt``: the fused torch form; ONNX: onnxruntime, one thread).

    Returns:
        The exporter's summary at the chosen rate, with ``probes``: the rates tried, their KB
        and ms (None when not measured).

    Raises:
        ConfigError: No budget given, unknown format, or even the grid's top rate does not fit.
    """
    if fmt not in EXPORTERS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORTERS)}")
    if max_kb is None and max_ms is None:
        raise ConfigError("give a budget: max_kb and/or max_ms")
    if (max_kb is not None and max_kb <= 0) or (max_ms is not None and max_ms <= 0) or batch < 1:
        raise ConfigError("budgets must be > 0 and batch >= 1")
    path = Path(path)
    probes: list[dict[str, Any]] = []
    summaries: dict[float, dict[str, Any]] = {}
    example = example_input(bundle.cfg, bundle.meta, batch)

    def fits(rate: float) -> bool:
        summary = summaries[rate] = EXPORTERS[fmt](bundle, rate, path, threshold, scope)
        kb, ms = summary["bytes"] / 1024, None
        ok = max_kb is None or kb <= max_kb
        if ok and max_ms is not None:
            ms = _pt_ms(path, batch, repeats) if fmt == "pt" else _onnx_ms(path, batch, repeats, example)
            ok = ms <= max_ms
        probes.append({"rate": rate, "kb": kb, "ms": ms, "fits": ok})
        return ok

    rate = lowest_fitting(fits, step)
    if rate is None:
        top = probes[-1]
        got = f"{top['kb']:.1f} KB" + ("" if top["ms"] is None else f", {top['ms']:.3f} ms")
        raise ConfigError(f"no rate up to {TOP_RATE} fits the budget (at {TOP_RATE}: {got})")
    if probes[-1]["rate"] != rate:  # the file on disk is the last probe's
        EXPORTERS[fmt](bundle, rate, path, threshold, scope)
    return {**summaries[rate], "probes": probes}
