"""mrmp: one-shot multi-rate pruning of graph convolutional networks.

>>> import mrmp
>>> mrmp.__version__
'0.1.0'
"""

from __future__ import annotations

__version__ = "0.1.0"

from mrmp.errors import CheckpointError, ConfigError, DataError, MrmpError  # noqa: E402

__all__ = [
    "__version__",
    "MrmpError",
    "DataError",
    "ConfigError",
    "CheckpointError",
]
