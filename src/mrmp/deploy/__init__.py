"""Deployment: export a checkpoint at any pruning rate, reload it as a plain inference model.

- :mod:`~mrmp.deploy.format`: the ``.pt`` export file (CSR weights), :func:`export_pt`, :func:`read_exported`.
- :mod:`~mrmp.deploy.exported`: :func:`load_exported` → :class:`ExportedModel` (no trainer imported).
- :mod:`~mrmp.deploy.fused`: :class:`FusedGCN`, the attention GCN restructured for inference.
- :mod:`~mrmp.deploy.sparse`: :class:`SparseLinear` and the per-layer timing rule of :func:`sparsify`.
- :mod:`~mrmp.deploy.onnx`: :func:`export_onnx` with onnxruntime verification.
- :mod:`~mrmp.deploy.onnx_pack`: :func:`pack_initializers`, ONNX weights stored as their kept values.
- :mod:`~mrmp.deploy.budget`: :func:`export_within`, the lowest rate whose file / latency fits a budget.
- :mod:`~mrmp.deploy.plain`: the plain backbone and example inputs.
- :mod:`~mrmp.deploy.source`: the only calls into :mod:`mrmp.engine` (a checkpoint at a rate).
"""

from __future__ import annotations

from mrmp.deploy.budget import EXPORTERS, export_within, lowest_fitting
from mrmp.deploy.exported import ExportedModel, load_exported
from mrmp.deploy.format import EXPORT_FORMAT, STORAGES, Pruning, export_pt, read_exported
from mrmp.deploy.fused import FUSERS, FusedGCN, fuse
from mrmp.deploy.onnx import ONNX_STORAGES, export_onnx, ort_session
from mrmp.deploy.onnx_pack import pack_initializers
from mrmp.deploy.plain import build_plain, example_input
from mrmp.deploy.source import Snapshot, open_checkpoint, snapshot
from mrmp.deploy.sparse import (
    SPARSE_MODES,
    LayerChoice,
    SparseLinear,
    capture_inputs,
    prunable_linears,
    sparsify,
)

__all__ = [
    "EXPORTERS",
    "EXPORT_FORMAT",
    "FUSERS",
    "ONNX_STORAGES",
    "SPARSE_MODES",
    "STORAGES",
    "ExportedModel",
    "FusedGCN",
    "LayerChoice",
    "Pruning",
    "Snapshot",
    "SparseLinear",
    "build_plain",
    "capture_inputs",
    "example_input",
    "export_onnx",
    "export_pt",
    "export_within",
    "fuse",
    "load_exported",
    "lowest_fitting",
    "open_checkpoint",
    "ort_session",
    "pack_initializers",
    "prunable_linears",
    "read_exported",
    "snapshot",
    "sparsify",
]
