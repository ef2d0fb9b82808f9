"""Stochastic weight averaging (``train.swa``): the average turns from an EMA into the equal mean
of the weights after each step, the learning rate decays to ``swa_lr`` and holds, the option needs
a weight average, and a run with it resumes exactly."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch

from mrmp.config import RunConfig, TrainConfig
from mrmp.engine import fit, load_data
from mrmp.engine.averaging import WeightAverage
from mrmp.engine.checkpoint import load_checkpoint
from mrmp.engine.train import lr_schedule, swa_start
from mrmp.errors import ConfigError
from tiny import tiny_config


def _step(net: torch.nn.Module, value: float) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_average_is_ema_then_the_equal_mean_from_swa_from() -> None:
    net = torch.nn.Linear(3, 2)
    avg = WeightAverage(net, decay=0.5, swa_from=2)
    ema = WeightAverage(net, decay=0.5)
    for value in (1.0, 2.0):
        _step(net, value)
        avg.update()
        ema.update()
    assert all(torch.equal(avg.state[k], ema.state[k]) for k in avg.state)  # the EMA until swa_from
    states = []
    for value in (5.0, 3.0, 10.0):
        states.append(_step(net, value))
        avg.update()
        if len(states) == 1:  # the first equal-average update copies the weights, dropping the EMA
            assert all(torch.equal(avg.state[k], states[0][k]) for k in avg.state)
    for k in avg.state:
        torch.testing.assert_close(avg.state[k], sum(s[k] for s in states) / 3)
    assert avg.steps == 5 and avg.state_dict()["steps"] == 5


def test_schedule_decays_to_swa_lr_then_holds_and_scales_every_group() -> None:
    net = torch.nn.Linear(2, 2)
    tc = TrainConfig(epochs=8, lr=1e-3, swa=0.25, swa_lr=4e-4)
    opt = torch.optim.Adam([{"params": [net.weight]}, {"params": [net.bias], "lr": 2e-3}], lr=tc.lr)
    sched = lr_schedule(opt, tc)
    assert swa_start(tc) == 6
    lrs = []
    for _ in range(tc.epochs):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    first = [lr[0] for lr in lrs]
    assert first[0] == pytest.approx(1e-3) and all(a > b for a, b in itertools.pairwise(first[:7]))
    assert first[6:] == pytest.approx([4e-4, 4e-4])  # flat over the SWA epochs
    assert first[3] == pytest.approx(4e-4 + 6e-4 * (1 + math.cos(math.pi * 3 / 6)) / 2)
    assert [lr[1] for lr in lrs] == pytest.approx([2 * x for x in first])  # every group scaled alike
    plain = lr_schedule(opt, RunConfig().train)
    assert isinstance(plain, torch.optim.lr_scheduler.CosineAnnealingLR)  # swa = 0: the cosine as before


def test_swa_needs_a_weight_average_and_a_fraction_under_one() -> None:
    with pytest.raises(ConfigError, match=r"train\.swa.*train\.ema > 0"):
        RunConfig().replace(train={"ema": 0.0, "swa": 0.25})
    with pytest.raises(ConfigError, match=r"train\.swa"):
        RunConfig().replace(train={"swa": 1.0})


def test_run_with_swa_averages_its_last_epochs_and_resumes_exactly(tmp_path: Path) -> None:
    cfg = tiny_config(4, train={"swa": 0.5})
    data = load_data(cfg)
    full = fit(cfg, tmp_path / "full", data=data, progress=False)
    payload = load_checkpoint(full.checkpoint)
    steps = 4 * math.ceil(len(data.train) / 32)
    assert payload["average"]["steps"] == steps
    assert payload["scheduler"]["last_epoch"] == 4

    def kill(epoch: int, record: dict) -> None:
        if epoch == 3:  # inside the averaged epochs
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(cfg.replace(train={"save_every": 1}), tmp_path / "cut", data=data, progress=False, on_epoch_end=kill)
    resumed = fit(cfg.replace(train={"save_every": 1}), tmp_path / "cut", resume=True, data=data, progress=False)
    assert resumed.metrics["loss"] == full.metrics["loss"]
    assert resumed.metrics["test_accuracy"] == full.metrics["test_accuracy"]
    for k, v in load_checkpoint(resumed.checkpoint)["model"].items():
        assert torch.equal(v, payload["model"][k])
    plain = fit(tiny_config(4), tmp_path / "plain", data=data, progress=False)
    assert plain.metrics["lr"] != full.metrics["lr"]
