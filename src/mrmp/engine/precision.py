"""Mixed precision of training (``train.amp``): autocast of the forward pass, gradient scaling for fp16."""

from __future__ import annotations

import contextlib

import torch

__all__ = ["AMP_DTYPES", "autocast", "grad_scaler"]

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
