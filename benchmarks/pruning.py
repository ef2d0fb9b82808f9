"""Pruning benchmark: MRMP against its baselines at exact rates, mean ± std over seeds, with costs.

    python -m benchmarks.pruning --dataset sbu --seeds 0,1,2 --jobs 2 --results docs/results.md
    python -m benchmarks.pruning --dataset fpha --seeds 0,1,2 --jobs 2 --results docs/results.md

Per (split, seed) it trains, in one chain: the dense backbone (the default recipe), then from its
checkpoint the pruned phase of every method of :data:`METHODS` with the settings ``mrmp train
--method M --from DENSE`` gives it (the dataset's recipe for the method, its epochs; ``--epochs``
sets them all): the multi-rate ones once (MRMP, MRMP with λ = 0, multi-rate
magnitude), the per-rate ones (MP + FT, GMP) once per rate of ``--rates``. Every model is
evaluated at exact rates (observed = requested to one weight, the default thresholds): the
per-rate ones at their rate, the multi-rate ones and the dense model without fine-tuning (``mp0``)
at ``--rates`` and ``--unseen``; the multi-rate ones with their default ``anchored`` rule (global
ranking at the seen rates; an unseen rate from the masks of the nearest seen rate below, every
layer's rate up by the same step). MRMP is
also evaluated without its per-layer floor at the highest rates, and with ``exact`` global ranking
at the unseen rates. Each run is cached under
``OUT/<dataset>/<split>/seed<k>/<run>/``, so an interrupted benchmark continues (``--seeds 0``
reports the first seed while the others run). Writes ``OUT/<dataset>.json``,
``OUT/<dataset>.md``, ``OUT/<dataset>.png`` and, with ``--results``, replaces the table between
``<!-- pruning:<dataset> -->`` markers of that file.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import SPLITS, Clips, base_config, clips_key, machine, run_jobs, train_cached
from benchmarks.dense import changes as dense_changes
from benchmarks.dense import replace_section, section_problem
from mrmp.config import DEFAULT_SEEN_RATES, RunConfig, parse_rates
from mrmp.config_fields import Changes
from mrmp.engine.recipe import recipe_config
from mrmp.errors import ConfigError

#: Column -> (label, method, config changes of the pruned phase, multi-rate).
METHODS: dict[str, tuple[str, str, dict[str, dict[str, Any]], bool]] = {
    "mp": ("MP + FT", "mp", {}, False),
    "mplow": ("MP + FT, lr 1e-3", "mp", {"train": {"lr": 1e-3}}, False),
    "gmp": ("GMP", "gmp", {}, False),
    "gmplow": ("GMP, lr 1e-3", "gmp", {"train": {"lr": 1e-3}}, False),
    "mrmag": ("multi-rate magnitude", "mrmag", {}, True),
    "mrmp_kl0": ("MRMP λ = 0", "mrmp", {"prune": {"kl_weight": 0.0}}, True),
    "mrmp": ("**MRMP**", "mrmp", {}, True),
    "mrmp_crop6": ("MRMP, crops ≤ 60 %", "mrmp", {"features": {"crop": 0.6}}, True),
    "mp_crop4": ("MP + FT, crops ≤ 40 %", "mp", {"features": {"crop": 0.4}}, False),
}
#: The columns run unless ``--methods`` says otherwise (the ``…low`` ones: FPHA, whose lr is 3e-3).
DEFAULT_METHODS = ("mp", "gmp", "mrmag", "mrmp_kl0", "mrmp")
#: Rates at which MRMP is also evaluated without the per-layer floor.
FLOOR_RATES = (0.95, 0.98, 0.99)
#: Cached evaluations of a run: ``eval_clips<clips>_<EVAL_TAG>.json``, ``<clips>`` the clips' cache key
#: (:func:`benchmarks.common.clips_key`; older files hold other rules' results).
EVAL_TAG = "anchored"


def phase_config(
    cfg: RunConfig, col: str, args: argparse.Namespace, source: str, rate: float | None = None
) -> RunConfig:
    """The pruned phase of column ``col`` from the dense run ``cfg`` (checkpoint ``source``): what
    ``mrmp train --method M --from SOURCE`` runs, with the column's changes (any section) and ``--epochs``."""
    _, method, extra, _ = METHODS[col]
    pc = {"method": method, "source": source, **({} if rate is None else {"rate": rate})}
    train = {**({"epochs": args.epochs} if args.epochs else {}), **extra.get("train", {})}
    changes = {**extra, "prune": {**pc, **extra.get("prune", {})}, "train": train}
    return recipe_config(cfg.replace(**changes), [_set(args), changes])


def _set(args: argparse.Namespace) -> Changes:
    """``--set`` as {section: {field: value}}: changes of the dense recipe, kept by every pruned phase."""
    return dense_changes(tuple(args.set))


def chain(cfg: RunConfig, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Train and evaluate the dense run and every method of one (split, seed); cached per run."""
    all_rates = sorted(set(args.rates) | set(args.unseen))
    dense = train_cached(cfg, folder / "dense")
    runs: dict[str, Any] = {"dense": {**dense, "column": "dense"}}
    rates: dict[str, list[float]] = {"dense": [0.0, *all_rates]}  # evaluated rates per run
    for col in args.methods:
        multi = METHODS[col][3]
        for r in [None] if multi else args.baseline_rates or args.rates:
            name = col if r is None else f"{col}{r:g}"
            trained = train_cached(phase_config(cfg, col, args, dense["checkpoint"], r), folder / name)
            runs[name] = {**trained, "column": col}
            rates[name] = all_rates if r is None else [r]
    for name, run in runs.items():
        clips = (cfg.features.clips, cfg.features.clip_lengths)  # today's test-time clips and masks, whenever trained
        done = Path(run["checkpoint"]).with_name(f"eval_clips{clips_key(clips)}_{EVAL_TAG}.json")
        ev = json.loads(done.read_text()) if done.exists() else {}
        nofloor, exact = (_floor_rates(args), _unseen(rates[name])) if name == "mrmp" else ([], [])
        wanted = [f"{r:g}" for r in rates[name]] + [f"nofloor{r:g}" for r in nofloor] + [f"exact{r:g}" for r in exact]
        if not set(wanted) <= set(ev):
            ev = _evaluate(run["checkpoint"], clips, rates[name], nofloor, exact)
            done.write_text(json.dumps(ev))
        run["eval"] = ev
    return runs


def _evaluate(
    checkpoint: str, clips: Clips, rates: list[float], nofloor: list[float], exact: list[float]
) -> dict[str, Any]:
    """Rate reports of a checkpoint at ``rates`` (its default rule), with ``exact`` global ranking at
    ``exact``, and without its per-layer floor at ``nofloor``."""
    from mrmp.engine import load_bundle, load_data, rate_report

    bundle, _ = load_bundle(checkpoint)
    views = {"clips": clips[0], "clip_lengths": clips[1]}
    data = load_data(bundle.cfg.replace(features=views), scale=bundle.meta.scale)
    ev = {f"{r:g}": _report(rate_report(bundle, data, r)) for r in rates}
    ev.update({f"exact{r:g}": _report(rate_report(bundle, data, r, "exact")) for r in exact})
    if nofloor:
        bundle.pruner.floor = 0.0
        ev.update({f"nofloor{r:g}": _report(rate_report(bundle, data, r)) for r in nofloor})
    return ev


def _unseen(rates: list[float]) -> list[float]:
    """The ``rates`` MRMP was not trained at (where ``anchored`` and ``exact`` differ)."""
    return [r for r in rates if r not in DEFAULT_SEEN_RATES]


def _floor_rates(args: argparse.Namespace) -> list[float]:
    """The rates of :data:`FLOOR_RATES` this benchmark evaluates."""
    return [r for r in FLOOR_RATES if r in set(args.rates) | set(args.unseen)]


def _report(rep: dict[str, Any]) -> dict[str, Any]:
    """What the tables keep of a rate report."""
    bound = sum(layer["floor_bound"] for layer in rep["layers"].values())
    return {k: rep[k] for k in ("accuracy", "rate", "observed_rate", "nonzero", "total")} | {"floor_bound": bound}


def plan(args: argparse.Namespace) -> list[tuple[Any, ...]]:
    """One chain per (split, seed), seed-major so that whole seeds finish first."""
    jobs = []
    for seed in args.seeds:
        for split in SPLITS[args.dataset][: args.max_splits]:
            cfg = base_config(args.dataset, split, args.data).replace(**_set(args))
            cfg = cfg.replace(train={"eval_every": 10_000, "seed": seed})
            jobs.append((cfg, args.out / args.dataset / split / f"seed{seed}", args))
    return jobs


def _chain_job(cfg: RunConfig, folder: Path, args: argparse.Namespace) -> tuple[str, int, dict[str, Any]]:
    return cfg.data.split, cfg.train.seed, chain(cfg, folder, args)


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(chains: list[tuple[str, int, dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    """Accuracy (mean ± std over seeds of the split means) per column and rate; costs per column."""
    seeds = sorted({seed for _, seed, _ in chains})
    splits = sorted({split for split, _, _ in chains})
    by = {(split, seed): runs for split, seed, runs in chains}

    def acc(col: str, rate: float, key: str = "") -> tuple[float, float] | None:
        per_seed = []
        for seed in seeds:
            vals = []
            for split in splits:
                runs = by[(split, seed)]
                run = runs.get("dense" if col == "mp0" else col if METHODS[col][3] else f"{col}{rate:g}")
                ev = run and run["eval"].get(f"{key}{rate:g}")
                if ev is None:
                    return None
                vals.append(100 * ev["accuracy"])
            per_seed.append(statistics.mean(vals))
        return _stats(per_seed)

    cols = ["mp0", *args.methods]
    rates = sorted(set(args.rates) | set(args.unseen))
    table = {col: {f"{r:g}": acc(col, r) for r in rates} for col in cols}
    table["mrmp_nofloor"] = {f"{r:g}": acc("mrmp", r, "nofloor") for r in _floor_rates(args)}
    table["mrmp_exact"] = {f"{r:g}": acc("mrmp", r, "exact") for r in _unseen(rates)}
    dense = _stats(
        [statistics.mean(100 * by[(sp, s)]["dense"]["eval"]["0"]["accuracy"] for sp in splits) for s in seeds]
    )
    runs = [r for _, _, runs in chains for r in runs.items()]
    observed = max(abs(e["observed_rate"] - e["rate"]) for _, run in runs for e in run["eval"].values())
    cost = {}
    for col in ["dense", *args.methods]:
        mine = [run for _, run in runs if run["column"] == col]
        cost[col] = {
            k: statistics.mean(r[k] for r in mine) for k in ("seconds", "cpu_seconds") if all(k in r for r in mine)
        }
    bound = {
        f"{r:g}": max(by[k]["mrmp"]["eval"][f"{r:g}"]["floor_bound"] for k in by)
        for r in _floor_rates(args)
        if "mrmp" in args.methods
    }
    return {
        "seeds": seeds,
        "splits": splits,
        "dense": dense,
        "table": table,
        "max_rate_error": observed,
        "cost": cost,
        "floor_bound_layers": bound,
    }


def _cell(v: tuple[float, float] | None) -> str:
    return "–" if v is None else f"{v[0]:.1f} ± {v[1]:.1f}"


def report(summary: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    """The markdown of one dataset: accuracy table, floor effect, costs."""
    seen = set(DEFAULT_SEEN_RATES)
    cols = ["mp0", *args.methods]
    labels = {"mp0": "MP, no FT", **{c: METHODS[c][0] for c in METHODS}}
    head = "| rate | " + " | ".join(labels[c] for c in cols) + " |"
    lines = [
        f"`{command}` — {machine()}.",
        (
            f"Accuracy (%), mean ± std over seeds {', '.join(map(str, summary['seeds']))} of the mean over "
            f"{len(summary['splits'])} split(s); every rate exact (largest |observed − requested| over all "
            f"evaluations: {summary['max_rate_error']:.1e}). Dense: **{_cell(summary['dense'])}**. "
            "Pruned phases: each method's own settings (below), from the same dense run; "
            "*unseen* rates in italics."
        ),
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for r in sorted(set(args.rates) | set(args.unseen)):
        name = f"{r:g}" if r in seen else f"*{r:g}*"
        lines.append(f"| {name} | " + " | ".join(_cell(summary["table"][c][f"{r:g}"]) for c in cols) + " |")
    if "mrmp" in args.methods and _floor_rates(args):
        nf = summary["table"]["mrmp_nofloor"]
        lines += [
            "",
            "MRMP with and without its per-layer floor (same checkpoints; layers the floor binds, most over runs): "
            + "; ".join(
                f"{r:g}: {_cell(summary['table']['mrmp'][f'{r:g}'])} with, {_cell(nf[f'{r:g}'])} without "
                f"({summary['floor_bound_layers'][f'{r:g}']} bound)"
                for r in _floor_rates(args)
            )
            + ".",
        ]
    unseen = _unseen(sorted(set(args.rates) | set(args.unseen)))
    if "mrmp" in args.methods and unseen:
        ex = summary["table"]["mrmp_exact"]
        lines += [
            "",
            "MRMP at its unseen rates with its default `anchored` ranking (the masks of the nearest seen rate "
            "below, every layer's rate up by the same step) and with `exact` global ranking (same checkpoints): "
            + "; ".join(
                f"{r:g}: {_cell(summary['table']['mrmp'][f'{r:g}'])} anchored, {_cell(ex[f'{r:g}'])} exact"
                for r in unseen
            )
            + ".",
        ]
    if "mrmp" in args.methods:
        lines += ["", _checks(summary, args)]
    lines += ["", _costs(summary, args)]
    return "\n".join(lines)


def _checks(summary: dict[str, Any], args: argparse.Namespace) -> str:
    """MRMP against dense, against the baselines (in stds of the difference's sides) and its unseen
    rates against the linear interpolation of their seen neighbours."""
    table, (dense, _) = summary["table"], summary["dense"]
    mr = {r: v for r, v in table["mrmp"].items() if v is not None}
    out = [f"MRMP − dense: {', '.join(f'{r}: {v[0] - dense:+.1f}' for r, v in mr.items() if float(r) >= 0.9)}."]
    for col in args.methods:
        if col == "mrmp":
            continue
        gaps = []
        for r in ("0.95", "0.98"):
            a, b = mr.get(r), table[col].get(r)
            if a and b:
                gaps.append(f"{r}: {a[0] - b[0]:+.1f} (std {a[1]:.1f} / {b[1]:.1f})")
        if gaps:
            out.append(f"MRMP − {METHODS[col][0]}: {'; '.join(gaps)}.")
    seen = sorted(float(r) for r in mr if float(r) in DEFAULT_SEEN_RATES)
    for u in sorted(float(r) for r in mr if float(r) not in DEFAULT_SEEN_RATES):
        lo, hi = max((r for r in seen if r < u), default=None), min((r for r in seen if r > u), default=None)
        if lo is None or hi is None:
            continue
        interp = mr[f"{lo:g}"][0] + (u - lo) / (hi - lo) * (mr[f"{hi:g}"][0] - mr[f"{lo:g}"][0])
        out.append(f"Unseen {u:g}: {mr[f'{u:g}'][0] - interp:+.1f} against its seen neighbours {lo:g} and {hi:g}.")
    return " ".join(out)


def _schedule(cfg: RunConfig) -> str:
    """``epochs, batch, lr`` of a run, e.g. ``450 epochs, batch 128, lr 5e-3``."""
    return f"{cfg.train.epochs} epochs, batch {cfg.train.batch_size}, lr {cfg.train.lr:g}"


def _costs(summary: dict[str, Any], args: argparse.Namespace) -> str:
    """Training cost to obtain every rate: one MRMP run against K runs of each per-rate method."""
    cost = summary["cost"]
    d = cost["dense"]["cpu_seconds"]
    k, k11 = len(args.rates), len(DEFAULT_SEEN_RATES)
    rows = [
        "| method | CPU s per run | total for 5 rates (× dense) | total for 11 rates (× dense) |",
        "|---|---|---|---|",
    ]
    base = base_config(args.dataset, "default", None)
    rows.append(f"| dense ({_schedule(base)}) | {d:.0f} | – | – |")
    for col in args.methods:
        c = cost[col]["cpu_seconds"]
        n5, n11 = (1, 1) if METHODS[col][3] else (k, k11)
        phase = _schedule(phase_config(base, col, args, "dense.pt", None if METHODS[col][3] else 0.9))
        rows.append(f"| {METHODS[col][0]} ({phase}) | {c:.0f} | {(d + n5 * c) / d:.2f} | {(d + n11 * c) / d:.2f} |")
    return (
        "Cost (CPU seconds of one training thread, mean per run; totals include the dense run the pruned\n"
        f"phases start from, per-rate methods once per rate; {k} = the rates above, 11 = MRMP's seen rates):\n\n"
        + "\n".join(rows)
    )


def plot(summary: dict[str, Any], args: argparse.Namespace, path: Path) -> None:
    """Accuracy vs rate per method, the seed spread as bands, dense as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    labels = {"mp0": "MP, no FT", **{c: METHODS[c][0].strip("*") for c in METHODS}}
    rates = sorted(set(args.rates) | set(args.unseen))
    for col in ["mp0", *args.methods]:
        pts = [(r, summary["table"][col][f"{r:g}"]) for r in rates]
        pts = [(r, v) for r, v in pts if v is not None]
        if not pts:
            continue
        x = [r for r, _ in pts]
        m = [v[0] for _, v in pts]
        s = [v[1] for _, v in pts]
        (line,) = ax.plot(x, m, marker="o", ms=3, label=labels[col])
        ax.fill_between(
            x,
            [a - b for a, b in zip(m, s, strict=True)],
            [a + b for a, b in zip(m, s, strict=True)],
            alpha=0.2,
            color=line.get_color(),
        )
    dm, ds = summary["dense"]
    ax.axhspan(dm - ds, dm + ds, color="grey", alpha=0.2)
    ax.axhline(dm, color="grey", ls="--", label="dense")
    ax.set(
        xlabel="pruning rate (exact)",
        ylabel="test accuracy (%)",
        title=f"{args.dataset.upper()}: mean ± std over seeds",
    )
    ax.set_ylim(max(0, dm - 25), min(100, dm + 5))
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=["sbu", "fpha", "synthetic"], default="sbu")
    p.add_argument("--seeds", default="0,1,2", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), type=lambda s: [m for m in s.split(",") if m])
    p.add_argument("--rates", type=parse_rates, default=parse_rates("0.5,0.7,0.9,0.95,0.98"))
    p.add_argument("--unseen", type=parse_rates, default=parse_rates("0.93,0.96,0.99"))
    p.add_argument("--epochs", type=int, help="epochs of every pruned phase (default: the methods' own)")
    p.add_argument("--baseline-rates", type=parse_rates, help="rates of the per-rate methods (default: --rates)")
    p.add_argument("--max-splits", type=int)
    p.add_argument("--data", help="folder holding sbu/ and fpha/ (default $MRMP_DATA or ../shared/data)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/pruning"))
    p.add_argument("--results", type=Path, help="markdown file whose pruning:<dataset> section is replaced")
    p.add_argument("--section", help="marker name of the section to replace instead (e.g. pruning:sbu-mrmp)")
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="change the dense recipe (kept by every pruned phase); give another --out for its runs",
    )
    args = p.parse_args()
    try:
        _set(args)
    except KeyError as exc:
        p.error(f"--set: unknown field {exc}; give SECTION.FIELD=VALUE, e.g. features.clips=5")
    except (ValueError, ConfigError) as exc:
        p.error(f"--set: {exc}")
    if unknown := sorted(set(args.methods) - set(METHODS)):
        p.error(f"unknown methods {unknown}; choose among {', '.join(METHODS)}")
    section = args.section or f"pruning:{args.dataset}"
    if args.results and (problem := section_problem(args.results, section)):
        p.error(problem)
    chains = run_jobs(_chain_job, plan(args), args.jobs)
    summary = summarise(chains, args)
    command = f"python -m benchmarks.pruning --dataset {args.dataset} --seeds {','.join(map(str, args.seeds))}"
    if tuple(args.methods) != DEFAULT_METHODS:
        command += f" --methods {','.join(args.methods)}"
    if args.baseline_rates:
        command += f" --baseline-rates {','.join(f'{r:g}' for r in args.baseline_rates)}"
    if args.set:
        command += f" --set {' '.join(args.set)}"
    text = report(summary, args, command)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.dataset}.json").write_text(json.dumps(summary, indent=1))
    (args.out / f"{args.dataset}.md").write_text(text + "\n")
    plot(summary, args, args.out / f"{args.dataset}.png")
    if args.results:
        replace_section(args.results, section, text)
    print(text)


if __name__ == "__main__":
    main()
