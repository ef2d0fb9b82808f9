"""A tiny model configuration on the synthetic set, shared by the tests (seconds per run)."""

from __future__ import annotations

from mrmp.config import RunConfig

TINY_MODEL = {"hidden": 32, "heads": 2, "att_dim": 8, "head_dim": 8, "embed": 16}


def tiny_config(epochs: int = 3, **sections: dict) -> RunConfig:
    """Synthetic data, the tiny model, ``epochs`` epochs (evaluated and saved at the end)."""
    cfg = RunConfig().replace(
        data={"dataset": "synthetic"},
        model=TINY_MODEL,
        train={"epochs": epochs, "batch_size": 32, "eval_every": epochs, "save_every": epochs},
    )
    return cfg.replace(**sections) if sections else cfg
