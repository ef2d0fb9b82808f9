"""What a model needs from its dataset: :class:`Meta`, stored in every checkpoint and export.

A leaf module (dataclasses only) so that readers of exported files need neither the data
loaders nor the training engine.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["Meta"]


@dataclass(frozen=True)
class Meta:
    """What a model needs from its dataset, stored in every checkpoint.

    >>> m = Meta(3, 2, 4, 1, ((0, 1),), 1.5, ("a", "b", "c", "d"))
    >>> Meta.from_dict(m.to_dict()) == m
    True
    """

    in_features: int
    num_joints: int
    num_classes: int
    persons: int
    edges: tuple[tuple[int, int], ...]
    scale: float
    class_names: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "edges": [list(e) for e in self.edges]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Meta:
        return cls(**{**d, "edges": tuple(tuple(e) for e in d["edges"]), "class_names": tuple(d["class_names"])})
