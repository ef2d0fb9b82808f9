"""Multi-rate pruning of an arbitrary model (an MLP) in a user's own loop: the example runs.

Imports the functions of ``examples/multirate_mlp.py`` and trains a short version of it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

import mrmp

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "multirate_mlp.py"


def _example():
    spec = importlib.util.spec_from_file_location("multirate_mlp", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_public_api() -> None:
    for name in ("multirate", "MultiRate", "MultiRateLoss", "sigma_at", "sample_rates", "check_rate", "parse_rates"):
        assert name in mrmp.__all__ and getattr(mrmp, name).__name__ == name
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    mr = mrmp.multirate(net, generator=torch.Generator().manual_seed(0))
    objective = mrmp.MultiRateLoss(net, mr, kl_weight=1.0, split_batch=False)
    out = objective(torch.randn(6, 4), torch.tensor([0, 1, 0, 1, 0, 1]), [0.5, 0.9])
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.slow
def test_unseen_rate_is_as_good_as_its_seen_neighbours() -> None:
    torch.set_num_threads(1)
    ex = _example()
    results = ex.run(epochs=12, n=2000)
    acc = {r: a for r, (a, _) in results.items()}
    assert 0.87 in ex.UNSEEN and 0.85 in ex.SEEN and 0.9 in ex.SEEN
    chance = 1 / 3
    assert acc[0.87] > chance + 0.25, acc  # clearly learnt
    neighbours = (acc[0.85] + acc[0.9]) / 2
    assert abs(acc[0.87] - neighbours) < 0.05, acc  # unseen rate ≈ its seen neighbours
    for r in ex.UNSEEN:
        assert acc[r] > chance + 0.2, (r, acc)
    # more weights pruned at higher rates, nested masks
    observed = [results[r][1] for r in sorted(results)]
    assert observed == sorted(observed) and observed[-1] > 0.85
    print(ex.format_table(results))
