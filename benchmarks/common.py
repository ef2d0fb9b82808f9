"""Shared helpers of the benchmark scripts: cached runs, parallel jobs, machine description.

Every training run lives in its own folder under ``--out``; a folder that already holds
``bench.json`` is reused, so an interrupted benchmark continues where it stopped, unless its run
was trained with other settings (a recipe changed under a row's name): then the benchmark stops and
names them (:func:`cache_mismatch`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from mrmp.bench import machine_info
from mrmp.config import RunConfig
from mrmp.engine import fit, load_bundle, load_data, rate_report
from mrmp.engine.recipe import dense_recipe
from mrmp.errors import ConfigError

SPLITS = {"sbu": [f"fold{i}" for i in range(5)], "fpha": ["default"], "synthetic": ["default"]}


def data_root(dataset: str, data: str | None) -> str | None:
    """Folder of a real dataset under ``data`` (or $MRMP_DATA, or ../shared/data)."""
    if dataset == "synthetic":
        return None
    base = data or os.environ.get("MRMP_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "data")
    return str(Path(base) / dataset)


def base_config(dataset: str, split: str, data: str | None, model: str = "gcn") -> RunConfig:
    """The configuration ``mrmp train --dataset DATASET --model MODEL`` gets (the dataset's recipe for
    the backbone included, :func:`~mrmp.engine.recipe.dense_recipe`) on ``split``."""
    cfg = RunConfig().replace(data={"dataset": dataset, "root": data_root(dataset, data), "split": split})
    return cfg.replace(model={"name": model}).replace(**dense_recipe(dataset, model))


#: Settings that do not change what a cached run trained: where the data and caches are, the device,
#: bookkeeping cadences, test-time views (each benchmark evaluates with its own) and the paths of a source
#: checkpoint and of a teacher run (a folder may move).
_NOT_TRAINING = {
    "data": ("root", "cache", "workers"),
    "features": ("clips", "clip_lengths", "test_swap", "test_mirror"),
    "train": ("device", "eval_every", "save_every", "save_seconds", "teacher"),
    "prune": ("source", "warmup_crop"),  # the benchmarks train every phase apart (no in-run warm-up)
}


def cache_mismatch(cfg: RunConfig, out: Path) -> str | None:
    """Why the finished run cached in ``out`` is not a run of ``cfg`` (the training settings that
    differ, ``section.field=stored (wanted: value)``), or None: it is, or ``out`` holds no finished run."""
    stored_file = out / "config.json"
    if not (out / "bench.json").exists() or not stored_file.exists():
        return None
    stored = RunConfig.from_stored(json.loads(stored_file.read_text())).to_dict()
    wanted = cfg.to_dict()
    diff = [
        f"{section}.{name}={stored[section].get(name)!r} (wanted: {value!r})"
        for section, fields in wanted.items()
        for name, value in fields.items()
        if name not in _NOT_TRAINING.get(section, ()) and stored[section].get(name) != value
    ]
    if not diff:
        return None
    return f"{out}: the cached run was trained with other settings, {', '.join(diff)}; remove it or use another --out"


def train_cached(cfg: RunConfig, out: Path) -> dict[str, Any]:
    """Train ``cfg`` into ``out`` unless done before; returns {checkpoint, seconds, cpu_seconds, metrics}.

    Raises:
        ConfigError: ``out`` holds a finished run of other training settings (:func:`cache_mismatch`).
    """
    done = out / "bench.json"
    if problem := cache_mismatch(cfg, out):
        raise ConfigError(problem)
    if done.exists():  # the folder may have moved since: the checkpoint is the one beside it
        return {**json.loads(done.read_text()), "checkpoint": str(out / "checkpoint.pt")}
    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    result = fit(cfg, out, progress=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    info = {"checkpoint": str(result.checkpoint), "seconds": seconds, "cpu_seconds": cpu, "metrics": result.metrics}
    done.write_text(json.dumps(info))
    return info


def _call(job: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    torch.set_num_threads(1)
    fn, args = job
    return fn(*args)


def run_jobs(fn: Callable[..., Any], arg_list: Iterable[tuple[Any, ...]], jobs: int) -> list[Any]:
    """``[fn(*args) for args in arg_list]``, on ``jobs`` single-threaded worker processes."""
    work = [(fn, args) for args in arg_list]
    if jobs <= 1:
        return [_call(w) for w in work]
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(_call, work))


def evaluate_rates(
    checkpoint: str, rates: Sequence[float], threshold: str | None = "prior", scope: str | None = None
) -> list[dict[str, Any]]:
    """``rate_report`` of a checkpoint at each rate (layer details dropped)."""
    torch.set_num_threads(1)
    bundle, _ = load_bundle(checkpoint)
    data = load_data(bundle.cfg, scale=bundle.meta.scale)
    out = []
    for r in rates:
        rep = rate_report(bundle, data, r, threshold, scope)
        rep.pop("layers")
        out.append(rep)
    return out


#: Test-time clips of an evaluation: (``features.clips``, ``features.clip_lengths``).
Clips = tuple[int, tuple[float, ...]]


def clip_accuracies(
    checkpoint: str, clips: Sequence[Clips], test_swap: bool | None = None, test_mirror: bool = False
) -> dict[Clips, float]:
    """Test accuracy of a checkpoint's model with each of ``clips``, cached beside it.

    ``test_swap``: evaluate with (True) or without (False) the persons' other order averaged in,
    whatever the checkpoint was trained with; None: as its config says. ``test_mirror``: likewise
    for the mirror images (with ``test_swap`` given; averaged in or not, whatever the config says).
    """
    from mrmp.engine import accuracy

    name = "clips.json" if test_swap is None else f"clips_swap{int(test_swap)}{'_mirror1' * test_mirror}.json"
    cache = Path(checkpoint).with_name(name)
    known = json.loads(cache.read_text()) if cache.exists() else {}
    missing = [c for c in clips if clips_key(c) not in known]
    if missing:
        torch.set_num_threads(1)
        bundle, _ = load_bundle(checkpoint)
        views = {} if test_swap is None else {"test_swap": test_swap, "test_mirror": test_mirror}
        for k, lengths in missing:
            data = load_data(
                bundle.cfg.replace(features={"clips": k, "clip_lengths": lengths, **views}), scale=bundle.meta.scale
            )
            known[clips_key((k, lengths))] = accuracy(bundle.model, data.test, data.test_labels)
        cache.write_text(json.dumps(known))
    return {c: known[clips_key(c)] for c in clips}


def clips_key(clips: Clips) -> str:
    """The cache key of ``clips``: ``K``, or ``K@length,length,…`` with lengths.

    >>> clips_key((5, ())), clips_key((5, (0.7, 1.0)))
    ('5', '5@0.7,1.0')
    """
    k, lengths = clips
    return f"{k}@{','.join(map(str, lengths))}" if lengths else str(k)


def machine() -> str:
    """CPU model, core count and torch version, for the results' header."""
    info = machine_info()
    return f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, 1 thread per run"


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals)
