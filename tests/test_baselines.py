"""The baselines as methods: GMP's cubic schedule, multi-rate magnitude masks, MRMP without KL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from mrmp.cli_config import TRAIN_FLAGS
from mrmp.config import PruneConfig
from mrmp.engine import build_bundle, fit, fit_recipe, load_bundle, load_data, rate_report
from mrmp.errors import ConfigError
from mrmp.methods import get_method
from mrmp.pruning import MagnitudeRates, cubic_sparsity, gradual_update, layer_sparsity
from mrmp.sweep import is_seen, label_of
from tiny import tiny_config

TINY = tiny_config(2, prune={"warmup_epochs": 1, "rates": (0.5, 0.7, 0.9), "rates_per_step": 2})


@pytest.fixture(scope="module")
def data():
    return load_data(TINY)


def _pruned(report: dict) -> int:
    return report["total"] - report["nonzero"]


# -- GMP --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("step", "initial"), [(0, 0.0), (10, 0.0), (37, 0.0), (60, 0.0), (75, 0.0), (99, 0.0), (30, 0.2)]
)
def test_cubic_sparsity_follows_zhu_gupta(step: int, initial: float) -> None:
    total, final, end = 100, 0.9, 0.75  # t0 = 0, n·Δt = 75 steps
    expected = final + (initial - final) * (1 - step / 75) ** 3 if step < 75 else final
    assert cubic_sparsity(step, total, final, end, initial) == pytest.approx(expected, abs=1e-12)


def test_gradual_updates_every_interval_and_end_at_the_final_rate() -> None:
    updates = {t: gradual_update(t, 100, 0.9, 0.75, 10) for t in range(100)}
    done = {t: r for t, r in updates.items() if r is not None}
    assert sorted(done) == [0, 10, 20, 30, 40, 50, 60, 70, 75]
    assert done[0] == 0.0 and done[75] == 0.9 and list(done.values()) == sorted(done.values())
    assert gradual_update(99, 100, 0.9, 1.0, 10) == 0.9  # the last step of the run prunes at the rate
    assert gradual_update(0, 100, 0.9, 0.0, 10) == 0.9  # end 0: one-shot MP, then fine-tuning


def _fixed_masks(bundle) -> dict[str, torch.Tensor]:
    return {
        n: bundle.model.get_submodule(n.rsplit(".", 1)[0]).parametrizations.weight[0].mask.clone() for n in bundle.names
    }


def test_gmp_masks_only_narrow_and_end_exact(data) -> None:
    cfg = TINY.replace(prune={"method": "gmp", "rate": 0.9, "gmp_end": 0.5})
    dense = build_bundle(TINY, data.meta, torch.Generator().manual_seed(0))
    bundle = build_bundle(cfg, data.meta, weights=dense.model.state_dict())
    assert all(m.all() for m in _fixed_masks(bundle).values())  # starts dense
    method, total, before = get_method("gmp"), 40, _fixed_masks(bundle)
    g = torch.Generator().manual_seed(1)
    for step in range(total):
        method.before_step(bundle, step, total, 4)
        with torch.no_grad():  # training moves the weights between updates
            for n in bundle.names:
                w = bundle.model.get_submodule(n.rsplit(".", 1)[0]).parametrizations.weight.original
                w.mul_(1 + 0.2 * torch.randn(w.shape, generator=g))
        masks = _fixed_masks(bundle)
        assert all(not (masks[n] & ~before[n]).any() for n in bundle.names), step  # masked weights stay masked
        before = masks
    zeros, count = map(sum, zip(*layer_sparsity(bundle.model, bundle.names).values(), strict=True))
    assert zeros == round(0.9 * count)  # exact from step 20 (end 0.5) on


def test_gmp_runs_the_warmup_recipe_and_ends_exact(tmp_path: Path, data) -> None:
    cfg = TINY.replace(prune={"method": "gmp", "rate": 0.9})
    assert get_method("gmp").uses_warmup(cfg.prune) and not get_method("gmp").needs_source
    assert not get_method("gmp").uses_warmup(PruneConfig(method="gmp", source="d.pt"))
    fit_recipe(cfg, tmp_path, data=data, progress=False)
    assert (tmp_path / "dense" / "checkpoint.pt").is_file()
    bundle, _ = load_bundle(tmp_path / "checkpoint.pt")
    assert label_of(bundle) == "GMP r=0.9" and is_seen(bundle, 0.9) and not is_seen(bundle, 0.95)
    for rate in (None, 0.9, 0.95):
        report = rate_report(bundle, data, rate)
        assert _pruned(report) == round(report["rate"] * report["total"]), rate


def test_gmp_settings_are_checked_and_have_flags() -> None:
    with pytest.raises(ConfigError, match="gmp_end"):
        PruneConfig(method="gmp", gmp_end=1.5)
    with pytest.raises(ConfigError, match="gmp_every"):
        PruneConfig(method="gmp", gmp_every=-1)
    args = TRAIN_FLAGS.parser().parse_args(["--method", "gmp", "--gmp-end", "0.5", "--gmp-every", "3"])
    assert TRAIN_FLAGS.changes(args)["prune"] == {"method": "gmp", "gmp_end": 0.5, "gmp_every": 3}


# -- multi-rate magnitude ---------------------------------------------------------------------
def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))


@pytest.mark.parametrize("floor", [0.0, 0.5])
def test_magnitude_masks_are_nested_and_exact(floor: float) -> None:
    net = _net()
    handle = MagnitudeRates(net, floor=floor)
    total = sum(p.numel() for n, p in net.named_parameters() if n.endswith("original"))
    before = None
    for rate in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        handle.set_rate(rate)
        kept = {n: handle.masks[n].mask.bool() for n in handle.names}
        assert sum(int(k.sum()) for k in kept.values()) == total - round(rate * total)  # exact to one weight
        assert handle.observed_rate() == pytest.approx(round(rate * total) / total, abs=1e-12)
        if before is not None:
            assert all(not (kept[n] & ~before[n]).any() for n in handle.names), rate
        before = kept


def test_masked_weights_get_zero_gradient_and_views_restore() -> None:
    net = _net()
    handle = MagnitudeRates(net, floor=0.5)
    handle.set_rate(0.8)
    net(torch.randn(8, 32)).square().sum().backward()
    for n in handle.names:
        grad, mask = handle.latent(n).grad, handle.masks[n].mask.bool()
        assert torch.all(grad[~mask] == 0) and grad[mask].abs().sum() > 0, n
    with handle.at_rate(0.95):
        assert handle.observed_rate() > 0.94
    assert handle.rate == 0.8 and handle.observed_rate() == pytest.approx(0.8, abs=1e-3)
    assert float(handle.kl()) == 0.0 and handle.sigma is None


def test_mrmag_trains_end_to_end_and_evaluates_seen_and_unseen_rates(tmp_path: Path, data) -> None:
    cfg = TINY.replace(prune={"method": "mrmag"})
    result = fit_recipe(cfg, tmp_path, data=data, progress=False)
    assert (tmp_path / "dense" / "checkpoint.pt").is_file()  # warm start from the dense phase
    assert {"test_accuracy@0.5", "test_accuracy@0.9"} <= set(result.metrics) and "sigma" not in result.metrics
    assert result.metrics["observed_rate@0.9"] == pytest.approx(0.9, abs=1e-3)
    bundle, _ = load_bundle(tmp_path / "checkpoint.pt")
    assert label_of(bundle) == "multi-rate magnitude" and not bundle.method.band_stop
    for rate, seen in ((0.7, True), (0.93, False)):
        assert is_seen(bundle, rate) == seen
        report = rate_report(bundle, data, rate)
        assert _pruned(report) == round(rate * report["total"]) and report["threshold"] == "anchored"
        assert 0.0 <= report["accuracy"] <= 1.0


# -- MRMP without KL --------------------------------------------------------------------------
def test_mrmp_without_kl_trains_and_is_labelled_apart(tmp_path: Path, data) -> None:
    cfg = TINY.replace(prune={"method": "mrmp", "kl_weight": 0.0, "warmup": False})
    result = fit(cfg, tmp_path, data=data, progress=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(r["kl"] == 0.0 and r["loss"] == r["ce"] for r in log)
    assert label_of(result.bundle) == "MRMP (λ = 0)"
    assert label_of(build_bundle(TINY.replace(prune={"method": "mrmp"}), data.meta)) == "MRMP (gaussian)"
    report = rate_report(result.bundle, data, 0.93)
    assert _pruned(report) == round(0.93 * report["total"])
