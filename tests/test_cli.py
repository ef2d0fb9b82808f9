"""The command line end to end on the synthetic set: data, train, eval, sweep, demo."""

from __future__ import annotations

import argparse
import csv
import enum
import importlib
import json
import re
import shutil
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import torch

from mrmp.cli import _config_from_args, build_parser, main
from mrmp.cli_config import TRAIN_FLAGS, Flag, field_list
from mrmp.config import DEFAULT_SEEN_RATES, RunConfig
from mrmp.config_fields import field_default, field_text, field_types, parse_field
from mrmp.engine import load_bundle
from mrmp.engine.recipe import warmup_config
from mrmp.errors import ConfigError
from mrmp.methods import get_method
from mrmp.models import MODEL_RECIPES

TINY_TOML = """
[prune]
warmup = false
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
        assert (
            main(
                [
                    "train",
                    "--dataset",
                    "synthetic",
                    "--config",
                    str(cfg),
                    "--method",
                    method,
                    "--out",
                    str(out[method]),
                    "--no-progress",
                ]
            )
            == 0
        )
    out["root"] = root
    return out


def test_data_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "--dataset", "synthetic", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"dataset", "sequences", "classes", "joints", "frames_min", "frames_max", "splits"} <= set(summary)
    assert summary["splits"]["default"]["train"] + summary["splits"]["default"]["test"] == summary["sequences"]


def test_data_warns_of_a_split_without_test_sequences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "all_train.npz"
    x = np.random.default_rng(0).normal(size=(6, 4, 3, 3)).astype(np.float32)
    np.savez(path, x=x, y=np.arange(6) % 2, edges=np.array([[0, 1], [1, 2]]), split=np.array(["train"] * 6))
    assert main(["data", "--dataset", "npz", "--data", str(path)]) == 0
    captured = capsys.readouterr()
    assert "default: train 6, test 0" in captured.out
    assert captured.err.strip() == "warning: split 'default' has no test sequences: training on it is refused"
    assert main(["data", "--dataset", "synthetic"]) == 0
    assert "warning" not in capsys.readouterr().err


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
    assert (
        main(
            [
                "train",
                "--dataset",
                "synthetic",
                "--config",
                str(runs["root"] / "tiny.toml"),
                "--method",
                "mrmp",
                "--from",
                str(runs["dense"] / "checkpoint.pt"),
                "--threshold",
                "empirical",
                "--scale",
                "layer",
                "--dropout",
                "0.2",
                "--epochs",
                "1",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["prune"]["threshold"] == "empirical" and cfg["prune"]["scale"] == "layer"
    assert cfg["prune"]["source"].endswith("checkpoint.pt") and cfg["model"]["dropout"] == 0.2
    capsys.readouterr()
    assert main(["eval", str(out / "checkpoint.pt"), "--rate", "0.87", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["threshold"] == "anchored" and report["observed_rate"] == pytest.approx(0.87, abs=1e-3)


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
    assert (
        main(
            [
                "sweep",
                str(runs["mrmp"] / "checkpoint.pt"),
                "--rates",
                "0.5,0.52,0.9,0.93",
                "--compare",
                str(runs["dense"] / "checkpoint.pt"),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
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
    assert table["0.93"] == [
        "0.93",
        "no",
        f"{100 * float(mrmp_row['accuracy']):.1f}%",
        f"{100 * float(mp_row['accuracy']):.1f}%",
        f"{float(mrmp_row['observed_rate']):.3f}",
    ]
    dense = json.loads((tmp_path / "demo" / "dense" / "metrics.json").read_text())["test_accuracy"]
    assert f"dense accuracy: {100 * dense:.1f}%" in text.splitlines()
    assert (tmp_path / "demo" / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_short_mrmp_run_beats_chance_at_high_rate(tmp_path: Path) -> None:
    from mrmp.config import RunConfig
    from mrmp.engine import fit, load_data, rate_report

    cfg = RunConfig().replace(
        data={"dataset": "synthetic"}, prune={"method": "mrmp"}, train={"epochs": 25, "eval_every": 100}
    )
    data = load_data(cfg)
    res = fit(cfg, tmp_path / "mrmp", data=data, progress=False)
    chance = 1 / data.meta.num_classes
    # exact rates (observed = requested; the paper's prior thresholds pruned ~0.95 when asked 0.98)
    for rate, margin in ((0.93, 0.3), (0.98, 0.1)):  # 0.93 unseen
        report = rate_report(res.bundle, data, rate)
        assert report["accuracy"] > chance + margin and report["observed_rate"] == pytest.approx(rate, abs=1e-4)


# --- config flags: declared once from the config's fields (mrmp.cli_config) ---------------------

#: Every config flag of ``mrmp train`` before the flags were generated: none may disappear.
TRAIN_CONFIG_FLAGS = [
    "--dataset",
    "--data",
    "--skip-bad",
    "--split",
    "--fold",
    "--model",
    "--dropout",
    "--method",
    "--prior",
    "--kl-weight",
    "--rate",
    "--rates",
    "--rates-per-step",
    "--grouping",
    "--scope",
    "--from",
    "--distill",
    "--scale",
    "--threshold",
    "--epochs",
    "--batch-size",
    "--lr",
    "--seed",
    "--device",
]


def _other_value(key: str, choices: Sequence[str] | None = None) -> tuple[str, Any]:
    """(text, value) of a valid value of config field ``key`` that differs from its default."""
    hint, default = field_types()[key], field_default(key)
    options = choices or (typing.get_args(hint) if typing.get_origin(hint) is Literal else None)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        options = list(hint)
    if options:
        value = next(c for c in reversed(options) if c != default)  # npz, not sbu: no fold0 default
    elif hint is bool:
        value = not default
    elif isinstance(default, tuple) and not default:  # empty by default: one item of its own
        value = {"features.clip_lengths": (0.5,)}[key]
    elif isinstance(default, tuple):  # variadic: drop the last item; fixed length: reversed
        value = default[:-1] if typing.get_args(hint)[-1] is Ellipsis else default[::-1]
    elif isinstance(default, int | float):
        value = (default // 2 + 1 if default > 1 else default + 1) if hint is int else round(default / 2 + 0.03, 6)
    else:  # text or none; fields with a pattern or a number type take one of their own
        value = {"features.rotate_axes": "xy", "train.device": "auto", "prune.warmup_crop": 0.3}.get(key, "some-text")
    text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return text, value


def _changed(cfg: RunConfig) -> set[str]:
    """Keys of the fields of ``cfg`` that differ from their defaults."""
    return {k for k in field_types() if getattr(getattr(cfg, k.split(".")[0]), k.split(".")[1]) != field_default(k)}


def _model_recipe_keys(cfg: RunConfig) -> set[str]:
    """``section.field`` keys that the backbone's own recipe sets (:data:`MODEL_RECIPES`)."""
    return {f"{sec}.{k}" for sec, fields in MODEL_RECIPES.get(cfg.model.name, {}).items() for k in fields}


def _train_config(*argv: str) -> RunConfig:
    return _config_from_args(build_parser().parse_args(["train", "--out", "unused", *argv]))


def test_train_keeps_every_config_flag() -> None:
    names = {f.name for f in TRAIN_FLAGS.flags}
    assert set(TRAIN_CONFIG_FLAGS) <= names
    assert all(f.key in field_types() for f in TRAIN_FLAGS.flags)


@pytest.mark.parametrize("flag", [f for f in TRAIN_FLAGS.flags if f.parse is None], ids=lambda f: f.name)
def test_every_train_flag_round_trips_into_the_config(flag: Flag) -> None:
    text, value = _other_value(flag.key, flag.choices() if callable(flag.choices) else flag.choices)
    needs = {"--data": ["--dataset", "npz"], "--from": ["--method", "mp"]}.get(flag.name, [])
    argv = [flag.name if value is True else f"--no-{flag.name[2:]}"] if isinstance(value, bool) else [flag.name, text]
    cfg = _train_config(*needs, *argv)
    section, name = flag.key.split(".")
    assert getattr(getattr(cfg, section), name) == value != field_default(flag.key)
    method_epochs = {"train.epochs"} if get_method(cfg.prune.method).default_epochs(cfg.prune) else set()
    expected = {flag.key} | {f.key for f in TRAIN_FLAGS.flags if f.name in needs} | method_epochs
    expected |= _model_recipe_keys(cfg)
    assert _changed(cfg) == expected
    if flag.alias:
        assert _train_config(*needs, flag.alias, text) == cfg


@pytest.mark.parametrize("key", [k for k in field_types() if k not in TRAIN_FLAGS.by_key])
def test_set_round_trips_every_field_without_a_flag(key: str) -> None:
    text, value = _other_value(key)
    cfg = _train_config("--set", f"{key}={text}")
    section, name = key.split(".")
    assert getattr(getattr(cfg, section), name) == value != field_default(key)
    assert _changed(cfg) == {key} | _model_recipe_keys(cfg)  # the backbone's recipe fills in the rest


def test_band_stop_methods_default_to_their_pruned_phase_epochs(tmp_path: Path) -> None:
    assert [_train_config("--method", m).train.epochs for m in ("dense", "srmp", "mrmp")] == [600, 150, 150]
    assert _train_config("--method", "mrmp", "--warmup-epochs", "40").train.epochs == 10  # a quarter
    assert _train_config("--method", "mrmp", "--epochs", "7").train.epochs == 7
    toml = tmp_path / "c.toml"
    toml.write_text("[train]\nepochs = 300\n")
    assert _train_config("--config", str(toml), "--method", "srmp").train.epochs == 300  # given in the file


def test_fold_split_and_sbu_default() -> None:
    assert _train_config("--dataset", "sbu", "--fold", "3").data.split == "fold3"
    assert _train_config("--dataset", "sbu").data.split == "fold0"
    assert _train_config("--dataset", "fpha").data.split == "default"
    assert _train_config("--rates", "0.6:0.7:0.05,0.9").prune.rates == (0.6, 0.65, 0.7, 0.9)
    assert _train_config("--distill").prune.distill and not _train_config("--no-distill").prune.distill


def test_precedence_default_toml_flag(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("[train]\nepochs = 7\nlr = 0.5\n[features]\nchunks = 3\nframes = 9\n[data]\ndataset = 'sbu'\n")
    cfg = _train_config("--config", str(toml), "--lr", "0.25", "--set", "features.frames=11", "--data", "here")
    assert (cfg.train.epochs, cfg.train.lr, cfg.train.batch_size) == (7, 0.25, 64)  # TOML, flag, default
    assert (cfg.features.chunks, cfg.features.frames) == (3, 11)
    assert (cfg.data.dataset, cfg.data.root, cfg.data.split) == ("sbu", "here", "fold0")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--set", "train.epoch=3"], "--set train.epoch: no such config field; did you mean --epochs?"),
        (["--set", "features.chunk=3"], "--set features.chunk: no such config field; did you mean features.chunks?"),
        (["--set", "train.lr=0.1"], "--set train.lr: use --lr"),
        (["--set", "features.chunks=ten"], "--set features.chunks: expected an integer, got 'ten'"),
        (["--set", "model.norm=maybe"], "--set model.norm: expected true or false, got 'maybe'"),
        (["--set", "prune.sigma=1"], "--set prune.sigma: expected 2 comma-separated values, each a number, got '1'"),
        (["--set", "prune.kl_estimator=kde"], "--set prune.kl_estimator: expected one of quantile, value, got 'kde'"),
        (["--set", "features.chunks"], "--set features.chunks: expected section.field=value"),
        (["--split", "fold1", "--fold", "2"], "--split and --fold set the same field; give one"),
        (["--data", "x"], "--data given without --dataset"),
        (
            ["--from", "dense.pt"],
            "prune.source (--from) applies to mp, srmp, mrmp, gmp or mrmag, not to dense training",
        ),
        (["--rate", "1.5", "--method", "srmp"], "prune.rate (--rate) must be a number in [0, 1), got 1.5"),
    ],
)
def test_bad_config_is_one_line_exit_2(
    argv: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *argv, "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err == f"mrmp: error: {expected}\n"
    assert not (tmp_path / "run").exists()


def test_resume_refuses_config_flags(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "dense"
    shutil.copytree(runs["dense"], run)
    before = (run / "checkpoint.pt").read_bytes()
    for extra in (
        ["--lr", "0.1"],
        ["--device", "cpu"],
        ["--set", "features.chunks=3"],
        ["--config", str(runs["root"] / "tiny.toml")],
        ["-e", "9", "--fold", "1"],
    ):
        assert main(["train", "--out", str(run), "--resume", *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("mrmp: error: --resume continues the run with its stored config; drop ")
        assert all(a in err for a in extra if a.startswith("-") and a != "-e") and err.count("\n") == 1
    assert (run / "checkpoint.pt").read_bytes() == before
    assert main(["train", "--out", str(run), "--resume", "--threads", "1", "--no-progress"]) == 0


def test_field_list_validates_each_item() -> None:
    parse = field_list("prune.prior")
    assert parse("gaussian,laplace") == ["gaussian", "laplace"]
    with pytest.raises(argparse.ArgumentTypeError, match="one of gaussian, laplace, uniform"):
        parse("gaussian,cauchy")


BENCHMARKS = sorted(p.stem for p in Path(__file__).parents[1].joinpath("benchmarks").glob("*.py") if p.stem[0] != "_")


@pytest.mark.parametrize("name", [b for b in BENCHMARKS if b != "common"])
def test_benchmark_modules_build_their_parsers(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = importlib.import_module(f"benchmarks.{name}")
    monkeypatch.setattr("sys.argv", [name, "--help"])
    with pytest.raises(SystemExit) as stop:
        module.main()
    out = capsys.readouterr().out
    assert stop.value.code == 0 and out.startswith(f"usage: {name} ")
    assert ("--data" in out) != (name == "scale")  # scale generates its own NTU-shaped data


@pytest.mark.parametrize("key", list(field_types()))
def test_field_text_round_trips_every_default(key: str) -> None:
    assert parse_field(key, field_text(field_default(key))) == field_default(key)


def test_parse_field_forms() -> None:
    assert parse_field("prune.source", "none") is None and parse_field("prune.source", "a.pt") == "a.pt"
    assert [parse_field("model.norm", t) for t in ("true", "No", "1", "off")] == [True, False, True, False]
    assert parse_field("prune.rates", "0.5:0.6:0.1,0.9") == (0.5, 0.6, 0.9)
    with pytest.raises(ConfigError, match="expected 2 comma-separated values, each a number, got '1,2,3'"):
        parse_field("prune.sigma", "1,2,3")


def test_dataset_recipe_sits_under_the_config_file_and_flags(tmp_path: Path) -> None:
    dense = _train_config("--dataset", "fpha")
    assert (dense.train.lr, dense.train.epochs, dense.train.weight_decay) == (3e-3, 1200, 1e-4)
    mrmp = _train_config("--dataset", "fpha", "--method", "mrmp")  # FPHA's multi-rate phase on the dense recipe
    assert (mrmp.train.lr, mrmp.train.batch_size, mrmp.train.epochs) == (5e-3, 128, 450)
    assert (mrmp.prune.warmup_epochs, mrmp.prune.warmup_lr, mrmp.prune.warmup_batch_size) == (1200, 3e-3, 64)
    sbu_mrmp = _train_config("--dataset", "sbu", "--method", "mrmp")  # SBU: the prior only, the dense lr and batch
    assert (mrmp.prune.prior, sbu_mrmp.prune.prior, sbu_mrmp.train.lr, sbu_mrmp.train.batch_size) == (
        "laplace",
        "laplace",
        1e-3,
        64,
    )
    assert _train_config("--dataset", "sbu", "--method", "srmp").prune.prior == "gaussian"  # MRMP's recipe only
    # SBU's MRMP phase crops ≤ 40 % from dense runs on ≤ 60 %: its warm-up stays the dense recipe's
    assert (sbu_mrmp.features.crop, sbu_mrmp.prune.warmup_crop, warmup_config(sbu_mrmp).features.crop) == (
        0.4,
        0.6,
        0.6,
    )
    own = _train_config("--dataset", "sbu", "--method", "mrmp", "--set", "features.crop=0.2")  # given: both phases
    assert (own.features.crop, own.prune.warmup_crop, warmup_config(own).features.crop) == (0.2, None, 0.2)
    assert _train_config("--dataset", "sbu", "--method", "mp", "--from", "d.pt").features.crop == 0.6
    assert (mrmp.prune.warmup_crop, _train_config("--dataset", "sbu").prune.warmup_crop) == (None, None)
    assert _train_config("--dataset", "fpha", "--method", "mrmp", "--prior", "gaussian").prune.prior == "gaussian"
    mp = _train_config("--dataset", "fpha", "--method", "mp", "--from", "d.pt")  # the others: a quarter
    assert (mp.train.lr, mp.train.batch_size, mp.train.epochs) == (3e-3, 64, 300)
    shorter = _train_config("--dataset", "fpha", "--method", "mrmp", "--warmup-epochs", "400", "--lr", "0.01")
    assert (shorter.train.epochs, shorter.train.lr, shorter.prune.warmup_lr) == (150, 0.01, 3e-3)
    assert _train_config("--dataset", "fpha", "--method", "mrmp", "--epochs", "7").train.epochs == 7
    assert _train_config("--dataset", "fpha", "--lr", "0.01").train.lr == 0.01
    toml = tmp_path / "c.toml"
    toml.write_text("[train]\nepochs = 9\n")
    from_file = _train_config("--config", str(toml), "--dataset", "fpha")
    assert (from_file.train.epochs, from_file.train.lr) == (9, 3e-3)
    sbu = _train_config("--dataset", "sbu")
    assert sbu.train == RunConfig().train  # SBU's recipe leaves training to the defaults
    assert (sbu.features.swap_persons, sbu.features.test_swap) == (0.5, True)  # …and puts the persons both ways
    assert sbu.model.stgcn_persons == "graph"  # ST-GCN sees both persons in one graph there
    assert sbu.model.norm and _train_config("--dataset", "fpha").model.norm  # the GCN's recipe: a layer norm
    assert not _train_config("--dataset", "sbu", "--model", "stgcn").model.norm and not RunConfig().model.norm
    assert _train_config("--dataset", "sbu", "--set", "features.test_swap=false").features.test_swap is False
    assert _train_config("--dataset", "npz", "--data", "x.npz").features.swap_persons == 0.0


def test_other_backbones_get_their_own_schedule_under_the_dataset_recipe() -> None:
    st = _train_config("--dataset", "sbu", "--model", "stgcn")
    assert (st.train.lr, st.train.epochs, st.model.dropout, st.prune.warmup_epochs) == (3e-3, 350, 0.1, 350)
    npz = _train_config("--dataset", "npz", "--data", "x.npz", "--model", "stgcn")  # the backbone's own schedule
    assert (npz.train.lr, npz.train.epochs, npz.model.dropout, npz.prune.warmup_epochs) == (3e-3, 200, 0.1, 200)
    assert st.train.amp == "auto" and _train_config("--dataset", "sbu").train.amp == "off"
    assert st.features.test_swap and st.model.stgcn_persons == "graph"  # SBU's recipe still applies
    fpha = _train_config("--dataset", "fpha", "--model", "stgcn")  # FPHA's ST-GCN setting over both
    assert (fpha.train.epochs, fpha.train.lr, fpha.train.weight_decay, fpha.features.clips) == (300, 3e-3, 1e-4, 1)
    assert fpha.model.stgcn_adaptive and fpha.train.mixup == 0.2 and not fpha.model.stgcn_attention
    assert fpha.model.stgcn_head == "joints"  # FPHA's ST-GCN classifies each joint's features; SBU's and npz's pool
    assert st.model.stgcn_head == npz.model.stgcn_head == "pool"
    assert fpha.model.stgcn_channels == st.model.stgcn_channels == npz.model.stgcn_channels == (32, 64, 64)
    assert not (st.model.stgcn_adaptive or npz.model.stgcn_adaptive or st.train.mixup or npz.train.mixup)
    assert _train_config("--dataset", "fpha").train.mixup == 0.2  # FPHA's recipe, for either backbone
    # both GCN recipes take each joint's distances to the others and 5 test clips, the ST-GCN settings not the
    # distances; SBU's ST-GCN averages 5 clips too, FPHA's not, and SBU's reads a motion stream without noise
    sbu = _train_config("--dataset", "sbu")
    for gcn in (_train_config("--dataset", "fpha"), sbu):
        assert gcn.features.streams == ("joint", "bone", "distance") and gcn.features.clips == 5
    assert fpha.features.streams == ("joint", "bone") == npz.features.streams
    assert st.features.streams == ("joint", "bone", "motion") and st.features.noise == 0.0
    assert sbu.features.noise == fpha.features.noise == npz.features.noise == 0.05
    assert (st.features.clips, npz.features.clips, sbu.features.clips) == (5, 1, 5)
    # SBU's clips, for both backbones, are 0.7 of the sequence long; elsewhere the mean training crop's
    assert sbu.features.clip_lengths == st.features.clip_lengths == (0.7,)
    assert (
        fpha.features.clip_lengths
        == npz.features.clip_lengths
        == _train_config("--dataset", "fpha").features.clip_lengths
        == ()
    )
    # SBU's recipe trains on crops of up to 60 % of the frames, for both backbones; every other, 40 %
    assert sbu.features.crop == st.features.crop == 0.6
    assert fpha.features.crop == npz.features.crop == _train_config("--dataset", "fpha").features.crop == 0.4
    assert _train_config("--dataset", "sbu", "--set", "features.crop=0.2").features.crop == 0.2  # a flag wins
    mrmp = _train_config("--dataset", "fpha", "--model", "stgcn", "--method", "mrmp")
    assert (mrmp.prune.warmup_epochs, mrmp.prune.warmup_lr, mrmp.train.epochs) == (300, 3e-3, round(0.375 * 300))
    flags = _train_config(
        "--dataset", "npz", "--data", "x.npz", "--model", "stgcn", "--epochs", "7", "--dropout", "0.3"
    )
    assert (flags.train.epochs, flags.model.dropout, flags.train.lr) == (7, 0.3, 3e-3)
    assert _train_config("--dataset", "fpha").train.epochs == 1200  # the GCN keeps the dataset's
