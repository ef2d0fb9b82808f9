"""Batches of an :class:`~mrmp.data.features.InputPipeline`, loaded ahead in worker processes.

A streamed pipeline reads, pads and normalises each batch (:meth:`InputPipeline.load`) in
``torch.utils.data.DataLoader`` workers while the training process augments, encodes and trains
on the previous ones; memory holds a few batches, never the set. Augmentation stays in the
training process, drawn from the epoch's generator, so a streamed run draws exactly what an
in-memory run draws.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from mrmp.data.features import InputPipeline

__all__ = ["Loaded", "batches"]

#: A batch's normalised padded sequences (N, T, V, C) and lengths (N,).
Loaded = tuple[Tensor, Tensor]


class _Loads(Dataset[Loaded]):
    """Map-style dataset whose items are whole batches: ``loads[index]`` is ``pipeline.load(index)``."""

    def __init__(self, pipeline: InputPipeline) -> None:
        self.pipeline = pipeline

    def __len__(self) -> int:
        return len(self.pipeline)

    def __getitem__(self, index: Tensor) -> Loaded:
        return self.pipeline.load(index)


def batches(
    pipeline: InputPipeline, order: Tensor, batch_size: int, workers: int = 0, pin_memory: bool = False
) -> Iterator[tuple[Tensor, Loaded]]:
    """``(index, pipeline.load(index))`` for each consecutive ``batch_size`` slice of ``order``.

    Args:
        workers: Processes loading ahead (streamed pipelines only; an in-memory pipeline's
            :meth:`~InputPipeline.load` is an index into the tensor it holds).
        pin_memory: Load into page-locked memory (faster copies to a CUDA device).
    """
    chunks = list(torch.split(order, batch_size))
    if workers == 0 or not pipeline.streamed:
        return ((index, pipeline.load(index)) for index in chunks)
    loader = DataLoader(
        _Loads(pipeline),
        batch_size=None,
        sampler=chunks,
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=4,
        generator=torch.Generator().manual_seed(0),  # worker seeds: leave the global RNG (dropout) alone
    )
    return zip(chunks, loader, strict=True)
