"""NaN and infinities caught where they enter: checkpoints, --from, resume, training; strict JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import mrmp.engine.train as train_module
from mrmp.cli import main
from mrmp.engine import fit
from mrmp.engine.checkpoint import load_checkpoint
from mrmp.errors import TrainingError
from mrmp.pruning.kl import soft_histogram
from tiny import tiny_config

TINY = ["--set", "model.hidden=16", "--set", "model.heads=2", "--batch-size", "32", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("nonfinite")
    for method in ("dense", "mrmp"):
        extra = ["--method", method, "--no-warmup"] if method == "mrmp" else []
        assert main(["train", "--epochs", "2", *TINY, *extra, "--out", str(root / method)]) == 0
    return {"dense": root / "dense" / "checkpoint.pt", "mrmp": root / "mrmp" / "checkpoint.pt"}


def _damaged(src: Path, dst: Path, change) -> Path:
    payload = torch.load(src, weights_only=True)
    change(payload)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, dst)
    return dst


def _one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mrmp: error: ") and err.count("\n") == 1, err
    assert all(f in err for f in fragments), err


def _latent(payload: dict) -> str:
    return next(k for k in payload["model"] if k.endswith("original"))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_latent_is_refused_by_every_command(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], value: float
) -> None:
    names = []

    def poison(payload: dict) -> None:
        names.append(_latent(payload))
        payload["model"][names[0]].view(-1)[3] = value

    ckpt = str(_damaged(runs["mrmp"], tmp_path / "bad.pt", poison))
    for argv in (
        ["eval", ckpt],
        ["export", ckpt, "--out", str(tmp_path / "m.pt")],
        ["sweep", ckpt, "--rates", "0.5", "--out", str(tmp_path / "s"), "--no-progress"],
        ["bench", ckpt, "--rates", "0.5", "--batch", "1", "--repeats", "1"],
    ):
        _one_line_error(argv, capsys, "bad.pt", names[0], "NaN or infinite")
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "s").exists()


def test_non_finite_source_is_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def poison(payload: dict) -> None:
        payload["model"]["classifier.weight"].fill_(float("nan"))

    src = str(_damaged(runs["dense"], tmp_path / "src.pt", poison))
    argv = ["train", "-e", "1", *TINY, "--method", "mp", "--from", src, "--out", str(tmp_path / "mp")]
    _one_line_error(argv, capsys, "src.pt", "'classifier.weight'")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda p: p.pop("optimizer"), "no section 'optimizer'"),
        (lambda p: p["trained"].update({"classifier.weight": torch.zeros(3, 3)}), "size mismatch"),
        (lambda p: p["trained"]["classifier.weight"].fill_(float("nan")), "'classifier.weight' holds NaN"),
        (lambda p: p.update({"rng": {"torch": "x"}}), "cannot resume"),
        (lambda p: p["average"]["state"]["classifier.bias"].fill_(float("inf")), "'classifier.bias' holds NaN or inf"),
    ],
    ids=["no-optimizer", "size-mismatch", "nan", "bad-rng", "inf-average"],
)
def test_resume_from_a_damaged_checkpoint(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], change, fragment: str
) -> None:
    run = tmp_path / "run"
    for name in ("config.json", "log.jsonl"):
        (run / name).parent.mkdir(exist_ok=True)
        (run / name).write_bytes((runs["dense"].parent / name).read_bytes())
    _damaged(runs["dense"], run / "checkpoint.pt", change)
    before = (run / "checkpoint.pt").read_bytes()
    _one_line_error(["train", "--out", str(run), "--resume", "--no-progress"], capsys, "checkpoint.pt", fragment)
    assert (run / "checkpoint.pt").read_bytes() == before


def test_diverging_run_stops_and_keeps_its_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny_config(4).replace(train={"save_every": 1})
    end_epoch = train_module.end_epoch

    def blow_up(run: train_module.Run, epoch: int, record: dict) -> None:
        end_epoch(run, epoch, record)
        if epoch + 1 == 2:  # as a too-large step would: the weights stop being finite
            with torch.no_grad():
                run.bundle.model.get_parameter("classifier.weight").fill_(float("inf"))

    monkeypatch.setattr(train_module, "end_epoch", blow_up)
    with pytest.raises(TrainingError, match=r"diverged at epoch 3 \(loss (nan|inf)\).*epoch 2\) is kept"):
        fit(cfg, tmp_path, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]


def test_diverging_cli_run_is_one_line_without_bare_nan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    _one_line_error(["train", "-e", "3", *TINY, "--lr", "1e8", "--out", str(out)], capsys, "diverged at epoch 1")
    for path in out.rglob("*.json*"):
        text = path.read_text()
        assert "NaN" not in text and "Infinity" not in text
        json.loads(text) if path.suffix == ".json" else [json.loads(line) for line in text.splitlines()]


def test_soft_histogram_of_nan_is_nan_not_an_index_error() -> None:
    hist = soft_histogram(torch.tensor([0.1, float("nan")]), 1.0, 8)  # was: index -9223372036854775808
    assert bool(torch.isnan(hist.sum()))  # the loss becomes NaN and training stops as diverged
