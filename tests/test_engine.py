"""Backbone, training loop, checkpoints and resume on the synthetic set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mrmp.config import ModelConfig, RunConfig
from mrmp.engine import accuracy, fit, load_bundle, load_data, pruned_view
from mrmp.engine.averaging import WeightAverage
from mrmp.engine.checkpoint import load_checkpoint
from mrmp.errors import CheckpointError
from mrmp.models import AttentionGCN, skeleton_adjacency
from tiny import tiny_config

TINY = tiny_config(3, train={"eval_every": 2, "save_every": 1})


@pytest.fixture(scope="module")
def data():
    return load_data(TINY)


def test_gcn_shapes_gradients_and_finite() -> None:
    adj = skeleton_adjacency([(0, 1), (1, 2), (2, 3)], 5)
    net = AttentionGCN(ModelConfig(), adj, in_features=24, num_classes=7)
    x = torch.randn(4, 5, 24)
    out = net(x)
    assert out.shape == (4, 7) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_adjacency_is_symmetric_normalised() -> None:
    adj = skeleton_adjacency([(0, 1), (1, 2)], 3)
    torch.testing.assert_close(adj, adj.T)
    assert torch.all(adj.diagonal() > 0)
    assert float(torch.linalg.eigvalsh(adj).max()) == pytest.approx(1.0, abs=1e-5)


def test_inputs_have_expected_layout(data) -> None:
    x = data.train(torch.arange(5))
    v = data.dataset.num_joints
    assert x.shape == (5, v, data.meta.in_features)
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(data.train(torch.arange(5), g), x)  # augmentation changes inputs
    torch.testing.assert_close(data.train(torch.arange(5)), x)  # evaluation inputs are fixed


@pytest.mark.parametrize("method", ["dense", "srmp", "mrmp"])
def test_same_seed_same_metrics(tmp_path: Path, data, method: str) -> None:
    cfg = TINY.replace(prune={"method": method, "rate": 0.8, "rates_per_step": 2})
    a = fit(cfg, tmp_path / "a", data=data, progress=False)
    b = fit(cfg, tmp_path / "b", data=data, progress=False)
    assert a.metrics["loss"] == b.metrics["loss"]
    assert a.metrics["test_accuracy"] == b.metrics["test_accuracy"]
    for (k, va), vb in zip(a.bundle.model.state_dict().items(), b.bundle.model.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


@pytest.mark.parametrize("method", ["dense", "mrmp", "gmp", "mrmag"])
def test_resume_equals_uninterrupted(tmp_path: Path, data, method: str) -> None:
    cfg = TINY.replace(train={"epochs": 4}, prune={"method": method, "rates_per_step": 2})
    full = fit(cfg, tmp_path / "full", data=data, progress=False)

    class Killed(Exception):
        pass

    def kill(epoch: int, record: dict) -> None:
        if epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        fit(cfg, tmp_path / "cut", data=data, progress=False, on_epoch_end=kill)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["epoch"] == 2
    resumed = fit(cfg, tmp_path / "cut", resume=True, data=data, progress=False)
    assert resumed.metrics["loss"] == full.metrics["loss"]
    assert resumed.metrics["test_accuracy"] == full.metrics["test_accuracy"]
    log = [json.loads(line) for line in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]


def test_checkpoint_round_trip_and_config(tmp_path: Path, data) -> None:
    cfg = TINY.replace(prune={"method": "srmp", "rate": 0.7})
    res = fit(cfg, tmp_path / "run", data=data, progress=False)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert RunConfig.from_dict(stored) == cfg
    bundle, payload = load_bundle(res.checkpoint)
    assert payload["epoch"] == 3
    x = data.test(torch.arange(6))
    res.bundle.model.eval()
    torch.testing.assert_close(bundle.model(x), res.bundle.model(x))


def test_damaged_checkpoint_gives_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad\.pt"):
        load_bundle(bad)
    with pytest.raises(CheckpointError, match="no such"):
        load_bundle(tmp_path / "missing.pt")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an mrmp checkpoint"):
        load_bundle(tmp_path / "other.pt")


def test_mp_fine_tunes_from_dense(tmp_path: Path, data) -> None:
    dense = fit(TINY, tmp_path / "dense", data=data, progress=False)
    cfg = TINY.replace(
        prune={"method": "mp", "rate": 0.9, "source": str(dense.checkpoint), "scope": "layer"}, train={"epochs": 2}
    )
    mp = fit(cfg, tmp_path / "mp", data=data, progress=False)
    from mrmp.pruning import layer_sparsity

    for name, (zeros, total) in layer_sparsity(mp.bundle.model, mp.bundle.names).items():
        assert zeros >= round(0.9 * total), name


def test_mrmp_warm_starts_from_dense(tmp_path: Path, data) -> None:
    """--from on a band-stop method: the latents are W / s, so rate 0 is the dense model."""
    from mrmp.engine import build_bundle, rate_report
    from mrmp.engine.train import source_weights

    dense = fit(TINY, tmp_path / "dense", data=data, progress=False)
    cfg = TINY.replace(prune={"method": "mrmp", "source": str(dense.checkpoint)})
    warm = build_bundle(cfg, data.meta, weights=source_weights(cfg))  # what fit starts from
    ref, _ = load_bundle(dense.checkpoint)
    x = data.test(torch.arange(8))
    view = warm.pruner
    view.set_rate(0.0)
    view.set_hard(True)
    warm.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(warm.model(x), ref.model(x), rtol=1e-5, atol=1e-5)
    # trained on, it is rate-switchable like any MRMP run
    cfg = cfg.replace(train={"epochs": 1})
    trained, _ = load_bundle(fit(cfg, tmp_path / "mrmp1", data=data, progress=False).checkpoint)
    assert rate_report(trained, data, 0.9, "exact")["observed_rate"] == pytest.approx(0.9, abs=1e-3)


def test_empirical_training_threshold_reaches_the_requested_rate(tmp_path: Path, data) -> None:
    """Trained with ``empirical`` cut-offs and evaluated with the default rule (``exact`` for such
    runs), every rate prunes exactly its share, seen (0.9) or not (0.93)."""
    from mrmp.engine import rate_report

    cfg = TINY.replace(prune={"method": "mrmp", "threshold": "empirical"}, train={"epochs": 2})
    bundle, _ = load_bundle(fit(cfg, tmp_path / "emp", data=data, progress=False).checkpoint)
    for rate in (0.9, 0.93):
        report = rate_report(bundle, data, rate)
        assert report["threshold"] == "anchored"
        assert report["observed_rate"] == pytest.approx(rate, abs=1e-3)
    from mrmp.errors import ConfigError

    with pytest.raises(ConfigError, match="training threshold"):
        TINY.replace(prune={"threshold": "exact"})


def test_from_is_refused_for_dense_and_other_models(tmp_path: Path, data) -> None:
    from mrmp.errors import ConfigError

    with pytest.raises(ConfigError, match="not to dense"):
        TINY.replace(prune={"source": "x.pt"})
    dense = fit(TINY, tmp_path / "dense", data=data, progress=False)
    other = TINY.replace(model={"hidden": 16}, prune={"method": "mrmp", "source": str(dense.checkpoint)})
    with pytest.raises(ConfigError, match=r"same model settings .*it has model\.hidden=\d+ \(this run: 16\)$"):
        fit(other, tmp_path / "other", data=data, progress=False)


def test_mp_checkpoint_evaluates_at_several_rates(tmp_path: Path, data) -> None:
    """pruned_view copies MP models; the bundle's own model must stay usable afterwards."""
    from mrmp.engine import rate_report

    dense = fit(TINY, tmp_path / "dense", data=data, progress=False)
    cfg = TINY.replace(prune={"method": "mp", "rate": 0.5, "source": str(dense.checkpoint)}, train={"epochs": 1})
    mp = fit(cfg, tmp_path / "mp", data=data, progress=False)
    bundle, _ = load_bundle(mp.checkpoint)
    observed = [rate_report(bundle, data, r)["observed_rate"] for r in (0.6, 0.9, None)]
    assert observed[0] == pytest.approx(0.6, abs=0.01) and observed[1] == pytest.approx(0.9, abs=0.01)
    assert observed[2] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("method", ["dense", "mrmp"])
def test_weight_average_is_what_is_saved_evaluated_and_resumed(tmp_path: Path, data, method: str) -> None:
    cfg = TINY.replace(train={"epochs": 4, "save_every": 2, "ema": 0.9}, prune={"method": method})
    full = fit(cfg, tmp_path / "full", data=data, progress=False)
    payload = load_checkpoint(full.checkpoint)
    averaged, trained = payload["model"], payload["trained"]
    assert set(averaged) == set(trained) and payload["average"]["steps"] == 4 * -(-len(data.train) // 32)
    moved = [k for k in trained if trained[k].is_floating_point() and not torch.equal(averaged[k], trained[k])]
    assert moved  # the saved model is the average, not the last weights
    for k, v in full.bundle.model.state_dict().items():
        assert torch.equal(v, averaged[k])  # fit returns the averaged model
    bundle, _ = load_bundle(full.checkpoint)
    with pruned_view(bundle, 0.5 if method == "mrmp" else 0.0) as view:  # the rate fit reports
        assert accuracy(view, data.test, data.test_labels) == full.metrics["test_accuracy"]

    def kill(epoch: int, record: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(cfg, tmp_path / "cut", data=data, progress=False, on_epoch_end=kill)
    resumed = fit(cfg, tmp_path / "cut", resume=True, data=data, progress=False)
    assert resumed.metrics["test_accuracy"] == full.metrics["test_accuracy"]
    for k, v in load_checkpoint(resumed.checkpoint)["model"].items():
        assert torch.equal(v, averaged[k])


def test_weight_average_follows_torch_ema_with_warm_up() -> None:
    net = torch.nn.Linear(3, 1)
    avg = WeightAverage(net, decay=0.99)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    avg.update()  # step 0: decay min(0.99, 1/10) = 0.1
    torch.testing.assert_close(avg.state["weight"], 0.1 * start + 0.9 * net.weight.detach())
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, decay=1.0)


def test_training_flushes_subnormals_and_clears_the_flag_after(tmp_path: Path, data) -> None:
    subnormal = torch.tensor(1e-39)  # float32: under 1.2e-38
    inside: list[float] = []
    fit(TINY, tmp_path, data=data, progress=False, on_epoch_end=lambda e, r: inside.append((subnormal * 1.0).item()))
    assert inside == [0.0] * TINY.train.epochs  # flushed while training (x86 slows down on them)
    assert (subnormal * 1.0).item() > 0.0  # the process's arithmetic is left as it was
