"""Methods as objects: the registry, views at a rate that restore state, warm start through the API."""

from __future__ import annotations

import argparse

import pytest
import torch

from mrmp.cli import build_parser
from mrmp.config import PruneConfig, RunConfig
from mrmp.engine import build_bundle, load_data, pruned_view
from mrmp.errors import ConfigError
from mrmp.methods import METHODS, MaskedMethod, get_method, method_names, register_method
from mrmp.pruning import layer_sparsity, magnitude_masks, threshold_names
from tiny import tiny_config

TINY = tiny_config(1)


@pytest.fixture(scope="module")
def meta():
    return load_data(TINY).meta


def _bundle(meta, method: str, weights=None, **prune):
    cfg = TINY.replace(prune={"method": method, **prune})
    return build_bundle(cfg, meta, torch.Generator().manual_seed(0), weights)


def _choices(parser: argparse.ArgumentParser, command: str, flag: str) -> tuple:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return tuple(next(a for a in sub._actions if flag in a.option_strings).choices)


def test_registry_lists_the_methods_and_drives_choices() -> None:
    assert method_names() == ("dense", "mp", "srmp", "mrmp", "gmp", "mrmag")
    assert all(get_method(n).name == n for n in method_names())
    parser = build_parser()
    assert _choices(parser, "train", "--method") == method_names()
    assert _choices(parser, "train", "--threshold") == threshold_names(trainable=True)
    assert _choices(parser, "eval", "--threshold") == threshold_names()
    with pytest.raises(ConfigError, match="unknown method 'lth'; choose dense, mp, srmp, mrmp, gmp or mrmag"):
        PruneConfig(method="lth")


def test_a_new_method_is_one_class_and_registration() -> None:
    class Twice(MaskedMethod):
        name = "twice"

        def label(self, pc: PruneConfig) -> str:
            return "twice"

    register_method(Twice)
    try:
        assert PruneConfig(method="twice").method == "twice"  # config validation asks the registry
        assert _choices(build_parser(), "train", "--method")[-1] == "twice"
    finally:
        del METHODS["twice"]
    with pytest.raises(ConfigError):
        PruneConfig(method="twice")


def test_method_rates_labels_and_source_rules() -> None:
    pc = {n: PruneConfig(method=n, rate=0.8, rates=(0.5, 0.7, 0.9)) for n in method_names()}
    assert [get_method(n).default_rate(pc[n]) for n in method_names()] == [0.0, 0.8, 0.8, 0.5, 0.8, 0.5]
    assert get_method("mrmp").is_seen(pc["mrmp"], 0.7) and not get_method("mrmp").is_seen(pc["mrmp"], 0.8)
    assert get_method("mrmp").eval_rates(pc["mrmp"]) == [0.5, 0.7, 0.9]
    assert [get_method(n).step_rates(pc[n], torch.Generator()) for n in ("dense", "mp", "srmp")] == [[], [], [0.8]]
    assert len({get_method(n).label(pc[n]) for n in method_names()}) == len(method_names())
    assert [n for n in method_names() if get_method(n).plain] == ["dense"]
    with pytest.raises(ConfigError, match="not to dense"):
        PruneConfig(source="x.pt")
    assert get_method("srmp").default_threshold(PruneConfig(threshold="empirical")) == "anchored"


def test_config_json_keeps_plain_strings() -> None:
    cfg = RunConfig().replace(prune={"scale": "layer"})
    prune = cfg.to_dict()["prune"]
    assert {type(prune[k]) for k in ("grouping", "scale", "scope")} == {str}
    assert prune["scale"] == "layer" and RunConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown scope"):
        PruneConfig(scope="wide")


def _band_state(bundle) -> list:
    return [
        (b.threshold, None if b.override is None else b.override.clone(), b.hard, b.sigma)
        for b in bundle.pruner.masks.values()
    ] + [bundle.pruner.rate]


def _same(a, b) -> bool:
    return all(torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("method", ["srmp", "mrmp"])
@pytest.mark.parametrize("threshold", [None, "exact", "empirical"])
def test_band_stop_view_restores_state_exactly(meta, method: str, threshold: str | None) -> None:
    bundle = _bundle(meta, method)
    bundle.pruner.set_rate(0.6, "empirical")
    bundle.pruner.set_sigma(5.0)  # a training state: soft masks
    before = _band_state(bundle)
    x = torch.randn(3, meta.num_joints, meta.in_features)
    bundle.model.eval()
    out = bundle.model(x)
    with pruned_view(bundle, 0.93, threshold) as model:
        assert model is bundle.model
        assert all(b.hard for b in bundle.pruner.masks.values())
        assert bundle.pruner.observed_rate() > 0.8  # from 0.6 outside (global scale: below 0.93 with prior)
        assert not torch.equal(model(x), out)
    assert _same(_band_state(bundle), before)
    torch.testing.assert_close(bundle.model(x), out, rtol=0, atol=0)


@pytest.mark.parametrize(("method", "rate"), [("dense", 0.0), ("dense", 0.7), ("mp", 0.0), ("mp", 0.7)])
def test_masked_view_yields_a_pruned_copy_and_leaves_the_model(meta, method: str, rate: float) -> None:
    bundle = _bundle(meta, method, rate=0.5)
    state = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    with pruned_view(bundle, rate) as model:
        zeros, total = map(sum, zip(*layer_sparsity(model, bundle.names).values(), strict=True))
        assert (model is bundle.model) == (rate == 0.0)
        assert zeros / total == pytest.approx(rate, abs=0.01)
    after = bundle.model.state_dict()
    assert state.keys() == after.keys() and all(torch.equal(state[k], after[k]) for k in state)


@pytest.mark.parametrize("method", ["srmp", "mrmp"])
def test_warm_start_reproduces_the_dense_model_at_rate_0(meta, method: str) -> None:
    dense = _bundle(meta, "dense")
    warm = _bundle(meta, method, weights=dense.model.state_dict())
    assert warm.model.state_dict().keys() == _bundle(meta, method).model.state_dict().keys()  # checkpoint format
    x = torch.randn(4, meta.num_joints, meta.in_features)
    dense.model.eval()
    warm.model.eval()
    with torch.no_grad(), pruned_view(warm, 0.0, "prior") as model:
        torch.testing.assert_close(model(x), dense.model(x), rtol=1e-6, atol=1e-6)
    for name in warm.names:
        torch.testing.assert_close(
            warm.pruner.latent(name) * warm.pruner.masks[name].scale, dict(dense.model.named_parameters())[name]
        )


def test_mp_warm_start_masks_the_loaded_weights_by_magnitude(meta) -> None:
    dense = _bundle(meta, "dense")
    mp = _bundle(meta, "mp", weights=dense.model.state_dict(), rate=0.8, scope="global")
    weights = dict(dense.model.named_parameters())
    expected = magnitude_masks({n: weights[n].detach() for n in mp.names}, 0.8, "global")
    for name in mp.names:
        module = mp.model.get_submodule(name.rsplit(".", 1)[0])
        torch.testing.assert_close(module.parametrizations.weight[0].mask, expected[name].bool())
        torch.testing.assert_close(module.weight, weights[name] * expected[name])
