"""The ``.pt`` export file: a model at one rate, its prunable weights in CSR form.

Layout (``torch.save`` of plain dicts, lists, numbers, strings and tensors only, read back with
``weights_only=True`` by :func:`mrmp.io.read_payload`)::

    {"format": "mrmp-export/1",
     "config": RunConfig.to_dict(), "meta": Meta.to_dict(),
     "pruning": {"method", "rate", "threshold", "scope", "nonzero", "total"},
     "prunable": [qualified names of the prunable weights],
     "dense": {name: tensor},             # every other parameter / buffer, and prunable
                                          # weights whose CSR form would be larger
     "sparse": {name: {"shape": [...],    # prunable weights as CSR of (shape[0], rest):
                       "crow_indices": (rows + 1,), "col_indices": (nnz,), "values": (nnz,)}}}

CSR indices use the smallest integer dtype that holds them (uint8, int16, int32 or int64).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from mrmp.deploy.source import snapshot
from mrmp.deploy.sparse import quiet_csr
from mrmp.errors import CheckpointError, ConfigError
from mrmp.io import EXPORT, atomic_write_bytes, read_payload

if TYPE_CHECKING:
    from mrmp.engine.setup import Bundle

__all__ = ["EXPORT_FORMAT", "STORAGES", "Pruning", "decode_csr", "encode_csr", "export_pt", "read_exported"]

EXPORT_FORMAT = EXPORT.format
STORAGES = ("auto", "csr", "dense")

_SECTIONS = {"config": dict, "meta": dict, "pruning": dict, "prunable": list, "dense": dict, "sparse": dict}


@dataclass(frozen=True)
class Pruning:
    """The ``pruning`` section: how the exported weights were pruned.

    Attributes:
        method: The run's method (``dense``, ``mp``, ``srmp``, ``mrmp``).
        rate: The rate asked for.
        threshold: The threshold rule (band-stop models; ``prior`` for others).
        scope: The ranking scope asked for (None: the run's default).
        nonzero, total: Kept and all prunable weights.
    """

    method: str
    rate: float
    threshold: str
    scope: str | None
    nonzero: int
    total: int

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pruning:
        scope = d["scope"]
        return cls(
            str(d["method"]),
            float(d["rate"]),
            str(d["threshold"]),
            None if scope is None else str(scope),
            int(d["nonzero"]),
            int(d["total"]),
        )


def _index_dtype(max_value: int) -> torch.dtype:
    """Smallest integer dtype that holds 0..max_value.

    >>> _index_dtype(255), _index_dtype(256)
    (torch.uint8, torch.int16)
    """
    for dtype in (torch.uint8, torch.int16, torch.int32):
        if max_value <= torch.iinfo(dtype).max:
            return dtype
    return torch.int64


def encode_csr(weight: Tensor) -> dict[str, Any]:
    """CSR entry of ``weight`` viewed as (shape[0], rest), with the smallest index dtypes."""
    with quiet_csr():
        mat = weight.reshape(weight.shape[0], -1).to_sparse_csr()
    nnz, cols = mat.values().numel(), weight[0].numel()
    return {
        "shape": list(weight.shape),
        "crow_indices": mat.crow_indices().to(_index_dtype(nnz)),
        "col_indices": mat.col_indices().to(_index_dtype(max(cols - 1, 0))),
        "values": mat.values().clone(),
    }


def decode_csr(entry: dict[str, Any], expected: torch.Size) -> Tensor:
    """Dense tensor of an :func:`encode_csr` entry, checked against the ``expected`` shape and
    the CSR invariants before anything is allocated from it.

    Raises:
        ValueError: Wrong shape, dtypes or CSR invariants.
    """
    shape = torch.Size(int(s) for s in entry["shape"])
    if shape != expected:
        raise ValueError(f"stored shape {list(shape)} does not match the model's {list(expected)}")
    crow, col, values = entry["crow_indices"], entry["col_indices"], entry["values"]
    if (
        not all(isinstance(t, Tensor) for t in (crow, col, values))
        or not values.is_floating_point()
        or crow.is_floating_point()
        or col.is_floating_point()
    ):
        raise ValueError("CSR entry must hold integer indices and floating values")
    with quiet_csr():
        mat = torch.sparse_csr_tensor(
            crow.long(), col.long(), values, (shape[0], math.prod(shape[1:])), check_invariants=True
        )
    return mat.to_dense().reshape(shape)


def _nbytes(*tensors: Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _split_storage(
    state: dict[str, Tensor], prunable: list[str], storage: str
) -> tuple[dict[str, Tensor], dict[str, dict[str, Any]]]:
    """(dense, sparse) sections: prunable weights as CSR where ``storage`` asks for it."""
    dense: dict[str, Tensor] = {}
    sparse: dict[str, dict[str, Any]] = {}
    for name, tensor in state.items():
        entry = encode_csr(tensor) if name in prunable and storage != "dense" else None
        small = entry is not None and _nbytes(entry["crow_indices"], entry["col_indices"], entry["values"]) < _nbytes(
            tensor
        )
        if entry is not None and (storage == "csr" or small):
            sparse[name] = entry
        else:
            dense[name] = tensor
    return dense, sparse


def export_pt(
    bundle: Bundle,
    rate: float | None,
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
        rate: Pruning rate in [0, 1); None: the checkpoint's default rate.
        path: Output file.
        threshold: ``prior``, ``exact``, ``anchored`` or ``empirical`` (band-stop models; default:
            the trained rule's ``evaluated_with``, ``anchored``).
        scope: ``layer`` or ``global`` ranking (exact / anchored thresholds, magnitude pruning).
        storage: ``auto``: CSR for each prunable weight where it is smaller than dense;
            ``csr``: always CSR; ``dense``: no CSR (the uncompressed reference).

    Returns:
        Summary: ``rate``, ``path``, ``bytes``, ``nonzero``, ``total``, ``observed_rate``, ``csr`` (names).
    """
    if storage not in STORAGES:
        raise ConfigError(f"unknown storage {storage!r}; choose one of {STORAGES}")
    snap = snapshot(bundle, rate, threshold, scope)
    weights = [snap.state[n] for n in bundle.names]
    nonzero, total = sum(int(w.count_nonzero()) for w in weights), sum(w.numel() for w in weights)
    dense, sparse = _split_storage(snap.state, list(bundle.names), storage)
    pruning = Pruning(bundle.cfg.prune.method, float(snap.rate), snap.threshold, scope, nonzero, total)
    payload = {
        "format": EXPORT_FORMAT,
        "config": bundle.cfg.to_dict(),
        "meta": bundle.meta.to_dict(),
        "pruning": dataclasses.asdict(pruning),
        "prunable": list(bundle.names),
        "dense": dense,
        "sparse": sparse,
    }
    atomic_write_bytes(path, lambda fh: torch.save(payload, fh))
    return {
        "rate": snap.rate,
        "path": str(path),
        "bytes": Path(path).stat().st_size,
        "nonzero": nonzero,
        "total": total,
        "observed_rate": 1.0 - nonzero / max(total, 1),
        "csr": sorted(sparse),
    }


def read_exported(path: str | Path) -> dict[str, Any]:
    """The validated payload of an exported file (``weights_only`` load: no code from the file runs).

    Raises:
        CheckpointError: Missing, truncated, corrupted or foreign file, naming ``path``.
    """
    payload = read_payload(path, EXPORT)
    bad = [k for k, kind in _SECTIONS.items() if not isinstance(payload.get(k), kind)]
    if bad:
        raise CheckpointError(f"{path}: malformed mrmp export (missing or invalid {', '.join(bad)})")
    return payload
