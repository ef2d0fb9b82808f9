"""Scale: an NTU-60-shaped set streamed from the cache — build time, start-up, throughput, peak memory.

    python -m benchmarks.scale --sequences 56880 --steps 20 --workers 2 --out runs/scale

1. **Parse**: ``--parse-files`` synthetic ``.skeleton`` files written in NTU's format, parsed in
   memory, into the cache, and into the cache on ``--workers`` processes (per-file cost).
   Then the file lookup of a second run: listing ``--sequences`` NTU-named (empty) files and
   hashing their (path, size, mtime) into the cache key.
2. **Build**: ``--sequences`` synthetic sequences (lengths uniform in 40..120, mean 80; 25 joints,
   2 bodies, the second present in the mutual actions 50..60; 60 classes; NTU's xsub performers)
   generated straight into a cache entry.
3. **Start-up**: the first run normalises the entry once (into the cache); a second run (a new
   process, imports included) opens it memory-mapped, builds the xsub train and test pipelines
   (scale from a 4,096-sequence sample) and the model, and takes its first training step.
4. **Read epoch**: every xsub training sequence read, padded and normalised by the loader workers.
5. **Train**: ``--steps`` steps (one epoch over the first steps × batch xsub training sequences)
   of dense and MRMP training of each backbone: from a copy of the sequences in memory, streamed
   from the entry in the training process, and streamed with ``--workers`` loader workers;
   alternated ``--repeats`` times (the best samples/s of each, and the ratios to memory); and the
   median time of one batch's load + augmentation + encoding from memory and streamed.

Peak RSS: ``resource.getrusage`` of this process and the largest child (a loader worker).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import machine
from mrmp.config import RunConfig
from mrmp.data import load_ntu
from mrmp.data.base import SkeletonSet
from mrmp.data.cache import cache_key, read_entry, write_entry
from mrmp.data.loader import batches
from mrmp.data.ntu import JOINTS, PERSONS, NtuFile, find_ntu, ntu_set, skeleton_text
from mrmp.engine import fit
from mrmp.engine.setup import data_of

_PERFORMERS = 40


def synthetic_files(n: int) -> list[NtuFile]:
    """Distinct NTU-style names of ``n`` sequences: 60 actions, 3 cameras, 2 replications, 40
    performers, then setups (56,880 sequences: setups 1..4)."""
    out = []
    for k in range(n):
        rest = k // 360
        ids = (1 + rest // _PERFORMERS, 1 + k // 60 % 3, 1 + rest % _PERFORMERS, 1 + k // 180 % 2, 1 + k % 60)
        name = "S{:03d}C{:03d}P{:03d}R{:03d}A{:03d}.skeleton".format(*ids)
        out.append(NtuFile(Path(name), *ids))
    return out


def synthetic_sequence(k: int, action: int) -> np.ndarray:
    """(T, 50, 3) float32 in metres: a pose moving with an action-specific rhythm; two bodies for 50..60."""
    rng = np.random.default_rng(k)
    t = int(rng.integers(40, 121))
    base = np.random.default_rng(action).normal(0, 0.3, (JOINTS, 3)) + np.array([0.0, 0.0, 3.0])
    phase = 2 * np.pi * (action % 7 + 1) * np.arange(t)[:, None, None] / t
    motion = 0.1 * np.sin(phase + np.arange(JOINTS)[None, :, None]) * ((action + np.arange(3)) % 3 == 0)
    body = base + motion + rng.normal(0, 0.01, (t, JOINTS, 3))
    out = np.zeros((t, PERSONS * JOINTS, 3), dtype=np.float32)
    out[:, :JOINTS] = body
    if action >= 50:
        out[:, JOINTS:] = body[:, ::-1] + [1.0, 0, 0]
    return out


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory (MB) of this process and of its largest child."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self_mb": round(own, 1), "largest_child_mb": round(child, 1)}


def build(entry: Path, n: int) -> dict[str, Any]:
    files = synthetic_files(n)

    def sequences() -> Iterator[np.ndarray]:
        for k, f in enumerate(files):
            yield synthetic_sequence(k, f.action)

    t0 = time.perf_counter()
    write_entry(entry, sequences(), lambda read: ntu_set(files, read, []))
    size = sum(p.stat().st_size for p in entry.iterdir())
    return {"sequences": n, "seconds": time.perf_counter() - t0, "gigabytes": size / 1e9}


def parse(folder: Path, files: int, cache: Path, processes: int) -> dict[str, Any]:
    """Write ``files`` synthetic ``.skeleton`` files; parse them in memory, into the cache, and into
    the cache on ``processes`` worker processes."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, f in enumerate(synthetic_files(files)):
        seq = synthetic_sequence(k, f.action)
        frames = [{1: s[:JOINTS], **({2: s[JOINTS:]} if s[:, JOINTS:].any() else {})} for s in seq]
        (folder / f.path.name).write_text(skeleton_text(frames))
    t0 = time.perf_counter()
    load_ntu(folder)
    memory = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_ntu(folder, cache=cache)
    cached = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_ntu(folder, cache=cache.with_name(cache.name + "-parallel"), processes=processes)
    parallel = time.perf_counter() - t0
    out = {"files": files, "parse_s": memory, "parse_into_cache_s": cached, "per_file_ms": 1000 * memory / files}
    return {**out, "processes": processes, "parse_into_cache_parallel_s": parallel}


def lookup(folder: Path, n: int) -> dict[str, Any]:
    """Time to list ``n`` NTU-named files and hash their (path, size, mtime): what a second
    ``load_ntu`` does before it opens the entry (the files are empty: only names and stats count)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in synthetic_files(n):
        (folder / f.path.name).touch()
    t0 = time.perf_counter()
    found = find_ntu(folder)
    t1 = time.perf_counter()
    cache_key("ntu", [f.path for f in found], {"skip_bad": False})
    return {"files": len(found), "find_s": t1 - t0, "key_s": time.perf_counter() - t1}


def config(model: str, method: str, workers: int, batch: int) -> RunConfig:
    return RunConfig().replace(
        data={"dataset": "ntu", "split": "xsub", "workers": workers},
        model={"name": model},
        prune={"method": method, "warmup": False},
        train={"epochs": 1, "batch_size": batch, "eval_every": 1, "save_every": 1, "ema": 0.0},
    )


def subset(ds: SkeletonSet, train: int, test: int, memory: bool) -> SkeletonSet:
    """The first ``train`` / ``test`` sequences of xsub, streamed (a view) or copied into memory."""
    split = ds.split("xsub")
    keep = np.concatenate([split.train[:train], split.test[:test]])
    seqs = ds.select(keep)
    seqs = [np.array(s) for s in seqs] if memory else seqs
    new = type(split)(np.arange(train), np.arange(train, train + test))
    return SkeletonSet(
        ds.name, seqs, ds.labels[keep], [ds.ids[i] for i in keep], ds.class_names, ds.edges, {"xsub": new}, ds.persons
    )


def train_steps(ds: SkeletonSet, cfg: RunConfig, out: Path) -> dict[str, Any]:
    """One epoch over ``ds``'s xsub train side (the steps); samples/s of the epoch (evaluation excluded)."""
    data = data_of(ds, cfg)
    shutil.rmtree(out, ignore_errors=True)
    fit(cfg, out, data=data, progress=False)
    record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    return {
        "samples": len(data.train),
        "seconds": record["seconds"],
        "samples_per_s": len(data.train) / record["seconds"],
    }


def second_run(entry: Path, workers: int, batch: int) -> dict[str, Any]:
    """Wall time of a new process from its start (imports included) to its first training step done."""
    code = f"""
import time; t0 = time.perf_counter()
import torch; torch.set_num_threads(1)
from pathlib import Path
from benchmarks.scale import config
from mrmp.data.cache import read_entry
from mrmp.engine.setup import data_of
from mrmp.engine.train import _train_step, setup
cfg = config("gcn", "dense", {workers}, {batch})
data = data_of(read_entry(Path({str(entry)!r})), cfg)
t1 = time.perf_counter()
run = setup(cfg, Path({str(entry.parent / "first-step")!r}), data=data)
sums = dict(loss=0.0, ce=0.0, kl=0.0, correct=0.0, count=0)
_train_step(run, torch.arange({batch}), 0, torch.Generator().manual_seed(0), sums)
print(t1 - t0, time.perf_counter() - t0)
"""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    ready, first = (float(v) for v in done.stdout.split())
    return {"second_run_data_ready_s": ready, "second_run_first_step_s": first, "second_run_wall_s": wall}


def load_ms(ds: SkeletonSet, cfg: RunConfig, batch: int) -> float:
    """Median milliseconds of one batch's ``load`` (+ augmentation and encoding) over the xsub train side."""
    pipeline = data_of(ds, cfg).train
    gen = torch.Generator().manual_seed(0)
    times = []
    for index in torch.randperm(len(pipeline), generator=gen).split(batch):
        t0 = time.perf_counter()
        pipeline.augmented(index, gen, pipeline.load(index))
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sequences", type=int, default=56880)
    p.add_argument("--parse-files", type=int, default=300)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="runs of each side, alternated (best kept)")
    p.add_argument("--models", default="gcn,stgcn")
    p.add_argument("--methods", default="dense,mrmp")
    p.add_argument("--out", default="runs/scale")
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    result: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    result["parse"] = parse(out / "skeleton", args.parse_files, out / "cache-parse", max(args.workers, 1))
    print(json.dumps(result["parse"]), flush=True)
    result["lookup"] = lookup(out / "names", args.sequences)
    shutil.rmtree(out / "names")
    print(json.dumps(result["lookup"]), flush=True)
    entry = out / "cache" / "ntu-synthetic"
    result["build"] = build(entry, args.sequences)
    print(json.dumps(result["build"]), flush=True)

    t0 = time.perf_counter()
    data_of(read_entry(entry), config("gcn", "dense", args.workers, args.batch))
    result["normalise_s"] = time.perf_counter() - t0  # the first run normalises the entry once
    result["second_run"] = second_run(entry, args.workers, args.batch)
    print(json.dumps({"normalise_s": result["normalise_s"], **result["second_run"]}), flush=True)
    ds = read_entry(entry)
    data = data_of(ds, config("gcn", "dense", args.workers, args.batch))

    t0 = time.perf_counter()
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))
    count = sum(len(i) for i, _ in batches(data.train, order, args.batch, args.workers))
    read = time.perf_counter() - t0
    result["read_epoch"] = {"samples": count, "seconds": read, "samples_per_s": count / read, **peak_rss_mb()}
    print(json.dumps(result["read_epoch"]), flush=True)

    small = args.steps * args.batch
    rows = []
    for model in args.models.split(","):
        for method in args.methods.split(","):
            streamed, memory = subset(ds, small, 256, memory=False), subset(ds, small, 256, memory=True)
            row: dict[str, Any] = {"model": model, "method": method}
            sides = {
                "memory": (memory, 0),
                "streamed_inline": (streamed, 0),
                "streamed_workers": (streamed, args.workers),
            }
            for side in list(sides) * args.repeats:  # alternated; the best of each side
                sequences, workers = sides[side]
                run = train_steps(sequences, config(model, method, workers, args.batch), out / "run")
                if run["samples_per_s"] > row.get(side, {}).get("samples_per_s", 0):
                    row[side] = run
            cfg = config(model, method, 0, args.batch)
            row["batch_ms"] = {
                side: load_ms(sets, cfg, args.batch) for side, sets in (("memory", memory), ("streamed", streamed))
            }
            for side in ("streamed_inline", "streamed_workers"):
                row[f"ratio_{side}"] = row[side]["samples_per_s"] / row["memory"]["samples_per_s"]
            row["rss"] = peak_rss_mb()
            rows.append(row)
            print(json.dumps(row), flush=True)
    result["train"] = rows
    result["peak_rss"] = peak_rss_mb()
    (out / "scale.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result["peak_rss"]))


if __name__ == "__main__":
    main()
