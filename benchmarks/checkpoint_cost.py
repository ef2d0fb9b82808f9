"""Cost of a checkpoint against a training epoch, measured in one run (median of repeats).

    python -m benchmarks.checkpoint_cost --dataset sbu --split fold0

Trains a few epochs of the dense and the MRMP run of the default recipe, writes the run's
checkpoint (model, weight average, Adam state, atomically with an fsync) several times, and
reports the checkpoint's cost as a share of an epoch, and of the training time when checkpoints
are written every ``train.save_seconds`` seconds (the default cadence).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import base_config, machine
from mrmp.cli_config import TRAIN_FLAGS
from mrmp.config import TrainConfig
from mrmp.engine import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    TRAIN_FLAGS.select("--dataset", "--split").add_to(p, defaults={"--dataset": "sbu", "--split": "fold0"})
    p.add_argument("--data")
    p.add_argument("--epochs", type=int, default=3, help="epochs timed per method")
    p.add_argument("--repeats", type=int, default=9, help="checkpoints written per method")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    every = TrainConfig().save_seconds
    print(f"Machine: {machine()}; {args.dataset} {args.split}, {args.threads} thread(s)\n")
    print(f"| run | epoch s | checkpoint ms | MB | per epoch | every {every:g} s |\n|---|---|---|---|---|---|")
    for method in ("dense", "mrmp"):
        cfg = base_config(args.dataset, args.split, args.data).replace(
            prune={"method": method, "warmup": False}, train={"epochs": args.epochs + 1}
        )
        with tempfile.TemporaryDirectory() as tmp:
            epoch, save, size = _measure(train.setup(cfg, Path(tmp)), args.epochs, args.repeats)
        print(
            f"| {method} | {epoch:.3f} | {1000 * save:.1f} | {size:.1f} | {100 * save / epoch:.1f} % | "
            f"{100 * save / (every + save):.2f} % |"
        )


def _measure(run: train.Run, epochs: int, repeats: int) -> tuple[float, float, float]:
    """Median seconds of an epoch and of a checkpoint of ``run``, and the checkpoint's MB."""
    epoch, save = [], []
    for e in range(epochs):
        t0 = time.perf_counter()
        train.train_epoch(run, e)
        epoch.append(time.perf_counter() - t0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        train.save(run, 1, {})
        save.append(time.perf_counter() - t0)
    return statistics.median(epoch), statistics.median(save), run.checkpoint.stat().st_size / 1e6


if __name__ == "__main__":
    main()
