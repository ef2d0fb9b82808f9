"""Deployment: export a checkpoint at any pruning rate, reload it as a plain inference model.

Exported ``.pt`` file (``torch.save`` of plain dicts, lists, numbers, strings and tensors only,
read back with ``weights_only=True``)::

    {"format": "mrmp-export/1",
     "config": RunConfig.to_dict(), "meta": Meta.to_dict(),
     "pruning": {"method", "rate", "threshold", "scope", "nonzero", "total"},
     "prunable": [qualified names of the prunable weights],
     "dense": {name: tensor},             # every other parameter / buffer, and prunable
                                          # weights whose CSR form would be larger
     "sparse": {name: {"shape": [...],    # prunable weights as CSR of (shape[0], rest):
                       "crow_indices": (rows + 1,), "col_indices": (nnz,), "values": (nnz,)}}}

CSR indices use the smallest integer dtype that holds them (uint8, int16, int32 or int64).

:func:`load_exported` rebuilds the backbone with :func:`mrmp.models.build_model` (no latent
weights, no parametrisations, dropout replaced by identity) and swaps each pruned linear layer
for a :class:`SparseLinear` where a timing of both paths on that layer's real input shows CSR
to be faster (``sparse="auto"``).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mrmp.config import RunConfig, check_rate
from mrmp.engine.checkpoint import FORMAT as CHECKPOINT_FORMAT
from mrmp.engine.checkpoint import atomic_write_bytes
from mrmp.engine.setup import Bundle, Meta, default_threshold, pruned_view
from mrmp.errors import CheckpointError, ConfigError
from mrmp.models import build_model, input_kind
from mrmp.pruning.select import resolve

__all__ = [
    "EXPORT_FORMAT",
    "SPARSE_MODES",
    "SparseLinear",
    "capture_inputs",
    "example_input",
    "export_onnx",
    "export_pt",
    "interleaved_times",
    "load_exported",
    "median_times",
    "prunable_linears",
    "read_exported",
    "sparsify",
]

EXPORT_FORMAT = "mrmp-export/1"
SPARSE_MODES = ("auto", "always", "never")
STORAGES = ("auto", "csr", "dense")

#: Above this density the CSR path is never timed (measured on a 2-core EPYC, torch 2.13 + MKL:
#: at density 0.5 CSR is 4–8× slower than dense for every layer shape and batch of the GCN).
MAX_SPARSE_DENSITY = 0.5


# -- building blocks -----------------------------------------------------------------------
def build_plain(cfg: RunConfig, meta: Meta) -> nn.Module:
    """The bare backbone of ``cfg`` for ``meta``: no parametrisations, dropout as identity, eval mode."""
    model = build_model(cfg.model, in_features=meta.in_features, num_joints=meta.num_joints,
                        num_classes=meta.num_classes, edges=meta.edges, persons=meta.persons)
    _replace_dropout(model)
    return model.eval()


def _replace_dropout(model: nn.Module) -> None:
    for name, child in list(model.named_children()):
        if isinstance(child, nn.modules.dropout._DropoutNd):
            setattr(model, name, nn.Identity())
        else:
            _replace_dropout(child)


def example_input(cfg: RunConfig, meta: Meta, batch: int = 1, seed: int = 0) -> Tensor:
    """A random input of the backbone's layout: chunks (N, V, F) or frames (N, C, T, V/M, M)."""
    g = torch.Generator().manual_seed(seed)
    if input_kind(cfg.model) == "chunks":
        shape: tuple[int, ...] = (batch, meta.num_joints, meta.in_features)
    else:
        m = meta.persons
        shape = (batch, meta.in_features, cfg.features.frames, meta.num_joints // m, m)
    return torch.randn(shape, generator=g)


@torch.no_grad()
def _plain_state(
    bundle: Bundle, rate: float, threshold: str | None, scope: str | None
) -> tuple[nn.Module, dict[str, Tensor]]:
    """(plain model, its state at ``rate``): effective (masked) weights under their plain names."""
    plain = build_plain(bundle.cfg, bundle.meta)
    with pruned_view(bundle, check_rate(rate), threshold, scope) as view:
        state = {k: getattr(*resolve(view, k)).detach().clone() for k in plain.state_dict()}
    plain.load_state_dict(state)
    return plain.requires_grad_(False), state


@contextlib.contextmanager
def _quiet_csr() -> Iterator[None]:
    """Silence torch's "Sparse CSR tensor support is in beta" warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        yield


def _index_dtype(max_value: int) -> torch.dtype:
    """Smallest integer dtype that holds 0..max_value."""
    for dtype in (torch.uint8, torch.int16, torch.int32):
        if max_value <= torch.iinfo(dtype).max:
            return dtype
    return torch.int64


def _encode_csr(weight: Tensor) -> dict[str, Any]:
    """CSR of ``weight`` viewed as (shape[0], rest), with the smallest index dtypes."""
    with _quiet_csr():
        mat = weight.reshape(weight.shape[0], -1).to_sparse_csr()
    nnz, cols = mat.values().numel(), weight[0].numel()
    return {
        "shape": list(weight.shape),
        "crow_indices": mat.crow_indices().to(_index_dtype(nnz)),
        "col_indices": mat.col_indices().to(_index_dtype(max(cols - 1, 0))),
        "values": mat.values().clone(),
    }


def _decode_csr(entry: dict[str, Any], expected: torch.Size) -> Tensor:
    """Dense tensor of an :func:`_encode_csr` entry, checked against the ``expected`` shape and
    the CSR invariants before anything is allocated from it."""
    shape = torch.Size(int(s) for s in entry["shape"])
    if shape != expected:
        raise ValueError(f"stored shape {list(shape)} does not match the model's {list(expected)}")
    crow, col, values = entry["crow_indices"], entry["col_indices"], entry["values"]
    if not all(isinstance(t, Tensor) for t in (crow, col, values)) or not values.is_floating_point() \
            or crow.is_floating_point() or col.is_floating_point():
        raise ValueError("CSR entry must hold integer indices and floating values")
    with _quiet_csr():
        mat = torch.sparse_csr_tensor(crow.long(), col.long(), values, (shape[0], math.prod(shape[1:])),
                                      check_invariants=True)
    return mat.to_dense().reshape(shape)


def _nbytes(*tensors: Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


# -- .pt export ------------------------------------------------------------------------------
def export_pt(
    bundle: Bundle,
    rate: float,
    path: str | Path,
    threshold: str | None = None,
    scope: str | None = None,
    storage: str = "auto",
) -> dict[str, Any]:
    """Write the model at ``rate`` as a compact file (layout in the module docstring), atomically.

    Works for every method: band-stop (SRMP / MRMP, any rate, seen or not) and dense / MP
    checkpoints (magnitude-pruned at ``rate``), see :func:`mrmp.engine.setup.pruned_view`.

    Args:
        bundle: From :func:`mrmp.engine.setup.load_bundle` (band-stop masks are switched in place).
        rate: Pruning rate in [0, 1).
        path: Output file.
        threshold: ``prior``, ``exact`` or ``empirical`` (band-stop models; default: the trained rule).
        scope: ``layer`` or ``global`` ranking (exact thresholds, magnitude pruning).
        storage: ``auto``: CSR for each prunable weight where it is smaller than dense;
            ``csr``: always CSR; ``dense``: no CSR (the uncompressed reference).

    Returns:
        Summary: ``path``, ``bytes``, ``nonzero``, ``total``, ``observed_rate``, ``csr`` (names).
    """
    if storage not in STORAGES:
        raise ConfigError(f"unknown storage {storage!r}; choose one of {STORAGES}")
    _, state = _plain_state(bundle, rate, threshold, scope)
    dense: dict[str, Tensor] = {}
    sparse: dict[str, dict[str, Any]] = {}
    nonzero = total = 0
    for name, tensor in state.items():
        if name not in bundle.names:
            dense[name] = tensor
            continue
        nonzero, total = nonzero + int(tensor.count_nonzero()), total + tensor.numel()
        entry = _encode_csr(tensor) if storage != "dense" else None
        small = entry is not None and _nbytes(entry["crow_indices"], entry["col_indices"],
                                              entry["values"]) < _nbytes(tensor)
        if entry is not None and (storage == "csr" or small):
            sparse[name] = entry
        else:
            dense[name] = tensor
    payload = {
        "format": EXPORT_FORMAT,
        "config": bundle.cfg.to_dict(),
        "meta": bundle.meta.to_dict(),
        "pruning": {"method": bundle.cfg.prune.method, "rate": float(rate),
                    "threshold": threshold or default_threshold(bundle.cfg),
                    "scope": scope, "nonzero": nonzero, "total": total},
        "prunable": list(bundle.names),
        "dense": dense,
        "sparse": sparse,
    }
    atomic_write_bytes(path, lambda fh: torch.save(payload, fh))
    return {"path": str(path), "bytes": Path(path).stat().st_size, "nonzero": nonzero, "total": total,
            "observed_rate": 1.0 - nonzero / max(total, 1), "csr": sorted(sparse)}


def read_exported(path: str | Path) -> dict[str, Any]:
    """The validated payload of an exported file (``weights_only`` load: no code from the file runs).

    Raises:
        CheckpointError: Missing, truncated, corrupted or foreign file, naming ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such exported model file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or unsafe files
        raise CheckpointError(f"{path}: not a readable mrmp export ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: a training checkpoint, not an export; run `mrmp export` on it first")
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{path}: not an mrmp export (expected format {EXPORT_FORMAT!r})")
    required = {"config": dict, "meta": dict, "pruning": dict, "prunable": list, "dense": dict, "sparse": dict}
    bad = [k for k, kind in required.items() if not isinstance(payload.get(k), kind)]
    if bad:
        raise CheckpointError(f"{path}: malformed mrmp export (missing or invalid {', '.join(bad)})")
    return payload


# -- sparse execution ------------------------------------------------------------------------
class SparseLinear(nn.Module):
    """Drop-in inference replacement of ``nn.Linear`` with a CSR weight (out, in), int32 indices.

    Input (..., in) → output (..., out), contiguous like ``nn.Linear``. One input row runs a
    sparse matrix-vector product; more rows run W · Xᵀ on the transposed input (MKL SpMM on
    row-major (in, M) operands, the fastest CSR layout on CPU in torch 2.x).
    """

    def __init__(self, weight: Tensor, bias: Tensor | None = None) -> None:
        super().__init__()
        with _quiet_csr():
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
        with _quiet_csr():
            self.weight = torch.sparse_csr_tensor(self.crow_indices, self.col_indices, self.values.data,
                                                  (self.out_features, self.in_features), check_invariants=False)

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


def interleaved_times(fns: Sequence[Callable[[], Any]], repeats: int = 20, warmup: int = 3) -> list[list[float]]:
    """Wall times (seconds) of ``repeats`` calls of each function after ``warmup`` untimed rounds,
    calls interleaved (f₁ f₂ f₁ f₂ …) so that load drifts hit all functions alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(max(repeats, 1)):
        for fn, acc in zip(fns, times):
            start = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - start)
    return times


def median_times(fns: Sequence[Callable[[], Any]], repeats: int = 20, warmup: int = 3) -> list[float]:
    """Median of :func:`interleaved_times` for each function (seconds)."""
    return [statistics.median(t) for t in interleaved_times(fns, repeats, warmup)]


@torch.no_grad()
def capture_inputs(model: nn.Module, example: Tensor, modules: Sequence[str]) -> dict[str, Tensor]:
    """The input each named submodule sees in one forward pass of ``example``."""
    seen: dict[str, Tensor] = {}
    hooks = [model.get_submodule(m).register_forward_pre_hook(
        lambda _mod, args, m=m: seen.__setitem__(m, args[0].detach().clone())) for m in modules]
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


def _time_layer(dense: nn.Module, sparse: nn.Module, x: Tensor, repeats: int) -> tuple[float, float]:
    """Best time (µs) of each path on ``x``: the minimum over interleaved repeats, since load from
    other processes only ever adds time."""
    times = interleaved_times([lambda: dense(x), lambda: sparse(x)], repeats)
    return min(times[0]) * 1e6, min(times[1]) * 1e6


@torch.no_grad()
def sparsify(
    model: nn.Module,
    names: Sequence[str],
    example: Tensor,
    mode: str = "auto",
    repeats: int = 15,
    margin: float = 0.05,
) -> dict[str, dict[str, Any]]:
    """Swap pruned linear layers of ``model`` for :class:`SparseLinear`, in place.

    ``auto`` times both paths on the very input the layer sees for ``example`` and keeps CSR
    only when it is at least ``margin`` faster; layers denser than :data:`MAX_SPARSE_DENSITY`
    stay dense untimed. ``always`` / ``never`` force one path.

    Returns:
        Per layer: ``path`` (``sparse``/``dense``), ``density`` and, when timed,
        ``dense_us`` / ``sparse_us``.
    """
    if mode not in SPARSE_MODES:
        raise ConfigError(f"unknown sparse mode {mode!r}; choose one of {SPARSE_MODES}")
    layers = prunable_linears(model, names)
    inputs = capture_inputs(model, example, layers) if mode == "auto" else {}
    report: dict[str, dict[str, Any]] = {}
    for name in layers:
        linear = model.get_submodule(name)
        density = float(linear.weight.count_nonzero()) / linear.weight.numel()
        report[name] = {"path": "dense", "density": density}
        if mode == "never" or (mode == "auto" and density > MAX_SPARSE_DENSITY):
            continue
        sparse = SparseLinear.from_linear(linear)
        if mode == "auto":
            t_dense, t_sparse = _time_layer(linear, sparse, inputs[name], repeats)
            report[name].update(dense_us=t_dense, sparse_us=t_sparse)
            if t_sparse >= (1.0 - margin) * t_dense:
                continue
        _set_submodule(model, name, sparse)
        report[name]["path"] = "sparse"
    return report


# -- loading ---------------------------------------------------------------------------------
def load_exported(
    path: str | Path,
    sparse: str = "auto",
    batch: int = 1,
    repeats: int = 15,
) -> nn.Module:
    """Rebuild a plain inference model from an :func:`export_pt` file.

    Args:
        path: The exported file (read with ``weights_only=True``).
        sparse: ``auto``: per pruned linear layer, CSR where timing shows it faster for inputs
            of ``batch`` sequences; ``always``: CSR for all; ``never``: dense weights with zeros.
        batch: Expected batch size N used by the ``auto`` timing.
        repeats: Timed calls per path and layer (``auto``).

    Returns:
        The backbone in eval mode, no gradients; input (N, V, F) for the GCN. Its
        ``export_info`` attribute holds ``pruning``, ``meta``, ``config`` and ``layers``
        (the per-layer path choice).

    Raises:
        CheckpointError: Unreadable, foreign or inconsistent file.
    """
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}")
    payload = read_exported(path)
    try:
        cfg = RunConfig.from_dict(payload["config"])
        meta = Meta.from_dict(payload["meta"])
        model = build_plain(cfg, meta)
        shapes = {k: t.shape for k, t in model.state_dict().items()}
        state = dict(payload["dense"])
        state.update({k: _decode_csr(v, shapes[k]) for k, v in payload["sparse"].items()})
        model.load_state_dict(state, strict=True)
        names = [str(n) for n in payload["prunable"]]
        prunable_linears(model, names)
    except Exception as exc:
        raise CheckpointError(f"{path}: malformed mrmp export ({type(exc).__name__}: {exc})") from None
    model.requires_grad_(False)
    layers = sparsify(model, names, example_input(cfg, meta, batch), sparse, repeats)
    model.export_info = {"pruning": dict(payload["pruning"]), "meta": meta, "config": cfg,
                         "prunable": names, "layers": layers}
    return model


# -- ONNX ------------------------------------------------------------------------------------
def export_onnx(
    bundle: Bundle,
    rate: float,
    path: str | Path,
    threshold: str | None = None,
    scope: str | None = None,
    opset: int | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Write the model at ``rate`` as a standard ONNX graph (dense weights holding the zeros).

    Input ``x``: the descriptors (N, V, F) (frames (N, C, T, V/M, M) for ST-GCN) with a dynamic
    batch axis N; output ``logits`` (N, classes). Needs ``onnx`` and ``onnxscript``
    (``pip install mrmp[export]``).

    Args:
        verify: When ``onnxruntime`` is installed, compare its outputs with PyTorch on a batch
            of 3 and raise :class:`ConfigError` beyond 1e-4.

    Returns:
        Summary: ``path``, ``bytes``, ``max_abs_diff`` (None when not verified).
    """
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ConfigError("ONNX export needs onnx and onnxscript: pip install 'mrmp[export]'") from None
    import logging

    model, _ = _plain_state(bundle, rate, threshold, scope)
    x = example_input(bundle.cfg, bundle.meta, batch=2)
    batch = torch.export.Dim("batch", min=1)
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (x,), None, dynamo=True, input_names=["x"],
                                        output_names=["logits"], dynamic_shapes=({0: batch},),
                                        opset_version=opset, verbose=False)
    except Exception as exc:
        raise ConfigError(f"ONNX export failed ({type(exc).__name__}: {exc})") from None
    finally:
        logger.setLevel(level)
    data = program.model_proto.SerializeToString()
    atomic_write_bytes(path, lambda fh: fh.write(data))
    diff = _verify_onnx(model, data, example_input(bundle.cfg, bundle.meta, batch=3, seed=1)) if verify else None
    if diff is not None and diff > 1e-4:
        raise ConfigError(f"{path}: onnxruntime outputs differ from PyTorch by {diff:.3g} (> 1e-4)")
    return {"path": str(path), "bytes": Path(path).stat().st_size, "max_abs_diff": diff}


def _verify_onnx(model: nn.Module, data: bytes, x: Tensor) -> float | None:
    """Max |onnxruntime − PyTorch| on ``x``, or None without onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        return float((torch.from_numpy(out) - model(x)).abs().max())
