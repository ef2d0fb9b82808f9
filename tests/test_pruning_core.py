"""Invariants of the pruning core on tiny modules (in the spirit of torch's test_pruning.py)."""

from __future__ import annotations

import contextlib
import io
import math

import pytest
import torch
from torch import nn

from mrmp.errors import ConfigError
from mrmp.pruning import (
    Gaussian,
    Laplace,
    MultiRate,
    Uniform,
    get_prior,
    kl_divergence,
    magnitude_prune,
    multirate,
)


def _net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 4))


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("prior", ["gaussian", "laplace", "uniform"])
def test_effective_weight_is_scale_latent_mask(prior: str) -> None:
    net = _net()
    mr = multirate(net, prior=prior, generator=_gen())
    mr.set_rate(0.6)
    for name in mr.names:
        latent = mr.latent(name).detach()
        band = mr.masks[name]
        mask = (latent.abs() > band.threshold).float()
        module = net.get_submodule(name.rsplit(".", 1)[0])
        torch.testing.assert_close(module.weight, band.scale * latent * mask)
        assert band.threshold == pytest.approx(get_prior(prior).threshold(0.6))


def test_soft_mask_tends_to_hard_mask() -> None:
    net = _net()
    mr = multirate(net, generator=_gen())
    mr.set_rate(0.7)
    hard = net[2].weight.detach().clone()
    mr.set_sigma(1e6)
    torch.testing.assert_close(net[2].weight.detach(), hard, atol=1e-4, rtol=0)
    mr.set_sigma(2.0)
    assert not torch.allclose(net[2].weight.detach(), hard)


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.5, 0.77, 0.9, 0.99])
def test_exact_mode_prunes_round_rn_per_layer(rate: float) -> None:
    net = _net()
    mr = multirate(net, generator=_gen())
    mr.set_rate(rate, threshold="exact", scope="layer")
    for name, observed in mr.layer_rates().items():
        n = mr.latent(name).numel()
        assert round(observed * n) == round(rate * n)


def test_exact_global_scope_prunes_round_rn_overall() -> None:
    mr = multirate(_net(), generator=_gen())
    mr.set_rate(0.83, threshold="exact", scope="global")
    nonzero, total = mr.counts()
    assert total - nonzero == round(0.83 * total)


@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("rate", [0.0, 0.37, 0.9, 0.99])
def test_empirical_threshold_prunes_round_rn_with_the_exact_masks(rate: float, scope: str) -> None:
    """``empirical`` keeps the band-stop rule (soft in training) with observed = requested: its hard
    masks are the ``exact`` ones, and under one latent scale its global cut-off is one threshold."""
    mr = multirate(_net(), scale="layer", generator=_gen())
    mr.set_rate(rate, threshold="empirical", scope=scope)
    assert all(band.override is None for band in mr.masks.values())
    thresholds = {band.threshold for band in mr.masks.values()}
    assert len(thresholds) == (1 if scope == "global" else len(mr.names)) or rate == 0
    empirical = mr.layer_rates()
    mr.set_rate(rate, threshold="exact", scope=scope)
    assert mr.layer_rates() == empirical  # continuous latents: no ties


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_empirical_threshold_of_large_layers_comes_from_a_fixed_sample(scope: str) -> None:
    from mrmp.pruning.thresholds import QUANTILE_SAMPLES

    net = nn.Sequential(nn.Linear(500, 400), nn.Linear(400, 30))  # 212,000 weights > QUANTILE_SAMPLES
    mr = multirate(net, scale="layer", generator=_gen())
    mr.set_rate(0.9, threshold="empirical", scope=scope)
    first = [band.threshold for band in mr.masks.values()]
    rates = mr.layer_rates().values() if scope == "layer" else [mr.observed_rate()]
    for observed in rates:
        assert observed == pytest.approx(0.9, abs=5 * math.sqrt(0.09 / QUANTILE_SAMPLES))  # 5 sd of the sample
    mr.set_rate(0.5)
    mr.set_rate(0.9, threshold="empirical", scope=scope)
    assert [band.threshold for band in mr.masks.values()] == first  # the same sample every call and rank


def test_empirical_threshold_tracks_moved_latents() -> None:
    mr = multirate(_net(), generator=_gen())
    with torch.no_grad():
        for t in mr.latents():
            t.mul_(3.0)  # far from the prior: the prior's a(r) now prunes much less than r
    mr.set_rate(0.8)
    assert mr.observed_rate() < 0.5
    mr.set_rate(0.8, threshold="empirical", scope="global")
    assert mr.observed_rate() == pytest.approx(0.8, abs=1e-3)


def test_rate_zero_prior_mask_is_identity() -> None:
    net = _net()
    x = torch.randn(5, 6)
    mr = multirate(net, generator=_gen())
    mr.set_rate(0.0)
    expected = nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 4))
    with torch.no_grad():
        for i in (0, 2, 4):
            expected[i].weight.copy_(mr.masks[f"{i}.weight"].scale * mr.latent(f"{i}.weight"))
            expected[i].bias.copy_(net[i].bias)
    torch.testing.assert_close(net(x), expected(x))


def test_hard_pruned_latents_get_zero_gradient() -> None:
    net = _net()
    mr = multirate(net, generator=_gen())
    mr.set_rate(0.8)
    net(torch.randn(7, 6)).sum().backward()
    for name in mr.names:
        latent = mr.latent(name)
        pruned = latent.detach().abs() <= mr.masks[name].threshold
        assert pruned.any()
        assert torch.all(latent.grad[pruned] == 0)
        assert torch.any(latent.grad[~pruned] != 0)


def test_mp_pruned_weights_stay_zero_after_optimizer_step() -> None:
    net = _net()
    masks = magnitude_prune(net, 0.75, scope="global")
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(8, 6)).pow(2).mean().backward()
        opt.step()
    for name, mask in masks.items():
        w = net.get_submodule(name.rsplit(".", 1)[0]).weight
        assert torch.all(w[mask == 0] == 0)
        assert torch.all(
            net.get_submodule(name.rsplit(".", 1)[0]).parametrizations.weight.original.grad[mask == 0] == 0
        )
    total = sum(m.numel() for m in masks.values())
    assert sum(int((m == 0).sum()) for m in masks.values()) == round(0.75 * total)


def test_mp_layer_scope_prunes_each_layer() -> None:
    masks = magnitude_prune(_net(), 0.5, scope="layer")
    for m in masks.values():
        assert int((m == 0).sum()) == round(0.5 * m.numel())


def test_remove_keeps_outputs_and_leaves_plain_weights() -> None:
    net = _net()
    mr = multirate(net, generator=_gen())
    mr.set_rate(0.9)
    x = torch.randn(5, 6)
    before = net(x)
    mr.remove()
    torch.testing.assert_close(net(x), before)
    assert not any("parametrizations" in k for k in net.state_dict())
    zeros = sum(int((net[i].weight == 0).sum()) for i in (0, 2, 4))
    assert zeros / sum(net[i].weight.numel() for i in (0, 2, 4)) == pytest.approx(0.9, abs=0.1)


def test_state_dict_round_trip() -> None:
    net = _net()
    mr = multirate(net, prior="laplace", generator=_gen(1))
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    buf.seek(0)
    other = _net(seed=5)
    mr2 = multirate(other, prior="laplace", generator=_gen(2))
    other.load_state_dict(torch.load(buf, weights_only=True))
    x = torch.randn(3, 6)
    for r in (0.5, 0.95):
        mr.set_rate(r)
        mr2.set_rate(r)
        torch.testing.assert_close(net(x), other(x))


def test_optimizer_holds_the_latent_parameters() -> None:
    net = _net()
    before = {id(p) for p in net.parameters()}
    mr = multirate(net, generator=_gen())
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    latent = mr.latent("2.weight")
    assert any(p is latent for g in opt.param_groups for p in g["params"])
    assert len(before) == len(list(net.parameters()))
    old = latent.detach().clone()
    net(torch.randn(2, 6)).sum().backward()
    opt.step()
    assert not torch.equal(old, latent.detach())


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9, 0.98])
def test_quantiles_match_closed_forms(rate: float) -> None:
    assert Gaussian().threshold(rate) == pytest.approx(
        math.sqrt(2) * torch.erfinv(torch.tensor(rate, dtype=torch.float64)).item()
    )
    lap = Laplace()
    assert lap.threshold(rate) == pytest.approx(-lap.b * math.log(1 - rate))
    assert Uniform().threshold(rate) == pytest.approx(rate)


@pytest.mark.parametrize("prior", [Gaussian(), Laplace(), Uniform()])
def test_prior_quantile_prunes_rate_of_samples(prior) -> None:
    w = prior.sample((200_000,), _gen())
    for rate in (0.5, 0.9, 0.98):
        assert float((w.abs() <= prior.threshold(rate)).float().mean()) == pytest.approx(rate, abs=0.005)
    x = torch.linspace(-0.9, 0.9, 7)
    torch.testing.assert_close(prior.cdf(x) + prior.cdf(-x), torch.ones_like(x))


@pytest.mark.parametrize("prior", [Gaussian(), Laplace(), Uniform()])
def test_kl_near_zero_on_prior_samples_and_positive_otherwise(prior) -> None:
    w = prior.sample((100_000,), _gen())
    assert abs(float(kl_divergence(w, prior))) < 0.02
    assert float(kl_divergence(w * 0.5, prior)) > 0.1  # laplace: ln 2 − 1/2 ≈ 0.19
    assert float(kl_divergence(w + 0.5 * prior.std, prior)) > 0.05


def test_gradient_flows_through_kl() -> None:
    w = (Gaussian().sample((5000,), _gen()) * 2).requires_grad_()
    kl = kl_divergence(w, Gaussian())
    kl.backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    opt = torch.optim.Adam([w], lr=0.05)
    for _ in range(30):  # descending the KL pulls the too-wide sample back towards Q
        opt.zero_grad()
        kl_divergence(w, Gaussian()).backward()
        opt.step()
    assert float(kl_divergence(w.detach(), Gaussian())) < 0.7 * float(kl.detach())


def test_multirate_kl_subsampling_is_close_to_full() -> None:
    mr = multirate(nn.Sequential(nn.Linear(100, 300), nn.Linear(300, 10)), generator=_gen())
    full = float(mr.kl().detach())
    sampled = float(mr.kl(samples=20_000, generator=_gen(3)).detach())
    assert abs(full) < 0.03 and abs(sampled - full) < 0.03


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), float("inf"), "x"])
def test_bad_rates_are_rejected(bad) -> None:
    mr = multirate(_net(), generator=_gen())
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        mr.set_rate(bad)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        magnitude_prune(_net(), bad)


def test_unknown_options_are_rejected() -> None:
    with pytest.raises(ConfigError):
        multirate(_net(), prior="cauchy")
    mr = multirate(_net(), generator=_gen())
    with pytest.raises(ConfigError):
        mr.set_rate(0.5, threshold="median")
    with pytest.raises(ConfigError):
        multirate(_net(), include=["nope.weight"])


def test_masks_are_nested_across_rates() -> None:
    mr = multirate(_net(), generator=_gen())
    previous = None
    for rate in (0.3, 0.5, 0.63, 0.9, 0.97):
        mr.set_rate(rate)
        kept = {n: (mr.masks[n].mask(mr.latent(n)) > 0) for n in mr.names}
        if previous is not None:
            for n in mr.names:
                assert torch.all(previous[n] | ~kept[n])  # kept now ⇒ kept before
        previous = kept


def test_include_predicate_and_custom_parameter() -> None:
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = nn.Parameter(torch.randn(8, 8))
            self.conv = nn.Conv1d(2, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x).sum(-1) @ self.kernel[:4, :4]

    m = Custom()
    mr = multirate(m, include=lambda name, t: name in ("kernel", "conv.weight"), generator=_gen())
    assert mr.names == ["kernel", "conv.weight"]
    mr.set_rate(0.5)
    assert m(torch.randn(2, 2, 5)).shape == (2, 4)
    assert 0.3 < mr.observed_rate() < 0.7


def test_soft_band_stop_matches_autograd_reference() -> None:
    from mrmp.pruning import BandStop

    latent = torch.randn(50, 40, dtype=torch.float64, requires_grad=True)
    band = BandStop(scale=0.3)
    band.threshold, band.sigma, band.hard = 0.8, 7.0, False
    out = band(latent)
    ref = 0.3 * latent * torch.sigmoid(7.0 * (latent.abs() - 0.8))
    torch.testing.assert_close(out, ref)
    assert torch.autograd.gradcheck(lambda t: band(t), (latent[:5, :5].detach().clone().requires_grad_(),))


def _two_layer(dtype: torch.dtype = torch.float64) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(12, 40), nn.Tanh(), nn.Linear(40, 3)).to(dtype)


def _rates_loss(net: nn.Module, mr: MultiRate, x: torch.Tensor, rates: list[float]) -> tuple[torch.Tensor, list[float]]:
    loss, cuts = torch.zeros((), dtype=x.dtype), []
    for r in rates:
        mr.set_rate(r, "empirical", "global")
        cuts.append([b.threshold for b in mr.masks.values()])
        loss = loss + net(x).square().mean()
    return loss, cuts


def test_shared_step_changes_neither_cut_offs_nor_loss_nor_gradients() -> None:
    """The rates of one step share |Ŵ| and sorted samples: the same numbers as computing each anew."""
    x = torch.randn(8, 12, dtype=torch.float64)
    results = []
    for shared in (False, True):
        net = _two_layer()
        mr = multirate(net, generator=_gen(), floor=0.5)
        mr.set_sigma(9.0)
        mr.set_hard(False)
        with mr.shared_step() if shared else contextlib.nullcontext():
            assert (mr._memo is not None) is shared
            loss, cuts = _rates_loss(net, mr, x, [0.5, 0.9, 0.98, 0.9])
        assert mr._memo is None and all(b._shared is None for b in mr.masks.values())
        loss.backward()
        results.append((loss.detach(), cuts, [t.grad.clone() for t in mr.latents()]))
    (loss0, cuts0, grads0), (loss1, cuts1, grads1) = results
    assert cuts1 == cuts0
    torch.testing.assert_close(loss1, loss0)
    for g1, g0 in zip(grads1, grads0, strict=True):
        torch.testing.assert_close(g1, g0)


def test_shared_step_recomputes_after_the_latents_change() -> None:
    net = _two_layer()
    mr = multirate(net, generator=_gen())
    mr.set_sigma(9.0)
    mr.set_hard(False)
    x = torch.randn(8, 12, dtype=torch.float64)
    with mr.shared_step():
        before, cuts_before = _rates_loss(net, mr, x, [0.9])
    with torch.no_grad():
        for t in mr.latents():
            t.mul_(1.5)
    with mr.shared_step():
        after, cuts_after = _rates_loss(net, mr, x, [0.9])
    fresh, cuts_fresh = _rates_loss(net, mr, x, [0.9])
    assert cuts_after == cuts_fresh != cuts_before
    torch.testing.assert_close(after, fresh)
    assert not torch.allclose(after, before)


def test_latents_get_no_weight_decay_the_rest_does() -> None:
    net = _two_layer(torch.float32)
    mr = multirate(net, generator=_gen())
    opt = torch.optim.Adam(mr.param_groups(1e-3), lr=1e-3, weight_decay=0.1)
    latents = {id(t) for t in mr.latents()}
    for group in opt.param_groups:
        is_latent = all(id(p) in latents for p in group["params"])
        assert group["weight_decay"] == (0.0 if is_latent else 0.1)
    assert any(g["weight_decay"] == 0.1 for g in opt.param_groups)  # the biases
