"""The whole training recipe in one run: a dense warm-up phase, then the pruned phase warm-started from it.

``mrmp train`` calls :func:`fit_recipe`. For a method whose :meth:`~mrmp.methods.Method.uses_warmup`
holds (SRMP, MRMP, GMP and multi-rate magnitude with ``prune.warmup`` and no ``prune.source``), it
trains the dense backbone for ``prune.warmup_epochs`` into ``OUT/dense/`` (a normal dense run:
checkpoint, log, metrics, usable with ``--compare``), then the pruned phase into ``OUT`` with
``prune.source = OUT/dense/checkpoint.pt`` (its start: latents Ŵ = W / s, or the dense weights).
Any other run is :func:`~mrmp.engine.train.fit` itself.

Resuming continues the dense phase if it is unfinished, else the pruned phase; each phase is
resumed by :func:`~mrmp.engine.train.fit`, so a resumed recipe ends with exactly the metrics and
weights of an uninterrupted one. ``OUT/metrics.json`` (the pruned phase's last epoch record)
then reports the training time of both phases, the sums of their logs' epoch ``seconds``:
``seconds_warmup`` (dense) and ``seconds`` (pruned; in a plain run ``seconds`` is that of the last
epoch).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mrmp.config import RunConfig
from mrmp.config_fields import Changes, fill_defaults
from mrmp.data import dataset_recipe
from mrmp.engine import distributed as dist
from mrmp.engine.runfiles import log_seconds, write_json
from mrmp.engine.setup import Data, load_data
from mrmp.engine.train import FitResult, fit
from mrmp.methods import Dense, get_method
from mrmp.models import MODEL_RECIPES

__all__ = ["WARMUP_DIR", "dense_recipe", "fit_recipe", "warmup_config", "is_recipe", "recipe_config"]

#: Sub-folder of a recipe run that holds its dense phase.
WARMUP_DIR = "dense"


def _merged(*layers: Changes) -> Changes:
    out: Changes = {}
    for layer in layers:
        for section, values in layer.items():
            out[section] = {**out.get(section, {}), **values}
    return out


def dense_recipe(dataset: str, model: str) -> Changes:
    """The dense settings of backbone ``model`` on ``dataset`` that differ from the config defaults:
    the dataset's recipe, the backbone's own schedule (:data:`~mrmp.models.MODEL_RECIPES`), then
    the dataset's settings for that backbone (each over the previous)."""
    return _merged(dataset_recipe(dataset), MODEL_RECIPES.get(model, {}), dataset_recipe(dataset, model=model))


def recipe_config(cfg: RunConfig, given: Sequence[Changes] = ()) -> RunConfig:
    """``cfg`` with the defaults ``mrmp train`` fills in, wherever none of the ``given`` changes
    (a config file's, the flags') sets a field: the dataset's recipe for the backbone
    (:func:`dense_recipe`), its settings for the method, then the method's epochs
    (:meth:`~mrmp.methods.Method.default_epochs`). Where the method's settings change the lr, the
    batch size or the temporal crop (none given), the dense warm-up keeps the dense recipe's
    (``prune.warmup_lr``, ``prune.warmup_batch_size``, ``prune.warmup_crop``)."""
    given = list(given)
    recipe = dense_recipe(cfg.data.dataset, cfg.model.name)
    cfg = fill_defaults(cfg, recipe, given)
    method = dataset_recipe(cfg.data.dataset, cfg.prune.method)
    if method:
        dense = RunConfig().replace(**recipe)
        warm: dict[str, Any] = {"warmup_lr": dense.train.lr, "warmup_batch_size": dense.train.batch_size}
        if "crop" in method.get("features", {}) and not any("crop" in g.get("features", {}) for g in given):
            warm["warmup_crop"] = dense.features.crop
        method = {**method, "prune": {**warm, **method.get("prune", {})}}
    cfg = fill_defaults(cfg, method, given)
    epochs = get_method(cfg.prune.method).default_epochs(cfg.prune)
    return cfg if epochs is None else fill_defaults(cfg, {"train": {"epochs": epochs}}, given)


def warmup_config(cfg: RunConfig) -> RunConfig:
    """The dense phase of ``cfg``: a dense run of ``prune.warmup_epochs`` (at ``prune.warmup_lr``,
    ``prune.warmup_batch_size`` and ``prune.warmup_crop`` where set) with its other settings."""
    pc, tc = cfg.prune, cfg.train
    train = {
        "epochs": pc.warmup_epochs,
        "lr": pc.warmup_lr or tc.lr,
        "batch_size": pc.warmup_batch_size or tc.batch_size,
    }
    crop = cfg.features.crop if pc.warmup_crop is None else pc.warmup_crop
    dense = {
        "method": Dense.name,
        "source": None,
        "warmup": False,
        "warmup_lr": 0.0,
        "warmup_batch_size": 0,
        "warmup_crop": None,
    }
    return cfg.replace(prune=dense, train=train, features={"crop": crop})


def is_recipe(cfg: RunConfig, out: Path, resume: bool) -> bool:
    """Whether the run of ``cfg`` in ``out`` has a dense phase (resumed: ``out`` holds one)."""
    pc = cfg.prune
    if not resume:
        return get_method(pc.method).uses_warmup(pc)
    return get_method(pc.method).uses_warmup(replace(pc, source=None)) and (out / WARMUP_DIR / "config.json").exists()


def fit_recipe(
    cfg: RunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    data: Data | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> FitResult:
    """Train ``cfg`` into ``out``, with its dense warm-up phase first where it has one.

    Arguments as in :func:`~mrmp.engine.train.fit` (``on_epoch_end`` is called in both phases);
    ``resume``: continue the run in ``out`` with its stored config, in the phase where it stopped.
    """
    out = Path(out)
    stored = out / "config.json"
    if resume and stored.exists():
        cfg = RunConfig.from_stored(json.loads(stored.read_text()))
    if not is_recipe(cfg, out, resume):
        return fit(cfg, out, resume=resume, data=data, progress=progress, on_epoch_end=on_epoch_end)
    dense_out = out / WARMUP_DIR
    pruned = cfg.replace(prune={"source": str(dense_out / "checkpoint.pt")})
    data = data or load_data(cfg)
    common: dict[str, Any] = {"data": data, "progress": progress, "on_epoch_end": on_epoch_end}
    started = resume and (out / "checkpoint.pt").exists()  # the pruned phase has begun
    if not started:
        if dist.context(cfg.train.device).is_main:
            out.mkdir(parents=True, exist_ok=True)
            write_json(stored, pruned.to_dict())  # what --resume reads while the dense phase runs
        fit(warmup_config(cfg), dense_out, resume=resume and (dense_out / "checkpoint.pt").exists(), **common)
    result = fit(pruned, out, resume=started, **common)
    if result.metrics:
        result.metrics["seconds_warmup"] = log_seconds(dense_out / "log.jsonl")
        result.metrics["seconds"] = log_seconds(out / "log.jsonl")
        write_json(out / "metrics.json", result.metrics)
    return result
