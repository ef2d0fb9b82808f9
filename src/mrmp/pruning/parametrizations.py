"""Masks as ``torch.nn.utils.parametrize`` parametrisations.

:class:`BandStop` turns a weight into W = s · (Ŵ ⊙ ψ_{a,σ}(Ŵ)) over a trained latent tensor Ŵ
(stored at ``module.parametrizations.<name>.original``), with the band-stop
ψ_{a,σ}(ŵ) = sigmoid(σ · (|ŵ| − a)) in training and the hard mask 1{|ŵ| > a} at evaluation.
:class:`FixedMask` is W = W₀ ⊙ m with a stored 0/1 mask (magnitude pruning), :class:`SwitchMask`
the same with a mask set from outside at every rate switch (multi-rate magnitude training).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["BandStop", "FixedMask", "SwitchMask"]


class _SoftBandStop(torch.autograd.Function):
    """s · ŵ · sigmoid(σ(|ŵ| − a)) with a hand-written backward (about half the memory
    passes of autograd's version; this mask is the hot spot of SRMP/MRMP steps).

    d/dŵ [ŵ ψ(ŵ)] = ψ + |ŵ| σ ψ (1 − ψ).
    """

    @staticmethod
    def forward(ctx, latent: Tensor, scale: float, threshold: float, sigma: float) -> Tensor:
        psi = torch.sigmoid(latent.abs().sub_(threshold).mul_(sigma))
        ctx.save_for_backward(latent, psi)
        ctx.scale, ctx.sigma = scale, sigma
        return (latent * psi).mul_(scale)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        latent, psi = ctx.saved_tensors
        d = latent.abs().mul_(ctx.sigma).mul_(psi).mul_(1 - psi).add_(psi)
        return d.mul_(grad).mul_(ctx.scale), None, None, None


class BandStop(nn.Module):
    """W = scale · Ŵ · ψ(Ŵ): a rate-switchable band-stop mask over latent weights.

    Attributes:
        scale: Fixed per-tensor scale s, so that Ŵ lives in the prior's units.
        threshold: Cut-off a on |Ŵ|.
        sigma: Crispness σ of the soft mask.
        hard: Use the hard mask 1{|Ŵ| > a} instead of the soft one.
        override: An explicit 0/1 mask that replaces the threshold rule (``exact`` rates).

    >>> import torch
    >>> bs = BandStop(scale=2.0)
    >>> bs.threshold = 0.5
    >>> bs(torch.tensor([0.1, -0.7, 1.0])).tolist()
    [0.0, -1.399999976158142, 2.0]
    """

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = float(scale)
        self.threshold = 0.0
        self.sigma = math.inf
        self.hard = True
        self.override: Tensor | None = None

    def mask(self, latent: Tensor) -> Tensor:
        """The current mask (hard 0/1 or soft in (0, 1)) with the layout of ``latent``."""
        if self.override is not None:
            return self.override.to(latent.dtype)
        if self.hard or math.isinf(self.sigma):
            return (latent.abs() > self.threshold).to(latent.dtype)
        return torch.sigmoid(self.sigma * (latent.abs() - self.threshold))

    def forward(self, latent: Tensor) -> Tensor:
        if self.override is None and not (self.hard or math.isinf(self.sigma)):
            return _SoftBandStop.apply(latent, self.scale, self.threshold, self.sigma)
        return self.scale * latent * self.mask(latent)

    def right_inverse(self, weight: Tensor) -> Tensor:
        """Latent of a dense weight (Ŵ = W / s; exact wherever the mask keeps the weight)."""
        return weight / self.scale

    def extra_repr(self) -> str:
        mode = "hard" if self.hard else f"sigma={self.sigma:.3g}"
        return f"scale={self.scale:.4g}, threshold={self.threshold:.4g}, {mode}"


class FixedMask(nn.Module):
    """W = W₀ ⊙ m with a stored boolean ``mask`` buffer (saved in the state dict; not floating
    point, so a weight average leaves it as it is, and narrowing it in place stays exact).

    >>> import torch
    >>> FixedMask(torch.tensor([1.0, 0.0]))(torch.tensor([3.0, 4.0])).tolist()
    [3.0, 0.0]
    """

    def __init__(self, mask: Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask.detach().to(torch.bool).clone())

    def forward(self, weight: Tensor) -> Tensor:
        return weight * self.mask.to(weight.dtype)


class SwitchMask(nn.Module):
    """W = W₀ ⊙ m with a 0/1 ``mask`` set from outside (None: W = W₀); not in the state dict, since
    it is recomputed from the weights at every rate switch. Masked entries get zero gradient.

    >>> import torch
    >>> sm = SwitchMask()
    >>> sm.mask = torch.tensor([0.0, 1.0])
    >>> sm(torch.tensor([3.0, 4.0])).tolist()
    [0.0, 4.0]
    """

    def __init__(self) -> None:
        super().__init__()
        self.mask: Tensor | None = None

    def forward(self, weight: Tensor) -> Tensor:
        return weight if self.mask is None else weight * self.mask.to(weight.dtype)
