"""Mixup: blends are convex, targets are distributions, seeds reproduce, and a run trains with it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mrmp.engine import fit, load_data
from mrmp.engine.mixup import mixup
from tiny import tiny_config


def test_blend_is_one_convex_pairing_of_inputs_and_targets() -> None:
    x, y = torch.randn(8, 5, 3), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    mixed, t = mixup(x, y, 4, 0.4, torch.Generator().manual_seed(1))
    torch.testing.assert_close(t.sum(1), torch.ones(8))
    lam = float(t[torch.arange(8), y].min())  # each sample keeps at least its own share λ or 1 - λ
    assert 0 < lam < 1
    # each blend is λ·x_i + (1 − λ)·x_j for one j of the batch
    for i in range(8):
        residual = [(mixed[i] - w * x[i] - (1 - w) * x[j]).abs().max() for j in range(8) for w in (lam, 1 - lam)]
        assert min(residual) < 1e-5
    again = mixup(x, y, 4, 0.4, torch.Generator().manual_seed(1))
    assert torch.equal(again[0], mixed) and torch.equal(again[1], t)


def test_alpha_zero_and_single_samples_pass_through() -> None:
    x, y = torch.randn(3, 4), torch.tensor([2, 0, 1])
    out, t = mixup(x, y, 3, 0.0, torch.Generator())
    assert torch.equal(out, x) and torch.equal(t, torch.eye(3)[y])
    out, t = mixup(x[:1], y[:1], 3, 0.4, torch.Generator())
    assert torch.equal(out, x[:1])


@pytest.mark.parametrize("method", ["dense", "mrmp"])
def test_training_with_mixup_is_finite_reproducible_and_differs(tmp_path: Path, method: str) -> None:
    cfg = tiny_config(2, prune={"method": method, "rates_per_step": 2})
    data = load_data(cfg)
    mixed = cfg.replace(train={"mixup": 0.4})
    a = fit(mixed, tmp_path / "a", data=data, progress=False)
    b = fit(mixed, tmp_path / "b", data=data, progress=False)
    plain = fit(cfg, tmp_path / "plain", data=data, progress=False)
    assert torch.isfinite(torch.tensor(a.metrics["loss"])) and a.metrics["loss"] == b.metrics["loss"]
    assert a.metrics["loss"] != plain.metrics["loss"]
