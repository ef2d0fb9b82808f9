"""Skeleton graphs as pure functions from edge lists to normalised adjacency (V, V)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from mrmp.errors import ConfigError

__all__ = ["adjacency", "normalize_adjacency", "skeleton_adjacency"]


def adjacency(edges: Iterable[tuple[int, int]], num_nodes: int, self_loops: bool = True) -> Tensor:
    """Symmetric 0/1 adjacency (V, V) of undirected ``edges`` (0-based joint pairs).

    >>> adjacency([(0, 1)], 3).tolist()
    [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    a = torch.zeros(num_nodes, num_nodes)
    for i, j in edges:
        if not (0 <= i < num_nodes and 0 <= j < num_nodes):
            raise ConfigError(f"edge ({i}, {j}) out of range for {num_nodes} joints")
        a[i, j] = a[j, i] = 1.0
    if self_loops:
        a += torch.eye(num_nodes) * (1 - a.diagonal())
    return a


def normalize_adjacency(a: Tensor) -> Tensor:
    """Symmetric normalisation D^-1/2 A D^-1/2 (isolated nodes keep zero rows)."""
    deg = a.sum(1)
    inv = torch.where(deg > 0, deg.rsqrt(), torch.zeros_like(deg))
    return inv[:, None] * a * inv[None, :]


def skeleton_adjacency(edges: Iterable[tuple[int, int]], num_nodes: int) -> Tensor:
    """Normalised adjacency with self-loops, the fixed graph head of the backbones."""
    return normalize_adjacency(adjacency(edges, num_nodes, self_loops=True))
