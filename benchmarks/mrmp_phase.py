"""MRMP's pruned phase under several settings, from one dense checkpoint: accuracy at exact rates.

    python -m benchmarks.mrmp_phase --dataset fpha --seed 0 \\
        --source benchmarks/out/pruning/fpha/default/seed0/dense/checkpoint.pt

Each row of :data:`ROWS` is a change of one MRMP run (``--method mrmp --from SOURCE``) with the
dataset's dense recipe and a quarter of its epochs (FPHA's MRMP recipe is the row
``b128_ep450_lr5e-3``); runs are cached under ``OUT/<dataset>/<split>/seed<k>/<row>/``. Prints one
markdown table (CPU seconds of the pruned phase, accuracy at each rate with the default
evaluation: ``anchored`` thresholds, the dataset's test-time clips).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmarks.common import base_config, machine, train_cached
from benchmarks.dense import changes
from mrmp.config import parse_rates
from mrmp.engine import load_bundle, load_data, rate_report
from mrmp.methods import get_method

#: Row -> (description, changes of the default MRMP run as ``section.field=value``).
ROWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "default": ("a quarter of the dense epochs at the dense lr and batch (the default before FPHA's MRMP recipe)", ()),
    "ep450": ("450 epochs (three eighths of the dense epochs)", ("train.epochs=450",)),
    "ep600": ("600 epochs (half the dense epochs)", ("train.epochs=600",)),
    "lr5e-3": ("the default's epochs at lr 5e-3", ("train.lr=0.005",)),
    "lr1e-2": ("the default's epochs at lr 1e-2", ("train.lr=0.01",)),
    "kl3": ("λ = 3", ("prune.kl_weight=3",)),
    "sigma10": ("σ annealed 10 → 200 (instead of 2 → 200)", ("prune.sigma=10,200",)),
    "sigma20": ("σ annealed 20 → 200", ("prune.sigma=20,200",)),
    "b128_ep450": (
        "batch 128, 450 epochs (about the default's steps' cost)",
        ("train.batch_size=128", "train.epochs=450"),
    ),
    "b128_ep450_lr5e-3": (
        "batch 128, 450 epochs, lr 5e-3",
        ("train.batch_size=128", "train.epochs=450", "train.lr=0.005"),
    ),
    "wd": ("weight decay 1e-4 (from a dense run with it)", ("train.weight_decay=1e-4",)),
    "wd_b128_ep450_lr5e-3": (
        "weight decay 1e-4 (from a dense run with it), batch 128, 450 epochs, lr 5e-3",
        ("train.weight_decay=1e-4", "train.batch_size=128", "train.epochs=450", "train.lr=0.005"),
    ),
    "laplace": ("a Laplace prior", ("prune.prior=laplace",)),
    "wd_b128_laplace": (
        "weight decay 1e-4, batch 128, 450 epochs, lr 5e-3, Laplace prior (FPHA's MRMP recipe)",
        (
            "train.weight_decay=1e-4",
            "train.batch_size=128",
            "train.epochs=450",
            "train.lr=0.005",
            "prune.prior=laplace",
        ),
    ),
    "rps3": ("3 rates per step (instead of 4)", ("prune.rates_per_step=3",)),
    "ep150": ("150 epochs", ("train.epochs=150",)),
    "ep150_lr1e-3": ("150 epochs, lr 1e-3", ("train.epochs=150", "train.lr=0.001")),
    "ep150_lr1e-2": ("150 epochs, lr 1e-2", ("train.epochs=150", "train.lr=0.01")),
    "ep150_distill": ("150 epochs, distillation from the lowest rate", ("train.epochs=150", "prune.distill=true")),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=["sbu", "fpha", "synthetic"], default="fpha")
    p.add_argument("--split", default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--source", required=True, help="dense checkpoint of the same dataset, split and seed")
    p.add_argument("--rows", default=",".join(ROWS))
    p.add_argument("--rates", type=parse_rates, default=parse_rates("0,0.5,0.9,0.95,0.98,0.99"))
    p.add_argument("--data", help="folder holding sbu/ and fpha/ (default $MRMP_DATA or ../shared/data)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/mrmp_phase"))
    args = p.parse_args()
    torch.set_num_threads(1)
    base = base_config(args.dataset, args.split, args.data).replace(
        train={"eval_every": 10_000, "seed": args.seed}, prune={"method": "mrmp", "source": args.source}
    )
    base = base.replace(train={"epochs": get_method("mrmp").default_epochs(base.prune)})
    lines = [
        f"`python -m benchmarks.mrmp_phase --dataset {args.dataset} --seed {args.seed} --source DENSE` — {machine()}.",
        "",
        "| pruned phase | CPU s | " + " | ".join(f"r = {r:g}" for r in args.rates) + " |",
        "|---|---|" + "---|" * len(args.rates),
    ]
    for row in args.rows.split(","):
        extra = changes(ROWS[row][1])
        cfg = base.replace(**extra) if extra else base
        run = train_cached(cfg, args.out / args.dataset / args.split / f"seed{args.seed}" / row)
        bundle, _ = load_bundle(run["checkpoint"])
        data = load_data(bundle.cfg, scale=bundle.meta.scale)
        accs = [100 * rate_report(bundle, data, r)["accuracy"] for r in args.rates]
        cpu = run.get("cpu_seconds", run["seconds"])
        lines.append(f"| {ROWS[row][0]} | {cpu:.0f} | " + " | ".join(f"{a:.1f}" for a in accs) + " |")
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
