"""Single-process or data-parallel (``torchrun``) execution context.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is initialised with gloo on CPU
and nccl on CUDA, the training objective is wrapped in ``DistributedDataParallel`` and every
global batch is split across ranks, so N processes sharing a global batch B follow the same
trajectory as one process with batch B (up to floating-point summation order):

* every rank draws the same shuffling, augmentation, rate and KL-sample randomness (generators
  seeded by (seed, epoch)) and keeps its strided share of the augmented global batch;
* each rank's loss is weighted by ``share · world / B`` before ``backward``, so DDP's gradient
  average is the gradient of the global-batch mean even when B is not a multiple of the
  world size (a rank whose share is empty runs one sample with weight 0, so the collective
  still matches across ranks);
* all forwards of one multi-rate step and the KL term run inside one forward of the wrapped
  :class:`~mrmp.pruning.objective.MultiRateLoss`, so DDP sees exactly one forward per backward and
  every latent weight receives its (summed) gradient once per step;
* epoch metrics are summed over ranks, so rank 0 logs global values.

With ``prune.split_batch`` each rank cuts its own share into one part per rate, so a sample
may be trained at another rate than in a single process: the same expected gradient, but not
the same trajectory (set ``split_batch = false`` for that). Only rank 0 evaluates and writes
files; resuming needs every rank to read the same ``checkpoint.pt`` (shared filesystem), which
:meth:`Context.check_same` verifies instead of letting mismatched ranks hang.

The process group is created once per process, the first time :func:`context` needs it, and
destroyed when the process exits (:func:`shutdown`, registered with :mod:`atexit`): a script
may call :func:`~mrmp.engine.train.fit` several times under one ``torchrun``, whereas
re-creating the default group in a live process races with stale rendezvous keys.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.distributed as tdist
from torch import Tensor, nn

from mrmp.errors import CheckpointError, ConfigError

__all__ = ["Context", "Share", "context", "resolve_device", "shutdown"]

_created = False  # whether this process's default group was created by context()


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (``cuda:N``) or ``auto`` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    if name != "cpu" and not name.startswith("cuda"):
        raise ConfigError(f"unknown device {name!r}; choose cpu, cuda or auto")
    return torch.device(name)


class Share(NamedTuple):
    """This rank's part of a global batch.

    Attributes:
        index: Positions in the global batch to run (one dummy position when ``count`` is 0).
        count: Real samples of this rank (weights of the metric sums).
        weight: Factor of this rank's mean loss, ``count · world / global``.
    """

    index: Tensor
    count: int
    weight: float


@dataclass
class Context:
    """Where this process runs and which part of each batch it owns.

    Attributes:
        device: This process's device.
        rank: Global rank (0 writes logs and checkpoints).
        world: Number of processes.
        owns_group: Whether :func:`context` created the process group (destroyed at exit by
            :func:`shutdown`); a group set up by the caller is left alone.
    """

    device: torch.device
    rank: int = 0
    world: int = 1
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` itself, or wrapped in DDP when running data-parallel.

        DDP broadcasts rank 0's parameters and buffers on construction, so every rank starts
        from identical weights.
        """
        if self.world == 1:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def local(self, batch: Tensor) -> Tensor:
        """This rank's share of a global batch of indices."""
        return batch[self.rank :: self.world]

    def share(self, size: int) -> Share:
        """Positions, sample count and loss weight of this rank in a global batch of ``size``."""
        index = self.local(torch.arange(size))
        count = len(index)
        if self.world == 1:
            return Share(index, count, 1.0)
        if count == 0:  # fewer samples than ranks: run a dummy sample that weighs nothing
            index = torch.zeros(1, dtype=torch.long)
        return Share(index, count, count * self.world / size)

    def sum(self, values: Mapping[str, float]) -> dict[str, float]:
        """``values`` summed over all ranks (the identity in a single process)."""
        if self.world == 1:
            return dict(values)
        keys = list(values)
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return {k: float(v) for k, v in zip(keys, t.tolist(), strict=False)}

    def check_same(self, value: int, what: str) -> None:
        """Raise :class:`CheckpointError` unless every rank holds the same integer ``value``
        (e.g. the epoch of the checkpoint each rank resumed from), instead of hanging later."""
        if self.world == 1:
            return
        t = torch.tensor([value, -value], dtype=torch.int64, device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        if int(t[0]) != value or int(-t[1]) != value:
            raise CheckpointError(
                f"ranks disagree on the {what} (rank {self.rank}: {value}, "
                f"range {int(-t[1])}..{int(t[0])}); every rank must read the same "
                "checkpoint (put --out on a shared filesystem)"
            )

    def barrier(self) -> None:
        if self.world > 1:
            if self.device.type == "cuda":
                tdist.barrier(device_ids=[self.device.index])
            else:
                tdist.barrier()

    def close(self) -> None:
        """End of a run: wait until every rank (rank 0's evaluation and files included) is done."""
        self.barrier()


def shutdown() -> None:
    """Destroy the default process group if :func:`context` created it (idempotent)."""
    global _created
    if _created and tdist.is_initialized():
        tdist.destroy_process_group()
    _created = False


def context(device: str) -> Context:
    """Context from ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).

    Uses the default process group when the caller already initialised one; otherwise
    initialises it (gloo on CPU, nccl on CUDA) from the ``env://`` variables set by torchrun.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = resolve_device(device)
    if world == 1:
        return Context(dev)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    global _created
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        _created = True
        atexit.register(shutdown)
    if tdist.get_world_size() != world or tdist.get_rank() != rank:
        raise ConfigError(
            f"process group (rank {tdist.get_rank()} of {tdist.get_world_size()}) does not "
            f"match the environment (RANK={rank}, WORLD_SIZE={world})"
        )
    return Context(dev, rank, world, _created)
