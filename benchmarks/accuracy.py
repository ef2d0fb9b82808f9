"""Accuracy benchmark: dense, MP (no FT), MP + FT, SRMP and MRMP on SBU (5 folds) and FPHA.

    python -m benchmarks.accuracy --datasets sbu,fpha --jobs 2 --out benchmarks/out/accuracy

Writes ``OUT/results.json``, ``OUT/results.md`` (the tables of docs/results.md) and one
sweep plot per dataset (``OUT/sweep_<dataset>.png``, MRMP on the first split).
Runs already present in ``OUT`` are reused.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Any

from benchmarks.common import SPLITS, base_config, evaluate_rates, machine, mean, run_jobs, train_cached
from mrmp.cli_config import TRAIN_FLAGS, Flag
from mrmp.config import DEFAULT_SEEN_RATES, parse_rates
from mrmp.demo import UNSEEN_RATES

#: Config flags of the SRMP and MRMP runs (the config's defaults unless given).
RECIPE = TRAIN_FLAGS.select("--prior", "--kl-weight")


def plan(args: argparse.Namespace) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(dense jobs, pruned jobs) as (config, out dir, key) tuples."""
    dense, pruned = [], []
    recipe = RECIPE.changes(args).get("prune", {})
    for ds in args.datasets:
        for split in SPLITS[ds][: args.max_splits]:
            base = base_config(ds, split, args.data).replace(train={"eval_every": 10_000})
            root = args.out / ds / split
            d_cfg = base.replace(train={"epochs": args.dense_epochs})
            dense.append((d_cfg, root / "dense", (ds, split, "dense", 0.0)))
            src = str(root / "dense" / "checkpoint.pt")
            for r in args.rates:
                mp = base.replace(
                    prune={"method": "mp", "rate": r, "source": src, "scope": args.mp_scope},
                    train={"epochs": args.mp_epochs, "lr": args.mp_lr},
                )
                pruned.append((mp, root / f"mp{r:g}", (ds, split, "mp", r)))
                sr = base.replace(prune={"method": "srmp", "rate": r, **recipe}, train={"epochs": args.srmp_epochs})
                pruned.append((sr, root / f"srmp{r:g}", (ds, split, "srmp", r)))
            mr = base.replace(prune={"method": "mrmp", **recipe}, train={"epochs": args.mrmp_epochs})
            pruned.append((mr, root / "mrmp", (ds, split, "mrmp", 0.0)))
    return dense, pruned


def _train(cfg: Any, out: Path, key: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return key, train_cached(cfg, out)


def _evaluate(key: tuple[Any, ...], info: dict[str, Any], rates: list[float]) -> tuple[Any, ...]:
    _ds, _split, method, r = key
    ckpt = info["checkpoint"]
    if method == "dense":
        return key, {
            "dense": evaluate_rates(ckpt, [0.0])[0],
            "mp_noft_layer": evaluate_rates(ckpt, rates, scope="layer"),
            "mp_noft_global": evaluate_rates(ckpt, rates, scope="global"),
        }
    if method == "mrmp":
        all_rates = sorted(set(DEFAULT_SEEN_RATES) | set(UNSEEN_RATES))
        return key, {"prior": evaluate_rates(ckpt, all_rates), "exact": evaluate_rates(ckpt, rates, "exact")}
    return key, {"prior": evaluate_rates(ckpt, [r])[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="sbu,fpha", type=lambda s: s.split(","))
    p.add_argument("--data", help="folder holding sbu/ and fpha/ (default $MRMP_DATA or ../shared/data)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/accuracy"))
    p.add_argument("--rates", type=parse_rates, default=parse_rates("0.5,0.7,0.9,0.95,0.98"))
    RECIPE.add_to(p)
    p.add_argument("--dense-epochs", type=int, default=300)
    p.add_argument("--srmp-epochs", type=int, default=300)
    p.add_argument("--mrmp-epochs", type=int, default=300)
    p.add_argument("--mp-epochs", type=int, default=60)
    p.add_argument("--mp-lr", type=float, default=3e-4)
    Flag("prune.scope", "--mp-scope", "ranking scope of MP").add_to(p, "global")
    p.add_argument("--max-splits", type=int, default=None)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()

    dense_jobs, pruned_jobs = plan(args)
    trained = dict(run_jobs(_train, dense_jobs, args.jobs))
    trained.update(dict(run_jobs(_train, pruned_jobs, args.jobs)))
    rates = list(args.rates)
    evals = dict(run_jobs(_evaluate, [(k, v, rates) for k, v in trained.items()], args.jobs))
    results = [{"key": list(k), "seconds": trained[k]["seconds"], "eval": evals[k]} for k in trained]
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    md = report(results, args)
    (args.out / "results.md").write_text(md)
    for ds in args.datasets:
        plot(results, ds, SPLITS[ds][0], args.out / f"sweep_{ds}.png")
    print(md)


def plot(results: list[dict[str, Any]], ds: str, split: str, path: Path) -> None:
    """Accuracy vs rate on one split: MRMP curve, SRMP and MP + FT points, dense line."""
    from mrmp.sweep import SweepRow, plot_sweep

    rows = []
    for res in results:
        rds, rsplit, method, r = res["key"]
        if (rds, rsplit) != (ds, split):
            continue
        if method == "mrmp":
            rows.extend(
                SweepRow(
                    "MRMP (one run)",
                    "mrmp",
                    e["rate"],
                    e["rate"] in DEFAULT_SEEN_RATES,
                    e["accuracy"],
                    e["observed_rate"],
                    e["nonzero"],
                    e["total"],
                )
                for e in res["eval"]["prior"]
            )
        elif method == "dense":
            rows.extend(
                SweepRow(
                    "MP no FT (global)",
                    "dense",
                    e["rate"],
                    False,
                    e["accuracy"],
                    e["observed_rate"],
                    e["nonzero"],
                    e["total"],
                )
                for e in res["eval"]["mp_noft_global"]
            )
        else:
            e = res["eval"]["prior"]
            label = {"mp": "MP + FT", "srmp": "SRMP (one run per rate)"}[method]
            rows.append(SweepRow(label, method, r, True, e["accuracy"], e["observed_rate"], e["nonzero"], e["total"]))
    dense = next(r["eval"]["dense"]["accuracy"] for r in results if r["key"][:3] == [ds, split, "dense"])
    plot_sweep(rows, path, dense_accuracy=dense, title=f"{ds.upper()} {split}")


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """Markdown tables: per dataset, accuracy (%) by method and rate, times, MRMP seen/unseen."""
    by = {tuple(r["key"]): r for r in results}
    lines = [f"Machine: {machine()}", ""]
    for ds in args.datasets:
        lines += _section(by, ds, SPLITS[ds][: args.max_splits], args)
    return "\n".join(lines)


def _accuracy(by: dict[tuple[Any, ...], Any], ds: str, splits: list[str], method: str, r: float) -> float:
    """Mean accuracy (%) over ``splits`` of a method (or an MP-without-FT evaluation) at rate ``r``."""
    vals = []
    for s in splits:
        if method.startswith("mp_noft"):
            ev = by[(ds, s, "dense", 0.0)]["eval"][method]
            vals.append(next(e["accuracy"] for e in ev if abs(e["rate"] - r) < 1e-9))
        elif method == "mrmp":
            ev = by[(ds, s, "mrmp", 0.0)]["eval"]["prior"]
            vals.append(next(e["accuracy"] for e in ev if abs(e["rate"] - r) < 1e-9))
        else:
            vals.append(by[(ds, s, method, r)]["eval"]["prior"]["accuracy"])
    return 100 * mean(vals)


def _section(by: dict[tuple[Any, ...], Any], ds: str, splits: list[str], args: argparse.Namespace) -> list[str]:
    """The markdown of one dataset: dense, the method table, MRMP at seen and unseen rates, times."""
    acc = functools.partial(_accuracy, by, ds, splits)
    name = f"{ds.upper()} ({'mean of ' + str(len(splits)) + ' folds' if len(splits) > 1 else splits[0]})"
    dense = [by[(ds, s, "dense", 0.0)]["eval"]["dense"]["accuracy"] for s in splits]
    lines = [
        f"### {name}",
        "",
        "dense accuracy per split: "
        + ", ".join(f"{100 * a:.1f}" for a in dense)
        + f" → mean **{100 * mean(dense):.1f} %**",
        "",
    ]
    header = "| rate | MP no FT (layer) | MP no FT (global) | MP + FT | SRMP | MRMP |"
    lines += [header, "|---|---|---|---|---|---|"]
    for r in args.rates:
        lines.append(
            f"| {r:g} | {acc('mp_noft_layer', r):.1f} | {acc('mp_noft_global', r):.1f} | "
            f"{acc('mp', r):.1f} | {acc('srmp', r):.1f} | {acc('mrmp', r):.1f} |"
        )
    lines += [
        "",
        f"MRMP, one run per split ({ds.upper()}), prior-mode thresholds:",
        "",
        "| rate | seen | accuracy % | observed rate |",
        "|---|---|---|---|",
    ]
    for r in sorted(set(DEFAULT_SEEN_RATES) | set(UNSEEN_RATES)):
        obs = mean(
            next(e["observed_rate"] for e in by[(ds, s, "mrmp", 0.0)]["eval"]["prior"] if abs(e["rate"] - r) < 1e-9)
            for s in splits
        )
        lines.append(f"| {r:g} | {'yes' if r in DEFAULT_SEEN_RATES else 'no'} | {acc('mrmp', r):.1f} | {obs:.3f} |")
    return lines + _times(by, ds, splits, args)


def _times(by: dict[tuple[Any, ...], Any], ds: str, splits: list[str], args: argparse.Namespace) -> list[str]:
    """Mean wall time per run of each method on one dataset, and MRMP / SRMP."""
    t_mr = mean(by[(ds, s, "mrmp", 0.0)]["seconds"] for s in splits)
    t_sr = mean(by[(ds, s, "srmp", r)]["seconds"] for s in splits for r in args.rates)
    t_d = mean(by[(ds, s, "dense", 0.0)]["seconds"] for s in splits)
    t_mp = mean(by[(ds, s, "mp", r)]["seconds"] for s in splits for r in args.rates)
    return [
        "",
        (
            f"Wall time per run (s, mean): dense {t_d:.0f} ({args.dense_epochs} ep), "
            f"MP fine-tune {t_mp:.0f} ({args.mp_epochs} ep), SRMP {t_sr:.0f} ({args.srmp_epochs} ep), "
            f"MRMP {t_mr:.0f} ({args.mrmp_epochs} ep); **MRMP / SRMP = {t_mr / t_sr:.2f}×**"
        ),
        "",
    ]


if __name__ == "__main__":
    main()
