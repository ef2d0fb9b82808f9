"""Mixup of a training batch (Zhang et al., *mixup: Beyond Empirical Risk Minimization*, 2018).

Each sample is blended with another of the same batch, inputs and one-hot targets alike, by one
weight λ ~ Beta(α, α) per batch: x' = λ·x + (1 − λ)·x[π], t' = λ·e(y) + (1 − λ)·e(y[π]). The
descriptors of both backbones are linear in the normalised coordinates (chunk means and
velocities, resampled frames), so a blend of inputs is the input of the blended sequences.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Beta

__all__ = ["mixup"]


def mixup(x: Tensor, y: Tensor, classes: int, alpha: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Blend a batch ``x`` (N, …) with labels ``y`` (N,); returns inputs and soft targets (N, classes).

    ``generator`` draws λ and the pairing π; ``alpha`` ≤ 0 returns ``x`` and one-hot targets.

    >>> import torch
    >>> x, t = mixup(torch.eye(4), torch.arange(4), 4, 0.2, torch.Generator().manual_seed(0))
    >>> torch.allclose(x, t), torch.allclose(t.sum(1), torch.ones(4))
    (True, True)
    """
    targets = torch.nn.functional.one_hot(y, classes).to(x.dtype)
    if alpha <= 0 or len(x) < 2:
        return x, targets
    seed = int(torch.randint(2**62, (1,), generator=generator))
    draw = torch.Generator().manual_seed(seed)  # torch's Beta draws from the global RNG: fork and seed it
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lam = float(Beta(alpha, alpha).sample())
    pairs = torch.randperm(len(x), generator=draw).to(x.device)
    return lam * x + (1 - lam) * x[pairs], lam * targets + (1 - lam) * targets[pairs]
