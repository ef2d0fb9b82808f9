"""Single-process or data-parallel (``torchrun``) execution context.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is initialised with gloo on CPU
and nccl on CUDA, the training objective is wrapped in ``DistributedDataParallel`` and every
global batch is split across ranks, so N processes with per-rank batch B/N follow the same
trajectory as one process with batch B (up to floating-point summation order).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch import Tensor, nn

from mrmp.errors import ConfigError

__all__ = ["Context", "context", "resolve_device"]


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (``cuda:N``) or ``auto`` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    if name != "cpu" and not name.startswith("cuda"):
        raise ConfigError(f"unknown device {name!r}; choose cpu, cuda or auto")
    return torch.device(name)


@dataclass
class Context:
    """Where this process runs and which part of each batch it owns."""

    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` itself, or wrapped in DDP when running data-parallel."""
        if self.world == 1:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def local(self, batch: Tensor) -> Tensor:
        """This rank's share of a global batch of indices."""
        return batch[self.rank :: self.world]

    def barrier(self) -> None:
        if self.world > 1:
            tdist.barrier()


def context(device: str) -> Context:
    """Context from ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world == 1:
        return Context(dev)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Context(dev, rank, world)
