"""Skeleton datasets: loaders for SBU, FPHA, ``.npz`` archives and a synthetic set.

Every loader returns a :class:`SkeletonSet` of float32 sequences (T, V, C). Real datasets
are found through ``root`` or, when it is omitted, the ``MRMP_DATA`` environment variable
(``$MRMP_DATA/sbu``, ``$MRMP_DATA/fpha``).
"""

from __future__ import annotations

import os
from pathlib import Path

from mrmp.data.base import SkeletonSet, Split
from mrmp.data.fpha import load_fpha
from mrmp.data.npz import load_npz
from mrmp.data.sbu import load_sbu
from mrmp.data.synthetic import make_synthetic
from mrmp.errors import ConfigError

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "SkeletonSet",
    "Split",
    "load_dataset",
    "load_fpha",
    "load_npz",
    "load_sbu",
    "make_synthetic",
]

DATASETS: tuple[str, ...] = ("sbu", "fpha", "npz", "synthetic")
#: Environment variable naming the folder that holds ``sbu/`` and ``fpha/``.
DATA_ENV = "MRMP_DATA"


def load_dataset(
    name: str, root: str | Path | None = None, *, skip_bad: bool = False, seed: int = 0,
    coords: str = "physical",
) -> SkeletonSet:
    """Load a dataset by name.

    Args:
        name: One of ``sbu``, ``fpha``, ``npz``, ``synthetic``.
        root: The dataset folder (sbu, fpha) or ``.npz`` file (npz); for sbu and fpha it
            defaults to ``$MRMP_DATA/<name>``. Ignored by ``synthetic``.
        skip_bad: Skip malformed sequences instead of raising (listed in ``skipped``).
        seed: Seed of the ``synthetic`` dataset.
        coords: ``physical`` or ``native`` coordinates (SBU: metres or the files' normalised values).

    Raises:
        ConfigError: Unknown name, or no location given for a dataset that needs one.
        DataError: Missing or malformed data.
    """
    if name == "synthetic":
        return make_synthetic(seed=seed)
    if name == "npz":
        if root is None:
            raise ConfigError("dataset 'npz' needs a file: pass --data PATH.npz")
        return load_npz(Path(root), skip_bad=skip_bad)
    if name in ("sbu", "fpha"):
        folder = Path(root) if root is not None else _default_root(name)
        if name == "sbu":
            return load_sbu(folder, skip_bad=skip_bad, metres=coords == "physical")
        return load_fpha(folder, skip_bad=skip_bad)
    raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def _default_root(name: str) -> Path:
    """``$MRMP_DATA/<name>``, or a :class:`ConfigError` saying how to point at the data."""
    base = os.environ.get(DATA_ENV)
    if not base:
        raise ConfigError(
            f"no data folder for dataset {name!r}: pass --data PATH or set {DATA_ENV} "
            f"to the folder holding {name}/ (e.g. {DATA_ENV}=../shared/data)"
        )
    return Path(base) / name
