"""The ``anchored`` ranking: global at the seen rates; elsewhere from the seen rate below, every layer up one step."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import Tensor, nn

from mrmp.pruning import MagnitudeRates, magnitude_masks, multirate
from mrmp.pruning.select import anchored_masks, floor_bound

FLOOR = 0.5


def _scores(seed: int = 0) -> dict[str, Tensor]:
    """A small first layer of large entries, a big layer of small ones, a tiny last one."""
    g = torch.Generator().manual_seed(seed)
    return {
        "embed": torch.randn(8, 12, generator=g) * 3.0,
        "fc": torch.randn(64, 40, generator=g) * 0.5,
        "head": torch.randn(3, 16, generator=g),
    }


def _kept(masks: dict[str, Tensor]) -> dict[str, int]:
    return {n: int(m.sum()) for n, m in masks.items()}


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("rate", [0.3, 0.6, 0.8])
def test_at_or_below_the_anchor_it_is_exact_ranking(scope: str, rate: float) -> None:
    scores = _scores()
    got = anchored_masks(scores, rate, 0.8, scope, FLOOR)
    want = magnitude_masks(scores, rate, scope, FLOOR)
    assert all(torch.equal(got[n], want[n]) for n in scores)
    none = anchored_masks(scores, 0.95, None, scope, FLOOR)  # no anchor: exact at every rate
    assert all(torch.equal(none[n], magnitude_masks(scores, 0.95, scope, FLOOR)[n]) for n in scores)


@pytest.mark.parametrize("floor", [0.0, FLOOR])
@pytest.mark.parametrize("rate", [0.85, 0.9, 0.95, 0.99])
def test_above_the_anchor_exact_nested_and_every_rate_up_by_one_step(floor: float, rate: float) -> None:
    scores, anchor = _scores(1), 0.8
    total = sum(s.numel() for s in scores.values())
    base = magnitude_masks(scores, anchor, "global", floor)
    masks = anchored_masks(scores, rate, anchor, "global", floor)
    assert sum(_kept(masks).values()) == total - round(rate * total)  # the rate, to one weight
    for n, s in scores.items():
        assert masks[n].shape == s.shape and set(masks[n].unique().tolist()) <= {0.0, 1.0}
        assert bool((masks[n] <= base[n]).all())  # nested within the anchor's masks
        kept = s.abs()[masks[n].bool()]  # the largest of the anchor's kept entries
        dropped = s.abs()[(base[n] - masks[n]).bool()]
        assert kept.numel() == 0 or dropped.numel() == 0 or kept.min() >= dropped.max()
    # every tensor above its minimum (one entry) rises by the same step (± rounding); the floor binds the anchor only
    steps = [(base[n].sum() - masks[n].sum()) / s.numel() for n, s in scores.items() if masks[n].sum() > 1]
    assert all(masks[n].sum() >= min(1, base[n].sum()) for n in scores)  # none emptied
    assert steps and max(steps) - min(steps) <= 1.0 / min(s.numel() for s in scores.values()) + 1e-6


def test_above_the_anchor_the_small_layer_keeps_what_global_ranking_strips() -> None:
    """A first layer whose kept latents sit just above the anchor's cut-off (as a band-stop trained
    there leaves them) is emptied by global ranking at a higher rate, but keeps its share anchored."""
    g = torch.Generator().manual_seed(0)
    fc = torch.randn(64, 40, generator=g)
    cut = fc.abs().flatten().sort(descending=True).values[169]  # at 0.9 the 266 kept: all 96 of embed, 170 of fc
    scores = {"embed": cut + 0.05 + 0.1 * torch.rand(8, 12, generator=g), "fc": fc}
    base = magnitude_masks(scores, 0.9, "global")
    plain, anchored = magnitude_masks(scores, 0.95, "global"), anchored_masks(scores, 0.95, 0.9, "global")
    assert base["embed"].sum() == 96 and plain["embed"].sum() < 10  # global ranking: 7 of 96 left
    # both rates up by δ = (266 - 133) / 2656 ≈ 0.05: embed 96 - 4.8, fc 170 - 128.2
    assert int(anchored["embed"].sum()) == 91 and int(anchored["fc"].sum()) == 42


def test_layer_scope_keeps_every_layer_at_the_rate() -> None:
    scores = _scores(2)
    masks = anchored_masks(scores, 0.93, 0.8, "layer")
    for n, s in scores.items():
        assert abs(int(masks[n].sum()) - (s.numel() - round(0.93 * s.numel()))) <= 1


def test_rising_rates_stay_nested_up_to_rounding() -> None:
    scores, anchor = _scores(3), 0.7
    rates = [0.75, 0.8, 0.85, 0.9, 0.95, 0.98]
    masks = [anchored_masks(scores, r, anchor, "global", FLOOR) for r in rates]
    for lo, hi in itertools.pairwise(masks):
        for n in scores:
            assert int((hi[n] > lo[n]).sum()) <= 1  # an entry may swap only through rounding


def test_floor_bound_compares_the_same_ranking_with_and_without_the_floor() -> None:
    scores = {"big": torch.arange(1.0, 201.0).view(10, 20), "small": torch.full((1, 10), 0.5)}
    assert floor_bound(scores, 0.9, "global", FLOOR)["small"]  # global ranking starves it
    # the floor keeps one of small's entries at the anchor, so the anchored masks keep it too; without
    # the floor the anchor keeps none of them and neither does the step
    assert floor_bound(scores, 0.95, "global", FLOOR, anchor=0.9) == {"big": False, "small": True}
    assert anchored_masks(scores, 0.95, 0.9, "global")["small"].sum() == 0


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 200), nn.ReLU(), nn.Linear(200, 3))


@pytest.mark.parametrize("handle_kind", ["band-stop", "magnitude"])
def test_handles_rank_exactly_at_seen_rates_and_anchor_others_on_the_seen_rate_below(handle_kind: str) -> None:
    seen = (0.5, 0.8)
    if handle_kind == "band-stop":
        handle = multirate(_net(), init="weights", floor=FLOOR, seen=seen)
    else:
        handle = MagnitudeRates(_net(), floor=FLOOR, seen=seen)
    scores = {n: handle.latent(n).detach().clone() for n in handle.names}
    total = sum(s.numel() for s in scores.values())
    for rate, anchor in ((0.3, None), (0.5, 0.5), (0.6, 0.5), (0.8, 0.8), (0.95, 0.8)):
        handle.set_rate(rate, "anchored", "global")
        if hasattr(handle, "set_hard"):
            handle.set_hard(True)
        assert handle.observed_rate() == pytest.approx(rate, abs=1.0 / total)
        if anchor is None or anchor == rate:
            want = magnitude_masks(scores, rate, "global", FLOOR)  # exact where seen, and below them
        else:
            want = anchored_masks(scores, rate, anchor, "global", FLOOR)
            assert any(not torch.equal(want[n], magnitude_masks(scores, rate, "global", FLOOR)[n]) for n in scores)
        for n in handle.names:
            zeros = handle.model.get_submodule(n.rsplit(".", 1)[0]).weight.eq(0)
            assert torch.equal(zeros, want[n] == 0)
    handle.seen = ()  # no seen rates: anchored ranks as exact
    handle.set_rate(0.95, "anchored", "global")
    zeros = {n: handle.model.get_submodule(n.rsplit(".", 1)[0]).weight.eq(0) for n in handle.names}
    exact = magnitude_masks(scores, 0.95, "global", FLOOR)
    assert all(torch.equal(zeros[n], exact[n] == 0) for n in handle.names)
