"""The per-layer floor of global ranking: no layer emptied or starved, exact totals, nested masks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mrmp.errors import ConfigError
from mrmp.pruning import magnitude_masks, magnitude_prune, multirate
from mrmp.pruning.select import floor_bound, floor_count

RATES = (0.5, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
FLOOR = 0.5


def _scores(seed: int = 0) -> dict[str, torch.Tensor]:
    """One huge tensor of large weights and several tiny ones of small weights (the starving case)."""
    g = torch.Generator().manual_seed(seed)
    return {
        "huge": torch.randn(64, 4096, generator=g) * 10.0,
        "tiny_a": torch.randn(8, 5, generator=g) * 0.01,
        "tiny_b": torch.randn(3, 2, 2, generator=g) * 0.01,
        "tiny_c": torch.randn(16, 16, generator=g) * 0.1,
    }


@pytest.mark.parametrize("rate", list(RATES))
def test_floor_holds_per_layer_and_per_row(rate: float) -> None:
    scores = _scores()
    masks = magnitude_masks(scores, rate, "global", floor=FLOOR)
    for name, s in scores.items():
        m = masks[name]
        assert m.sum() >= floor_count(s.numel(), rate, FLOOR) >= 1, name
        assert (m.reshape(s.shape[0], -1).sum(1) >= 1).all(), name  # every output row keeps a weight
        rows = s.abs().reshape(s.shape[0], -1)
        kept_top = m.reshape(s.shape[0], -1).gather(1, rows.argmax(1, keepdim=True))
        assert (kept_top == 1).all(), name  # ... and it is the row's largest


@pytest.mark.parametrize("rate", list(RATES))
def test_total_kept_is_exact_when_floors_fit(rate: float) -> None:
    scores = _scores(1)
    total = sum(s.numel() for s in scores.values())
    masks = magnitude_masks(scores, rate, "global", floor=FLOOR)
    reserved = sum(max(floor_count(s.numel(), rate, FLOOR), s.shape[0]) for s in scores.values())
    assert reserved <= total - round(rate * total)  # the floors fit at these rates
    assert int(sum(m.sum() for m in masks.values())) == total - round(rate * total)


def test_without_floor_tiny_layers_starve() -> None:
    """The case the floor exists for: plain global ranking empties the tiny layers."""
    masks = magnitude_masks(_scores(), 0.98, "global")
    assert masks["tiny_a"].sum() == 0 and masks["tiny_b"].sum() == 0
    bound = floor_bound(_scores(), 0.98, "global", FLOOR)
    assert bound["tiny_a"] and bound["tiny_b"] and not bound["huge"]


def test_masks_are_nested_across_increasing_rates() -> None:
    scores = _scores(2)
    previous = None
    for rate in RATES:
        masks = magnitude_masks(scores, rate, "global", floor=FLOOR)
        if previous is not None:
            for name in scores:
                assert (masks[name] <= previous[name]).all(), (name, rate)
        previous = masks


@pytest.mark.parametrize("seed", range(20))
def test_floors_that_do_not_fit_keep_only_the_reserved_weights(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)  # some layers' top-5 hold a row's second entry
    scores = {"a": torch.randn(50, 2, generator=g), "b": torch.randn(50, 2, generator=g)}  # 100 rows: 100 of 200
    masks = magnitude_masks(scores, 0.9, "global", floor=FLOOR)  # budget 20
    assert int(sum(m.sum() for m in masks.values())) == 100
    assert all((m.sum(1) == 1).all() for m in masks.values())


@pytest.mark.parametrize("rate", [0.3, 0.9, 0.99])
def test_floor_zero_reproduces_the_plain_global_masks(rate: float) -> None:
    scores = _scores(3)
    plain = magnitude_masks(scores, rate, "global")
    zero = magnitude_masks(scores, rate, "global", floor=0.0)
    assert all(torch.equal(plain[n], zero[n]) for n in scores)
    layer = magnitude_masks(scores, rate, "layer", floor=FLOOR)  # the floor is a global-ranking rule
    assert all(torch.equal(layer[n], magnitude_masks(scores, rate, "layer")[n]) for n in scores)


def test_floor_outside_unit_interval_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"prune\.floor"):
        magnitude_masks(_scores(), 0.5, "global", floor=1.5)


def _net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4096, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        net[2].weight.mul_(0.001)  # a small middle layer: global ranking alone would empty it
    return net


def test_magnitude_prune_applies_the_floor() -> None:
    net = _net()
    magnitude_prune(net, 0.99, scope="global", floor=FLOOR)
    for i in (0, 2, 4):
        w = net[i].weight
        assert int((w != 0).sum()) >= floor_count(w.numel(), 0.99, FLOOR)
        assert ((w != 0).sum(1) >= 1).all()


@pytest.mark.parametrize("rate", [0.9, 0.99])
def test_exact_threshold_applies_the_handle_floor(rate: float) -> None:
    net = _net()
    mr = multirate(net, init="weights", scale="layer", floor=FLOOR)  # layer scale: latents keep W's ranks
    mr.set_rate(rate, "exact", "global")
    nonzero, total = mr.counts()
    assert nonzero == total - round(rate * total)
    for name, r in mr.layer_rates().items():
        numel = mr.latent(name).numel()
        assert round((1 - r) * numel) >= floor_count(numel, rate, FLOOR), name


def test_empirical_training_rule_respects_the_floor() -> None:
    net = _net()
    mr = multirate(net, init="weights", scale="layer", floor=FLOOR)
    plain = multirate(_net(), init="weights", scale="layer")
    for rate in (0.9, 0.98, 0.99):
        mr.set_rate(rate, "empirical", "global")
        plain.set_rate(rate, "empirical", "global")
        layer = mr.layer_rates()
        for name in mr.names:
            numel = mr.latent(name).numel()
            # the small layers are ranked on all their latents: each keeps at least its floor count
            assert round((1 - layer[name]) * numel) >= floor_count(numel, rate, FLOOR), (name, rate)
        assert plain.layer_rates()["2.weight"] == 1.0 > layer["2.weight"]  # emptied without the floor
        assert math.isclose(plain.observed_rate(), rate, abs_tol=1e-3)
