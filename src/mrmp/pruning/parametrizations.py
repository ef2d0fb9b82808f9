"""Masks as ``torch.nn.utils.parametrize`` parametrisations.

:class:`BandStop` turns a weight into W = s · (Ŵ ⊙ ψ_{a,σ}(Ŵ)) over a trained latent tensor Ŵ
(stored at ``module.parametrizations.<name>.original``), with the band-stop
ψ_{a,σ}(ŵ) = sigmoid(σ · (|ŵ| − a)) in training and the hard mask 1{|ŵ| > a} at evaluation.
:class:`FixedMask` is W = W₀ ⊙ m with a stored 0/1 mask (magnitude pruning), :class:`SwitchMask`
the same with a mask set from outside at every rate switch (multi-rate magnitude training).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn

__all__ = ["BandStop", "FixedMask", "SwitchMask"]


class _SoftBandStop(torch.autograd.Function):
    """s · ŵ · sigmoid(σ|ŵ| − σa) with a hand-written backward (about a third of the memory
    passes of autograd's version; this mask is the hot spot of SRMP/MRMP steps).

    Takes s·Ŵ and σ|Ŵ| precomputed (shared by the rates of one MRMP step, see
    :meth:`BandStop.shared`), so that a rate costs three passes forward and three backward:
    d/dŵ [s ŵ ψ(ŵ)] = s ψ + s σ|ŵ| ψ (1 − ψ).
    """

    @staticmethod
    def forward(
        ctx, latent: Tensor, parts: tuple[Tensor, Tensor, Tensor], scale: float, threshold: float, sigma: float
    ) -> Tensor:
        scaled, sabs, ssabs = parts  # s·Ŵ, σ|Ŵ|, s·σ|Ŵ|
        psi = torch.sub(sabs, sigma * threshold).sigmoid_()
        ctx.save_for_backward(ssabs, psi)
        ctx.scale = scale
        return scaled * psi

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        ssabs, psi = ctx.saved_tensors
        d = torch.ops.aten.sigmoid_backward(grad * ssabs, psi)  # g s σ|ŵ| ψ (1 − ψ)
        return d.addcmul_(grad, psi, value=ctx.scale), None, None, None, None


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
        self._shared: dict[float, tuple[Tensor, Tensor, Tensor]] | None = None

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Within the block Ŵ does not change (the forwards of one step's rates): compute s·Ŵ
        and σ|Ŵ| once for all of them."""
        self._shared = {}
        try:
            yield
        finally:
            self._shared = None

    def _parts(self, latent: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(s·Ŵ, σ|Ŵ|, s·σ|Ŵ|) of the soft mask, reused within :meth:`shared`."""
        cache = self._shared
        if cache is not None and self.sigma in cache:
            return cache[self.sigma]
        w = latent.detach()
        sabs = w.abs().mul_(self.sigma)
        parts = (w * self.scale, sabs, sabs * self.scale)
        if cache is not None:
            cache[self.sigma] = parts
        return parts

    def mask(self, latent: Tensor) -> Tensor:
        """The current mask (hard 0/1 or soft in (0, 1)) with the layout of ``latent``."""
        if self.override is not None:
            return self.override.to(latent.dtype)
        if self.hard or math.isinf(self.sigma):
            return (latent.abs() > self.threshold).to(latent.dtype)
        return torch.sigmoid(self.sigma * (latent.abs() - self.threshold))

    def forward(self, latent: Tensor) -> Tensor:
        if self.override is None and not (self.hard or math.isinf(self.sigma)):
            return _SoftBandStop.apply(latent, self._parts(latent), self.scale, self.threshold, self.sigma)
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
