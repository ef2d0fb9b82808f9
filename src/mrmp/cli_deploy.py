"""Deployment subcommands ``mrmp export`` and ``mrmp bench`` (registered by :func:`register`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mrmp.bench import MAX_BATCH
from mrmp.cli_config import RATE, THREADS, bounded
from mrmp.config import parse_rates
from mrmp.config_types import Range
from mrmp.deploy.sparse import SPARSE_MODES
from mrmp.errors import ConfigError
from mrmp.pruning import Scope, threshold_names

__all__ = ["cmd_bench", "cmd_export", "register"]


def _add_rate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threshold",
        choices=threshold_names(),
        help="band-stop threshold rule of MRMP / SRMP (default: anchored; prior: the paper's mode)",
    )
    p.add_argument(
        "--scope",
        choices=Scope.names(),
        help="ranking scope of exact / anchored thresholds and of magnitude pruning of dense/MP "
        "checkpoints (default: the run's latent scale / MP scope)",
    )


def _format_of(args: argparse.Namespace) -> str:
    if args.format:
        return args.format
    return "onnx" if Path(args.out).suffix.lower() == ".onnx" else "pt"


def _budget_text(summary: dict[str, Any], args: argparse.Namespace) -> str:
    """What a budget export chose and why: the budget and the probe just below the chosen rate."""
    budget = " and ".join(
        b
        for b in (
            None if args.max_kb is None else f"{args.max_kb:g} KB",
            None if args.max_ms is None else f"{args.max_ms:g} ms at batch {args.batch}",
        )
        if b
    )
    below = [p for p in summary["probes"] if p["rate"] < summary["rate"]]
    near = max(below, key=lambda p: p["rate"], default=None)
    miss = "" if near is None else f"; {near['rate']:g} did not ({near['kb']:.1f} KB)"
    return f"lowest rate fitting {budget}: {summary['rate']:g}{miss}"


def _accuracy(bundle: Any, rate: float, args: argparse.Namespace) -> float:
    """Test accuracy of the checkpoint at ``rate`` (what ``mrmp eval`` reports) on ``--data`` or
    the dataset stored in the checkpoint."""
    from mrmp.engine import load_data, rate_report

    data = load_data(bundle.cfg, args.data, scale=bundle.meta.scale)
    return float(rate_report(bundle, data, rate, args.threshold, args.scope)["accuracy"])


def cmd_export(args: argparse.Namespace) -> int:
    """Export a checkpoint at one rate (or the lowest rate within a budget) as ``.pt`` or ONNX."""
    from mrmp.deploy import EXPORTERS, export_within, open_checkpoint

    budget = args.max_kb is not None or args.max_ms is not None
    if budget and args.rate is not None:
        raise ConfigError("give either --rate or a budget (--max-kb / --max-ms), not both")
    if Path(args.out).is_dir() or args.out.endswith("/"):
        raise ConfigError(f"--out {args.out} is a folder; give the file to write, e.g. {Path(args.out) / 'model.pt'}")
    bundle = open_checkpoint(args.checkpoint)
    fmt = _format_of(args)
    if budget:
        summary = export_within(bundle, args.out, fmt, args.max_kb, args.max_ms, args.batch, args.threshold, args.scope)
    else:
        summary = EXPORTERS[fmt](bundle, args.rate, args.out, args.threshold, args.scope)
    if fmt == "onnx":
        diff = summary["max_abs_diff"]
        text = f"parity with PyTorch {diff:.2g}" if diff is not None else "not verified (no onnxruntime)"
    else:
        text = (
            f"{summary['nonzero']}/{summary['total']} prunable weights kept "
            f"(observed rate {summary['observed_rate']:.4f})"
        )
    rate = summary["rate"]
    summary = {"format": fmt, "rate": rate, **summary}
    if args.accuracy or args.data is not None:
        summary["accuracy"] = _accuracy(bundle, rate, args)
        text += f", test accuracy {summary['accuracy']:.4f}"
    if args.json:
        print(json.dumps(summary))
        return 0
    if budget:
        print(_budget_text(summary, args))
    print(f"wrote {args.out} ({summary['bytes'] / 1024:.1f} KB) at rate {rate:g}: {text}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Latency / MACs / size of a checkpoint exported at several rates."""
    from mrmp.bench import bench, format_markdown, machine_info, parse_batches
    from mrmp.deploy import open_checkpoint

    bundle = open_checkpoint(args.checkpoint)
    rows = bench(
        bundle,
        parse_rates(args.rates),
        parse_batches(args.batch),
        args.threshold,
        args.scope,
        repeats=args.repeats,
        sparse=args.sparse,
        threads=args.threads,
    )
    machine = {**machine_info(), "threads": args.threads}
    if args.json:
        print(
            json.dumps(
                {
                    "checkpoint": str(args.checkpoint),
                    "method": bundle.cfg.prune.method,
                    "machine": machine,
                    "rows": rows,
                }
            )
        )
    else:
        print(
            f"{args.checkpoint} ({bundle.cfg.prune.method}, {bundle.cfg.data.dataset}) on "
            f"{machine['cpu']}, torch {machine['torch']}, onnxruntime {machine['onnxruntime']}, "
            f"{machine['threads']} thread(s) per engine (torch intra-op; ORT intra-op, 1 inter-op); "
            "median ms (quartiles; minimum) of interleaved calls"
            + ("" if machine["load"] is None else f"; load average {machine['load'][0]:.1f} at the end")
        )
        print(format_markdown(rows))
    return 0


def register(sub: Any) -> None:
    """Add ``export`` and ``bench`` to the ``mrmp`` subparsers ``sub``."""

    p = sub.add_parser("export", help="export a checkpoint at any rate (.pt with CSR weights, or ONNX)")
    p.add_argument("checkpoint")
    p.add_argument("--rate", type=RATE, help="pruning rate (default: the trained one)")
    _add_rate_args(p)
    p.add_argument("--format", choices=["pt", "onnx"], help="default: from --out (.onnx → onnx, else pt)")
    p.add_argument("--out", required=True, help="output file")
    positive = bounded(float, Range(0, lo_open=True))
    p.add_argument(
        "--max-kb", type=positive, help="budget: the lowest rate (0.01 grid) whose file is at most this size"
    )
    p.add_argument(
        "--max-ms",
        type=positive,
        help="budget: the lowest rate whose median latency at --batch is at most this "
        "(.pt: fused torch form; ONNX: onnxruntime; one thread)",
    )
    p.add_argument(
        "--batch", type=bounded(int, Range(1, MAX_BATCH)), default=1, help="batch size of --max-ms (default 1)"
    )
    p.add_argument("--data", help="dataset folder: also report the test accuracy at the exported rate")
    p.add_argument(
        "--accuracy", action="store_true", help="report the test accuracy at the exported rate (checkpoint's dataset)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "bench", help="latency, MACs and file sizes per rate: torch dense / sparse / fused, ORT dense / exported"
    )
    p.add_argument("checkpoint")
    p.add_argument("--rates", default="0,0.5,0.9,0.95,0.98", help="e.g. 0,0.5,0.9,0.95,0.98")
    p.add_argument("--batch", default="1,64", help="batch sizes, e.g. 1,64")
    _add_rate_args(p)
    p.add_argument("--repeats", type=bounded(int, Range(1, 100_000)), default=30, help="timed forward passes per model")
    p.add_argument(
        "--sparse", choices=SPARSE_MODES, default="auto", help="sparse path: per-layer timing (auto) or forced"
    )
    p.add_argument(
        "--threads", type=THREADS, default=1, help="threads of each engine (torch and ORT intra-op; ORT inter-op: 1)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_bench)
