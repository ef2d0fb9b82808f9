"""Body geometry of padded skeleton batches: person order, centring, size, view alignment, bones.

Pure functions over padded sequences ``x`` of layout (N, T, V, C) — V = M persons × J joints, the
persons' joint blocks one after the other — with ``lengths`` (N,) valid frames; padded frames are
zero on input and stay zero on output, and so do absent persons (a block of zeros, e.g. the
second body of a one-person NTU sequence), which centring and size leave out. Joint indices
(``root``, axes) are within one person.

>>> import torch
>>> x = torch.tensor([[[[1.0, 2.0, 3.0], [2.0, 2.0, 3.0]]]])  # 1 sequence, 1 frame, 2 joints
>>> centre(x, torch.tensor([1]), roots=[0], mode="frame")[0, 0].tolist()
[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from mrmp.errors import ConfigError

__all__ = [
    "CENTRES",
    "valid_mask",
    "present_persons",
    "person_roots",
    "most_connected_joint",
    "parents_from_edges",
    "bones",
    "order_persons",
    "roll_persons",
    "centre",
    "mean_bone_length",
    "canonical_frame",
    "align",
    "mirror_signs",
    "mirror",
]

Centre = Literal["none", "centroid", "sequence", "frame"]
CENTRES: tuple[str, ...] = ("none", "centroid", "sequence", "frame")
_EPS = 1e-8


def valid_mask(x: Tensor, lengths: Tensor) -> Tensor:
    """(N, T) float mask of the valid frames of padded ``x`` (N, T, …)."""
    return (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).to(x.dtype)


def present_persons(x: Tensor, persons: int) -> Tensor:
    """(N, M) float mask of the persons with any non-zero coordinate in ``x`` (N, T, V, C).

    >>> present_persons(torch.tensor([[[[1.0], [0.0]]]]), 2).tolist()
    [[1.0, 0.0]]
    """
    n, t = x.shape[:2]
    return x.reshape(n, t, persons, -1).ne(0).any(3).any(1).to(x.dtype)


def _time_mean(values: Tensor, w: Tensor) -> Tensor:
    """Mean over valid frames of ``values`` (N, T, …) with mask ``w`` (N, T) -> (N, …)."""
    shape = (*w.shape, *([1] * (values.dim() - 2)))
    return (values * w.view(shape)).sum(1) / w.sum(1).clamp(min=1).view(-1, *([1] * (values.dim() - 2)))


def person_roots(root: int, joints: int, persons: int) -> list[int]:
    """Indices of ``root`` in each person's joint block (``joints`` = V, all persons)."""
    per = joints // persons
    return [p * per + root for p in range(persons)]


def most_connected_joint(edges: Sequence[tuple[int, int]], joints: int) -> int:
    """The joint with the most bones (the lowest index on ties): a root when none is named.

    >>> most_connected_joint([(0, 1), (1, 2), (1, 3)], 4)
    1
    """
    degree = [0] * joints
    for i, j in edges:
        if i < joints and j < joints:
            degree[i] += 1
            degree[j] += 1
    return max(range(joints), key=lambda k: (degree[k], -k))


def parents_from_edges(edges: Sequence[tuple[int, int]], joints: int, roots: Sequence[int]) -> list[int]:
    """Parent of each joint in the breadth-first trees of ``edges`` grown from ``roots``.

    Roots and joints no root reaches are their own parents (their bone is zero).

    >>> parents_from_edges([(0, 1), (1, 2)], 3, roots=[1])
    [1, 1, 1]
    """
    neighbours: list[list[int]] = [[] for _ in range(joints)]
    for i, j in edges:
        neighbours[i].append(j)
        neighbours[j].append(i)
    parent = list(range(joints))
    seen = set(roots)
    queue = deque(roots)
    while queue:
        i = queue.popleft()
        for j in sorted(neighbours[i]):
            if j not in seen:
                seen.add(j)
                parent[j] = i
                queue.append(j)
    return parent


def bones(x: Tensor, parents: Sequence[int]) -> Tensor:
    """Bone vectors child − parent (N, T, V, C); a root's bone is zero."""
    return x - x[:, :, list(parents)]


def roll_persons(x: Tensor, persons: int, shift: int = 1) -> Tensor:
    """The persons' joint blocks of (N, T, V, C) sequences cycled by ``shift`` (V = persons blocks)."""
    n, t, v, c = x.shape
    return x.reshape(n, t, persons, v // persons, c).roll(shift, dims=2).reshape(n, t, v, c)


def order_persons(x: Tensor, lengths: Tensor, persons: int) -> Tensor:
    """Reorder each sequence's persons by decreasing motion energy (the most active first).

    Energy: the summed squared frame-to-frame displacement of a person's joints over valid frames.
    """
    if persons < 2:
        return x
    n, t, v, c = x.shape
    w = valid_mask(x, lengths)
    step = (x[:, 1:] - x[:, :-1]) * (w[:, 1:] * w[:, :-1])[:, :, None, None]
    energy = step.pow(2).reshape(n, t - 1, persons, v // persons, c).sum((1, 3, 4))  # (N, M)
    order = energy.argsort(dim=1, descending=True, stable=True)  # (N, M)
    blocks = x.reshape(n, t, persons, v // persons, c)
    index = order[:, None, :, None, None].expand_as(blocks)
    return torch.gather(blocks, 2, index).reshape(n, t, v, c)


def centre(x: Tensor, lengths: Tensor, roots: Sequence[int], mode: Centre) -> Tensor:
    """Translate each sequence so that its root sits at the origin.

    Args:
        x: Padded sequences (N, T, V, C).
        lengths: Valid frames (N,).
        roots: Root joint of each person (indices over V); their mean is the root point
            (for two persons, the midpoint of their roots).
        mode: ``frame``: the root point of each frame; ``sequence``: its mean over the valid
            frames (the motion of the body is kept); ``centroid``: the mean of all joints over
            the valid frames; ``none``: no translation.
    """
    w = valid_mask(x, lengths)
    if mode == "none":
        return x
    if mode == "centroid":
        offset = ((x * w[:, :, None, None]).sum((1, 2)) / (w.sum(1) * x.shape[2])[:, None])[:, None, None, :]
    elif mode in ("sequence", "frame"):
        here = present_persons(x, len(roots)) if len(roots) > 1 else torch.ones(x.shape[0], 1, dtype=x.dtype)
        weight = here / here.sum(1, keepdim=True).clamp(min=1)  # (N, M): the present persons' roots
        point = (x[:, :, list(roots)] * weight[:, None, :, None]).sum(2)  # (N, T, C)
        offset = point[:, :, None, :] if mode == "frame" else _time_mean(point, w)[:, None, None, :]
    else:
        raise ConfigError(f"unknown centring {mode!r}; choose one of {CENTRES}")
    return (x - offset) * w[:, :, None, None] * _person_mask(x, len(roots))


def _person_mask(x: Tensor, persons: int) -> Tensor:
    """(N, 1, V, 1) mask keeping the present persons' joints (all of them when one person)."""
    if persons < 2:
        return torch.ones(1, 1, 1, 1, dtype=x.dtype)
    return present_persons(x, persons).repeat_interleave(x.shape[2] // persons, 1)[:, None, :, None]


def mean_bone_length(x: Tensor, lengths: Tensor, edges: Sequence[tuple[int, int]], persons: int = 1) -> Tensor:
    """Mean length (N,) of the bones ``edges`` of the present persons over each sequence's valid frames (> 0)."""
    if not edges:
        return torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    i, j = (list(k) for k in zip(*edges, strict=False))
    bone = (x[:, :, i] - x[:, :, j]).norm(dim=-1)  # (N, T, E)
    if persons > 1:
        owner = torch.tensor(i) // (x.shape[2] // persons)
        here = present_persons(x, persons)[:, owner]  # (N, E)
        length = (bone * here[:, None]).sum(2) / here.sum(1).clamp(min=1)[:, None]
    else:
        length = bone.mean(2)  # (N, T)
    return _time_mean(length, valid_mask(x, lengths)).clamp(min=_EPS)


def canonical_frame(primary: Tensor, secondary: Tensor) -> Tensor:
    """Rotations (N, 3, 3) taking ``primary`` (N, 3) to +x and ``secondary`` into the x–y plane (+y side).

    Gram–Schmidt: e₁ = p/|p|, e₂ = the part of s orthogonal to e₁, normalised, e₃ = e₁ × e₂; the rows
    of the result are e₁, e₂, e₃. Where an axis vanishes or the two are parallel, the identity.
    """
    e1 = primary / primary.norm(dim=1, keepdim=True).clamp(min=_EPS)
    s = secondary - (secondary * e1).sum(1, keepdim=True) * e1
    e2 = s / s.norm(dim=1, keepdim=True).clamp(min=_EPS)
    rot = torch.stack([e1, e2, torch.linalg.cross(e1, e2)], 1)
    ok = (primary.norm(dim=1) > _EPS) & (s.norm(dim=1) > 1e-6 * primary.norm(dim=1).clamp(min=_EPS))
    eye = torch.eye(3, dtype=rot.dtype, device=rot.device).expand_as(rot)
    return torch.where(ok[:, None, None], rot, eye)


def align(x: Tensor, lengths: Tensor, primary: Tensor, secondary: Tensor) -> Tensor:
    """Rotate each sequence (about the origin) into the canonical frame of two body axes.

    Args:
        x: Padded sequences (N, T, V, 3), already centred.
        lengths: Valid frames (N,).
        primary: Per-frame primary axis vectors (N, T, 3) (e.g. person 1's root → person 2's,
            or wrist → middle knuckle); their mean over valid frames is mapped onto +x.
        secondary: Per-frame secondary axis vectors (N, T, 3) (e.g. the spine, or across the
            palm); their mean, made orthogonal to the first, is mapped onto +y.
    """
    if x.shape[-1] != 3:
        raise ConfigError(f"view alignment needs 3-D joints, got {x.shape[-1]} coordinates")
    w = valid_mask(x, lengths)
    rot = canonical_frame(_time_mean(primary, w), _time_mean(secondary, w))
    return torch.einsum("ntvc,ndc->ntvd", x, rot)


def _axis_sign(joints: Sequence[int], axis: tuple[int, int] | None) -> float:
    """−1 for an axis whose ends the mirror ``joints`` exchange, +1 otherwise (a central axis)."""
    return -1.0 if axis is not None and (joints[axis[0]], joints[axis[1]]) == (axis[1], axis[0]) else 1.0


def mirror_signs(
    joints: Sequence[int], coords: int, axes: tuple[tuple[int, int] | None, tuple[int, int] | None] | None = None
) -> tuple[float, ...]:
    """Coordinate signs (C,) of the mirror image of normalised sequences whose joints are relabelled by ``joints``.

    Unaligned data (``axes`` None) and 2-D data: x is negated, a horizontal flip as of an image.
    View-aligned 3-D data (``axes``: the primary and secondary alignment axes as joint pairs of
    one person; None for an axis between persons' roots): the mirror image of the recording,
    normalised again, is the normalised sequence relabelled, with its canonical coordinates times
    (s₁, s₂, −s₁s₂), where s = −1 for an axis whose ends the mirror exchanges (left → right
    shoulder) and +1 for one it fixes (the spine, the axis between two persons): the reflected
    axes give the reflected frame up to those signs, and the cross product flips the third.

    >>> sbu = (0, 1, 2, 6, 7, 8, 3, 4, 5, 12, 13, 14, 9, 10, 11)
    >>> mirror_signs(sbu, 3, (None, (2, 1))), mirror_signs(sbu, 3, ((3, 6), (2, 1))), mirror_signs(sbu, 3)
    ((1.0, 1.0, -1.0), (-1.0, 1.0, 1.0), (-1.0, 1.0, 1.0))
    """
    if axes is None or coords != 3:
        return (-1.0,) + (1.0,) * (coords - 1)
    s1, s2 = (_axis_sign(joints, a) for a in axes)
    return (s1, s2, -s1 * s2)


def mirror(x: Tensor, joints: Sequence[int], persons: int, signs: Sequence[float]) -> Tensor:
    """The mirror image of (N, T, V, C) sequences: each person's joints relabelled by ``joints``
    (one person's permutation) and each coordinate multiplied by its sign (see :func:`mirror_signs`).

    >>> x = torch.tensor([[[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]]])  # joints 0 and 1 exchanged by the mirror
    >>> mirror(x, (1, 0), 1, (1.0, 1.0, -1.0)).tolist()
    [[[[3.0, 4.0, -5.0], [0.0, 1.0, -2.0]]]]
    """
    per = x.shape[2] // persons
    index = [p * per + j for p in range(persons) for j in joints]
    return x[:, :, index] * torch.tensor(signs, dtype=x.dtype, device=x.device)
