"""``train.optimizer``: Adam with an L2 term (``adam``) or with decoupled weight decay (``adamw``),
through one registry, on dense runs and on the latents of a multi-rate run alike."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import torch

from mrmp.config import TrainConfig
from mrmp.engine.train import OPTIMIZERS, setup
from tiny import tiny_config


def test_registry_holds_exactly_the_configs_choices() -> None:
    hint = typing.get_type_hints(TrainConfig)["optimizer"]
    assert set(OPTIMIZERS) == set(typing.get_args(hint))


@pytest.mark.parametrize(("name", "kind"), [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_a_run_steps_with_the_named_optimizer_and_its_decay(tmp_path: Path, name: str, kind: type) -> None:
    run = setup(tiny_config(1, train={"optimizer": name, "weight_decay": 0.05}), tmp_path)
    assert type(run.optimizer) is kind
    assert all(group["weight_decay"] == 0.05 for group in run.optimizer.param_groups)


def test_decoupled_decay_shrinks_weights_that_adams_l2_term_would_move_by_a_full_step() -> None:
    """Without a loss gradient, AdamW multiplies each weight by 1 − lr·wd; Adam's L2 gradient wd·w
    is normalised by its own scale into a step of about lr, whatever wd is: the reason the two need
    decays of different sizes (the config's docstring)."""
    lr, wd = 0.1, 0.01
    moved = {}
    for name, make in OPTIMIZERS.items():
        w = torch.nn.Parameter(torch.full((3,), 2.0))
        opt = make([w], lr=lr, weight_decay=wd)
        w.grad = torch.zeros(3)
        opt.step()
        moved[name] = 2.0 - float(w.detach()[0])
    assert moved["adamw"] == pytest.approx(2.0 * lr * wd, rel=1e-4)
    assert moved["adam"] == pytest.approx(lr, rel=1e-3)


def test_multirate_latents_stay_undecayed_under_adamw(tmp_path: Path) -> None:
    cfg = tiny_config(1, train={"optimizer": "adamw", "weight_decay": 0.05}, prune={"method": "mrmp", "warmup": False})
    run = setup(cfg, tmp_path)
    assert type(run.optimizer) is torch.optim.AdamW
    decays = {group["weight_decay"] for group in run.optimizer.param_groups}
    assert decays == {0.0, 0.05}  # latent groups 0 (their own rule), the rest the configured decay
