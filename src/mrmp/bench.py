"""Deployment benchmark: latency, MACs and file size of exported models across pruning rates.

For each rate the checkpoint is exported (:func:`mrmp.deploy.export_pt`) and loaded twice: the
dense-masked model (``sparse="never"``: plain dense weights holding the zeros) and the sparse
path (``sparse="auto"`` calibrated for the batch, or as asked). Both run on the same random
input, interleaved, and the median latency after warm-up is reported with their ratio. A
per-layer timing of the prunable linear layers splits the dense latency into the part sparsity
can shrink and the rest (attention, softmax, products with the adjacency, copies), which bounds
the whole-model speed-up: ``bound = dense / rest``.
"""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from mrmp.deploy import capture_inputs, example_input, export_pt, load_exported, prunable_linears
from mrmp.errors import ConfigError
from mrmp.numbers import parse_int
from mrmp.timing import median_times

if TYPE_CHECKING:
    from mrmp.engine.setup import Bundle

__all__ = ["bench", "count_macs", "format_markdown", "machine_info", "op_profile", "parse_batches"]


#: The largest batch ``mrmp bench`` times (its inputs are allocated at once).
MAX_BATCH = 65_536


def parse_batches(text: str) -> tuple[int, ...]:
    """Comma-separated batch sizes in [1, ``MAX_BATCH``].

    >>> parse_batches("1,64")
    (1, 64)
    """
    try:
        values = tuple(parse_int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ConfigError(f"--batch: batch sizes must be integers, got {text!r}") from None
    if not values or not all(1 <= v <= MAX_BATCH for v in values):
        raise ConfigError(f"--batch: batch sizes must be integers in [1, {MAX_BATCH}], got {text!r}")
    return values


def machine_info() -> dict[str, Any]:
    """CPU model (from /proc/cpuinfo), logical cores, torch version and intra-op threads."""
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
    }


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


@torch.no_grad()
def _layer_ms(
    dense: nn.Module, sparse: nn.Module, x: Tensor, layers: Sequence[str], repeats: int
) -> tuple[float, float]:
    """Summed median latency (ms) of the prunable layers in both models, on their real inputs."""
    inputs = capture_inputs(dense, x, layers)
    t_dense = t_sparse = 0.0
    for name in layers:
        a, b, h = dense.get_submodule(name), sparse.get_submodule(name), inputs[name]
        ta, tb = median_times([lambda a=a, h=h: a(h), lambda b=b, h=h: b(h)], repeats)
        t_dense, t_sparse = t_dense + ta * 1e3, t_sparse + tb * 1e3
    return t_dense, t_sparse


@torch.inference_mode()
def _bench_one(path: Path, batch: int, sparse: str, repeats: int, warmup: int) -> dict[str, Any]:
    """Timings of one exported file at one batch size."""
    dense, fast = load_exported(path, sparse="never"), load_exported(path, sparse=sparse, batch=batch)
    dense_model, sparse_model = dense.module, fast.module
    x = example_input(dense.config, dense.meta, batch, seed=1)
    diff = float((dense_model(x) - sparse_model(x)).abs().max())
    t_dense, t_sparse = median_times([lambda: dense_model(x), lambda: sparse_model(x)], repeats, warmup)
    layers = prunable_linears(dense_model, dense.prunable)
    p_dense, p_sparse = _layer_ms(dense_model, sparse_model, x, layers, max(repeats // 2, 5))
    dense_ms, sparse_ms = t_dense * 1e3, t_sparse * 1e3
    rest = max(dense_ms - p_dense, 1e-9)
    return {
        "batch": batch,
        "dense_ms": dense_ms,
        "sparse_ms": sparse_ms,
        "speedup": dense_ms / sparse_ms,
        "prunable_dense_ms": p_dense,
        "prunable_sparse_ms": p_sparse,
        "other_ms": rest,
        "bound": dense_ms / rest,
        "sparse_layers": fast.sparse_layers,
        "max_abs_diff": diff,
    }


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
) -> list[dict[str, Any]]:
    """Benchmark ``bundle`` exported at each rate, for each batch size.

    Args:
        bundle: From :func:`mrmp.engine.setup.load_bundle`.
        rates: Pruning rates.
        batches: Batch sizes N of the (N, V, F) inputs.
        threshold, scope: As in :func:`mrmp.deploy.export_pt`.
        repeats: Timed forward passes per model (medians reported).
        warmup: Untimed passes per model first.
        sparse: Sparse-path mode of :func:`mrmp.deploy.load_exported`.
        workdir: Where the exported files go (a temporary folder when None).

    Returns:
        One row per (rate, batch): latencies (ms), ``speedup``, weights kept, per-sample MACs,
        file sizes (bytes; ``bytes_dense``: every weight stored dense), layer split.
    """
    with tempfile.TemporaryDirectory(prefix="mrmp-bench-") as tmp:
        folder = Path(workdir) if workdir is not None else Path(tmp)
        reference = export_pt(bundle, rates[0], folder / "dense.pt", threshold, scope, storage="dense")
        rows = []
        for rate in rates:
            path = folder / f"rate{rate:g}.pt"
            summary = export_pt(bundle, rate, path, threshold, scope)
            dense = load_exported(path, sparse="never")
            macs = count_macs(dense.module, example_input(dense.config, dense.meta, 1), dense.prunable)
            common = {
                "file": path.name,
                "rate": float(rate),
                "observed_rate": summary["observed_rate"],
                "threshold": dense.pruning.threshold,
                "nonzero": summary["nonzero"],
                "total": summary["total"],
                "macs_model": macs["model"],
                "macs_model_dense": macs["model_dense"],
                "macs_prunable": macs["prunable"],
                "macs_prunable_dense": macs["prunable_dense"],
                "bytes": summary["bytes"],
                "bytes_dense": reference["bytes"],
                "size_ratio": summary["bytes"] / reference["bytes"],
            }
            rows.extend({**common, **_bench_one(path, batch, sparse, repeats, warmup)} for batch in batches)
        return rows


def format_markdown(rows: Sequence[dict[str, Any]], title: str | None = None) -> str:
    """Markdown table of :func:`bench` rows (MACs per sample, in millions)."""
    head = (
        "| rate | observed | N | dense ms | sparse ms | speed-up | kept / total | MACs model M "
        "(dense) | MACs pruned layers M (dense) | .pt KB (% of dense) | pruned layers ms "
        "dense → sparse | rest ms | bound × | CSR layers |"
    )
    lines = [f"### {title}", ""] if title else []
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['rate']:.2f} | {r['observed_rate']:.3f} | {r['batch']} | {r['dense_ms']:.3f} | "
            f"{r['sparse_ms']:.3f} | {r['speedup']:.2f}× | {r['nonzero']} / {r['total']} | "
            f"{r['macs_model'] / 1e6:.2f} ({r['macs_model_dense'] / 1e6:.2f}) | "
            f"{r['macs_prunable'] / 1e6:.3f} ({r['macs_prunable_dense'] / 1e6:.2f}) | "
            f"{r['bytes'] / 1024:.0f} ({100 * r['size_ratio']:.1f} %) | "
            f"{r['prunable_dense_ms']:.3f} → {r['prunable_sparse_ms']:.3f} | {r['other_ms']:.3f} | "
            f"{r['bound']:.2f} | {', '.join(r['sparse_layers']) or '—'} |"
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
