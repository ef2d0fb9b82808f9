"""Deployment benchmark: latency, MACs and file sizes of every engine across pruning rates.

For each rate the checkpoint is exported as ``.pt`` (:func:`mrmp.deploy.export_pt`) and ONNX
(:func:`mrmp.deploy.export_onnx`), beside dense references at rate 0. Per batch size, the engines
of :data:`ENGINES` run on the same random input, interleaved, on pinned threads; each row holds
one engine's median, quartiles and minimum. The fused form without ``fc`` and the classifier (the
part the rate does not shrink) is timed in the same run; it bounds every speed-up:
``bound = ORT dense / unprunable`` (against torch dense when onnxruntime is missing).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from mrmp.deploy import (
    FUSERS,
    FusedGCN,
    capture_inputs,
    example_input,
    export_onnx,
    export_pt,
    load_exported,
    ort_session,
    prunable_linears,
)
from mrmp.errors import ConfigError
from mrmp.numbers import comma_items, parse_int
from mrmp.timing import interleaved_times

if TYPE_CHECKING:
    from mrmp.engine.setup import Bundle

__all__ = [
    "ENGINES",
    "MRMP_ENGINES",
    "bench",
    "count_macs",
    "format_markdown",
    "machine_info",
    "op_profile",
    "parse_batches",
]


#: The largest batch ``mrmp bench`` times (its inputs are allocated at once).
MAX_BATCH = 65_536


def parse_batches(text: str) -> tuple[int, ...]:
    """Comma-separated batch sizes in [1, ``MAX_BATCH``].

    >>> parse_batches("1,64")
    (1, 64)
    """
    try:
        values = tuple(parse_int(p) for p in comma_items(text))
    except ValueError:
        raise ConfigError(f"--batch: batch sizes must be integers, got {text!r}") from None
    if not values or not all(1 <= v <= MAX_BATCH for v in values):
        raise ConfigError(f"--batch: batch sizes must be integers in [1, {MAX_BATCH}], got {text!r}")
    return values


def machine_info() -> dict[str, Any]:
    """CPU model (from /proc/cpuinfo), logical cores, torch / onnxruntime versions, torch threads."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkl": torch.backends.mkl.is_available(),
        "onnxruntime": _version("onnxruntime"),
        "load": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@torch.no_grad()
def count_macs(model: nn.Module, example: Tensor, names: Sequence[str]) -> dict[str, int]:
    """Multiply-accumulates of the matrix products of one forward pass of ``example``.

    ``model`` must hold its pruned weights densely (zeros included). Elementwise work (softmax,
    ReLU, bias) is not counted.

    Returns:
        ``model_dense`` (every product dense), ``prunable_dense`` (the prunable linear layers,
        dense), ``prunable`` (their kept weights only: rows × nonzeros) and ``model``
        (``model_dense`` with the prunable layers at their kept MACs).
    """
    counter = FlopCounterMode(display=False)
    with counter:
        model(example)
    total = counter.get_total_flops() // 2
    layers = prunable_linears(model, names)
    inputs = capture_inputs(model, example, layers)
    dense = kept = 0
    for name in layers:
        weight = model.get_submodule(name).weight
        rows = inputs[name].numel() // weight.shape[1]
        dense += rows * weight.numel()
        kept += rows * int(weight.count_nonzero())
    return {"model_dense": total, "prunable_dense": dense, "prunable": kept, "model": total - dense + kept}


#: The engines of a benchmark row: torch on the dense model, the exported ``.pt`` on its sparse
#: path (CSR where timed faster) and in its fused form (backbones with one, :data:`FUSERS`),
#: onnxruntime on the dense ONNX model and on the exported (packed) one.
ENGINES = ("torch dense", "torch sparse", "torch fused", "ort dense", "ort export")
MRMP_ENGINES = ("torch sparse", "torch fused", "ort export")


@dataclass(frozen=True)
class Files:
    """The files of one benchmarked rate and the dense references, in one folder."""

    dense_pt: Path
    dense_onnx: Path | None
    pt: Path
    onnx: Path | None


def _engines(files: Files, cfg_name: str, batch: int, sparse: str, threads: int) -> dict[str, Callable[[Tensor], Any]]:
    """Engine name → a call on an input batch (N, …) returning logits (tensor or array)."""
    out: dict[str, Callable[[Tensor], Any]] = {
        "torch dense": load_exported(files.dense_pt, sparse="never").module,
        "torch sparse": load_exported(files.pt, sparse=sparse, batch=batch).module,
    }
    if cfg_name in FUSERS:
        out["torch fused"] = load_exported(files.pt, sparse=sparse, batch=batch, fused=True).module
    for name, path in (("ort dense", files.dense_onnx), ("ort export", files.onnx)):
        if path is not None:
            session = ort_session(path, threads)
            out[name] = lambda x, s=session: s.run(None, {"x": x.numpy()})[0]
    return out


def _spread(times: Sequence[float]) -> dict[str, float]:
    """Median, quartiles and minimum (ms) of wall times in seconds (under load from other
    processes the minimum is the steadiest estimate of a call's own cost)."""
    q1, q2, q3 = (
        statistics.quantiles([t * 1e3 for t in times], n=4, method="inclusive")
        if len(times) > 1
        else [times[0] * 1e3] * 3
    )
    return {"ms": q2, "ms_p25": q1, "ms_p75": q3, "ms_min": min(times) * 1e3}


@torch.inference_mode()
def _bench_one(files: Files, batch: int, sparse: str, threads: int, repeats: int, warmup: int) -> list[dict[str, Any]]:
    """One row per engine for one rate and batch size, all engines timed interleaved."""
    reference = load_exported(files.pt, sparse="never")
    engines = _engines(files, reference.config.model.name, batch, sparse, threads)
    x = example_input(reference.config, reference.meta, batch, seed=1)
    expected = {"dense": engines["torch dense"](x), "pruned": reference.module(x)}
    calls = [lambda f=f: f(x) for f in engines.values()]
    fused = engines.get("torch fused")
    if isinstance(fused, FusedGCN):  # the part the rate does not shrink: all but fc and the classifier
        calls.append(lambda: fused.features(x))
    times = interleaved_times(calls, repeats, warmup)
    rows = []
    for (name, fn), t in zip(engines.items(), times, strict=False):
        out = torch.as_tensor(fn(x))
        diff = float((out - expected["dense" if name.endswith("dense") else "pruned"]).abs().max())
        path = {"torch dense": files.dense_pt, "ort dense": files.dense_onnx, "ort export": files.onnx}.get(
            name, files.pt
        )
        rows.append(
            {"engine": name, **_spread(t), "max_abs_diff": diff, "file": path.name, "bytes": path.stat().st_size}
        )
    base = next((r for r in rows if r["engine"] == "ort dense"), rows[0])
    unprunable = _spread(times[-1]) if len(times) > len(engines) else None
    for r in rows:
        r["vs_ort_dense"], r["vs_ort_dense_min"] = base["ms"] / r["ms"], base["ms_min"] / r["ms_min"]
        r["unprunable_ms"] = None if unprunable is None else unprunable["ms"]
        r["bound"] = None if unprunable is None else base["ms"] / unprunable["ms"]
        r["bound_min"] = None if unprunable is None else base["ms_min"] / unprunable["ms_min"]
    return rows


def _export_all(
    bundle: Bundle, rate: float, folder: Path, threshold: str | None, scope: str | None, onnx: bool
) -> Files:
    """The ``.pt`` (and ONNX) files at ``rate`` beside the dense references (written once)."""
    dense_pt, dense_onnx = folder / "dense.pt", folder / "dense.onnx"
    if not dense_pt.exists():
        export_pt(bundle, 0.0, dense_pt, threshold, scope, storage="dense")
        if onnx:
            export_onnx(bundle, 0.0, dense_onnx, threshold, scope, storage="dense")
    pt, path = folder / f"rate{rate:g}.pt", folder / f"rate{rate:g}.onnx"
    export_pt(bundle, rate, pt, threshold, scope)
    if onnx:
        export_onnx(bundle, rate, path, threshold, scope)
    return Files(dense_pt, dense_onnx if onnx else None, pt, path if onnx else None)


def _has_onnx() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript", "onnxruntime"))


def bench(
    bundle: Bundle,
    rates: Sequence[float],
    batches: Sequence[int],
    threshold: str | None = None,
    scope: str | None = None,
    repeats: int = 30,
    warmup: int = 5,
    sparse: str = "auto",
    workdir: str | Path | None = None,
    threads: int = 1,
) -> list[dict[str, Any]]:
    """Benchmark ``bundle`` exported at each rate, for each batch size, on every engine.

    Torch runs on ``threads`` intra-op threads (restored afterwards), onnxruntime on as many
    intra-op threads and one inter-op thread without spin-waiting, one engine at a time: the
    measured cores are never oversubscribed. Engines are timed interleaved (:data:`ENGINES`;
    the ONNX rows need ``onnx``, ``onnxscript`` and ``onnxruntime``).

    Args:
        bundle: From :func:`mrmp.engine.setup.load_bundle`.
        rates: Pruning rates.
        batches: Batch sizes N of the (N, V, F) inputs.
        threshold, scope: As in :func:`mrmp.deploy.export_pt`.
        repeats: Timed forward passes per engine (medians and quartiles reported).
        warmup: Untimed passes per engine first.
        sparse: Sparse-path mode of :func:`mrmp.deploy.load_exported`.
        workdir: Where the exported files go (a temporary folder when None).
        threads: Threads of each engine, 1 ≤ threads ≤ the cores this process may use.

    Returns:
        One row per (rate, batch, engine): ``ms`` (median), ``ms_p25`` / ``ms_p75``, ``ms_min``,
        ``vs_ort_dense`` (ORT dense ms / ms; ``vs_ort_dense_min`` of the minima),
        ``max_abs_diff`` (against torch on the same weights), the engine's ``file`` and
        ``bytes``, ``threads``, kept weights, per-sample MACs, the dense files' bytes,
        ``unprunable_ms`` (the fused form without ``fc`` and the classifier) and ``bound``
        (ORT dense ms / unprunable ms: the speed-up if they were free; ``bound_min`` of the minima).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if not 1 <= threads <= cores:
        raise ConfigError(f"threads must be between 1 and the {cores} cores this process may use, got {threads}")
    onnx, before = _has_onnx(), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="mrmp-bench-") as tmp:
            folder = Path(workdir) if workdir is not None else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            rows = []
            for rate in rates:
                files = _export_all(bundle, rate, folder, threshold, scope, onnx)
                common = _rate_summary(files, rate, threads)
                for batch in batches:
                    rows += [
                        {**common, "batch": batch, **r}
                        for r in _bench_one(files, batch, sparse, threads, repeats, warmup)
                    ]
            return rows
    finally:
        torch.set_num_threads(before)


def _rate_summary(files: Files, rate: float, threads: int) -> dict[str, Any]:
    """What one rate's rows share: kept weights, MACs per sample, dense file sizes, threads."""
    model = load_exported(files.pt, sparse="never")
    macs = count_macs(model.module, example_input(model.config, model.meta, 1), model.prunable)
    return {
        "rate": float(rate),
        "observed_rate": 1.0 - model.pruning.nonzero / max(model.pruning.total, 1),
        "threshold": model.pruning.threshold,
        "nonzero": model.pruning.nonzero,
        "total": model.pruning.total,
        "macs_model": macs["model"],
        "macs_model_dense": macs["model_dense"],
        "macs_prunable": macs["prunable"],
        "macs_prunable_dense": macs["prunable_dense"],
        "bytes_pt": files.pt.stat().st_size,
        "bytes_dense_pt": files.dense_pt.stat().st_size,
        "bytes_onnx": None if files.onnx is None else files.onnx.stat().st_size,
        "bytes_dense_onnx": None if files.dense_onnx is None else files.dense_onnx.stat().st_size,
        "threads": threads,
    }


def _cell(row: dict[str, Any] | None) -> str:
    return "—" if row is None else f"{row['ms']:.3f} ({row['ms_p25']:.3f}–{row['ms_p75']:.3f}; {row['ms_min']:.3f})"


def _kb(n: int | None, dense: int | None) -> str:
    return "—" if n is None or not dense else f"{n / 1024:.0f} ({100 * n / dense:.1f} %)"


def format_markdown(rows: Sequence[dict[str, Any]], title: str | None = None) -> str:
    """Markdown table of :func:`bench` rows: one line per (rate, batch), engines as columns
    (median ms, quartiles; minimum), the fastest mrmp engine against ORT dense, and the bound."""
    head = (
        "| rate | N | kept / total | MACs M (dense) | .pt KB (% dense) | .onnx KB (% dense) | "
        + " | ".join(f"{e} ms" for e in ENGINES)
        + " | fastest mrmp (by minima) vs ORT dense: medians (minima) | bound × (minima) |"
    )
    lines = [f"### {title}", ""] if title else []
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    groups: dict[tuple[float, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["rate"], r["batch"]), {})[r["engine"]] = r
    for (rate, batch), by in groups.items():
        r = next(iter(by.values()))
        best = max((by[e] for e in MRMP_ENGINES if e in by), key=lambda x: x["vs_ort_dense_min"])
        bound = "—" if r["bound"] is None else f"{r['bound']:.2f} ({r['bound_min']:.2f})"
        lines.append(
            f"| {rate:.2f} | {batch} | {r['nonzero']} / {r['total']} | "
            f"{r['macs_model'] / 1e6:.2f} ({r['macs_model_dense'] / 1e6:.2f}) | "
            f"{_kb(r['bytes_pt'], r['bytes_dense_pt'])} | {_kb(r['bytes_onnx'], r['bytes_dense_onnx'])} | "
            + " | ".join(_cell(by.get(e)) for e in ENGINES)
            + f" | {best['vs_ort_dense']:.2f}× ({best['vs_ort_dense_min']:.2f}×, {best['engine']}) | {bound} |"
        )
    return "\n".join(lines)


@torch.inference_mode()
def op_profile(model: nn.Module, x: Tensor, repeats: int = 20, top: int = 12) -> list[dict[str, Any]]:
    """Where a forward pass spends its time: the ``top`` operators by self CPU time.

    Returns:
        Rows ``op``, ``ms`` (self CPU time per forward pass) and ``share`` of the total.
    """
    for _ in range(3):
        model(x)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            model(x)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [
        {"op": e.key, "ms": e.self_cpu_time_total / repeats / 1e3, "share": e.self_cpu_time_total / total}
        for e in events[:top]
    ]
