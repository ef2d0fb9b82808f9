"""Training-time augmentation of normalised skeleton batches (N, T, V, C).

Everything acts on body-centred coordinates (see :mod:`mrmp.data.geometry`), so rotations turn the
body about its own root and scaling keeps it in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from mrmp.config import FeatureConfig
from mrmp.data.geometry import roll_persons

__all__ = [
    "augment",
    "evaluation_windows",
    "even_windows",
    "random_rotations",
    "random_shears",
    "random_windows",
    "swap_persons",
]


def random_rotations(n: int, max_deg: float, generator: torch.Generator, axes: str = "xyz") -> Tensor:
    """Random rotation matrices (N, 3, 3) composed about x, y and z, angles uniform in ±max_deg.

    Only the axes named in ``axes`` (letters among ``xyz``) are rotated about.

    >>> import torch
    >>> r = random_rotations(4, 30.0, torch.Generator().manual_seed(0))
    >>> torch.allclose(r @ r.transpose(1, 2), torch.eye(3).expand(4, 3, 3), atol=1e-6)
    True
    """
    angles = (torch.rand(n, 3, generator=generator) * 2 - 1) * math.radians(max_deg)
    angles = angles * torch.tensor([float(a in axes) for a in "xyz"])
    c, s = angles.cos(), angles.sin()
    one, zero = torch.ones(n), torch.zeros(n)

    def rot(i: int, j: int, k: int) -> Tensor:
        m = torch.stack([one, zero, zero, zero, one, zero, zero, zero, one], 1).view(n, 3, 3).clone()
        m[:, j, j], m[:, j, k], m[:, k, j], m[:, k, k] = c[:, i], -s[:, i], s[:, i], c[:, i]
        return m

    return rot(0, 1, 2) @ rot(1, 0, 2) @ rot(2, 0, 1)


def random_shears(n: int, dims: int, max_shear: float, generator: torch.Generator) -> Tensor:
    """Random shear matrices (N, C, C): the identity plus off-diagonal entries uniform in ±max_shear.

    >>> import torch
    >>> s = random_shears(4, 3, 0.3, torch.Generator().manual_seed(0))
    >>> bool((s.diagonal(dim1=1, dim2=2) == 1).all()), bool(((s - torch.eye(3)).abs() <= 0.3).all())
    (True, True)
    """
    off = (torch.rand(n, dims, dims, generator=generator) * 2 - 1) * max_shear
    return torch.eye(dims) + off * (1 - torch.eye(dims))


def swap_persons(x: Tensor, persons: int) -> Tensor:
    """The persons of (N, T, V, C) sequences in the other order, as normalisation would place them.

    The persons' joint blocks are cycled and the scene is turned 180° about the vertical (y) axis
    (x, z → −x, −z). For two persons in view-aligned data (the first person's root on −x, the
    second's on +x) the result is exactly the normalisation of the sequence stored with the
    persons the other way round; otherwise it is a relabelling plus a rigid rotation.

    >>> import torch
    >>> x = torch.tensor([[[[-1.0, 0.0, 2.0], [2.0, 1.0, 1.0]]]])  # one joint per person, at x = -1 and 2
    >>> swap_persons(x, 2).tolist()  # the second person, now first, on -x
    [[[[-2.0, 1.0, -1.0], [1.0, 0.0, -2.0]]]]
    """
    rolled = roll_persons(x, persons)
    if x.shape[3] == 3:
        rolled = rolled * torch.tensor([-1.0, 1.0, -1.0], dtype=x.dtype)
    return rolled


def random_windows(n: int, crop: float, generator: torch.Generator) -> Tensor:
    """Random temporal crop windows (N, 2), fractions [start, stop) keeping at least ``1 − crop``."""
    keep = 1 - torch.rand(n, generator=generator) * crop
    start = torch.rand(n, generator=generator) * (1 - keep)
    return torch.stack([start, start + keep], 1)


def even_windows(n: int, clips: int, keep: float) -> Tensor:
    """``clips`` temporal windows (K, N, 2) of length ``keep``, evenly placed from start to end.

    >>> [[round(a, 2) for a in w] for w in even_windows(1, 3, 0.8)[:, 0].tolist()]
    [[0.0, 0.8], [0.1, 0.9], [0.2, 1.0]]
    """
    start = torch.linspace(0, 1 - keep, clips) if clips > 1 else torch.tensor([(1 - keep) / 2])
    return torch.stack([start, start + keep], 1)[:, None, :].expand(-1, n, -1)


def evaluation_windows(n: int, cfg: FeatureConfig) -> list[Tensor | None]:
    """The test-time windows (each (N, 2), or None: the whole sequence) of ``cfg``'s ``clips`` and
    ``clip_lengths``: ``clips`` evenly placed windows of each length (a length of 1: the whole
    sequence, once); without lengths, of the mean training crop's (1 − ``crop`` / 2; one clip: the
    whole sequence).

    >>> from mrmp.config import FeatureConfig
    >>> [
    ...     None if w is None else w[0].tolist()
    ...     for w in evaluation_windows(1, FeatureConfig(clips=2, clip_lengths=(0.5, 1)))
    ... ]
    [[0.0, 0.5], [0.5, 1.0], None]
    >>> evaluation_windows(3, FeatureConfig(clips=1))
    [None]
    """
    lengths = cfg.clip_lengths or ((1.0,) if cfg.clips == 1 else (1 - cfg.crop / 2,))
    windows: list[Tensor | None] = []
    for length in lengths:
        windows += [None] if length >= 1 else list(even_windows(n, cfg.clips, length))
    return windows


def augment(
    frames: Tensor,
    cfg: FeatureConfig,
    persons: int,
    generator: torch.Generator,
    keep: Tensor | None = None,
    batch: int | None = None,
    mirror: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """Randomly mirror, rotate, shear, swap persons, scale and add noise to resampled frames.

    Acting on the resampled frames rather than the raw ones costs the same for any sequence
    length (rotation and scaling commute with the linear resampling; the noise is per output frame).

    Args:
        frames: Normalised, resampled sequences (N, T, V, C).
        cfg: Augmentation settings (``mirror``, ``rotate_deg``, ``rotate_axes``, ``swap_persons``,
            ``shear``, ``scale``, ``noise``, ``noise_per``).
        persons: M, bodies per frame.
        generator: The source of every random draw (the same draws on every rank).
        keep: With ``batch``: ``frames`` are the rows ``keep`` of a batch of ``batch`` sequences
            (a rank's share); the draws are made for the whole batch, as every rank makes them,
            and each row gets its own, so the result equals rows ``keep`` of the whole batch's.
        mirror: The mirror image of frames (see :meth:`mrmp.data.features.Skeleton.mirror_image`),
            applied with probability ``cfg.mirror``.
    """
    n = frames.shape[0] if batch is None else batch
    rows = (lambda t: t) if keep is None else (lambda t: t[keep])
    if mirror is not None and cfg.mirror > 0:
        flip = rows(torch.rand(n, generator=generator) < cfg.mirror)
        if bool(flip.any()):
            frames = torch.where(flip[:, None, None, None], mirror(frames), frames)
    if frames.shape[3] == 3 and cfg.rotate_deg > 0:
        rot = rows(random_rotations(n, cfg.rotate_deg, generator, cfg.rotate_axes))
        frames = torch.einsum("ntvc,ndc->ntvd", frames, rot)
    if cfg.shear > 0:
        frames = torch.einsum("ntvc,ndc->ntvd", frames, rows(random_shears(n, frames.shape[3], cfg.shear, generator)))
    if persons > 1 and cfg.swap_persons > 0:
        swap = rows(torch.rand(n, generator=generator) < cfg.swap_persons)
        if bool(swap.any()):
            frames = torch.where(swap[:, None, None, None], swap_persons(frames, persons), frames)
    scale = 1 + (rows(torch.rand(n, generator=generator)) * 2 - 1) * cfg.scale
    frames = frames * scale[:, None, None, None]
    if cfg.noise > 0:
        t = frames.shape[1] if cfg.noise_per == "frame" else 1
        frames = frames + rows(torch.randn((n, t, *frames.shape[2:]), generator=generator)) * cfg.noise
    return frames
