"""Numerics of training: mixed precision (``train.amp``: autocast of the forward pass, gradient scaling
for fp16) and subnormal floats flushed to zero on the CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["AMP_DTYPES", "autocast", "grad_scaler", "subnormals_flushed"]

#: ``train.amp`` -> the autocast dtype (``off``: none, float32 throughout).
AMP_DTYPES: dict[str, torch.dtype | None] = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Autocast to ``amp``'s dtype on ``device`` (CUDA or CPU); a no-op for ``off``."""
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
