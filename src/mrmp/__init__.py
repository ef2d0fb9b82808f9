"""mrmp: one-shot multi-rate pruning of graph convolutional networks.

>>> import mrmp
>>> mrmp.__version__
'0.1.0'
"""

from __future__ import annotations

__version__ = "0.1.0"

from mrmp.errors import CheckpointError, ConfigError, DataError, MrmpError  # noqa: E402
from mrmp.export import load_exported  # noqa: E402

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
