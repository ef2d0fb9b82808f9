"""Bad command-line and config values: one line naming the flag or field, exit code 2, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mrmp.cli import main

TINY = ["--set", "model.hidden=16", "--set", "model.heads=2", "--batch-size", "32", "--no-progress"]


def _check(argv: list[str], names: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(tmp_path.rglob("*"))
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert captured.err.startswith("mrmp") and " error: " in captured.err
    assert all(name in captured.err for name in names.split()), captured.err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


FLAGS = [
    (["--epochs", "0"], "train.epochs --epochs"),
    (["--epochs", "-3"], "--epochs"),
    (["--epochs", "ten"], "--epochs"),
    (["--epochs", "١٢"], "--epochs"),
    (["--epochs", "1_5"], "--epochs"),
    (["--fold", "١"], "--fold"),
    (["--epochs", "2000000"], "--epochs"),
    (["--batch-size", "-4"], "--batch-size"),
    (["--batch-size", "0"], "--batch-size"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "０.５"], "--lr"),
    (["--dropout", "1.5"], "--dropout"),
    (["--threads", "-1"], "--threads"),
    (["--threads", "0"], "--threads"),
    (["--rate", "1.5", "--method", "srmp"], "--rate"),
    (["--rates", "nan:0.9:0.1"], "--rates"),
    (["--rates", "0.5:inf:0.1"], "--rates"),
    (["--rates", "0:0.99:1e-10"], "--rates"),
    (["--rates", "0.5:0.9:0"], "--rates"),
    (["--rates", "0.5,,0.9"], "--rates empty item"),
    (["--rates", "0.5,"], "--rates empty item"),
    (["--set", "features.streams=joint,,bone"], "features.streams"),
    (["--kl-weight", "-1"], "--kl-weight"),
    (["--floor", "nan"], "--floor"),
    (["--seed", "-1"], "--seed"),
    (["--warmup-epochs", "0"], "--warmup-epochs"),
    (["--rates-per-step", "0"], "--rates-per-step"),
    (["--gmp-end", "2", "--method", "gmp"], "--gmp-end"),
    (["--set", "train.eval_every=0"], "train.eval_every"),
    (["--set", "train.save_every=0"], "train.save_every"),
    (["--set", "train.ema=1"], "train.ema"),
    (["--set", "features.chunks=0"], "features.chunks"),
    (["--set", "features.crop=1.0"], "features.crop"),
    (["--set", "model.stgcn_channels=0,4"], "model.stgcn_channels"),
    (["--set", "prune.sigma=0,200"], "prune.sigma"),
    (["--set", "model.hidden=-1"], "model.hidden"),
    (["--set", "features.streams=foo"], "features.streams"),
    (["--set", "features.stats=median"], "features.stats"),
    (["--set", "features.rotate_axes=abc"], "features.rotate_axes"),
    (["--set", "train.save_seconds=nan"], "train.save_seconds"),
    (["--device", "gpu"], "--device"),
]


@pytest.mark.parametrize(("argv", "names"), FLAGS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_flag(argv: list[str], names: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _check(["train", *argv, "--out", str(tmp_path / "run"), "--no-progress"], names, tmp_path, capsys)


TOML = [
    ('[train]\nepochs = "ten"', "train.epochs"),
    ('[train]\nlr = "fast"', "train.lr"),
    ("[train]\nbatch_size = 1.5", "train.batch_size"),
    ("[train]\nepochs = true", "train.epochs"),
    ("[train]\neval_every = 0", "train.eval_every"),
    ("[train]\nsave_every = 0", "train.save_every"),
    ("[prune]\nrates = 0.5", "prune.rates"),
    ("[prune]\nrates = []", "prune.rates"),
    ("[prune]\nsigma = [1.0]", "prune.sigma"),
    ('[prune]\nprior = "cauchy"', "prune.prior"),
    ("[features]\ncentre = 3", "features.centre"),
    ("[model]\ndropout = nan", "model.dropout"),
    (f"[train]\nlr = 1{'0' * 400}", "train.lr"),
    ("train = 5", "[train]"),
    ("[train]\nepoch = 5", "[train] epoch"),
    ("[train\nepochs = 5", "bad.toml"),
]


@pytest.mark.parametrize(("text", "names"), TOML, ids=[t for t, _ in TOML])
def test_bad_toml(text: str, names: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text + "\n")
    _check(["train", "--config", str(config), "--out", str(tmp_path / "run")], names, tmp_path, capsys)


def test_config_that_is_not_a_regular_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    _check(["train", "--config", str(fifo), "--out", str(tmp_path / "run")], "fifo.toml", tmp_path, capsys)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad-values") / "run"
    assert main(["train", "--epochs", "1", *TINY, "--out", str(out)]) == 0
    return out / "checkpoint.pt"


def test_other_commands(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = str(checkpoint)
    (tmp_path / "afile").write_text("x")
    cases = [
        (["eval", ckpt, "--rate", "nan"], "--rate"),
        (["eval", ckpt, "--rate", "-0.1"], "--rate"),
        (["eval", ckpt, "--data", str(tmp_path)], "synthetic --data"),
        (["export", ckpt, "--out", str(tmp_path)], "--out"),
        (["export", ckpt, "--rate", "1"], "--rate"),
        (["bench", ckpt, "--repeats", "0"], "--repeats"),
        (["bench", ckpt, "--threads", "-2"], "--threads"),
        (["bench", ckpt, "--batch", "100000000000"], "--batch"),
        (["bench", ckpt, "--batch", "1,,64"], "--batch"),
        (["sweep", ckpt, "--rates", "0.5,,", "--out", str(tmp_path / "s")], "empty item"),
        (["export", ckpt, "--out", str(tmp_path / "new") + "/"], "--out"),
        (["sweep", ckpt, "--rates", "0:0.99:1e-10", "--out", str(tmp_path / "s")], "rate range"),
        (["sweep", ckpt, "--rates", "0.5", "--out", str(tmp_path / "afile")], "afile"),
        (["demo", "--epochs", "0", "--out", str(tmp_path / "d")], "--epochs"),
        (["train", "--out", str(tmp_path / "afile"), *TINY], "--out"),
    ]
    for argv, names in cases:
        _check(argv, names, tmp_path, capsys)


def test_sweep_into_a_folder_another_process_writes(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mrmp.engine.rundir import claim

    out = tmp_path / "busy"
    with claim(out):  # e.g. a training, or another sweep, writing there
        assert main(["sweep", str(checkpoint), "--rates", "0.5", "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is writing this run" in err and str(out) in err
    assert not (out / "sweep.csv").exists()
    assert main(["sweep", str(checkpoint), "--rates", "0.5", "--out", str(out), "--no-progress"]) == 0
    assert (out / "sweep.csv").exists() and (out / "sweep.png").exists()
