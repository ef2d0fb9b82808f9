"""From raw sequences to network inputs: normalisation, augmentation, descriptors.

Layouts:
    raw batch       (N, T, V, C)  padded frames, with ``lengths`` (N,)
    chunk inputs    (N, V, F)     F = len(stats) · chunks · C, for the attention GCN
    frame inputs    (N, C, T, V, M) resampled frames split into M persons, for ST-GCN

Every sequence is first resampled to a fixed number of frames by linear interpolation over a
(possibly randomly cropped) time window, which makes the descriptors independent of frame
rate and length; chunk statistics are then taken over equal blocks of that grid.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from mrmp.config import FeatureConfig
from mrmp.errors import ConfigError

__all__ = ["pad_sequences", "resample", "chunk_descriptors", "InputPipeline", "STATS"]

STATS = ("mean", "velocity", "std")
_SAMPLES_PER_CHUNK = 8

InputKind = Literal["chunks", "frames"]


def pad_sequences(sequences: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Stack variable-length (T_i, V, C) arrays into (N, T_max, V, C) zero-padded + lengths (N,)."""
    lengths = torch.tensor([s.shape[0] for s in sequences], dtype=torch.long)
    t_max = int(lengths.max())
    v, c = sequences[0].shape[1:]
    out = torch.zeros(len(sequences), t_max, v, c)
    for i, s in enumerate(sequences):
        out[i, : s.shape[0]] = torch.from_numpy(np.asarray(s, dtype=np.float32))
    return out, lengths


def resample(x: Tensor, lengths: Tensor, frames: int, window: Tensor | None = None) -> Tensor:
    """Linearly resample each sequence to ``frames`` frames.

    Args:
        x: Padded sequences (N, T, V, C).
        lengths: Valid frames per sequence (N,).
        frames: Output length.
        window: Optional (N, 2) fractions [start, stop) of each sequence to keep (crop).

    Returns:
        (N, frames, V, C).
    """
    n = x.shape[0]
    length = lengths.to(x.dtype)
    if window is None:
        start, stop = torch.zeros(n, dtype=x.dtype), length
    else:
        start, stop = window[:, 0] * length, window[:, 1] * length
    steps = (torch.arange(frames, dtype=x.dtype) + 0.5) / frames
    tau = start[:, None] + steps[None, :] * (stop - start)[:, None] - 0.5  # (N, frames)
    tau = torch.minimum(tau.clamp(min=0.0), (length - 1)[:, None])
    lo = tau.floor().long()
    hi = torch.minimum(lo + 1, (lengths - 1)[:, None])
    frac = (tau - lo.to(x.dtype))[:, :, None, None]
    idx = lambda t: t[:, :, None, None].expand(-1, -1, *x.shape[2:])  # noqa: E731
    return torch.gather(x, 1, idx(lo)) * (1 - frac) + torch.gather(x, 1, idx(hi)) * frac


def chunk_descriptors(frames: Tensor, chunks: int, stats: tuple[str, ...]) -> Tensor:
    """Per-joint statistics over equal temporal chunks.

    Args:
        frames: Resampled sequences (N, T, V, C) with T divisible by ``chunks``.
        chunks: Number of chunks M_c.
        stats: Statistics among :data:`STATS`, concatenated in this order.

    Returns:
        (N, V, len(stats) · chunks · C).
    """
    n, t, v, c = frames.shape
    blocks = frames.reshape(n, chunks, t // chunks, v, c)
    parts = []
    for stat in stats:
        if stat == "mean":
            parts.append(blocks.mean(2))
        elif stat == "std":
            parts.append(blocks.std(2, unbiased=False))
        elif stat == "velocity":
            diff = torch.diff(frames, dim=1, prepend=frames[:, :1]) * t
            parts.append(diff.reshape(n, chunks, t // chunks, v, c).mean(2))
        else:
            raise ConfigError(f"unknown chunk statistic {stat!r}; choose from {STATS}")
    out = torch.stack(parts, 1)  # (N, S, M, V, C)
    return out.permute(0, 3, 1, 2, 4).reshape(n, v, -1)


def _rotations(n: int, max_deg: float, generator: torch.Generator, axes: str = "xyz") -> Tensor:
    """Random rotation matrices (N, 3, 3) composed about x, y and z, angles in ±max_deg.

    Only the axes named in ``axes`` (letters among ``xyz``) are rotated about.
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


class InputPipeline:
    """Normalised sequences of one dataset, turned into model inputs batch by batch.

    Sequences are centred on their mean joint position and divided by ``scale`` (one number
    per dataset, the coordinate std of the training sequences), so datasets in metres,
    millimetres or normalised units all reach the network at unit scale.

    Args:
        sequences: Raw (T_i, V, C) arrays.
        cfg: Descriptor and augmentation settings.
        kind: ``chunks`` (N, V, F) or ``frames`` (N, C, T, V, M) inputs.
        persons: M, bodies per frame (``frames`` inputs only).
        scale: Dataset scale; computed from these sequences when None.
    """

    def __init__(
        self,
        sequences: list[np.ndarray],
        cfg: FeatureConfig,
        kind: InputKind = "chunks",
        persons: int = 1,
        scale: float | None = None,
    ) -> None:
        x, self.lengths = pad_sequences(sequences)
        valid = (torch.arange(x.shape[1])[None, :] < self.lengths[:, None]).to(x.dtype)
        w = valid[:, :, None, None]
        count = w.sum((1, 2, 3)) * x.shape[2]
        centre = (x * w).sum((1, 2)) / count[:, None]  # (N, C)
        self.x = (x - centre[:, None, None, :]) * w
        if scale is None:
            var = (self.x**2).sum() / (count.sum() * x.shape[3])
            scale = float(var.sqrt().clamp(min=1e-8))
        self.scale = scale
        self.x = self.x / scale
        self.cfg, self.kind, self.persons = cfg, kind, persons
        if cfg.chunks < 1:
            raise ConfigError("chunks must be >= 1")

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def num_features(self) -> int:
        """F of ``chunks`` inputs, C of ``frames`` inputs."""
        c = self.x.shape[3]
        return len(self.cfg.stats) * self.cfg.chunks * c if self.kind == "chunks" else c

    def __call__(self, index: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Inputs for the sequences at ``index``; augmented when a generator is given."""
        x, lengths = self.x[index], self.lengths[index]
        window = None
        if generator is not None:
            x, window = self._augment(x, generator)
        if self.kind == "chunks":
            frames = resample(x, lengths, self.cfg.chunks * _SAMPLES_PER_CHUNK, window)
            return chunk_descriptors(frames, self.cfg.chunks, self.cfg.stats)
        frames = resample(x, lengths, self.cfg.frames, window)  # (N, T, V, C)
        n, t, v, c = frames.shape
        m = self.persons
        return frames.reshape(n, t, m, v // m, c).permute(0, 4, 1, 3, 2).contiguous()

    def _augment(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        cfg, n = self.cfg, x.shape[0]
        if x.shape[3] == 3 and cfg.rotate_deg > 0:
            rot = _rotations(n, cfg.rotate_deg, generator, cfg.rotate_axes)
            x = torch.einsum("ntvc,ndc->ntvd", x, rot)
        if self.persons > 1 and cfg.swap_persons > 0:
            swap = torch.rand(n, generator=generator) < cfg.swap_persons
            if bool(swap.any()):
                t, v, c = x.shape[1:]
                m = self.persons
                rolled = x.reshape(n, t, m, v // m, c).roll(1, dims=2).reshape(n, t, v, c)
                x = torch.where(swap[:, None, None, None], rolled, x)
        scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * cfg.scale
        x = x * scale[:, None, None, None]
        if cfg.noise > 0:
            x = x + torch.randn(x.shape, generator=generator) * cfg.noise
        keep = 1 - torch.rand(n, generator=generator) * cfg.crop
        start = torch.rand(n, generator=generator) * (1 - keep)
        return x, torch.stack([start, start + keep], 1)
