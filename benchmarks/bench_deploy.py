"""Deployment benchmark: file sizes, MACs and CPU latency of every engine against ONNX Runtime dense.

    python -m benchmarks.bench_deploy                         # train MRMP on SBU fold 0 and FPHA
    python -m benchmarks.bench_deploy --sbu A.pt --fpha B.pt  # reuse checkpoints
    python -m benchmarks.bench_deploy --quick                 # tiny settings: checks that it runs

For each dataset: ``mrmp bench`` rows (see :mod:`mrmp.bench`: torch dense / sparse / fused, ORT
dense / exported, median and quartiles of interleaved calls on pinned threads) at rates 0, 0.5,
0.9, 0.95, 0.98 and batches 1 and 64, the test accuracy of each exported file, where the time
goes (torch operators of the fused form, ONNX Runtime nodes of the dense model) at 0.95 and the
largest batch, the alternatives that lost, and the issue's targets checked. Writes the markdown
report to ``benchmarks/out/deploy.md`` (not committed).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import base_config, train_cached
from mrmp.bench import MRMP_ENGINES, bench, format_markdown, machine_info, op_profile, parse_batches
from mrmp.config import parse_rates
from mrmp.deploy import example_input, load_exported, ort_session
from mrmp.engine import accuracy, load_bundle, load_data
from mrmp.timing import interleaved_times

HERE = Path(__file__).resolve().parent
SPLIT = {"sbu": "fold0", "fpha": "default"}


def checkpoint_for(dataset: str, args: argparse.Namespace) -> str:
    """The given checkpoint of ``dataset``, or an MRMP model trained (once, cached) for it."""
    given = getattr(args, dataset)
    if given:
        return given
    cfg = base_config(dataset, SPLIT[dataset], args.data).replace(
        prune={"method": "mrmp", "warmup_epochs": args.epochs}, train={"epochs": args.epochs}
    )
    if args.quick:
        cfg = cfg.replace(model={"hidden": 64, "heads": 2})
    return train_cached(cfg, Path(args.out) / f"{dataset}-mrmp-e{args.epochs}")["checkpoint"]


def accuracies(checkpoint: str, folder: Path, rates: list[float]) -> dict[float, float]:
    """Test accuracy of each exported ``.pt`` file (fused form)."""
    bundle, _ = load_bundle(checkpoint)
    data = load_data(bundle.cfg, scale=bundle.meta.scale)
    return {
        r: accuracy(
            load_exported(folder / f"rate{r:g}.pt", fused=True, sparse="never").module, data.test, data.test_labels
        )
        for r in rates
    }


def ort_profile(path: Path, x: torch.Tensor, repeats: int, top: int = 10) -> list[tuple[str, float]]:
    """The ``top`` ONNX Runtime nodes by kernel time (ms per run; one thread, profiling on)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_profiling = True
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(repeats):
        session.run(None, {"x": x.numpy()})
    trace = Path(session.end_profiling())
    acc: collections.Counter[str] = collections.Counter()
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            acc[f"{event['args']['op_name']} ({event['name'][: -len('_kernel_time')]})"] += event["dur"]
    trace.unlink()
    return [(name, us / repeats / 1e3) for name, us in acc.most_common(top)]


def lost_alternatives(folder: Path, rate: float, batch: int, repeats: int) -> list[str]:
    """Alternatives measured against what was kept, in one interleaved run each."""
    path = folder / f"rate{rate:g}.pt"
    fused = load_exported(path, batch=batch, fused=True)
    plain = load_exported(path, sparse="never").module
    compiled = torch.compile(plain)  # inductor; the fused form's out= writes do not compile
    x = example_input(fused.config, fused.meta, batch, seed=1)
    with torch.inference_mode():
        compiled(x)
        calls = [lambda: plain(x), lambda: compiled(x), lambda: fused.module(x)]
        t = [statistics.median(v) * 1e3 for v in interleaved_times(calls, repeats)]
    return [
        f"- torch.compile (inductor) of the plain model: {t[0]:.3f} → {t[1]:.3f} ms (fused form: {t[2]:.3f} ms)",
        _ort_sparse_matmul(fused.module.fc_weight.numpy(), batch, repeats),
    ]


def _ort_sparse_matmul(weight: np.ndarray, batch: int, repeats: int) -> str:
    """ONNX Runtime's contrib SparseToDenseMatMul (CSR fed at run time) against its dense MatMul on
    the pruned ``fc`` weight; a sparse initializer cannot feed it (ORT densifies those at load)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    out, inp = weight.shape
    xt = helper.make_tensor_value_info("xt", TensorProto.FLOAT, [inp, None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [out, None])
    a = helper.make_sparse_tensor_value_info("A", TensorProto.FLOAT, [out, inp])
    node = helper.make_node("SparseToDenseMatMul", ["A", "xt"], ["y"], domain="com.microsoft")
    ops = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    sparse = ort_session(
        helper.make_model(helper.make_graph([node], "s", [a, xt], [y]), opset_imports=ops).SerializeToString()
    )
    dense_graph = helper.make_graph(
        [helper.make_node("MatMul", ["W", "xt"], ["y"])], "d", [xt], [y], [numpy_helper.from_array(weight, "W")]
    )
    dense = ort_session(helper.make_model(dense_graph, opset_imports=ops[:1]).SerializeToString())
    csr = torch.from_numpy(weight).to_sparse_csr()
    tensor = ort.SparseTensor.sparse_csr_from_numpy(
        [out, inp],
        csr.values().numpy(),
        csr.col_indices().numpy().astype(np.int64),
        csr.crow_indices().numpy().astype(np.int64),
        ort.OrtDevice.make("cpu", 0),
    )
    x = np.random.default_rng(0).standard_normal((inp, batch)).astype(np.float32)
    feeds = {"A": ort.OrtValue.ort_value_from_sparse_tensor(tensor), "xt": ort.OrtValue.ortvalue_from_numpy(x)}
    t = interleaved_times(
        [lambda: sparse.run_with_ort_values(["y"], feeds), lambda: dense.run(None, {"xt": x})], repeats
    )
    s, d = (statistics.median(v) * 1e3 for v in t)
    return f"- ORT SparseToDenseMatMul on fc ({out}×{inp}, batch {batch}): {s:.3f} ms vs ORT dense MatMul {d:.3f} ms"


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, checked on the rows that exist: the fastest mrmp engine against ORT
    dense by the ratio of minima (the steady estimate under load), medians beside it."""
    best: dict[tuple[float, int], dict[str, Any]] = {}
    for r in rows:
        key = (r["rate"], r["batch"])
        if r["engine"] in MRMP_ENGINES and (key not in best or r["vs_ort_dense_min"] > best[key]["vs_ort_dense_min"]):
            best[key] = r
    lines = []
    for (rate, batch), goal in (((0.95, 64), 2.0), ((0.95, 1), 1.0)):
        if (rate, batch) in best:
            r = best[(rate, batch)]
            ok = "✓" if r["vs_ort_dense_min"] >= goal else "✗"
            lines.append(
                f"- {ok} {rate:g}, batch {batch}: fastest mrmp path ({r['engine']}) {r['vs_ort_dense_min']:.2f}× "
                f"ORT dense by minima, {r['vs_ort_dense']:.2f}× by medians (target ≥ {goal:g}×; bound from "
                f"the part the rate does not shrink {r['bound_min']:.2f}× by minima)"
            )
    r = best.get((0.95, 64)) or best.get((0.95, 1))
    if r is not None:
        for kind in ("pt", "onnx"):
            if r[f"bytes_{kind}"] is not None:
                ratio = r[f"bytes_{kind}"] / r[f"bytes_dense_{kind}"]
                lines.append(
                    f"- {'✓' if ratio <= 0.12 else '✗'} .{kind} at 0.95: {100 * ratio:.1f} % of dense (≤ 12 %)"
                )
    return lines


def section(dataset: str, checkpoint: str, args: argparse.Namespace) -> str:
    bundle, _ = load_bundle(checkpoint)
    folder = Path(args.out) / f"{dataset}-export"
    rates, batches = list(parse_rates(args.rates)), parse_batches(args.batch)
    rows = bench(bundle, rates, batches, repeats=args.repeats, workdir=folder, threads=args.threads)
    acc = accuracies(checkpoint, folder, rates)
    rate, batch = (0.95 if 0.95 in rates else max(rates)), max(batches)
    fused = load_exported(folder / f"rate{rate:g}.pt", batch=batch, fused=True).module
    x = example_input(bundle.cfg, bundle.meta, batch, seed=1)
    lines = [
        format_markdown(rows, f"{dataset} ({SPLIT[dataset]}), {checkpoint}"),
        "",
        "Test accuracy of the exported file: " + ", ".join(f"{r:g}: {a:.4f}" for r, a in sorted(acc.items())),
        "",
        f"Where the time goes at rate {rate:g}, batch {batch} — torch fused (self CPU per forward):",
        "",
        "| op | ms | share |",
        "|---|---|---|",
        *(
            f"| {p['op']} | {p['ms']:.3f} | {100 * p['share']:.1f} % |"
            for p in op_profile(fused, x, args.repeats // 4 + 3)
        ),
        "",
        "ONNX Runtime on the dense model (kernel time per run, profiling on):",
        "",
        "| node | ms |",
        "|---|---|",
        *(f"| {n} | {ms:.3f} |" for n, ms in ort_profile(folder / "dense.onnx", x, args.repeats // 4 + 3)),
        "",
        "Alternatives that lost:",
        *lost_alternatives(folder, rate, batch, args.repeats // 2 + 3),
        "",
        "Targets:",
        *targets(rows),
    ]
    (folder / "rows.json").write_text(json.dumps(rows))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="folder holding sbu/ and fpha/ (default $MRMP_DATA or ../shared/data)")
    p.add_argument("--sbu", help="reuse this SBU fold-0 checkpoint")
    p.add_argument("--fpha", help="reuse this FPHA checkpoint")
    p.add_argument("--datasets", default="sbu,fpha")
    p.add_argument("--epochs", type=int, default=2, help="dense warm-up and MRMP epochs when training (speed only)")
    p.add_argument("--rates", default="0,0.5,0.9,0.95,0.98")
    p.add_argument("--batch", default="1,64")
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--threads", type=int, default=1, help="threads of every engine (torch, ORT intra-op)")
    p.add_argument("--out", default="runs/bench_deploy", help="training runs and exported files")
    p.add_argument("--md", default=str(HERE / "out" / "deploy.md"))
    p.add_argument("--quick", action="store_true", help="2 epochs, small model, 5 repeats: a smoke test")
    args = p.parse_args()
    if args.quick:
        args.epochs, args.repeats, args.batch, args.rates = 2, 5, "1,8", "0,0.95"
    torch.set_num_threads(args.threads)
    ckpts = {ds: checkpoint_for(ds, args) for ds in args.datasets.split(",")}
    info = machine_info()
    head = (
        f"# Deployment benchmark\n\nMachine: {info['cpu']}, {info['cores']} logical cores, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at the start, torch {info['torch']}, onnxruntime "
        f"{info['onnxruntime']}; {args.threads} thread(s) per engine. Latency: median (quartiles) of "
        f"{args.repeats} interleaved calls after warm-up; MACs per sequence.\n"
    )
    text = "\n\n".join([head, *(section(ds, ck, args) for ds, ck in ckpts.items())]) + "\n"
    md = Path(args.md)
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(text)
    print(text)
    print(f"wrote {md}")


if __name__ == "__main__":
    main()
