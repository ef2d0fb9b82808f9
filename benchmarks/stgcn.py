"""ST-GCN backbone beside the paper's GCN: dense and MRMP runs, MRMP at seen and unseen rates.

    python benchmarks/stgcn.py --dataset sbu --splits fold0 --epochs 100 --jobs 2

Writes ``OUT/stgcn.md``. Runs already in ``OUT`` are reused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SPLITS, base_config, evaluate_rates, machine, mean, run_jobs, train_cached  # noqa: E402

RATES = [0.5, 0.9, 0.93, 0.95, 0.98]


def _job(cfg: Any, out: Path, key: tuple[str, str]) -> tuple[tuple[str, str], dict[str, Any]]:
    info = train_cached(cfg, out)
    rates = [0.0] if key[1] == "dense" else RATES
    return key, {"seconds": info["seconds"], "eval": evaluate_rates(info["checkpoint"], rates)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="sbu")
    p.add_argument("--splits", type=lambda s: s.split(","), default=None)
    p.add_argument("--data")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--scale", default="layer", choices=["layer", "global"],
                   help="latent scale: ST-GCN's weights are spread over similar-sized layers")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/stgcn"))
    args = p.parse_args()
    splits = args.splits or SPLITS[args.dataset]
    jobs = []
    for split in splits:
        base = base_config(args.dataset, split, args.data).replace(
            model={"name": "stgcn", "dropout": args.dropout}, train={"epochs": args.epochs, "eval_every": 10_000})
        for method in ("dense", "mrmp"):
            cfg = base.replace(prune={"method": method, "scale": args.scale})
            jobs.append((cfg, args.out / split / method, (split, method)))
    res = dict(run_jobs(_job, jobs, args.jobs))
    total = res[(splits[0], "dense")]["eval"][0]["total"]
    lines = [f"Machine: {machine()}; {args.dataset} {','.join(splits)}, ST-GCN, {args.epochs} epochs, "
             f"dropout {args.dropout}, latent scale {args.scale}, {total} prunable weights", "",
             "| split | dense | " + " | ".join(f"MRMP {r:g}{'' if r != 0.93 else ' (unseen)'}" for r in RATES)
             + " | s dense / MRMP |", "|---" * (len(RATES) + 3) + "|"]
    for split in splits:
        d, m = res[(split, "dense")], res[(split, "mrmp")]
        accs = " | ".join(f"{100 * e['accuracy']:.1f} ({e['observed_rate']:.3f})" for e in m["eval"])
        lines.append(f"| {split} | {100 * d['eval'][0]['accuracy']:.1f} | {accs} | "
                     f"{d['seconds']:.0f} / {m['seconds']:.0f} |")
    if len(splits) > 1:
        dense = mean(res[(s, "dense")]["eval"][0]["accuracy"] for s in splits)
        cols = " | ".join(f"{100 * mean(res[(s, 'mrmp')]['eval'][i]['accuracy'] for s in splits):.1f}"
                          for i in range(len(RATES)))
        lines.append(f"| mean | {100 * dense:.1f} | {cols} | |")
    md = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stgcn.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
