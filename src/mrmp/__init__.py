"""mrmp: one-shot multi-rate pruning of graph convolutional networks.

>>> import mrmp
>>> mrmp.__version__
'0.1.0'
"""

from __future__ import annotations

__version__ = "0.1.0"

from mrmp.errors import CheckpointError, ConfigError, DataError, MrmpError  # noqa: E402

# multi-rate pruning of any PyTorch model, in your own training loop
from mrmp.config import PruneConfig  # noqa: E402
from mrmp.engine.objective import Objective  # noqa: E402
from mrmp.engine.train import sample_rates, sigma_at  # noqa: E402
from mrmp.pruning import MultiRate, multirate  # noqa: E402

__all__ = [
    "__version__",
    "MrmpError",
    "DataError",
    "ConfigError",
    "CheckpointError",
    "load_exported",
    "multirate",
    "MultiRate",
    "Objective",
    "PruneConfig",
    "sample_rates",
    "sigma_at",
]


def __getattr__(name: str) -> object:
    """``mrmp.load_exported``, imported on first use (deployment stays out of ``import mrmp``)."""
    if name == "load_exported":
        from mrmp.deploy import load_exported

        return load_exported
    raise AttributeError(f"module 'mrmp' has no attribute {name!r}")
