"""The training loss's options: distillation of the weight average's predictions
(``train.ema_distill``: the term's formula, the average's forward leaves the model alone, the loss
mixes as documented, a run trains with it) and balanced class weights (``train.class_weight``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mrmp.config import RunConfig
from mrmp.engine import fit, load_data
from mrmp.engine.averaging import WeightAverage
from mrmp.engine.setup import build_bundle
from mrmp.engine.train import build_objective, class_weights, distils
from mrmp.errors import ConfigError
from mrmp.pruning import MultiRateLoss
from mrmp.pruning.objective import distillation
from tiny import tiny_config


def test_distillation_is_t_squared_kl_and_zero_on_the_teacher() -> None:
    gen = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    for temp in (1.0, 3.0):
        p, q = F.softmax(t / temp, 1), F.softmax(s / temp, 1)
        expected = temp**2 * (p * (p.log() - q.log())).sum(1).mean()
        torch.testing.assert_close(distillation(s, t, temp), expected)
    assert float(distillation(t, t)) == pytest.approx(0.0, abs=1e-7)
    s.requires_grad_(True)
    t.requires_grad_(True)
    distillation(s, t).backward()
    assert s.grad is not None and t.grad is None  # the teacher's side carries no gradient


def test_average_predicts_with_its_weights_in_eval_mode_and_leaves_the_model_alone() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 2))
    avg = WeightAverage(net, decay=0.5)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    avg.update()
    x = torch.randn(6, 3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = avg.predict(x)
    assert net.training and all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    with avg.applied():
        net.eval()
        expected = net(x)
        net.train()
    torch.testing.assert_close(out, expected)
    assert not out.requires_grad
    assert not torch.allclose(out, net.eval()(x))  # the average, not the current weights


def test_loss_mixes_cross_entropy_and_distillation_by_alpha() -> None:
    torch.manual_seed(1)
    net = torch.nn.Linear(4, 3)
    x, y, t = torch.randn(8, 4), torch.randint(0, 3, (8,)), torch.randn(8, 3)
    alpha, temp = 0.3, 2.0
    out = MultiRateLoss(net, None, teacher_weight=alpha, temperature=temp)(x, y, teacher=t)
    ce = F.cross_entropy(net(x), y)
    torch.testing.assert_close(out.ce, ce)
    torch.testing.assert_close(out.loss, (1 - alpha) * ce + alpha * distillation(net(x), t, temp))
    plain = MultiRateLoss(net, None)(x, y, teacher=t)  # weight 0: the teacher is ignored
    torch.testing.assert_close(plain.loss, ce)


def test_distillation_needs_an_average_and_skips_rate_handles() -> None:
    with pytest.raises(ConfigError, match=r"train\.ema_distill.*train\.ema > 0"):
        RunConfig().replace(train={"ema": 0.0, "ema_distill": 0.5})
    cfg = tiny_config(1, train={"ema_distill": 0.5})
    data = load_data(cfg)
    dense = build_bundle(cfg, data.meta)
    assert distils(dense, cfg) and build_objective(dense, cfg).teacher_weight == 0.5
    mrmp = cfg.replace(prune={"method": "mrmp", "rates_per_step": 2})
    pruned = build_bundle(mrmp, data.meta)
    assert not distils(pruned, mrmp) and build_objective(pruned, mrmp).teacher_weight == 0.0


def test_training_with_distillation_is_finite_reproducible_and_differs(tmp_path: Path) -> None:
    cfg = tiny_config(2)
    data = load_data(cfg)
    taught = cfg.replace(train={"ema_distill": 0.5, "distill_temperature": 2.0})
    a = fit(taught, tmp_path / "a", data=data, progress=False)
    b = fit(taught, tmp_path / "b", data=data, progress=False)
    plain = fit(cfg, tmp_path / "plain", data=data, progress=False)
    assert torch.isfinite(torch.tensor(a.metrics["loss"])) and a.metrics["loss"] == b.metrics["loss"]
    assert a.metrics["loss"] != plain.metrics["loss"]


def test_balanced_class_weights_make_every_class_weigh_the_same() -> None:
    labels = torch.tensor([0, 0, 0, 0, 1, 2, 2, 2])
    w = class_weights(labels, 4, "balanced")
    counts = torch.bincount(labels, minlength=4).float()
    torch.testing.assert_close((w * counts)[:3], torch.full((3,), len(labels) / 4))  # each class: N / K
    assert float(w[3]) == 0.0 and class_weights(labels, 4, "none") is None
    net = torch.nn.Linear(3, 4)
    x = torch.randn(8, 3)
    out = MultiRateLoss(net, None, class_weights=w)(x, labels)
    torch.testing.assert_close(out.ce, F.cross_entropy(net(x), labels, weight=w))


def test_class_weight_is_built_from_the_training_labels() -> None:
    cfg = tiny_config(1, train={"class_weight": "balanced"})
    data = load_data(cfg)
    bundle = build_bundle(cfg, data.meta)
    loss = build_objective(bundle, cfg, data.train_labels)
    counts = torch.bincount(data.train_labels, minlength=data.meta.num_classes).float()
    torch.testing.assert_close(
        loss.class_weights * counts, torch.full_like(counts, len(data.train_labels) / len(counts))
    )
    with pytest.raises(ValueError, match="training labels"):
        build_objective(bundle, cfg)
