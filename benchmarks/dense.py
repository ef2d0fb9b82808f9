"""Dense backbone benchmark: mean ± std over folds × seeds, one table row per setting.

    python -m benchmarks.dense --datasets sbu --seeds 0,1,2 --jobs 2 --out benchmarks/out/dense \
        --name metres --set features.centre=sequence

Each (dataset, split, seed) run is cached under OUT/NAME/...; OUT/NAME/summary.json holds the
numbers, OUT/summary.md one row per NAME found in OUT.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import SPLITS, base_config, run_jobs, train_cached
from mrmp.config import RunConfig
from mrmp.config_fields import Changes, parse_field


def parse_set(items: list[str]) -> Changes:
    """``section.field=value`` items -> {section: {field: value}}, each value parsed by its field's type."""
    out: Changes = {}
    for item in items:
        key, _, text = item.partition("=")
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = parse_field(key, text)
    return out


def _run(cfg: RunConfig, out: Path) -> dict[str, Any]:
    return train_cached(cfg, out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="sbu,fpha")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--splits", default=None, help="comma list (default: all of the dataset)")
    p.add_argument("--set", dest="sets", action="append", default=[], help="section.field=value")
    p.add_argument("--name", default="default")
    p.add_argument("--data", default=None)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/dense"))
    args = p.parse_args()
    changes = parse_set(args.sets)
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs, keys = [], []
    for ds in args.datasets.split(","):
        splits = args.splits.split(",") if args.splits else SPLITS[ds]
        for split in splits:
            for seed in seeds:
                cfg = base_config(ds, split, args.data).replace(train={"eval_every": 10_000, "seed": seed})
                cfg = cfg.replace(**changes) if changes else cfg
                jobs.append((cfg, args.out / args.name / ds / split / f"seed{seed}"))
                keys.append((ds, split, seed))
    results = run_jobs(_run, jobs, args.jobs)
    summary: dict[str, Any] = {"name": args.name, "set": args.sets, "datasets": {}}
    for ds in args.datasets.split(","):
        runs = [(k, r) for k, r in zip(keys, results, strict=False) if k[0] == ds]
        acc = {(k[1], k[2]): 100 * r["metrics"]["test_accuracy"] for k, r in runs}
        per_seed = [statistics.mean(v for (sp, s), v in acc.items() if s == seed) for seed in seeds]
        summary["datasets"][ds] = {
            "mean": statistics.mean(acc.values()),
            "std_seeds": statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0,
            "per_seed": per_seed,
            "per_split": {
                sp: statistics.mean(v for (s2, _), v in acc.items() if s2 == sp)
                for sp in dict.fromkeys(k[1] for k, _ in runs)
            },
            "seconds": statistics.mean(r["seconds"] for _, r in runs),
            "train_accuracy": statistics.mean(100 * r["metrics"]["train_accuracy"] for _, r in runs),
        }
        print(ds, json.dumps(summary["datasets"][ds]))
    (args.out / args.name / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
