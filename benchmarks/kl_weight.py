"""SRMP and MRMP at another KL weight λ (or training threshold rule) on SBU.

    python -m benchmarks.kl_weight --kl-weight 1 --jobs 2 --out benchmarks/out/lam
    python -m benchmarks.kl_weight --kl-weight 1 --threshold empirical --jobs 2 --out benchmarks/out/lam

Trains (or reuses) per fold one MRMP run and SRMP runs at 0.9 and 0.98; prints the 5-fold mean
accuracy (%) with the thresholds they were trained with (and the observed rate) and with
`exact` thresholds.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.common import SPLITS, base_config, evaluate_rates, machine, mean, run_jobs, train_cached
from mrmp.cli_config import TRAIN_FLAGS, field_list

#: Config flags of every run (always parsed, the config's defaults unless given).
RECIPE = TRAIN_FLAGS.select("--kl-weight", "--threshold")

MRMP_RATES = [0.5, 0.7, 0.9, 0.93, 0.95, 0.98]
SRMP_RATES = [0.9, 0.98]


def _job(split: str, method: str, rate: float, recipe: dict[str, Any], data: str | None, out: Path) -> dict[str, Any]:
    cfg = base_config("sbu", split, data).replace(
        prune={"method": method, "rate": rate, **recipe}, train={"eval_every": 10_000}
    )
    threshold = cfg.prune.threshold
    suffix = "" if threshold == "prior" else f"_{threshold}"
    info = train_cached(cfg, out / f"{split}_{method}{rate:g}_lam{cfg.prune.kl_weight:g}{suffix}")
    rates = MRMP_RATES if method == "mrmp" else [rate]
    trained = evaluate_rates(info["checkpoint"], rates, None)  # with the run's own rule
    exact = evaluate_rates(info["checkpoint"], rates, "exact")
    return {
        "method": method,
        "rate": rate,
        "seconds": info["seconds"],
        "rows": [
            (p["rate"], p["accuracy"], p["observed_rate"], e["accuracy"]) for p, e in zip(trained, exact, strict=True)
        ],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    RECIPE.add_to(p, defaults=RECIPE.config_defaults())
    p.add_argument(
        "--srmp-rates", type=field_list("prune.rate"), default=SRMP_RATES, help="SRMP runs per fold (empty: none)"
    )
    p.add_argument("--data")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/lam"))
    args = p.parse_args()
    common = (RECIPE.changes(args)["prune"], args.data, args.out)
    jobs = [(s, "mrmp", 0.9, *common) for s in SPLITS["sbu"]]
    jobs += [(s, "srmp", r, *common) for r in args.srmp_rates for s in SPLITS["sbu"]]
    res = run_jobs(_job, jobs, args.jobs)
    print(
        f"Machine: {machine()}; SBU 5 folds, λ = {args.kl_weight:g}, `{args.threshold}` thresholds in "
        "training, 300 epochs\n"
    )
    print(
        f"| method | rate | {args.threshold}: accuracy % (observed) | exact: accuracy % | s per run |\n"
        "|---|---|---|---|---|"
    )
    for method, rates in (("mrmp", MRMP_RATES), ("srmp", args.srmp_rates)):
        for rate in rates:
            rows = [row for r in res if r["method"] == method for row in r["rows"] if row[0] == rate]
            secs = mean(r["seconds"] for r in res if r["method"] == method and (method == "mrmp" or r["rate"] == rate))
            print(
                f"| {method.upper()} | {rate:g} | {100 * mean(r[1] for r in rows):.1f} "
                f"({mean(r[2] for r in rows):.3f}) | {100 * mean(r[3] for r in rows):.1f} | {secs:.0f} |"
            )


if __name__ == "__main__":
    main()
