"""Loading an exported file as a plain inference model: :func:`load_exported`.

The backbone is rebuilt with :func:`mrmp.models.build_model` (no latent weights, no
parametrisations, dropout replaced by identity) and each pruned linear layer is swapped for a
:class:`~mrmp.deploy.sparse.SparseLinear` where a timing shows CSR to be faster
(``sparse="auto"``). Needs neither the training engine nor the data loaders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from mrmp.config import RunConfig
from mrmp.deploy.format import Pruning, decode_csr, read_exported
from mrmp.deploy.fused import fuse
from mrmp.deploy.plain import build_plain, example_input
from mrmp.deploy.sparse import SPARSE_MODES, LayerChoice, prunable_linears, sparsify
from mrmp.errors import CheckpointError, ConfigError
from mrmp.meta import Meta

__all__ = ["ExportedModel", "load_exported"]


@dataclass(frozen=True, eq=False)
class ExportedModel:
    """An exported model rebuilt for inference, with what its file says about it.

    Attributes:
        module: The backbone in eval mode, no gradients (or its fused form); input (N, V, F) chunks for the GCN,
            (N, C, T, V/M, M) frames for ST-GCN (:func:`mrmp.deploy.plain.example_input`).
        config: The run's configuration.
        meta: What the model needs from its dataset (joints, classes, scale, class names).
        pruning: Method, rate, threshold rule, scope and kept / total prunable weights.
        prunable: Qualified names of the prunable weights.
        layers: Per prunable linear layer (module name): the path chosen at load time.
    """

    module: nn.Module
    config: RunConfig
    meta: Meta
    pruning: Pruning
    prunable: tuple[str, ...]
    layers: Mapping[str, LayerChoice]

    @property
    def sparse_layers(self) -> list[str]:
        """Module names of the layers that run on the CSR path."""
        return [name for name, choice in self.layers.items() if choice.path == "sparse"]


def _rebuild(path: str | Path) -> tuple[nn.Module, RunConfig, Meta, Pruning, tuple[str, ...]]:
    """The dense plain model of an exported file with what the file says about it."""
    payload = read_exported(path)
    try:
        cfg = RunConfig.from_stored(payload["config"])
        meta = Meta.from_dict(payload["meta"])
        pruning = Pruning.from_dict(payload["pruning"])
        model = build_plain(cfg, meta)
        shapes = {k: t.shape for k, t in model.state_dict().items()}
        state = dict(payload["dense"])
        state.update({k: decode_csr(v, shapes[k]) for k, v in payload["sparse"].items()})
        model.load_state_dict(state, strict=True)
        names = tuple(str(n) for n in payload["prunable"])
        prunable_linears(model, names)
    except Exception as exc:
        raise CheckpointError(f"{path}: malformed mrmp export ({type(exc).__name__}: {exc})") from None
    return model.requires_grad_(False), cfg, meta, pruning, names


def load_exported(
    path: str | Path,
    sparse: str = "auto",
    batch: int = 1,
    repeats: int = 15,
    fused: bool = False,
) -> ExportedModel:
    """Rebuild a plain inference model from an :func:`mrmp.deploy.format.export_pt` file.

    Args:
        path: The exported file (read with ``weights_only=True``).
        sparse: ``auto``: per pruned linear layer, CSR where timing shows it faster for inputs
            of ``batch`` sequences; ``always``: CSR for all; ``never``: dense weights with zeros.
        batch: Expected batch size N used by the ``auto`` timing.
        repeats: Timed calls per path and layer (``auto``).
        fused: Run the backbone's fused inference form where it has one
            (:mod:`mrmp.deploy.fused`: the attention GCN); ``sparse`` then decides its ``fc``.

    Returns:
        The model (``.module``) with the file's configuration, meta, pruning summary and the
        per-layer path choice.

    Raises:
        CheckpointError: Unreadable, foreign or inconsistent file.
    """
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}")
    if sparse not in SPARSE_MODES:
        raise ConfigError(f"unknown sparse mode {sparse!r}; choose one of {SPARSE_MODES}")
    model, cfg, meta, pruning, names = _rebuild(path)
    example = example_input(cfg, meta, batch)
    built = fuse(cfg.model.name, model, example, sparse, repeats) if fused else None
    if built is not None:
        return ExportedModel(built[0], cfg, meta, pruning, names, {"fc": built[1]})
    layers = sparsify(model, names, example, sparse, repeats)
    return ExportedModel(model, cfg, meta, pruning, names, layers)
