"""Command-line interface: ``mrmp data|train|eval|sweep|demo|export|bench``.

Errors of the project (:class:`~mrmp.errors.MrmpError`) are printed on one line to stderr
and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from mrmp.config import RunConfig
from mrmp.errors import ConfigError, MrmpError
from mrmp.methods import get_method, method_names
from mrmp.pruning import Scope, check_rate, parse_rates, threshold_names

__all__ = ["main", "build_parser"]

Handler = Callable[[argparse.Namespace], int]


def _add_data_args(p: argparse.ArgumentParser, with_dataset: bool = True) -> None:
    if with_dataset:
        p.add_argument("--dataset", choices=["sbu", "fpha", "npz", "synthetic"], help="dataset name")
    p.add_argument("--data", help="dataset folder (sbu, fpha) or .npz file; default $MRMP_DATA/<name>")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed sequence files (listed)")


def _config_from_args(args: argparse.Namespace) -> RunConfig:
    """Defaults < ``--config`` file < explicit flags."""
    base: dict[str, Any] = {}
    if args.config:
        try:
            base = tomllib.loads(Path(args.config).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{args.config}: cannot read config ({exc})") from None
    cfg = RunConfig.from_dict(base)
    split = args.split or (f"fold{args.fold}" if args.fold is not None else None)
    changes: dict[str, dict[str, Any]] = {
        "data": {"dataset": args.dataset, "root": args.data, "split": split,
                 "skip_bad": args.skip_bad or None},
        "model": {"name": args.model, "dropout": args.dropout},
        "prune": {"method": args.method, "prior": args.prior, "kl_weight": args.kl_weight,
                  "rate": args.rate, "rates": parse_rates(args.rates) if args.rates else None,
                  "rates_per_step": args.rates_per_step, "grouping": args.grouping,
                  "scope": args.scope, "source": args.source, "distill": args.distill or None,
                  "scale": args.scale, "threshold": args.threshold},
        "train": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                  "seed": args.seed, "device": args.device},
    }
    if args.data and args.dataset is None and not args.config:
        raise ConfigError("--data given without --dataset")
    if split is None and (args.dataset or cfg.data.dataset) == "sbu" and cfg.data.split == "default":
        changes["data"]["split"] = "fold0"
    cleaned = {k: {f: v for f, v in d.items() if v is not None} for k, d in changes.items()}
    return cfg.replace(**{k: v for k, v in cleaned.items() if v})


def cmd_data(args: argparse.Namespace) -> int:
    from mrmp.data import load_dataset

    ds = load_dataset(args.dataset, args.data, skip_bad=args.skip_bad)
    summary = ds.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['dataset']}: {summary['sequences']} sequences, {summary['classes']} classes, "
              f"{summary['joints']} joints, {summary['frames_min']}..{summary['frames_max']} frames")
        for name, s in summary["splits"].items():
            print(f"  {name}: train {s['train']}, test {s['test']}")
    for item in ds.skipped:
        print(f"skipped {item}", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from mrmp.engine import fit

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = RunConfig() if args.resume else _config_from_args(args)
    result = fit(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    if result.metrics:
        print(json.dumps({k: v for k, v in result.metrics.items() if "accuracy" in k or "rate" in k}))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from mrmp.engine import load_bundle, load_data, rate_report
    from mrmp.engine.distributed import resolve_device

    bundle, _ = load_bundle(args.checkpoint, device=str(resolve_device(args.device)))
    rate = None if args.rate is None else check_rate(args.rate)
    data = load_data(bundle.cfg, args.data, scale=bundle.meta.scale)
    report = rate_report(bundle, data, rate, args.threshold, args.scope)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"accuracy {report['accuracy']:.4f} on {report['n']} ({report['method']}), "
              f"rate {report['rate']:.4f} → observed {report['observed_rate']:.4f} "
              f"({report['nonzero']}/{report['total']} weights kept)")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from mrmp.engine import load_bundle, load_data
    from mrmp.engine.distributed import resolve_device
    from mrmp.sweep import label_of, plot_sweep, sweep, write_csv

    device = str(resolve_device(args.device))
    bundle, _ = load_bundle(args.checkpoint, device=device)
    others = [load_bundle(path, device=device)[0] for path in args.compare]
    data = load_data(bundle.cfg, args.data, scale=bundle.meta.scale)
    for path, other in zip(args.compare, others):
        if other.cfg.data.dataset != bundle.cfg.data.dataset or other.cfg.data.split != bundle.cfg.data.split:
            raise ConfigError(f"{path}: trained on another dataset or split than {args.checkpoint}")
    entries = [(label_of(b), b) for b in [bundle, *others]]
    rows = sweep(entries, data, parse_rates(args.rates), args.threshold, progress=not args.no_progress)
    dense = [b for b in others if get_method(b.cfg.prune.method).plain]
    dense_acc = None
    if dense:
        from mrmp.engine import accuracy

        dense_acc = accuracy(dense[0].model, data.test, data.test_labels)
    out = Path(args.out)
    write_csv(rows, out / "sweep.csv")
    plot_sweep(rows, out / "sweep.png", dense_acc, title=f"{bundle.cfg.data.dataset} {bundle.cfg.data.split}")
    from mrmp.demo import format_table

    print(format_table(rows, dense_acc))
    print(f"wrote {out / 'sweep.csv'} and {out / 'sweep.png'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mrmp.demo import format_table, run_demo

    rows, dense_acc = run_demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress)
    print(format_table(rows, dense_acc))
    print(f"wrote {Path(args.out) / 'sweep.csv'} and {Path(args.out) / 'sweep.png'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from mrmp import __version__
    from mrmp.cli_deploy import register as register_deploy

    parser = argparse.ArgumentParser(prog="mrmp", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mrmp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="validate a dataset and print its summary")
    _add_data_args(p)
    p.set_defaults(dataset="synthetic")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train dense, MP, SRMP or MRMP")
    _add_data_args(p)
    p.add_argument("--config", help="TOML file with [data], [features], [model], [prune], [train]")
    p.add_argument("--split", help="protocol split (fold0..fold4 for SBU, default for FPHA)")
    p.add_argument("--fold", type=int, help="shorthand for --split foldN")
    p.add_argument("--model", choices=["gcn", "stgcn"])
    p.add_argument("--dropout", type=float, help="dropout before the classifier")
    p.add_argument("--method", choices=method_names())
    p.add_argument("--prior", choices=["gaussian", "laplace", "uniform"])
    p.add_argument("--kl-weight", type=float, help="λ of the KL term")
    p.add_argument("--rate", type=float, help="target rate of mp / srmp")
    p.add_argument("--rates", help="seen rates of mrmp, e.g. 0.5:0.95:0.05,0.98")
    p.add_argument("--rates-per-step", type=int)
    p.add_argument("--grouping", choices=Scope.names(), help="KL over all weights or per layer")
    p.add_argument("--scope", choices=Scope.names(), help="mp ranking scope")
    p.add_argument("--scale", choices=Scope.names(),
                   help="srmp/mrmp latent scale: one for all weights (small layers keep more) or one per layer")
    p.add_argument("--threshold", choices=threshold_names(trainable=True),
                   help="srmp/mrmp cut-off in training: the prior's quantile (paper) or the empirical one "
                        "of |latent| (observed rate = requested)")
    p.add_argument("--from", dest="source",
                   help="dense checkpoint to start from: mp prunes it; srmp/mrmp warm-start their latents from it")
    p.add_argument("--distill", action="store_true", help="mrmp: distil the lowest rate into the others")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu, cuda or auto")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt (its config wins)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint at any rate")
    p.add_argument("checkpoint")
    p.add_argument("--rate", type=float, help="pruning rate (default: the trained one)")
    p.add_argument("--threshold", choices=threshold_names(),
                   help="band-stop threshold rule (default: prior, or exact for runs trained with empirical ones)")
    p.add_argument("--scope", choices=Scope.names(),
                   help="ranking scope of exact thresholds and of magnitude pruning of dense/MP "
                        "checkpoints (default: the run's latent scale / MP scope)")
    _add_data_args(p, with_dataset=False)
    p.add_argument("--json", action="store_true")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sweep", help="accuracy vs rate of one or more checkpoints (CSV + PNG)")
    p.add_argument("checkpoint")
    p.add_argument("--rates", default="0.5:0.99:0.01", help="e.g. 0.5:0.99:0.01 or 0.5,0.9,0.98")
    p.add_argument("--compare", nargs="*", default=[], help="more checkpoints drawn as extra curves")
    p.add_argument("--threshold", choices=threshold_names(),
                   help="band-stop threshold rule (default: prior, or exact for runs trained with empirical ones)")
    p.add_argument("--out", required=True, help="folder for sweep.csv and sweep.png")
    _add_data_args(p, with_dataset=False)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("demo", help="dense + MRMP on the built-in synthetic set, then a sweep")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)
    register_deploy(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mrmp`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MrmpError as exc:
        print(f"mrmp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mrmp: interrupted (resume a training run with --resume)", file=sys.stderr)
        return 130
