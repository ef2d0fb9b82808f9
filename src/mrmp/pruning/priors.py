"""Symmetric priors Q of the latent weights and the rate → threshold map a(r).

All priors are zero-centred. Because training keeps the latent distribution P close to Q,
the threshold that prunes a fraction r of the weights is known in advance:
a(r) = F_Q⁻¹((1 + r) / 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from mrmp.errors import ConfigError
from mrmp.pruning.rates import check_rate

__all__ = ["Prior", "Gaussian", "Laplace", "Uniform", "get_prior", "PRIORS"]


@dataclass(frozen=True)
class Prior:
    """A zero-centred symmetric distribution on the real line.

    Subclasses implement :meth:`log_prob`, :meth:`cdf`, :meth:`icdf` and :meth:`sample`.
    ``edge`` is the half-width of the grid used to estimate P (holds all but ~1e-4 of the mass).
    """

    name: str = ""
    std: float = 1.0
    edge: float = 1.0

    def log_prob(self, w: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def cdf(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def icdf(self, p: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
        """Draws of shape ``shape`` by inverse-CDF sampling."""
        u = torch.rand(shape, generator=generator, dtype=torch.float64).clamp(1e-12, 1 - 1e-12)
        return self._icdf_tensor(u).float()

    def _icdf_tensor(self, u: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def abs_cdf(self, w: Tensor) -> Tensor:
        """P_Q(|X| ≤ |w|) = 2 F_Q(|w|) − 1: the rate at which ``w`` is pruned in prior mode."""
        return 2 * self.cdf(w.abs()) - 1

    def support_penalty(self, w: Tensor) -> Tensor:
        """Mean penalty for mass outside the support (0 for priors on the whole line)."""
        return w.new_zeros(())

    def threshold(self, rate: float) -> float:
        """a(r) = F_Q⁻¹((1 + r)/2): the magnitude under which a fraction r of Q lies.

        >>> round(Gaussian().threshold(0.5), 4)
        0.6745
        """
        rate = check_rate(rate)
        return 0.0 if rate == 0.0 else self.icdf((1.0 + rate) / 2.0)


@dataclass(frozen=True)
class Gaussian(Prior):
    """Standard normal: a(r) = √2 · erfinv(r)."""

    name: str = "gaussian"
    std: float = 1.0
    edge: float = 4.0

    def log_prob(self, w: Tensor) -> Tensor:
        return -0.5 * w**2 - 0.5 * math.log(2 * math.pi)

    def cdf(self, x: Tensor) -> Tensor:
        return 0.5 * (1 + torch.erf(x / math.sqrt(2)))

    def icdf(self, p: float) -> float:
        return float(self._icdf_tensor(torch.tensor(p, dtype=torch.float64)))

    def _icdf_tensor(self, u: Tensor) -> Tensor:
        return math.sqrt(2) * torch.erfinv(2 * u - 1)


@dataclass(frozen=True)
class Laplace(Prior):
    """Laplace with scale b = 1/√2 (unit variance): a(r) = −b · ln(1 − r)."""

    name: str = "laplace"
    std: float = 1.0
    edge: float = 6.5
    b: float = 1 / math.sqrt(2)

    def log_prob(self, w: Tensor) -> Tensor:
        return -w.abs() / self.b - math.log(2 * self.b)

    def cdf(self, x: Tensor) -> Tensor:
        return torch.where(x < 0, 0.5 * torch.exp(x / self.b), 1 - 0.5 * torch.exp(-x / self.b))

    def icdf(self, p: float) -> float:
        return float(self._icdf_tensor(torch.tensor(p, dtype=torch.float64)))

    def _icdf_tensor(self, u: Tensor) -> Tensor:
        return -self.b * torch.sign(u - 0.5) * torch.log1p(-2 * (u - 0.5).abs())

    def abs_cdf(self, w: Tensor) -> Tensor:
        return -torch.expm1(-w.abs() / self.b)


@dataclass(frozen=True)
class Uniform(Prior):
    """Uniform on [−1, 1]: a(r) = r.

    Its log-density is −log 2 inside the support; outside, a quadratic wall
    −``wall`` · (|w| − 1)² stands in for −∞ so that stray weights are pulled back.
    """

    name: str = "uniform"
    std: float = 1 / math.sqrt(3)
    edge: float = 1.1
    wall: float = 50.0

    def log_prob(self, w: Tensor) -> Tensor:
        return -math.log(2.0) - self.wall * torch.relu(w.abs() - 1) ** 2

    def support_penalty(self, w: Tensor) -> Tensor:
        return self.wall * (torch.relu(w.abs() - 1) ** 2).mean()

    def cdf(self, x: Tensor) -> Tensor:
        return ((x + 1) / 2).clamp(0, 1)

    def icdf(self, p: float) -> float:
        return 2 * p - 1

    def _icdf_tensor(self, u: Tensor) -> Tensor:
        return 2 * u - 1


PRIORS: dict[str, type[Prior]] = {"gaussian": Gaussian, "laplace": Laplace, "uniform": Uniform}


def get_prior(name: str) -> Prior:
    """The prior called ``name`` (gaussian, laplace or uniform)."""
    if name not in PRIORS:
        raise ConfigError(f"unknown prior {name!r}; choose one of {sorted(PRIORS)}")
    return PRIORS[name]()
