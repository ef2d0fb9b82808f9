"""ST-GCN backbone beside the paper's GCN: dense and MRMP runs, MRMP at seen and unseen rates.

    python -m benchmarks.stgcn --datasets fpha,sbu --jobs 2

One job per split trains dense ST-GCN, then MRMP: warm-started from the dense weights
(``--from``, the default) or from prior draws (``--scratch``). MRMP is evaluated at
``RATES`` with the cut-off rule it was trained with (``--threshold``) and with ``exact``
ones. Writes ``OUT/stgcn.md``; runs already in ``OUT`` are reused.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.common import SPLITS, base_config, evaluate_rates, machine, mean, run_jobs, train_cached
from mrmp.cli_config import TRAIN_FLAGS, field_list
from mrmp.config import DEFAULT_SEEN_RATES
from mrmp.engine import load_bundle

#: Config flags of every run (``--dropout``) and of MRMP (the rest); always parsed.
RECIPE = TRAIN_FLAGS.select("--dropout", "--kl-weight", "--rates", "--threshold", "--scale")

RATES = [0.5, 0.9, 0.93, 0.935, 0.95, 0.965, 0.98]


def _job(args: argparse.Namespace, dataset: str, split: str) -> tuple[tuple[str, str], dict[str, Any]]:
    out = args.out / dataset / split
    recipe = RECIPE.changes(args)
    base = base_config(dataset, split, args.data).replace(
        model={"name": "stgcn", **recipe["model"]}, train={"eval_every": 10_000}
    )
    dense_cfg = base.replace(train={"epochs": args.epochs, "lr": args.lr})
    dense = train_cached(dense_cfg, out / "dense")
    prune = {"method": "mrmp", **recipe["prune"]}
    if args.scratch:
        mrmp_cfg = base.replace(prune=prune, train={"epochs": args.epochs, "lr": args.lr})
    else:
        mrmp_cfg = base.replace(
            prune={**prune, "source": str(Path(dense["checkpoint"]).resolve())},
            train={"epochs": args.mrmp_epochs, "lr": args.mrmp_lr},
        )
    name = ("mrmp_scratch" if args.scratch else "mrmp") + _rates_tag(args.rates)
    mrmp = train_cached(mrmp_cfg, out / name)
    src = str(Path(dense["checkpoint"]).resolve())
    mp = {}
    for r in args.mp_rates:  # the baseline: magnitude pruning of the dense run + fine-tuning, per rate
        cfg = base.replace(
            prune={"method": "mp", "rate": r, "source": src, "scope": "global"},
            train={"epochs": args.mp_epochs, "lr": args.mrmp_lr},
        )
        run = train_cached(cfg, out / f"mp{r:g}")
        mp[r] = {"seconds": run["seconds"], "eval": evaluate_rates(run["checkpoint"], [r])[0]}
    params = sum(p.numel() for p in load_bundle(dense["checkpoint"])[0].model.parameters())
    return (dataset, split), {
        "params": params,
        "dense": {
            "seconds": dense["seconds"],
            "eval": evaluate_rates(dense["checkpoint"], [0.0])[0],
            "no_ft": evaluate_rates(dense["checkpoint"], RATES, scope="global"),
        },
        "mp": mp,
        "mrmp": {
            "seconds": mrmp["seconds"],
            "trained": evaluate_rates(mrmp["checkpoint"], RATES, None),
            "exact": evaluate_rates(mrmp["checkpoint"], RATES, "exact"),
        },
    }


def _rates_tag(rates: tuple[float, ...]) -> str:
    """Run-folder suffix of non-default seen rates."""
    return "" if rates == DEFAULT_SEEN_RATES else f"_{len(rates)}rates"


def _cell(trained: list[dict[str, Any]], exact: list[dict[str, Any]], i: int, prior: bool) -> str:
    """MRMP accuracy at RATES[i] over splits: ``exact`` only after empirical training (the two
    rules then prune alike), else the trained rule with its observed rate, then ``exact``."""
    e = 100 * mean(x[i]["accuracy"] for x in exact)
    if not prior:
        return f"{e:.1f}"
    t, obs = 100 * mean(x[i]["accuracy"] for x in trained), mean(x[i]["observed_rate"] for x in trained)
    return f"{t:.1f} ({obs:.3f}) / {e:.1f}"


def _table(args: argparse.Namespace, dataset: str, splits: list[str], res: dict[Any, Any]) -> list[str]:
    rows = [res[(dataset, s)] for s in splits]
    prior = args.threshold == "prior"
    seen = lambda r: any(abs(r - s) < 1e-9 for s in args.rates)  # noqa: E731
    head = " | ".join(f"{r:g}{'' if seen(r) else ' (unseen)'}" for r in RATES)
    mp_head = " | ".join(f"MP + FT {r:g}" for r in args.mp_rates)
    what = (
        "`prior` thresholds (observed rate) / `exact` thresholds"
        if prior
        else "`anchored` thresholds (observed = requested)"
    )
    lines = [
        (
            f"**{dataset}** ({rows[0]['params']:,} parameters, {rows[0]['dense']['eval']['total']:,} "
            f"prunable): accuracy %, MRMP with {what}"
        ),
        "",
        f"| split | dense | {head} | {mp_head} | s dense / MRMP |",
        "|---" * (len(RATES) + len(args.mp_rates) + 3) + "|",
    ]
    groups = [(s, [row]) for s, row in zip(splits, rows, strict=True)]
    if len(rows) > 1:
        groups.append(("mean", rows))
    for name, group in groups:
        cells = " | ".join(
            _cell([g["mrmp"]["trained"] for g in group], [g["mrmp"]["exact"] for g in group], i, prior)
            for i in range(len(RATES))
        )
        mp_cells = " | ".join(f"{100 * mean(g['mp'][r]['eval']['accuracy'] for g in group):.1f}" for r in args.mp_rates)
        secs = f"{mean(g['dense']['seconds'] for g in group):.0f} / {mean(g['mrmp']['seconds'] for g in group):.0f}"
        lines.append(
            f"| {name} | {100 * mean(g['dense']['eval']['accuracy'] for g in group):.1f} | {cells} | "
            f"{mp_cells} | {secs} |"
        )
    no_ft = " / ".join(f"{100 * mean(x['dense']['no_ft'][i]['accuracy'] for x in rows):.1f}" for i in range(len(RATES)))
    return [
        *lines,
        "",
        (
            f"Magnitude pruning of the dense runs without fine-tuning (global ranking), mean at "
            f"{' / '.join(f'{r:g}' for r in RATES)}: {no_ft}. MP + FT: {args.mp_epochs} epochs at lr "
            f"{args.mrmp_lr:g} per rate."
        ),
        "",
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", type=lambda s: s.split(","), default=["sbu"])
    p.add_argument("--splits", type=lambda s: s.split(","), default=None, help="default: all of each dataset")
    p.add_argument("--data")
    p.add_argument("--epochs", type=int, default=200, help="dense (and --scratch MRMP) epochs")
    p.add_argument("--lr", type=float, default=3e-3, help="dense (and --scratch MRMP) learning rate")
    p.add_argument("--mrmp-epochs", type=int, default=100, help="warm-started MRMP epochs")
    p.add_argument("--mrmp-lr", type=float, default=1e-3, help="warm-started MRMP learning rate")
    p.add_argument(
        "--mp-rates",
        type=field_list("prune.rate"),
        default=[0.9, 0.95],
        help="rates of the magnitude pruning + fine-tuning baseline (empty: none)",
    )
    p.add_argument("--mp-epochs", type=int, default=50, help="fine-tuning epochs of each MP run")
    p.add_argument("--scratch", action="store_true", help="MRMP from prior draws instead of the dense run")
    RECIPE.add_to(p, defaults={**RECIPE.config_defaults(), "--threshold": "empirical", "--dropout": 0.1})
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/stgcn"))
    args = p.parse_args()
    work = [(args, ds, s) for ds in args.datasets for s in (args.splits or SPLITS[ds])]
    res = dict(run_jobs(_job, work, args.jobs))
    start = (
        "from prior draws, " + f"{args.epochs} epochs at lr {args.lr:g}"
        if args.scratch
        else f"warm-started from the dense run, {args.mrmp_epochs} epochs at lr {args.mrmp_lr:g}"
    )
    lines = [
        (
            f"Machine: {machine()}. ST-GCN, dropout {args.dropout}; dense {args.epochs} epochs at lr "
            f"{args.lr:g}; MRMP {start}, λ = {args.kl_weight:g}, latent scale {args.scale}, "
            f"`{args.threshold}` thresholds in training, {len(args.rates)} seen rates "
            f"{min(args.rates):g} … {max(args.rates):g}."
        ),
        "",
    ]
    for ds in args.datasets:
        lines += _table(args, ds, args.splits or SPLITS[ds], res)
    md = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stgcn.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
