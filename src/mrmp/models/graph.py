"""Skeleton graphs as pure functions from edge lists to normalised adjacency (V, V)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from mrmp.errors import ConfigError

__all__ = ["adjacency", "centre_depths", "hop_distances", "normalize_adjacency", "skeleton_adjacency"]


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


def hop_distances(a: Tensor) -> Tensor:
    """Shortest-path lengths in hops (V, V) over the sparsity pattern of ``a`` (entries > 0);
    ``inf`` between joints that no path joins.

    >>> hop_distances(adjacency([(0, 1), (1, 2)], 4)).tolist()
    [[0.0, 1.0, 2.0, inf], [1.0, 0.0, 1.0, inf], [2.0, 1.0, 0.0, inf], [inf, inf, inf, 0.0]]
    """
    v = a.shape[0]
    step = (a > 0) | torch.eye(v, dtype=torch.bool)
    dist = torch.full((v, v), float("inf"))
    reach = torch.eye(v, dtype=torch.bool)
    for hops in range(v):
        dist[reach & dist.isinf()] = hops
        grown = (reach.float() @ step.float()) > 0
        if torch.equal(grown, reach):
            break
        reach = grown
    return dist


def centre_depths(a: Tensor) -> Tensor:
    """Each joint's hop distance (V,) from the centre of its connected component in the graph of
    ``a``'s sparsity pattern (V, V; the diagonal ignored): the joint of
    least eccentricity (the farthest joint nearest), ties to the most connected, then the first.
    For one skeleton per component (each person), the centre is derived from the bones alone, with
    no dataset-given root (a hand's wrist, a body's neck or spine).

    >>> centre_depths(adjacency([(0, 1), (1, 2), (3, 4)], 5)).tolist()
    [1.0, 0.0, 1.0, 0.0, 1.0]
    """
    num_nodes = a.shape[0]
    a = (a > 0).float() * (1 - torch.eye(num_nodes))
    dist = hop_distances(a)
    finite = dist.isfinite()
    ecc = torch.where(finite, dist, torch.zeros_like(dist)).amax(1)
    degree = a.sum(1)
    depth = torch.empty(num_nodes)
    for i in range(num_nodes):
        members = finite[i].nonzero().flatten()
        key = [(float(ecc[j]), -float(degree[j]), int(j)) for j in members]
        depth[i] = dist[i, min(key)[2]]
    return depth
