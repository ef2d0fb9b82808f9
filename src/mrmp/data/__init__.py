"""Skeleton datasets: loaders for SBU, FPHA, NTU RGB+D, pyskl annotations, ``.npz`` archives and a synthetic set.

Every loader returns a :class:`SkeletonSet` of float32 sequences (T, V, C). Real datasets
are found through ``root`` or, when it is omitted, the ``MRMP_DATA`` environment variable
(``$MRMP_DATA/sbu``, ``$MRMP_DATA/fpha``, ``$MRMP_DATA/ntu``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mrmp.data.base import SkeletonSet, Split
from mrmp.data.cache import default_cache
from mrmp.data.fpha import load_fpha
from mrmp.data.npz import load_npz
from mrmp.data.ntu import load_ntu
from mrmp.data.pyskl import load_pyskl
from mrmp.data.sbu import load_sbu
from mrmp.data.synthetic import make_synthetic
from mrmp.errors import ConfigError

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "dataset_recipe",
    "SkeletonSet",
    "Split",
    "load_dataset",
    "load_fpha",
    "load_npz",
    "load_ntu",
    "load_pyskl",
    "load_sbu",
    "make_synthetic",
]

#: Environment variable naming the folder that holds ``sbu/`` and ``fpha/``.
DATA_ENV = "MRMP_DATA"


@dataclass(frozen=True)
class LoadOptions:
    """Settings every loader is given (each uses those that apply to it)."""

    skip_bad: bool = False
    seed: int = 0
    coords: str = "physical"
    cache: Path | None = None
    workers: int = 0


@dataclass(frozen=True)
class _Source:
    """How to load one dataset: ``load(root, options)``; where its files are; the training
    settings measured best on it, where they differ from the defaults (``recipe``,
    ``{section: {field: value}}``; see ``docs/results.md`` §1), and those of single methods on
    top of it (``methods``, by method name: e.g. a pruned phase with its own batch size and lr;
    ``docs/results.md`` §4) and of backbones other than the paper's GCN (``models``, by model
    name, on top of the backbone's own schedule: :data:`mrmp.models.MODEL_RECIPES`)."""

    load: Callable[[Path | None, LoadOptions], SkeletonSet]
    location: Literal["folder", "file", "none"]
    recipe: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    models: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


_FPHA_MULTIRATE = {
    "train": {"batch_size": 128, "lr": 5e-3},
    "prune": {"phase_fraction": 0.375},
}

#: Dataset name -> loader; the one list the CLI, configs and :func:`load_dataset` use.
DATASETS: dict[str, _Source] = {
    "sbu": _Source(
        lambda root, o: load_sbu(root, skip_bad=o.skip_bad, metres=o.coords == "physical"),
        "folder",
        {
            # an interaction's class is either person's; each joint's distances to all joints of both
            # persons, with 5 test clips: +0.6 over 5 seeds; the clips 0.7 of the sequence long instead of
            # the mean training crop's 0.8: +0.4 over 8 seeds (GCN), +0.15 over 5 (ST-GCN); training crops
            # up to 60 % instead of 40 %: +0.3 over 8 seeds (GCN), +0.7 over 5 (ST-GCN) (results §1)
            "features": {
                "crop": 0.6,
                "swap_persons": 0.5,
                "test_swap": True,
                "streams": ("joint", "bone", "distance"),
                "clips": 5,
                "clip_lengths": (0.7,),
            },
            "model": {"stgcn_persons": "graph"},  # ST-GCN: both persons in one graph (results §1)
        },
        # MRMP's latents pulled towards a Laplace prior, as on FPHA (results §4); its pruned phase on
        # crops ≤ 40 % from the dense runs' 60 %: +0.8 at 0.98 over 5 seeds, level at 0.95 (results §3)
        {"mrmp": {"prune": {"prior": "laplace"}, "features": {"crop": 0.4}}},
        # ST-GCN: 350 epochs instead of its 200 (bf16 makes them fit SBU's 5 minutes), 5 test clips
        # (+0.9 over one pass), joint, bone and motion streams without coordinate noise instead of the
        # distances (results §1)
        models={
            "stgcn": {
                "train": {"epochs": 350},
                "prune": {"warmup_epochs": 350},
                "features": {"clips": 5, "streams": ("joint", "bone", "motion"), "noise": 0.0},
            },
        },
    ),
    "fpha": _Source(
        lambda root, o: load_fpha(root, skip_bad=o.skip_bad),
        "folder",
        {
            "train": {"lr": 3e-3, "epochs": 1200, "weight_decay": 1e-4, "mixup": 0.2},  # mixup: +1.8 (results §1)
            "prune": {"warmup_epochs": 1200},
            # each joint's distances to the others: +2.8 (results §1)
            "features": {"clips": 5, "streams": ("joint", "bone", "distance")},
        },
        # the multi-rate pruned phases: half as many steps of twice the batch (each of a step's 4
        # rates sees 32 sequences instead of 16), 450 epochs at lr 5e-3 (multi-rate magnitude, the
        # ablation of MRMP, gets the same), the warm-up stays the dense recipe; MRMP's latents
        # pulled towards a Laplace prior (results §4)
        {
            "mrmp": {**_FPHA_MULTIRATE, "prune": {**_FPHA_MULTIRATE["prune"], "prior": "laplace"}},
            "mrmag": _FPHA_MULTIRATE,
        },
        # ST-GCN: 300 epochs instead of its 200; a learned graph per block (with the recipe's mixup +5.5
        # here, −0.4 on SBU's seed 0), the classifier on each joint's features (+2.3 over 3 seeds with
        # 32-64-64 channels, then level with the GCN over 5; 48-96-96 gave the pooled head +1.6 at 1.8×
        # the time), one test pass, which beats 5 clips by 1.0 with mixup, no distance stream (−2.1,
        # seed 0): results §1
        models={
            "stgcn": {
                "model": {"stgcn_adaptive": True, "stgcn_head": "joints"},
                "train": {"epochs": 300},
                "prune": {"warmup_epochs": 300},
                "features": {"clips": 1, "streams": ("joint", "bone")},
            }
        },
    ),
    "ntu": _Source(lambda root, o: load_ntu(root, skip_bad=o.skip_bad, cache=o.cache, processes=o.workers), "folder"),
    "npz": _Source(lambda root, o: load_npz(root, skip_bad=o.skip_bad), "file"),
    "pyskl": _Source(lambda root, o: load_pyskl(root, skip_bad=o.skip_bad, cache=o.cache), "file"),
    "synthetic": _Source(lambda root, o: make_synthetic(seed=o.seed), "none"),
}


def dataset_recipe(name: str, method: str | None = None, model: str | None = None) -> dict[str, dict[str, Any]]:
    """The measured best settings of dataset ``name`` that differ from the config defaults ({} if none);
    with ``method``, only those of that method on top of them (what ``mrmp train --method METHOD``
    adds over the method's own defaults); with ``model``, only those of that backbone on top of
    them and of the backbone's own schedule.

    >>> dataset_recipe("fpha")["train"]
    {'lr': 0.003, 'epochs': 1200, 'weight_decay': 0.0001, 'mixup': 0.2}
    >>> dataset_recipe("fpha", "mrmp")["train"]
    {'batch_size': 128, 'lr': 0.005}
    >>> dataset_recipe("sbu", "mrmp")
    {'prune': {'prior': 'laplace'}, 'features': {'crop': 0.4}}
    """
    source = DATASETS.get(name)
    if source is None:
        return {}
    if model is not None:
        recipe = source.models.get(model, {})
    else:
        recipe = source.recipe if method is None else source.methods.get(method, {})
    return {section: dict(values) for section, values in recipe.items()}


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    skip_bad: bool = False,
    seed: int = 0,
    coords: str = "physical",
    cache: str | Path | None = None,
    workers: int = 0,
) -> SkeletonSet:
    """Load a dataset by name.

    Args:
        name: A key of :data:`DATASETS`: ``sbu``, ``fpha``, ``ntu``, ``npz``, ``pyskl``, ``synthetic``.
        root: The dataset folder (sbu, fpha, ntu) or file (npz, pyskl); for the folders it
            defaults to ``$MRMP_DATA/<name>``. ``synthetic`` takes none.
        skip_bad: Skip malformed sequences instead of raising (listed in ``skipped``).
        seed: Seed of the ``synthetic`` dataset.
        coords: ``physical`` or ``native`` coordinates (SBU: metres or the files' normalised values).
        cache: ``ntu`` and ``pyskl``: a cache folder to parse into once and stream from, ``auto``
            (:func:`~mrmp.data.cache.default_cache`); None or ``off``: in memory.
        workers: ``ntu``: parse on this many worker processes (0: in this one).

    Raises:
        ConfigError: Unknown name, no location given for a dataset that needs one, or one given
            for a built-in dataset.
        DataError: Missing or malformed data.
    """
    source = DATASETS.get(name)
    if source is None:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if source.location == "none" and root is not None:
        raise ConfigError(f"dataset {name!r} is built in and reads no files; drop --data {root}")
    if source.location == "file" and root is None:
        raise ConfigError(f"dataset {name!r} needs a file: pass --data PATH")
    if source.location == "folder":
        root = Path(root) if root is not None else _default_root(name)
    folder = None if cache in (None, "off") else default_cache() if cache == "auto" else Path(cache)
    options = LoadOptions(skip_bad=skip_bad, seed=seed, coords=coords, cache=folder, workers=workers)
    return source.load(None if root is None or source.location == "none" else Path(root), options)


def _default_root(name: str) -> Path:
    """``$MRMP_DATA/<name>``, or a :class:`ConfigError` saying how to point at the data."""
    base = os.environ.get(DATA_ENV)
    if not base:
        raise ConfigError(
            f"no data folder for dataset {name!r}: pass --data PATH or set {DATA_ENV} "
            f"to the folder holding {name}/ (e.g. {DATA_ENV}=../shared/data)"
        )
    return Path(base) / name
