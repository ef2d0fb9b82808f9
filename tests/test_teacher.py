"""A dense run as a teacher (``train.teacher``, :mod:`mrmp.engine.teacher`): its inputs are its own
encoding of the student's sequences, it sees exactly the student's augmented and blended batch,
it stays frozen, and runs it cannot teach are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mrmp.config import RunConfig
from mrmp.engine import fit, load_data
from mrmp.engine.setup import build_bundle
from mrmp.engine.teacher import Teacher, load_teacher
from mrmp.engine.train import build_objective, distils, setup, train_epoch
from mrmp.errors import ConfigError
from tiny import tiny_config

_STGCN = {"name": "stgcn", "stgcn_channels": (8, 8, 8)}


@pytest.fixture(scope="module")
def gcn_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunConfig, Path]:
    """A finished tiny GCN run on chunk descriptors of the joint and bone streams."""
    cfg = tiny_config(1, features={"streams": ("joint", "bone")})
    out = tmp_path_factory.mktemp("teacher") / "gcn"
    fit(cfg, out, progress=False)
    return cfg, out


def _student(gcn: RunConfig, teacher: Path, **train: object) -> RunConfig:
    """An ST-GCN on the joint stream alone, taught by ``teacher``."""
    return gcn.replace(model=_STGCN, features={"streams": ("joint",)}, train={"teacher": str(teacher), **train})


def test_teacher_inputs_are_its_own_encoding_of_the_students_frames(gcn_run: tuple[RunConfig, Path]) -> None:
    gcn, folder = gcn_run
    student = _student(gcn, folder)
    own = load_data(gcn)
    idx = torch.arange(6)
    for scale in (None, 3.0):  # the student's data at another scale: the teacher's inputs are unchanged
        data = load_data(student, scale=scale)
        teacher = load_teacher(folder, student, data, torch.device("cpu"))
        assert teacher.kind == "chunks" and teacher.features.streams == ("joint", "bone")
        frames = data.train._frames(idx, None)
        torch.testing.assert_close(teacher.inputs(frames), own.train.inputs(idx), rtol=1e-5, atol=1e-5)
    assert not any(p.requires_grad for p in teacher.model.parameters()) and not teacher.model.training


def test_a_teacher_with_the_students_settings_sees_its_exact_blended_batch(
    gcn_run: tuple[RunConfig, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcn, folder = gcn_run
    cfg = gcn.replace(train={"teacher": str(folder), "mixup": 0.4, "epochs": 1})
    seen: dict[str, list[torch.Tensor]] = {"teacher": [], "student": []}
    monkeypatch.setattr(Teacher, "__call__", lambda self, x: seen["teacher"].append(x) or self.model(x))
    run = setup(cfg, tmp_path / "run")
    run.bundle.model.register_forward_pre_hook(lambda _, args: seen["student"].append(args[0]))
    train_epoch(run, 0)
    assert len(seen["teacher"]) == len(seen["student"]) == run.steps_per_epoch
    for t, s in zip(seen["teacher"], seen["student"], strict=True):
        torch.testing.assert_close(t, s)  # same crops, augmentation and mixup draws


def test_training_with_a_teacher_is_reproducible_and_leaves_it_alone(
    gcn_run: tuple[RunConfig, Path], tmp_path: Path
) -> None:
    gcn, folder = gcn_run
    before = torch.load(folder / "checkpoint.pt", weights_only=False)["model"]
    student = _student(gcn, folder, teacher_distill=0.7, distill_temperature=2.0, epochs=2)
    data = load_data(student)
    a = fit(student, tmp_path / "a", data=data, progress=False)
    b = fit(student, tmp_path / "b", data=data, progress=False)
    plain = fit(student.replace(train={"teacher": None}), tmp_path / "plain", data=data, progress=False)
    assert torch.isfinite(torch.tensor(a.metrics["loss"])) and a.metrics["loss"] == b.metrics["loss"]
    assert a.metrics["loss"] != plain.metrics["loss"]
    after = torch.load(folder / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    bundle = a.bundle
    assert distils(bundle, student) and build_objective(bundle, student, data.train_labels).teacher_weight == 0.7
    pruned = student.replace(prune={"method": "mrmp", "rates_per_step": 2})
    assert not distils(build_bundle(pruned, data.meta), pruned)  # pruned phases train without it


def test_runs_that_cannot_teach_are_refused_by_name(gcn_run: tuple[RunConfig, Path], tmp_path: Path) -> None:
    gcn, folder = gcn_run
    with pytest.raises(ConfigError, match=r"train\.ema_distill and train\.teacher"):
        RunConfig().replace(train={"ema_distill": 0.5, "teacher": "x"})
    student = _student(gcn, folder)
    data = load_data(student)
    cpu = torch.device("cpu")
    with pytest.raises(ConfigError, match=r"train\.teacher: .*missing: no checkpoint"):
        load_teacher(tmp_path / "missing", student, data, cpu)
    other = student.replace(features={"centre": "frame"})
    with pytest.raises(ConfigError, match=r"train\.teacher: .*features\.centre='sequence', this run has 'frame'"):
        load_teacher(folder, other, load_data(other), cpu)
    fewer = student.replace(data={"coords": "native"})
    with pytest.raises(ConfigError, match=r"data\.coords"):
        load_teacher(folder, fewer, data, cpu)
