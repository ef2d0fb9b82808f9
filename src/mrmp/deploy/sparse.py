"""Sparse execution: CSR linear layers and the per-layer timing rule that decides where they run.

:func:`sparsify` swaps each pruned ``nn.Linear`` for a :class:`SparseLinear` where a timing of
both paths on that layer's real input shows CSR to be faster (``mode="auto"``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from mrmp.errors import ConfigError
from mrmp.timing import best_times

__all__ = [
    "MAX_SPARSE_DENSITY",
    "SPARSE_MODES",
    "LayerChoice",
    "SparseLinear",
    "capture_inputs",
    "prunable_linears",
    "quiet_csr",
    "sparsify",
]

SPARSE_MODES = ("auto", "always", "never")

#: Above this density the CSR path is never timed (measured on a 2-core EPYC, torch 2.13 + MKL:
#: at density 0.5 CSR is 4–8× slower than dense for every layer shape and batch of the GCN).
MAX_SPARSE_DENSITY = 0.5


@contextlib.contextmanager
def quiet_csr() -> Iterator[None]:
    """Silence torch's "Sparse CSR tensor support is in beta" warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        yield


class SparseLinear(nn.Module):
    """Drop-in inference replacement of ``nn.Linear`` with a CSR weight (out, in), int32 indices.

    Input (..., in) → output (..., out), contiguous like ``nn.Linear``. One input row runs a
    sparse matrix-vector product; more rows run W · Xᵀ on the transposed input (MKL SpMM on
    row-major (in, M) operands, the fastest CSR layout on CPU in torch 2.x).
    """

    def __init__(self, weight: Tensor, bias: Tensor | None = None) -> None:
        super().__init__()
        with quiet_csr():
            csr = weight.detach().to_sparse_csr()
        self.in_features, self.out_features = int(weight.shape[1]), int(weight.shape[0])
        self.register_buffer("crow_indices", csr.crow_indices().to(torch.int32))
        self.register_buffer("col_indices", csr.col_indices().to(torch.int32))
        self.values = nn.Parameter(csr.values().clone(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)
        self._build()

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> SparseLinear:
        return cls(linear.weight, linear.bias)

    def _build(self) -> None:
        with quiet_csr():
            self.weight = torch.sparse_csr_tensor(
                self.crow_indices,
                self.col_indices,
                self.values.data,
                (self.out_features, self.in_features),
                check_invariants=False,
            )

    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> SparseLinear:  # type: ignore[override]
        super()._apply(fn, recurse)
        self._build()
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("weight", None)  # a CSR tensor cannot be copied or pickled; rebuilt from buffers
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._build()

    @property
    def nnz(self) -> int:
        return int(self.values.numel())

    def forward(self, x: Tensor) -> Tensor:
        """(..., in) → (..., out)."""
        lead = x.shape[:-1]
        rows = x.reshape(-1, self.in_features)
        if rows.shape[0] == 1:
            y = torch.mv(self.weight, rows[0])
            y = (y if self.bias is None else y + self.bias).unsqueeze(0)
        elif self.bias is None:
            y = torch.mm(self.weight, rows.t().contiguous()).t()
        else:
            y = torch.addmm(self.bias.unsqueeze(1), self.weight, rows.t().contiguous()).t()
        return y.contiguous().reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        density = self.nnz / max(self.in_features * self.out_features, 1)
        return f"in_features={self.in_features}, out_features={self.out_features}, density={density:.4f}"


@dataclass(frozen=True)
class LayerChoice:
    """How one prunable linear layer runs after :func:`sparsify`.

    Attributes:
        path: ``sparse`` (a :class:`SparseLinear`) or ``dense`` (the ``nn.Linear``, zeros kept).
        density: Fraction of nonzero weights.
        dense_us, sparse_us: Best time of each path on the layer's input (µs), when timed.
    """

    path: Literal["sparse", "dense"]
    density: float
    dense_us: float | None = None
    sparse_us: float | None = None


@torch.no_grad()
def capture_inputs(model: nn.Module, example: Tensor, modules: Sequence[str]) -> dict[str, Tensor]:
    """The input each named submodule sees in one forward pass of ``example``."""
    seen: dict[str, Tensor] = {}
    hooks = [
        model.get_submodule(m).register_forward_pre_hook(
            lambda _mod, args, m=m: seen.__setitem__(m, args[0].detach().clone())
        )
        for m in modules
    ]
    try:
        model(example)
    finally:
        for h in hooks:
            h.remove()
    return seen


def prunable_linears(model: nn.Module, names: Sequence[str]) -> list[str]:
    """Module names of the ``nn.Linear`` layers whose weight is prunable."""
    mods = [n.rpartition(".")[0] for n in names if n.endswith(".weight")]
    return [m for m in mods if isinstance(model.get_submodule(m), nn.Linear)]


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _choose(linear: nn.Linear, x: Tensor | None, mode: str, repeats: int, margin: float) -> LayerChoice:
    """The path of one layer: forced by ``mode``, or CSR when at least ``margin`` faster on ``x``."""
    density = float(linear.weight.count_nonzero()) / linear.weight.numel()
    if mode != "auto":
        return LayerChoice("sparse" if mode == "always" else "dense", density)
    if density > MAX_SPARSE_DENSITY or x is None:
        return LayerChoice("dense", density)
    sparse = SparseLinear.from_linear(linear)
    t_dense, t_sparse = (t * 1e6 for t in best_times([lambda: linear(x), lambda: sparse(x)], repeats))
    faster = t_sparse < (1.0 - margin) * t_dense
    return LayerChoice("sparse" if faster else "dense", density, t_dense, t_sparse)


@torch.no_grad()
def sparsify(
    model: nn.Module,
    names: Sequence[str],
    example: Tensor,
    mode: str = "auto",
    repeats: int = 15,
    margin: float = 0.05,
) -> dict[str, LayerChoice]:
    """Swap pruned linear layers of ``model`` for :class:`SparseLinear`, in place.

    ``auto`` times both paths on the very input the layer sees for ``example`` and keeps CSR
    only when it is at least ``margin`` faster; layers denser than :data:`MAX_SPARSE_DENSITY`
    stay dense untimed. ``always`` / ``never`` force one path.

    Returns:
        The choice made for each prunable linear layer, by module name.
    """
    if mode not in SPARSE_MODES:
        raise ConfigError(f"unknown sparse mode {mode!r}; choose one of {SPARSE_MODES}")
    layers = prunable_linears(model, names)
    inputs = capture_inputs(model, example, layers) if mode == "auto" else {}
    report: dict[str, LayerChoice] = {}
    for name in layers:
        linear = model.get_submodule(name)
        report[name] = _choose(linear, inputs.get(name), mode, repeats, margin)
        if report[name].path == "sparse":
            _set_submodule(model, name, SparseLinear.from_linear(linear))
    return report
