"""The one-command recipe: dense warm-up phase into OUT/dense, then the warm-started pruned phase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mrmp.cli import main
from mrmp.engine import fit_recipe, load_bundle, load_data
from mrmp.engine.checkpoint import load_checkpoint
from mrmp.engine.recipe import WARMUP_DIR, warmup_config
from tiny import tiny_config

TINY = tiny_config(2, prune={"method": "mrmp", "warmup_epochs": 2, "rates_per_step": 2}, train={"save_every": 1})


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def data():
    return load_data(TINY)


def test_warmup_config_is_a_plain_dense_run() -> None:
    dense = warmup_config(TINY)
    assert (dense.prune.method, dense.prune.source, dense.prune.warmup) == ("dense", None, False)
    assert dense.train.epochs == TINY.prune.warmup_epochs and dense.model == TINY.model
    assert (dense.train.lr, dense.train.batch_size) == (TINY.train.lr, TINY.train.batch_size)


def test_warmup_trains_at_its_own_lr_and_batch_where_set() -> None:
    own = TINY.replace(train={"lr": 5e-3, "batch_size": 16}, prune={"warmup_lr": 1e-3, "warmup_batch_size": 8})
    dense = warmup_config(own)
    assert (dense.train.lr, dense.train.batch_size) == (1e-3, 8)
    assert (dense.prune.warmup_lr, dense.prune.warmup_batch_size) == (0.0, 0)  # a plain dense run
    assert warmup_config(own.replace(prune={"warmup_lr": 0.0})).train.lr == 5e-3  # 0: the pruned phase's


def test_warmup_crops_as_its_own_crop_says_else_as_the_pruned_phase() -> None:
    own = TINY.replace(features={"crop": 0.4}, prune={"warmup_crop": 0.6})
    dense = warmup_config(own)
    assert (dense.features.crop, dense.prune.warmup_crop) == (0.6, None)  # a plain dense run
    assert warmup_config(own.replace(prune={"warmup_crop": None})).features.crop == 0.4
    assert warmup_config(own.replace(prune={"warmup_crop": 0.0})).features.crop == 0.0  # no crop is a crop


def test_recipe_trains_the_dense_phase_then_warm_starts_from_it(tmp_path: Path, data) -> None:
    result = fit_recipe(TINY, tmp_path, data=data, progress=False)
    dense = tmp_path / WARMUP_DIR
    for name in ("config.json", "log.jsonl", "metrics.json", "checkpoint.pt"):
        assert (dense / name).is_file() and (tmp_path / name).is_file(), name
    dense_bundle, payload = load_bundle(dense / "checkpoint.pt")
    assert dense_bundle.cfg.prune.method == "dense" and payload["epoch"] == 2
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["prune"]["source"] == str(dense / "checkpoint.pt") and stored["prune"]["warmup"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["seconds_warmup"] > 0 and metrics["seconds"] > 0
    assert metrics == result.metrics


def test_no_warmup_and_given_source_train_one_phase(tmp_path: Path, data) -> None:
    fit_recipe(TINY.replace(prune={"warmup": False}), tmp_path / "cold", data=data, progress=False)
    assert not (tmp_path / "cold" / WARMUP_DIR).exists()
    assert "seconds_warmup" not in json.loads((tmp_path / "cold" / "metrics.json").read_text())
    dense = fit_recipe(warmup_config(TINY), tmp_path / "d", data=data, progress=False)
    fit_recipe(TINY.replace(prune={"source": str(dense.checkpoint)}), tmp_path / "src", data=data, progress=False)
    assert not (tmp_path / "src" / WARMUP_DIR).exists()


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [1, 3], ids=["in-dense-phase", "in-pruned-phase"])
def test_killed_recipe_resumes_in_its_phase_bit_identical(tmp_path: Path, data, kill_at: int) -> None:
    full = fit_recipe(TINY, tmp_path / "full", data=data, progress=False)
    calls = []

    def kill(epoch: int, record: dict) -> None:
        calls.append(epoch)
        if len(calls) == kill_at:  # epochs 1, 2 are the dense phase, 3, 4 the pruned one
            raise Killed

    with pytest.raises(Killed):
        fit_recipe(TINY, tmp_path / "cut", data=data, progress=False, on_epoch_end=kill)
    assert (tmp_path / "cut" / "checkpoint.pt").exists() == (kill_at == 3)
    resumed = fit_recipe(TINY, tmp_path / "cut", resume=True, data=data, progress=False)
    drop = ("seconds", "seconds_warmup")
    assert {k: v for k, v in resumed.metrics.items() if k not in drop} == {
        k: v for k, v in full.metrics.items() if k not in drop
    }
    for sub in ("checkpoint.pt", f"{WARMUP_DIR}/checkpoint.pt"):
        a, b = load_checkpoint(tmp_path / "full" / sub)["model"], load_checkpoint(tmp_path / "cut" / sub)["model"]
        assert all(torch.equal(a[k], b[k]) for k in a), sub
    for sub in ("log.jsonl", f"{WARMUP_DIR}/log.jsonl"):
        assert [json.loads(x)["epoch"] for x in (tmp_path / "cut" / sub).read_text().splitlines()] == [1, 2]


@pytest.mark.slow
def test_cli_train_mrmp_runs_the_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        "[model]\nhidden = 32\nheads = 2\natt_dim = 8\nhead_dim = 8\nembed = 16\n"
        "[train]\nepochs = 1\nbatch_size = 32\neval_every = 1\n"
    )
    out = tmp_path / "run"
    argv = ["train", "--config", str(toml), "--method", "mrmp", "--warmup-epochs", "1", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert load_checkpoint(out / WARMUP_DIR / "checkpoint.pt")["config"]["prune"]["method"] == "dense"
    capsys.readouterr()
    assert main(["eval", str(out / "checkpoint.pt"), "--rate", "0.93", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["threshold"] == "anchored" and report["total"] - report["nonzero"] == round(0.93 * report["total"])
    assert {"rate", "kept", "total", "floor_bound"} <= set(next(iter(report["layers"].values())))
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 0  # finished: nothing left to train
