"""Command-line interface: ``mrmp data|train|eval|sweep|demo|export|bench``.

Errors of the project (:class:`~mrmp.errors.MrmpError`), usage errors and file-system errors
(:class:`OSError`) are printed on one line to stderr and exit with code 2; a config field they
name is followed by its ``train`` flag, e.g. ``prune.source (--from)``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from mrmp.cli_config import RATE, THREADS, TRAIN_FLAGS, OneLineParser, bounded
from mrmp.config import RunConfig
from mrmp.config_fields import load_toml, toml_values
from mrmp.config_types import Range
from mrmp.errors import ConfigError, MrmpError
from mrmp.methods import get_method
from mrmp.pruning import Scope, check_rate, parse_rates, threshold_names

__all__ = ["main", "build_parser"]

Handler = Callable[[argparse.Namespace], int]


def _add_data_args(p: argparse.ArgumentParser, with_dataset: bool = True) -> None:
    names = ("--dataset", "--data", "--skip-bad", "--cache", "--workers") if with_dataset else ("--data", "--skip-bad")
    defaults = {"--dataset": "synthetic", "--data": None, "--skip-bad": False, "--cache": "auto", "--workers": 4}
    TRAIN_FLAGS.select(*names).add_to(p, defaults=defaults)


def _config_from_args(args: argparse.Namespace) -> RunConfig:
    """Defaults < the dataset's recipe < its settings for the method < the method's epochs <
    ``--config`` file < explicit flags (``--set`` included); see :func:`~mrmp.engine.recipe.recipe_config`."""
    from mrmp.engine.recipe import recipe_config

    changes = TRAIN_FLAGS.changes(args)
    data = changes.get("data", {})
    if "root" in data and "dataset" not in data and not args.config:
        raise ConfigError("--data given without --dataset")
    cfg = (load_toml(args.config) if args.config else RunConfig()).replace(**changes)
    if "split" not in data and cfg.data.dataset == "sbu" and cfg.data.split == "default":
        cfg = cfg.replace(data={"split": "fold0"})
    return recipe_config(cfg, [changes, toml_values(args.config) if args.config else {}])


def _check_resume(args: argparse.Namespace) -> None:
    """``--resume`` continues with the stored config: a flag that would change it is an error."""
    changed = (["--config"] if args.config else []) + TRAIN_FLAGS.given(args)
    changed += ["--overwrite"] if args.overwrite else []
    if changed:
        raise ConfigError(
            f"--resume continues the run with its stored config; drop {', '.join(changed)} (or train into a new --out)"
        )


def _own(out: Path, args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """Hold the run directory (rank 0 of ``torchrun``; the other ranks write nothing)."""
    from mrmp.engine.rundir import claim

    if int(os.environ.get("RANK", "0")) != 0:
        return contextlib.nullcontext()
    return claim(out, resume=args.resume, overwrite=args.overwrite)


def _eval_data(bundle: Any, args: argparse.Namespace) -> Any:
    """Test data of a checkpoint's split (``--data`` and ``--skip-bad`` override its stored ones)."""
    from mrmp.engine import load_data

    cfg = bundle.cfg.replace(data={"skip_bad": True}) if args.skip_bad else bundle.cfg
    data = load_data(cfg, args.data, scale=bundle.meta.scale)
    mine, theirs = data.meta, bundle.meta
    for what, found, wanted in (
        ("joints", mine.num_joints, theirs.num_joints),
        ("input features", mine.in_features, theirs.in_features),
    ):
        if found != wanted:
            raise ConfigError(f"--data {args.data}: {found} {what}, the checkpoint's model takes {wanted}")
    if mine.num_classes > theirs.num_classes:
        raise ConfigError(
            f"--data {args.data}: {mine.num_classes} classes, the checkpoint's model has {theirs.num_classes}"
        )
    return data


def cmd_data(args: argparse.Namespace) -> int:
    from mrmp.data import load_dataset

    ds = load_dataset(args.dataset, args.data, skip_bad=args.skip_bad, cache=args.cache, workers=args.workers)
    summary = ds.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['dataset']}: {summary['sequences']} sequences, {summary['classes']} classes, "
            f"{summary['joints']} joints, {summary['frames_min']}..{summary['frames_max']} frames"
        )
        for name, s in summary["splits"].items():
            print(f"  {name}: train {s['train']}, test {s['test']}")
    for name, s in summary["splits"].items():
        for side in ("train", "test"):
            if s[side] == 0:  # `mrmp train` refuses such a split: say so before anyone tries
                print(f"warning: split {name!r} has no {side} sequences: training on it is refused", file=sys.stderr)
    for item in ds.skipped:
        print(f"skipped {item}", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from mrmp.engine.recipe import fit_recipe

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume:
        _check_resume(args)
    cfg = RunConfig() if args.resume else _config_from_args(args)
    with _own(Path(args.out), args):
        result = fit_recipe(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    if result.metrics:
        print(json.dumps({k: v for k, v in result.metrics.items() if "accuracy" in k or "rate" in k}))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from mrmp.engine import load_bundle, rate_report
    from mrmp.engine.distributed import resolve_device

    bundle, _ = load_bundle(args.checkpoint, device=str(resolve_device(args.device)))
    rate = None if args.rate is None else check_rate(args.rate)
    data = _eval_data(bundle, args)
    report = rate_report(bundle, data, rate, args.threshold, args.scope)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"accuracy {report['accuracy']:.4f} on {report['n']} ({report['method']}), "
            f"rate {report['rate']:.4f} → observed {report['observed_rate']:.4f} "
            f"({report['nonzero']}/{report['total']} weights kept)"
        )
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from mrmp.engine import load_bundle
    from mrmp.engine.distributed import resolve_device
    from mrmp.engine.rundir import claim
    from mrmp.sweep import label_of, sweep, write_sweep

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give the folder for sweep.csv and sweep.png")
    rates = parse_rates(args.rates)
    device = str(resolve_device(args.device))
    bundle, _ = load_bundle(args.checkpoint, device=device)
    others = [load_bundle(path, device=device)[0] for path in args.compare]
    data = _eval_data(bundle, args)
    for path, other in zip(args.compare, others, strict=True):
        if other.cfg.data.dataset != bundle.cfg.data.dataset or other.cfg.data.split != bundle.cfg.data.split:
            raise ConfigError(f"{path}: trained on another dataset or split than {args.checkpoint}")
    entries = [(label_of(b), b) for b in [bundle, *others]]
    with claim(out, resume=True):  # one writer per folder: no other sweep or training writes there meanwhile
        rows = sweep(entries, data, rates, args.threshold, progress=not args.no_progress)
        dense = [b for b in others if get_method(b.cfg.prune.method).plain]
        dense_acc = None
        if dense:
            from mrmp.engine import accuracy

            dense_acc = accuracy(dense[0].model, data.test, data.test_labels)
        write_sweep(rows, out, dense_acc, title=f"{bundle.cfg.data.dataset} {bundle.cfg.data.split}")
    from mrmp.demo import format_table

    print(format_table(rows, dense_acc))
    print(f"wrote {out / 'sweep.csv'} and {out / 'sweep.png'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mrmp.demo import format_table, run_demo
    from mrmp.engine.rundir import claim

    with claim(Path(args.out), overwrite=True):  # one demo per folder at a time; it replaces the last one
        rows, dense_acc = run_demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress)
    print(format_table(rows, dense_acc))
    print(f"wrote {Path(args.out) / 'sweep.csv'} and {Path(args.out) / 'sweep.png'}")
    return 0


def _add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train dense, MP, SRMP or MRMP (SRMP/MRMP without --from: dense warm-up phase first)",
        epilog=TRAIN_FLAGS.settable(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-c", "--config", help="TOML file with [data], [features], [model], [prune], [train] (flags and --set win)"
    )
    TRAIN_FLAGS.add_to(p, with_set=True)
    p.add_argument("--threads", type=THREADS, help="torch CPU threads")
    p.add_argument("-o", "--out", required=True, help="run directory")
    p.add_argument(
        "--resume", action="store_true", help="continue OUT/checkpoint.pt with its stored config (no config flags)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace the run already in OUT (default: refuse)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)


THRESHOLD_HELP = (
    "band-stop threshold rule (default: anchored, observed rate = requested, global ranking at the "
    "trained rates and, at any other, the nearest trained rate below with every layer's rate up by the "
    "same step; exact: global ranking at every rate; prior: the paper's mode)"
)


def _add_eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint at any rate")
    p.add_argument("checkpoint")
    p.add_argument("--rate", type=RATE, help="pruning rate (default: the trained one)")
    p.add_argument(
        "--threshold",
        choices=threshold_names(),
        help=THRESHOLD_HELP,
    )
    p.add_argument(
        "--scope",
        choices=Scope.names(),
        help="ranking scope of exact / anchored thresholds and of magnitude pruning of dense/MP "
        "checkpoints (default: the run's latent scale / MP scope)",
    )
    _add_data_args(p, with_dataset=False)
    p.add_argument("--json", action="store_true")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.set_defaults(func=cmd_eval)


def _add_sweep(sub: Any) -> None:
    p = sub.add_parser("sweep", help="accuracy vs rate of one or more checkpoints (CSV + PNG)")
    p.add_argument("checkpoint")
    p.add_argument("--rates", default="0.5:0.99:0.01", help="e.g. 0.5:0.99:0.01 or 0.5,0.9,0.98")
    p.add_argument("--compare", nargs="*", default=[], help="more checkpoints drawn as extra curves")
    p.add_argument(
        "--threshold",
        choices=threshold_names(),
        help=THRESHOLD_HELP,
    )
    p.add_argument("--out", required=True, help="folder for sweep.csv and sweep.png")
    _add_data_args(p, with_dataset=False)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.set_defaults(func=cmd_sweep)


def _add_data(sub: Any) -> None:
    p = sub.add_parser("data", help="validate a dataset and print its summary")
    _add_data_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_data)


def _add_demo(sub: Any) -> None:
    p = sub.add_parser("demo", help="dense + MRMP on the built-in synthetic set, then a sweep")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--epochs", type=bounded(int, Range(1, 1_000_000)), default=60)
    p.add_argument("--seed", type=bounded(int, Range(0, 2**31 - 1)), default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    """The ``mrmp`` parser; ``train``'s config flags come from :data:`~mrmp.cli_config.TRAIN_FLAGS`."""
    from mrmp import __version__
    from mrmp.cli_deploy import register as register_deploy

    parser = OneLineParser(prog="mrmp", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mrmp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_data, _add_train, _add_eval, _add_sweep, _add_demo):
        add(sub)
    register_deploy(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mrmp`` console script; returns the exit code (2 for a usage error too)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already printed on one line
        return stop.code if isinstance(stop.code, int) else 2
    try:
        return args.func(args)
    except MrmpError as exc:
        print(f"mrmp: error: {TRAIN_FLAGS.with_flags(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused a read or write (permissions, full disk, a folder)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"mrmp: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mrmp: interrupted (resume a training run with --resume)", file=sys.stderr)
        return 130
