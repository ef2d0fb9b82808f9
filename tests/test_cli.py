"""The command line end to end on the synthetic set: data, train, eval, sweep, demo."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import torch

from mrmp.cli import main
from mrmp.config import DEFAULT_SEEN_RATES
from mrmp.engine import load_bundle

TINY_TOML = """
[model]
hidden = 32
heads = 2
att_dim = 8
head_dim = 8
embed = 16
[train]
epochs = 3
batch_size = 32
eval_every = 3
save_every = 3
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    cfg = root / "tiny.toml"
    cfg.write_text(TINY_TOML)
    out = {}
    for method in ("dense", "mrmp"):
        out[method] = root / method
        assert main(["train", "--dataset", "synthetic", "--config", str(cfg), "--method", method,
                     "--out", str(out[method]), "--no-progress"]) == 0
    out["root"] = root
    return out


def test_data_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "--dataset", "synthetic", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"dataset", "sequences", "classes", "joints", "frames_min", "frames_max", "splits"} <= set(summary)
    assert summary["splits"]["default"]["train"] + summary["splits"]["default"]["test"] == summary["sequences"]


def test_bad_data_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an archive")
    assert main(["data", "--dataset", "npz", "--data", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mrmp: error:") and "bad.npz" in err and "\n" not in err


@pytest.mark.slow
def test_train_writes_run_files(runs: dict[str, Path]) -> None:
    for method in ("dense", "mrmp"):
        run = runs[method]
        for name in ("config.json", "log.jsonl", "metrics.json", "checkpoint.pt"):
            assert (run / name).is_file(), name
        log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in log] == [1, 2, 3]
        assert json.loads((run / "config.json").read_text())["prune"]["method"] == method


@pytest.mark.slow
def test_train_flags_warm_start_empirical_mrmp(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = runs["root"] / "warm"
    assert main(["train", "--dataset", "synthetic", "--config", str(runs["root"] / "tiny.toml"), "--method", "mrmp",
                 "--from", str(runs["dense"] / "checkpoint.pt"), "--threshold", "empirical", "--scale", "layer",
                 "--dropout", "0.2", "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["prune"]["threshold"] == "empirical" and cfg["prune"]["scale"] == "layer"
    assert cfg["prune"]["source"].endswith("checkpoint.pt") and cfg["model"]["dropout"] == 0.2
    capsys.readouterr()
    assert main(["eval", str(out / "checkpoint.pt"), "--rate", "0.87", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["threshold"] == "exact" and report["observed_rate"] == pytest.approx(0.87, abs=1e-3)


@pytest.mark.slow
def test_eval_json_at_unseen_rate_keeps_latents(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = runs["mrmp"] / "checkpoint.pt"
    before = {k: v.clone() for k, v in torch.load(ckpt, weights_only=True)["model"].items()}
    capsys.readouterr()
    assert main(["eval", str(ckpt), "--rate", "0.93", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"accuracy", "n", "rate", "observed_rate", "nonzero", "total", "layers"} <= set(report)
    assert report["rate"] == 0.93 and 0.85 < report["observed_rate"] < 0.97
    assert report["nonzero"] == round((1 - report["observed_rate"]) * report["total"])
    assert main(["eval", str(ckpt), "--rate", "0.93", "--threshold", "exact", "--json"]) == 0
    exact = json.loads(capsys.readouterr().out)
    assert exact["total"] - exact["nonzero"] == round(0.93 * exact["total"])
    after = torch.load(ckpt, weights_only=True)["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    bundle, _ = load_bundle(ckpt)
    latents = [bundle.pruner.latent(n).detach().clone() for n in bundle.names]
    for r in (0.5, 0.77, 0.99):
        bundle.pruner.set_rate(r)
    assert all(torch.equal(a, bundle.pruner.latent(n)) for a, n in zip(latents, bundle.names, strict=True))


@pytest.mark.slow
def test_eval_rejects_bad_rate(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(runs["mrmp"] / "checkpoint.pt"), "--rate", "1.0"]) == 2
    assert "[0, 1)" in capsys.readouterr().err


@pytest.mark.slow
def test_sweep_csv_marks_seen_rates_and_plots(runs: dict[str, Path]) -> None:
    out = runs["root"] / "sweep"
    assert main(["sweep", str(runs["mrmp"] / "checkpoint.pt"), "--rates", "0.5,0.52,0.9,0.93",
                 "--compare", str(runs["dense"] / "checkpoint.pt"), "--out", str(out), "--no-progress"]) == 0
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert {"rate", "seen", "accuracy", "observed_rate", "nonzero", "total"} <= set(rows[0])
    mrmp_rows = [r for r in rows if r["method"] == "mrmp"]
    assert len(mrmp_rows) == 4 and len(rows) == 8
    for r in mrmp_rows:
        assert bool(int(r["seen"])) == (float(r["rate"]) in DEFAULT_SEEN_RATES)
    assert (out / "sweep.png").stat().st_size > 10_000


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--epochs", "2", "--out", str(tmp_path / "demo"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "demo" / "sweep.csv").open()))
    assert {float(r["rate"]) for r in rows} >= {0.52, 0.63, 0.77, 0.87, 0.93, 0.96, 0.99, 0.5, 0.98}
    lines = [line.split() for line in text.splitlines()]
    table = {cells[0]: cells for cells in lines if cells and re.fullmatch(r"0\.\d\d", cells[0])}  # rate rows
    assert sorted(table) == sorted(f"{float(r['rate']):.2f}" for r in rows if r["label"] == "MRMP")
    by = {(r["label"], r["rate"]): r for r in rows}
    mrmp_row, mp_row = by[("MRMP", "0.93")], by[("MP (no FT)", "0.93")]
    assert table["0.93"] == ["0.93", "no", f"{100 * float(mrmp_row['accuracy']):.1f}%",
                             f"{100 * float(mp_row['accuracy']):.1f}%", f"{float(mrmp_row['observed_rate']):.3f}"]
    dense = json.loads((tmp_path / "demo" / "dense" / "metrics.json").read_text())["test_accuracy"]
    assert f"dense accuracy: {100 * dense:.1f}%" in text.splitlines()
    assert (tmp_path / "demo" / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_short_mrmp_run_beats_chance_at_high_rate(tmp_path: Path) -> None:
    from mrmp.config import RunConfig
    from mrmp.engine import fit, load_data, rate_report

    cfg = RunConfig().replace(data={"dataset": "synthetic"}, prune={"method": "mrmp"},
                              train={"epochs": 25, "eval_every": 100})
    data = load_data(cfg)
    res = fit(cfg, tmp_path / "mrmp", data=data, progress=False)
    chance = 1 / data.meta.num_classes
    for rate in (0.93, 0.98):  # 0.93 unseen
        assert rate_report(res.bundle, data, rate)["accuracy"] > chance + 0.3
