"""ONNX export of a checkpoint's model at any rate (pruned weights packed), verified with onnxruntime."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from mrmp.deploy.fused import drop_dead_units
from mrmp.deploy.onnx_pack import pack_initializers
from mrmp.deploy.plain import example_input
from mrmp.deploy.source import snapshot
from mrmp.errors import ConfigError
from mrmp.io import atomic_write_bytes

if TYPE_CHECKING:
    from onnx import ModelProto

    from mrmp.engine.setup import Bundle

__all__ = ["ONNX_STORAGES", "export_onnx", "ort_session", "verify_onnx"]

ONNX_STORAGES = ("auto", "dense")


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ConfigError("ONNX export needs onnx and onnxscript: pip install 'mrmp[export]'") from None


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the torch.onnx logger (below errors) and its warnings."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _to_onnx(model: nn.Module, x: Tensor, opset: int | None) -> ModelProto:
    """ONNX graph of ``model``: input ``x`` with a dynamic batch axis, output ``logits``."""
    batch = torch.export.Dim("batch", min=1)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                model,
                (x,),
                None,
                dynamo=True,
                input_names=["x"],
                output_names=["logits"],
                dynamic_shapes=({0: batch},),
                opset_version=opset,
                verbose=False,
            )
    except Exception as exc:
        raise ConfigError(f"ONNX export failed ({type(exc).__name__}: {exc})") from None
    return program.model_proto


def export_onnx(
    bundle: Bundle,
    rate: float | None,
    path: str | Path,
    threshold: str | None = None,
    scope: str | None = None,
    opset: int | None = None,
    verify: bool = True,
    storage: str = "auto",
) -> dict[str, Any]:
    """Write the model at ``rate`` as a standard ONNX graph whose pruned weights hold only their
    kept values (:mod:`mrmp.deploy.onnx_pack`; ONNX Runtime rebuilds them at session creation),
    hidden units the rate left unread dropped (:func:`mrmp.deploy.fused.drop_dead_units`).

    Input ``x``: the descriptors (N, V, F) (frames (N, C, T, V/M, M) for ST-GCN) with a dynamic
    batch axis N; output ``logits`` (N, classes). Needs ``onnx`` and ``onnxscript``
    (``pip install mrmp[export]``).

    Args:
        bundle, rate, path, threshold, scope: As in :func:`mrmp.deploy.format.export_pt`.
        opset: ONNX opset version (default: the exporter's; ≥ 13 for packed weights).
        verify: When ``onnxruntime`` is installed, compare its outputs with PyTorch on a batch
            of 3 and raise :class:`ConfigError` beyond 1e-4.
        storage: ``auto``: each weight packed where that is smaller; ``dense``: every weight
            stored densely, zeros included (the uncompressed reference).

    Returns:
        Summary: ``rate``, ``path``, ``bytes``, ``max_abs_diff`` (None when not verified),
        ``nonzero``, ``total`` (prunable weights) and ``packed`` (names of packed initializers).
    """
    if storage not in ONNX_STORAGES:
        raise ConfigError(f"unknown ONNX storage {storage!r}; choose one of {ONNX_STORAGES}")
    snap = snapshot(bundle, rate, threshold, scope)
    _require_onnx()
    proto = _to_onnx(drop_dead_units(snap.model), example_input(bundle.cfg, bundle.meta, batch=2), opset)
    packed = pack_initializers(proto) if storage == "auto" else []
    data = proto.SerializeToString()
    atomic_write_bytes(path, lambda fh: fh.write(data))
    diff = verify_onnx(snap.model, data, example_input(bundle.cfg, bundle.meta, batch=3, seed=1)) if verify else None
    if diff is not None and diff > 1e-4:
        raise ConfigError(f"{path}: onnxruntime outputs differ from PyTorch by {diff:.3g} (> 1e-4)")
    weights = [snap.state[n] for n in bundle.names]
    return {
        "rate": snap.rate,
        "path": str(path),
        "bytes": Path(path).stat().st_size,
        "max_abs_diff": diff,
        "nonzero": sum(int(w.count_nonzero()) for w in weights),
        "total": sum(w.numel() for w in weights),
        "packed": packed,
    }


def ort_session(model: str | Path | bytes, threads: int = 1) -> Any:
    """An onnxruntime CPU session pinned to ``threads`` intra-op threads, one inter-op thread,
    sequential execution and no spin-waiting (idle pool threads leave the cores to others).

    Raises:
        ConfigError: onnxruntime is not installed.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError("onnxruntime is not installed: pip install 'mrmp[export]'") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def verify_onnx(model: nn.Module, data: bytes, x: Tensor) -> float | None:
    """Max |onnxruntime − PyTorch| on ``x`` for the serialised graph ``data``, or None without onnxruntime."""
    try:
        session = ort_session(data)
    except ConfigError:
        return None
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        return float((torch.from_numpy(out) - model(x)).abs().max())
