"""Deployment benchmark: file size, MACs and CPU latency of dense vs sparse execution per rate.

    python -m benchmarks.bench_deploy                         # train MRMP on SBU fold 0 and FPHA
    python -m benchmarks.bench_deploy --sbu A.pt --fpha B.pt  # reuse checkpoints
    python -m benchmarks.bench_deploy --quick                 # tiny settings: checks that it runs

For each dataset: ``mrmp bench`` rows (see :mod:`mrmp.bench`) at rates 0, 0.5, 0.9, 0.95, 0.98
and batches 1 and 64, the test accuracy of the exported file at each rate, an operator profile
of the sparse model at the highest rate and largest batch, and the issue's targets checked.
Writes the markdown report to ``benchmarks/out/deploy.md`` (not committed).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import base_config, train_cached
from mrmp.bench import bench, format_markdown, machine_info, op_profile, parse_batches
from mrmp.config import parse_rates
from mrmp.deploy import example_input, load_exported
from mrmp.engine import accuracy, load_bundle, load_data

HERE = Path(__file__).resolve().parent
SPLIT = {"sbu": "fold0", "fpha": "default"}


def checkpoint_for(dataset: str, args: argparse.Namespace) -> str:
    """The given checkpoint of ``dataset``, or an MRMP model trained (once, cached) for it."""
    given = getattr(args, dataset)
    if given:
        return given
    cfg = base_config(dataset, SPLIT[dataset], args.data).replace(
        prune={"method": "mrmp"}, train={"epochs": args.epochs}
    )
    if args.quick:
        cfg = cfg.replace(model={"hidden": 64, "heads": 2})
    return train_cached(cfg, Path(args.out) / f"{dataset}-mrmp-e{args.epochs}")["checkpoint"]


def accuracies(checkpoint: str, folder: Path, rows: list[dict[str, Any]]) -> dict[float, float]:
    """Test accuracy of each exported file (dense-masked execution)."""
    bundle, _ = load_bundle(checkpoint)
    data = load_data(bundle.cfg, scale=bundle.meta.scale)
    files = {r["rate"]: folder / r["file"] for r in rows}
    return {
        rate: accuracy(load_exported(f, sparse="never").module, data.test, data.test_labels)
        for rate, f in files.items()
    }


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, checked on the rows that exist."""
    at = {(r["rate"], r["batch"]): r for r in rows}
    checks = [
        ((0.95, 64), "size at 0.95 ≤ 12 % of dense", lambda r: r["size_ratio"] <= 0.12, "size_ratio"),
        ((0.95, 64), "0.95, batch 64: ≥ 2× faster", lambda r: r["speedup"] >= 2, "speedup"),
        ((0.95, 1), "0.95, batch 1: not slower", lambda r: r["speedup"] >= 1, "speedup"),
        ((0.98, 64), "0.98, batch 64: ≥ 4× faster", lambda r: r["speedup"] >= 4, "speedup"),
    ]
    lines = []
    for key, text, ok, field in checks:
        if key in at:
            r = at[key]
            lines.append(
                f"- {'✓' if ok(r) else '✗'} {text}: {r[field]:.3g} "
                f"(bound from the non-prunable rest: {r['bound']:.2f}×)"
            )
    return lines


def section(dataset: str, checkpoint: str, args: argparse.Namespace) -> str:
    bundle, _ = load_bundle(checkpoint)
    folder = Path(args.out) / f"{dataset}-export"
    rows = bench(bundle, parse_rates(args.rates), parse_batches(args.batch), repeats=args.repeats, workdir=folder)
    acc = accuracies(checkpoint, folder, rows)
    top = max(r["rate"] for r in rows)
    batch = max(r["batch"] for r in rows)
    sparse = load_exported(folder / next(r["file"] for r in rows if r["rate"] == top), batch=batch).module
    profile = op_profile(sparse, example_input(bundle.cfg, bundle.meta, batch), repeats=max(args.repeats // 2, 3))
    lines = [
        format_markdown(rows, f"{dataset} ({SPLIT[dataset]}), {checkpoint}"),
        "",
        "Test accuracy of the exported file: " + ", ".join(f"{rate:g}: {a:.4f}" for rate, a in sorted(acc.items())),
        "",
        f"Where the time goes: sparse model at rate {top:g}, batch {batch} (self CPU per forward):",
        "",
        "| op | ms | share |",
        "|---|---|---|",
    ]
    lines += [f"| {p['op']} | {p['ms']:.3f} | {100 * p['share']:.1f} % |" for p in profile]
    return "\n".join([*lines, "", "Targets:", *targets(rows)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="folder holding sbu/ and fpha/ (default $MRMP_DATA or ../shared/data)")
    p.add_argument("--sbu", help="reuse this SBU fold-0 checkpoint")
    p.add_argument("--fpha", help="reuse this FPHA checkpoint")
    p.add_argument("--datasets", default="sbu,fpha")
    p.add_argument("--epochs", type=int, default=100, help="MRMP training epochs when training")
    p.add_argument("--rates", default="0,0.5,0.9,0.95,0.98")
    p.add_argument("--batch", default="1,64")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--threads", type=int, help="torch threads for the timings (default: torch's)")
    p.add_argument("--out", default="runs/bench_deploy", help="training runs and exported files")
    p.add_argument("--md", default=str(HERE / "out" / "deploy.md"))
    p.add_argument("--quick", action="store_true", help="2 epochs, small model, 3 repeats: a smoke test")
    args = p.parse_args()
    if args.quick:
        args.epochs, args.repeats, args.batch = 2, 3, "1,8"
    threads = args.threads or torch.get_num_threads()
    ckpts = {ds: checkpoint_for(ds, args) for ds in args.datasets.split(",")}  # trains single-threaded
    torch.set_num_threads(threads)
    info = machine_info()
    head = (
        f"# Deployment benchmark\n\nMachine: {info['cpu']}, {info['cores']} logical cores, "
        f"torch {info['torch']} (MKL {info['mkl']}), {info['threads']} torch threads. Latency: median "
        f"of {args.repeats} interleaved forward passes after warm-up; MACs per sequence.\n"
    )
    text = "\n\n".join([head, *(section(ds, ck, args) for ds, ck in ckpts.items())]) + "\n"
    md = Path(args.md)
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(text)
    print(text)
    print(f"wrote {md}")


if __name__ == "__main__":
    main()
