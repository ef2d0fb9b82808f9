"""Threshold rules as objects, the typed Scope, and the pruning package as a leaf library."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from mrmp.errors import ConfigError
from mrmp.pruning import THRESHOLD_RULES, MultiRate, Scope, ThresholdRule, get_threshold, multirate, threshold_names
from mrmp.pruning.thresholds import ExactThreshold


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 4))


def _handle(**kwargs) -> MultiRate:
    return multirate(_net(), generator=torch.Generator().manual_seed(0), **kwargs)


def _pruned(mr: MultiRate) -> int:
    nonzero, total = mr.counts()
    return total - nonzero


@pytest.mark.parametrize("scope", list(Scope))
@pytest.mark.parametrize("rate", [0.0, 0.41, 0.9, 0.99])
def test_exact_rule_hits_the_rate_to_one_weight(rate: float, scope: Scope) -> None:
    mr = _handle()
    cuts = ExactThreshold().compute(mr, rate, scope)
    assert set(cuts) == set(mr.names) and all(isinstance(c, torch.Tensor) for c in cuts.values())
    mr.set_rate(rate, get_threshold("exact"), scope)
    sizes = {n: mr.latent(n).numel() for n in mr.names}
    if scope is Scope.GLOBAL:
        assert _pruned(mr) == round(rate * sum(sizes.values()))
    else:
        for name, observed in mr.layer_rates().items():
            assert round(observed * sizes[name]) == round(rate * sizes[name])


@pytest.mark.parametrize("name", ["prior", "empirical"])
def test_cut_off_rules_hit_the_rate(name: str) -> None:
    """Both rules give one band-stop cut-off per tensor; on prior draws both prune ≈ r."""
    mr = _handle(scale="layer")
    cuts = get_threshold(name).compute(mr, 0.8, Scope.LAYER)
    assert all(isinstance(c, float) for c in cuts.values())
    mr.set_rate(0.8, name)
    tol = 1e-3 if name == "empirical" else 0.05  # empirical: exact on small models; prior: sampling noise
    assert mr.observed_rate() == pytest.approx(0.8, abs=tol)


def test_registry_names_and_training_rules() -> None:
    assert threshold_names() == tuple(THRESHOLD_RULES)
    assert set(threshold_names()) == {"prior", "exact", "anchored", "empirical"}
    assert threshold_names(trainable=True) == tuple(n for n, r in THRESHOLD_RULES.items() if r.trainable)
    assert "exact" not in threshold_names(trainable=True) and "anchored" not in threshold_names(trainable=True)
    for rule in THRESHOLD_RULES.values():
        assert get_threshold(rule) is rule and get_threshold(rule.name) is rule
        assert rule.evaluated_with in THRESHOLD_RULES
    with pytest.raises(ConfigError, match="training threshold 'exact'"):
        get_threshold("exact", training=True)
    with pytest.raises(ConfigError, match="threshold rule 'median'"):
        get_threshold("median")


def test_a_new_rule_is_one_class() -> None:
    class Half(ThresholdRule):
        name = "half"
        evaluated_with = "half"

        def compute(self, handle: MultiRate, rate: float, scope: Scope) -> dict:
            return dict.fromkeys(handle.names, 0.5)

    mr = _handle()
    mr.set_rate(0.3, Half())
    assert all(band.threshold == 0.5 for band in mr.masks.values())


@pytest.mark.parametrize("scale", list(Scope))
def test_default_ranking_scope_follows_the_latent_scale(scale: Scope) -> None:
    """A handle ranks ``exact`` / ``empirical`` cut-offs within its own scale unless told otherwise."""
    for rule in ("exact", "empirical"):
        mr = _handle(scale=scale.value)
        assert mr.scale is scale
        mr.set_rate(0.7, rule)
        default = mr.layer_rates()
        mr.set_rate(0.7, rule, scale)
        assert mr.layer_rates() == default
        other = Scope.LAYER if scale is Scope.GLOBAL else Scope.GLOBAL
        mr.set_rate(0.7, rule, other)
        assert mr.layer_rates() != default  # the choice matters on this net, so the check can fail
        with mr.at_rate(0.7, rule):
            assert mr.layer_rates() == default


def test_scope_is_a_str_enum_with_clear_errors() -> None:
    assert Scope.names() == ("layer", "global")
    assert Scope.parse("global") is Scope.GLOBAL and Scope.GLOBAL == "global"
    with pytest.raises(ConfigError, match="unknown scale 'wide'; choose layer or global"):
        Scope.parse("wide", "scale")
    with pytest.raises(ConfigError, match="grouping"):
        _handle(grouping="all")


def _loaded_modules(statement: str) -> set[str]:
    code = f"{statement}; import sys; print(' '.join(m for m in sys.modules if m.startswith('mrmp')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_mrmp_loads_neither_engine_nor_data_nor_deploy() -> None:
    loaded = _loaded_modules("import mrmp")
    assert "mrmp.pruning" in loaded
    heavy = ("mrmp.engine", "mrmp.data", "mrmp.export", "mrmp.deploy", "mrmp.config", "mrmp.models")
    assert not {m for m in loaded if m.startswith(heavy)}, loaded
    assert "mrmp.engine" in _loaded_modules("import mrmp; mrmp.fit")  # reached lazily


def test_pruning_is_a_leaf_over_torch() -> None:
    loaded = _loaded_modules("import mrmp.pruning")
    assert loaded - {"mrmp", "mrmp.errors", "mrmp.numbers"} <= {m for m in loaded if m.startswith("mrmp.pruning")}
