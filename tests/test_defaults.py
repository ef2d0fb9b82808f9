"""The defaults: global MP ranking with a floor, empirical training, exact evaluation; stored configs keep theirs."""

from __future__ import annotations

import pytest
import torch

from mrmp.config import PruneConfig, RunConfig
from mrmp.engine import build_bundle, load_data, pruned_view, rate_report
from mrmp.engine.setup import default_threshold
from mrmp.methods import method_names
from mrmp.pruning import Scope, get_threshold, layer_sparsity, threshold_names
from mrmp.pruning.select import floor_count
from tiny import tiny_config

TINY = tiny_config(1)


@pytest.fixture(scope="module")
def data():
    return load_data(TINY)


def test_config_defaults() -> None:
    pc = PruneConfig()
    assert (pc.scope, pc.threshold, pc.floor) == (Scope.GLOBAL, "empirical", 0.5)
    assert PruneConfig(method="mp", source="x.pt").scope is Scope.GLOBAL  # mp ranks globally


@pytest.mark.parametrize("rule", list(threshold_names(trainable=True)))
def test_band_stop_checkpoints_evaluate_anchored_whatever_their_training_rule(rule: str) -> None:
    for method in ("srmp", "mrmp"):
        assert default_threshold(TINY.replace(prune={"method": method, "threshold": rule})) == "anchored"


def test_stored_configs_keep_their_settings_and_get_no_floor() -> None:
    stored = RunConfig().to_dict()
    for name in ("floor", "warmup", "warmup_epochs"):
        stored["prune"].pop(name, None)
    stored["prune"].update(scope="layer", threshold="prior")
    cfg = RunConfig.from_stored(stored)
    assert (cfg.prune.scope, cfg.prune.threshold, cfg.prune.floor) == (Scope.LAYER, "prior", 0.0)
    assert RunConfig.from_stored(RunConfig().to_dict()) == RunConfig()  # today's configs round-trip


@pytest.mark.parametrize("method", [m for m in method_names() if m not in ("mp", "gmp")])  # as trained up to their rate
@pytest.mark.parametrize("rate", [0.5, 0.9, 0.97])
def test_default_evaluation_hits_the_requested_rate_to_one_weight(data, method: str, rate: float) -> None:
    cfg = TINY.replace(prune={"method": method})
    bundle = build_bundle(cfg, data.meta, torch.Generator().manual_seed(0))
    report = rate_report(bundle, data, rate)
    assert report["total"] - report["nonzero"] == round(rate * report["total"])
    handle = bundle.pruner
    anchor = None if handle is None else get_threshold(report["threshold"]).anchor(handle, rate)
    for name, layer in report["layers"].items():
        if anchor is None or anchor == rate:  # ranked globally: the floor holds in every layer
            assert layer["kept"] >= floor_count(layer["total"], rate, cfg.prune.floor), name
        else:  # narrowed from a seen rate below: no layer is emptied
            assert layer["kept"] >= 1, name
        assert layer["kept"] + round(layer["rate"] * layer["total"]) == layer["total"]


def test_dense_checkpoints_are_magnitude_pruned_globally_with_the_floor(data) -> None:
    bundle = build_bundle(TINY, data.meta, torch.Generator().manual_seed(0))
    with torch.no_grad():
        bundle.model.get_parameter(bundle.names[0]).mul_(1e-3)  # global ranking alone would empty it
    rate = 0.95
    with pruned_view(bundle, rate) as model:
        stats = layer_sparsity(model, bundle.names)
    zeros, total = stats[bundle.names[0]]
    assert total - zeros >= floor_count(total, rate, 0.5)
    report = rate_report(bundle, data, rate)
    assert report["layers"][bundle.names[0]]["floor_bound"]
    with pruned_view(bundle, rate, scope="layer") as model:  # per-layer ranking on request
        assert all(z == round(rate * t) for z, t in layer_sparsity(model, bundle.names).values())
