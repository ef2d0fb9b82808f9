"""mrmp: one-shot multi-rate pruning of graph convolutional networks.

Importing :mod:`mrmp` loads the pruning library only (torch and :mod:`mrmp.pruning`); the trainer,
the datasets and deployment are imported on first use of their names (``mrmp.fit``,
``mrmp.load_exported``, …).

>>> import mrmp
>>> mrmp.__version__
'0.1.0'
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from mrmp.errors import CheckpointError, ConfigError, DataError, MrmpError

# multi-rate pruning of any PyTorch model, in your own training loop
from mrmp.pruning import (
    MultiRate,
    MultiRateLoss,
    Scope,
    check_rate,
    magnitude_prune,
    multirate,
    parse_rates,
    sample_rates,
    sigma_at,
)

#: Names reached lazily: public name -> module that defines it.
_LAZY = {
    "fit": "mrmp.engine",
    "FitResult": "mrmp.engine",
    "load_exported": "mrmp.deploy",
    "PruneConfig": "mrmp.config",
    "RunConfig": "mrmp.config",
}

__all__ = [
    "__version__",
    "MrmpError",
    "DataError",
    "ConfigError",
    "CheckpointError",
    "multirate",
    "MultiRate",
    "MultiRateLoss",
    "Scope",
    "magnitude_prune",
    "check_rate",
    "parse_rates",
    "sample_rates",
    "sigma_at",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import the trainer, configs and deployment on first access."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mrmp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
