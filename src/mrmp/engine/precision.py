"""Numerics of training: mixed precision (``train.amp``: autocast of the forward pass, gradient scaling
for fp16) and subnormal floats flushed to zero on the CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["AMP_DTYPES", "autocast", "grad_scaler", "native_bf16", "resolve_amp", "subnormals_flushed"]

#: ``train.amp`` -> the autocast dtype (``off``: none, float32 throughout).
AMP_DTYPES: dict[str, torch.dtype | None] = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 products in hardware: a CUDA GPU that supports it, or a
    CPU with AMX or AVX-512 BF16 (where oneDNN runs bf16 convolutions and GEMMs faster than
    float32: FPHA's ST-GCN trains 1.6× faster, results §1; without them bf16 is emulated, slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":  # torch's CPU feature probes (private; absent from older releases: no)
        probes = (getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
        return any(probe is not None and probe() for probe in probes)
    return False


def resolve_amp(amp: str, device: torch.device) -> str:
    """``train.amp`` as run on ``device``: ``auto`` is ``bf16`` where :func:`native_bf16`, else ``off``.

    >>> import torch
    >>> resolve_amp("fp16", torch.device("cpu")), resolve_amp("auto", torch.device("meta"))
    ('fp16', 'off')
    """
    if amp != "auto":
        return amp
    return "bf16" if native_bf16(device) else "off"


def autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Autocast to ``amp``'s dtype on ``device`` (CUDA or CPU); a no-op for ``off``. ``amp`` is a
    precision run, ``auto`` already resolved (:func:`resolve_amp`)."""
    dtype = AMP_DTYPES[amp]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(amp: str, device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler for ``fp16`` (whose small gradients underflow), disabled (a pass-through) otherwise."""
    return torch.amp.GradScaler(device.type, enabled=amp == "fp16")


@contextlib.contextmanager
def subnormals_flushed() -> Iterator[None]:
    """Treat subnormal floats (|x| < 1.2e-38 in float32) as zero on the CPU while inside.

    Weight decay pulls the weights that no input uses, and Adam's moments with them, towards zero
    until they are subnormal, where x86 arithmetic runs many times slower: FPHA's dense epoch grew
    from 0.17 to 0.38 s over its first 300 epochs, with 18 % of ``fc`` subnormal at the end
    (docs/results.md §3). Flushing them changes no result measurably. The flag holds for the
    calling thread (all of a one-thread run) and is cleared on exit.
    """
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
