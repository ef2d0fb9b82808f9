"""``benchmarks.dense``: the plan of runs (rows × splits × seeds) and the table of a split subset."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from benchmarks.common import cache_mismatch, clip_accuracies, train_cached
from benchmarks.dense import (
    chosen_elsewhere,
    confusion_table,
    ensembles,
    ensembles_table,
    paired,
    paired_table,
    plan,
    replace_section,
    run_probabilities,
    section_problem,
    seed_errors,
    sign_flip_p,
    table,
    teacher_row,
)
from mrmp.engine import accuracy, fit, load_bundle, load_data
from mrmp.errors import ConfigError
from tiny import tiny_config


def test_plan_takes_a_subset_of_the_splits_and_the_rows_changes(tmp_path: Path) -> None:
    jobs = plan("sbu", ["default", "shear"], [0, 1], str(tmp_path), tmp_path, ["fold0", "fold3"])
    keys = [key for _, _, key in jobs]
    assert keys == [(r, s, k) for r in ("default", "shear") for s in ("fold0", "fold3") for k in (0, 1)]
    cfg, folder, _ = jobs[-1]
    assert (cfg.data.split, cfg.train.seed, cfg.features.shear) == ("fold3", 1, 0.3)
    assert folder == tmp_path / "sbu" / "shear" / "fold3" / "seed1"
    assert jobs[0][0].features.shear == 0.0 and jobs[0][0].model.norm  # the default: the GCN's recipe
    assert len(plan("sbu", ["default"], [0], str(tmp_path), tmp_path)) == 5  # every fold by default


def test_a_rows_teacher_is_the_run_of_its_teacher_row_with_the_same_split_and_seed(tmp_path: Path) -> None:
    assert teacher_row("stgcn_kd_narrow") == "default" and teacher_row("stgcn_default") is None
    (cfg, folder, _), *_ = plan("fpha", ["stgcn_kd_narrow"], [2], str(tmp_path), tmp_path)
    assert cfg.model.name == "stgcn" and folder == tmp_path / "fpha" / "stgcn_kd_narrow" / "default" / "seed2"
    assert cfg.train.teacher == str(tmp_path / "fpha" / "default" / "default" / "seed2")


def test_table_names_the_folds_it_averages() -> None:
    row = {"mean": 95.0, "std": 0.5, "single_mean": 94.0, "single_std": 0.1, "train_accuracy": 100.0, "seconds": 9.0}
    row = {**row, "per_seed": [94.65, 95.35]}
    two = table("sbu", {"default": {**row, "per_split": {"fold0": 94.0, "fold1": 96.0}}}, [0, 1], "CMD")
    assert "of the 2-fold mean" in two and "| fold0 | fold1 |" in two
    assert "| 94.0 | 96.0 | **95.0 ± 0.5** (94.7 / 95.3) |" in two  # each seed's mean after the seeds' mean
    one = table("fpha", {"default": {**row, "per_seed": [95.0], "per_split": {"default": 95.0}}}, [0], "CMD")
    assert "of the test accuracy" in one and "fold" not in one and "**95.0 ± 0.5** |" in one  # one seed: no list
    single = table("sbu", {"default": {**row, "per_split": {"fold3": 95.0}}}, [0], "CMD")
    assert "of the fold3 accuracy" in single


def test_a_results_file_without_the_sections_markers_stops_the_benchmark_before_any_run(tmp_path: Path) -> None:
    doc = tmp_path / "results.md"
    doc.write_text("intro\n<!-- dense:sbu -->\nold\n<!-- /dense:sbu -->\n")
    assert section_problem(doc, "dense:sbu") is None
    assert "no <!-- dense:fpha --> and no <!-- /dense:fpha --> marker" in str(section_problem(doc, "dense:fpha"))
    assert "no such file" in str(section_problem(tmp_path / "none.md", "dense:sbu"))
    replace_section(doc, "dense:sbu", "new")
    assert doc.read_text() == "intro\n<!-- dense:sbu -->\nnew\n<!-- /dense:sbu -->\n"
    cmd = [sys.executable, "-m", "benchmarks.dense", "--dataset", "synthetic", "--rows", "default", "--seeds", "0"]
    cmd += ["--out", str(tmp_path / "out"), "--results", str(doc), "--section", "dense:x"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 2 and "no <!-- dense:x -->" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()  # nothing trained


def test_pruning_benchmark_set_changes_the_dense_run_and_every_pruned_phase(tmp_path: Path) -> None:
    """``benchmarks.pruning --set``: the dense recipe's changes reach the dense run and every pruned
    phase, whose own settings (method, prior, epochs) still come from the recipes."""
    import argparse

    from benchmarks.pruning import phase_config
    from benchmarks.pruning import plan as pruning_plan

    args = argparse.Namespace(
        dataset="sbu", seeds=[0], max_splits=1, data=str(tmp_path), out=tmp_path, epochs=None,
        baseline_rates=None, rates=[0.5], unseen=[], set=["features.clips=3", "model.embed=16"],
    )  # fmt: skip
    dense, folder, _ = pruning_plan(args)[0]
    assert (dense.features.clips, dense.model.embed, folder) == (3, 16, tmp_path / "sbu" / "fold0" / "seed0")
    mrmp, mp = phase_config(dense, "mrmp", args, "d.pt"), phase_config(dense, "mp", args, "d.pt", 0.5)
    assert (mrmp.features.clips, mrmp.model.embed, mp.features.clips, mp.model.embed) == (3, 16, 3, 16)
    assert (mrmp.prune.method, mrmp.prune.prior, mp.prune.rate, mp.prune.source) == ("mrmp", "laplace", 0.5, "d.pt")
    # a column's own changes of any section reach its pruned phase only, over the dense recipe's
    crop6 = phase_config(dense, "mrmp_crop6", args, "d.pt")
    assert (dense.features.crop, mrmp.features.crop, crop6.features.crop, mp.features.crop) == (0.6, 0.4, 0.6, 0.6)
    assert (crop6.features.clips, crop6.prune.prior, crop6.train.epochs) == (3, "laplace", mrmp.train.epochs)


def test_confusion_table_sums_a_rows_errors_over_splits_by_true_class() -> None:
    errors = {
        ("r", "fold0"): {"confused": Counter({("a", "b"): 2}), "tested": Counter({"a": 4, "b": 4})},
        ("r", "fold1"): {"confused": Counter({("a", "c"): 1, ("b", "a"): 1}), "tested": Counter({"a": 2, "b": 2})},
    }
    lines = confusion_table(errors).splitlines()
    assert lines[2:] == ["| r | a | 3 / 6 | b ×2, c ×1 |", "| r | b | 1 / 6 | a ×1 |"]


def test_seed_errors_count_each_runs_wrong_predictions_by_class(tmp_path: Path) -> None:
    results, wrong = [], 0
    for seed in (0, 1):
        cfg = tiny_config(1, train={"seed": seed})
        run = fit(cfg, tmp_path / f"s{seed}", progress=False)
        bundle, _ = load_bundle(run.checkpoint)
        data = load_data(bundle.cfg, scale=bundle.meta.scale)
        wrong += round((1 - accuracy(bundle.model, data.test, data.test_labels)) * len(data.test_labels))
        results.append((("r", "all", seed), {"checkpoint": str(run.checkpoint)}))
    e = seed_errors(results)[("r", "all")]
    counts = torch.bincount(data.test_labels)
    assert sorted(e["tested"].values()) == sorted(2 * int(k) for k in counts if k > 0)
    assert wrong > 0  # one epoch leaves errors to count
    assert sum(e["confused"].values()) == wrong and all(t != p for t, p in e["confused"])
    views = {"clips": 3, "clip_lengths": (0.5,), "test_swap": False, "test_mirror": False}
    wrong_views = 0
    for _, run in results:  # the row's test views, not those the run was trained with
        bundle, _ = load_bundle(run["checkpoint"])
        data = load_data(bundle.cfg.replace(features=views), scale=bundle.meta.scale)
        wrong_views += round((1 - accuracy(bundle.model, data.test, data.test_labels)) * len(data.test_labels))
    e = seed_errors([(key, {**run, "views": views}) for key, run in results])[("r", "all")]
    assert sum(e["confused"].values()) == wrong_views


def test_ensembles_average_the_class_probabilities_of_the_rows_per_seed_and_of_each_rows_seeds(tmp_path: Path) -> None:
    runs = {}
    for seed in (0, 1, 2):
        run = fit(tiny_config(1, train={"seed": seed}), tmp_path / f"s{seed}", progress=False)
        runs[seed] = {"checkpoint": str(run.checkpoint)}
    probs = {seed: run_probabilities(run)[0] for seed, run in runs.items()}
    labels = run_probabilities(runs[0])[1]

    def acc(*seeds: int) -> float:
        mean = torch.stack([probs[s] for s in seeds]).mean(0)
        return 100 * float((mean.argmax(1) == labels).float().mean())

    assert all(torch.allclose(p.sum(1), torch.ones(len(labels))) for p in probs.values())
    # two rows: runs 0 and 1 as seeds 0 and 1 of the first, runs 1 and 2 of the second
    results = [
        (("default", "all", 0), runs[0]),
        (("default", "all", 1), runs[1]),
        (("crop4", "all", 0), runs[1]),
        (("crop4", "all", 1), runs[2]),
    ]
    ens = ensembles(results, [0, 1])
    assert ens["rows"] == pytest.approx([acc(0, 1), acc(1, 2)])
    assert ens["seeds"] == pytest.approx({"default": acc(0, 1), "crop4": acc(1, 2)})
    assert len({acc(0), acc(1), acc(2), acc(0, 1, 2)}) > 1  # the runs differ: an average that ignored one would show
    text = ensembles_table(ens, [0, 1], "cmd")
    assert text.startswith("`cmd`") and f"**{acc(0, 1):.1f}**" in text


def test_a_cached_run_of_other_training_settings_is_refused_not_reused(tmp_path: Path) -> None:
    cfg = tiny_config(1)
    out = tmp_path / "row" / "seed0"
    first = train_cached(cfg, out)
    assert cache_mismatch(cfg, out) is None and train_cached(cfg, out)["metrics"] == first["metrics"]
    moved = cfg.replace(
        data={"root": "/elsewhere"}, features={"clips": 5, "clip_lengths": (0.7,)}, train={"eval_every": 7}
    )
    assert cache_mismatch(moved, out) is None  # where the data are and how the run is tested: same training
    other = cfg.replace(features={"noise": 0.0}, train={"lr": 0.01})
    problem = cache_mismatch(other, out)
    assert problem is not None and str(out) in problem
    assert "features.noise=0.05 (wanted: 0.0)" in problem and "train.lr=0.001 (wanted: 0.01)" in problem
    with pytest.raises(ConfigError, match="other settings"):
        train_cached(other, out)
    assert cache_mismatch(other, tmp_path / "not-run") is None  # nothing cached: nothing to refuse


def test_dense_benchmark_stops_on_a_stale_cache_before_training(tmp_path: Path) -> None:
    (cfg, folder, _), *_ = plan("sbu", ["default"], [0], str(tmp_path), tmp_path, ["fold0"])
    folder.mkdir(parents=True)
    stale = cfg.replace(features={"streams": ("joint",)})
    (folder / "config.json").write_text(json.dumps(stale.to_dict()))
    (folder / "bench.json").write_text("{}")
    cmd = [sys.executable, "-m", "benchmarks.dense", "--dataset", "sbu", "--rows", "default", "--seeds", "0"]
    cmd += ["--splits", "fold0", "--data", str(tmp_path), "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2 and "features.streams=('joint',)" in done.stderr and "Traceback" not in done.stderr


def test_clip_accuracies_evaluate_each_clip_setting_once_and_cache_it_by_clips_and_lengths(tmp_path: Path) -> None:
    run = fit(tiny_config(1), tmp_path / "run", progress=False)
    bundle, _ = load_bundle(run.checkpoint)
    wanted = [(1, ()), (3, (0.5, 1.0))]
    acc = clip_accuracies(str(run.checkpoint), wanted, test_swap=False)
    for k, lengths in wanted:
        data = load_data(bundle.cfg.replace(features={"clips": k, "clip_lengths": lengths}), scale=bundle.meta.scale)
        assert acc[k, lengths] == accuracy(bundle.model, data.test, data.test_labels)
    cache = run.checkpoint.with_name("clips_swap0.json")
    assert set(json.loads(cache.read_text())) == {"1", "3@0.5,1.0"}
    cache.write_text(json.dumps({"1": 0.25, "3@0.5,1.0": 0.75}))  # read back, not evaluated again
    assert clip_accuracies(str(run.checkpoint), wanted, test_swap=False) == {(1, ()): 0.25, (3, (0.5, 1.0)): 0.75}


def test_each_split_is_scored_at_the_length_the_other_splits_favour() -> None:
    scan = {
        0.5: {("a", 0): 90.0, ("b", 0): 80.0, ("c", 0): 80.0},
        0.8: {("a", 0): 70.0, ("b", 0): 95.0, ("c", 0): 80.0},
    }
    chosen = chosen_elsewhere(scan)
    # a: b and c favour 0.8 (87.5 > 80); b: a and c favour 0.5 (85 > 75); c: a and b favour 0.5 (85 > 82.5)
    assert chosen == {("a", 0): (0.8, 70.0), ("b", 0): (0.5, 80.0), ("c", 0): (0.5, 80.0)}


@pytest.mark.parametrize("bad", ["0.7,x", "0,0.7", "1.2"])
def test_dense_benchmark_refuses_clip_lengths_outside_zero_to_one(tmp_path: Path, bad: str) -> None:
    cmd = [sys.executable, "-m", "benchmarks.dense", "--dataset", "synthetic", "--rows", "default", "--seeds", "0"]
    cmd += ["--clip-lengths", bad, "--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2 and "--clip-lengths: expected" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_sign_flip_p_counts_the_sign_assignments_at_least_as_extreme() -> None:
    assert sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)  # only all + and all − reach |mean| 2
    assert sign_flip_p([1.0, -1.0]) == 1.0  # every assignment's |mean| is 0 or 1 ≥ 0
    assert sign_flip_p([0.5, 0.5, 0.5, 0.5, 3.0]) == pytest.approx(2 / 32)
    # one large difference against four small ones: every assignment's |sum| is ≥ 1 = the observed |sum|
    assert sign_flip_p([0.5, 0.5, 0.5, 0.5, -3.0]) == 1.0
    many = sign_flip_p([1.0] * 20)  # 20 differences: random assignments, with a fixed generator
    assert many == sign_flip_p([1.0] * 20) and many < 1e-3


def test_paired_compares_each_row_with_the_first_seed_by_seed() -> None:
    summary = {
        "default": {"per_seed": [97.5, 98.2, 97.9]},
        "crop4": {"per_seed": [97.9, 98.2, 97.0]},
        "crop6": {"per_seed": [98.0, 98.7, 98.4]},
    }
    pairs = paired(summary)
    assert list(pairs) == ["crop4", "crop6"]
    c = pairs["crop4"]
    assert c["against"] == "default" and c["diffs"] == pytest.approx([0.4, 0.0, -0.9])
    assert (c["higher"], c["level"], c["lower"]) == (1, 1, 1)
    assert c["mean"] == pytest.approx(-0.5 / 3) and c["p"] == pytest.approx(sign_flip_p([0.4, 0.0, -0.9]))
    assert pairs["crop6"]["p"] == pytest.approx(2 / 8) and pairs["crop6"]["higher"] == 3
    text = paired_table(pairs, [0, 1, 2], "cmd --paired")
    assert text.startswith("`cmd --paired`") and "+0.4 / +0.0 / -0.9" in text and "**+0.50 ± 0.00**" in text


def test_paired_with_several_splits_also_pairs_each_run() -> None:
    # 2 seeds × 2 folds, seed-major: the seed means tie (+0.0 each) while every run differs
    summary = {
        "default": {"per_seed": [97.0, 98.0], "per_run": [96.0, 98.0, 98.0, 98.0], "per_split": {"f0": 0, "f1": 0}},
        "crop4": {"per_seed": [97.0, 98.0], "per_run": [98.0, 96.0, 97.0, 99.0], "per_split": {"f0": 0, "f1": 0}},
    }
    c = paired(summary)["crop4"]
    assert c["diffs"] == pytest.approx([0.0, 0.0]) and c["level"] == 2 and c["p"] == 1.0
    r = c["runs"]
    assert r["diffs"] == pytest.approx([2.0, -2.0, -1.0, 1.0]) and (r["higher"], r["level"], r["lower"]) == (2, 0, 2)
    assert r["mean"] == pytest.approx(c["mean"]) and r["p"] == pytest.approx(sign_flip_p([2.0, -2.0, -1.0, 1.0]))
    text = paired_table(paired(summary), [0, 1], "cmd --paired")
    assert "p (runs)" in text and text.splitlines()[-1].endswith("| 2 / 0 / 2 | 1.00 |")
    one_split = {k: {**v, "per_split": {"default": 0}} for k, v in summary.items()}
    assert "runs" not in paired(one_split)["crop4"] and "p (runs)" not in paired_table(paired(one_split), [0, 1], "c")


def test_paired_with_one_seed_and_several_splits_shows_the_runs_alone() -> None:
    summary = {
        "default": {"per_seed": [97.0], "per_run": [96.0, 98.0, 97.0], "per_split": {"f0": 0, "f1": 0, "f2": 0}},
        "crop4": {"per_seed": [98.0], "per_run": [98.0, 98.0, 98.0], "per_split": {"f0": 0, "f1": 0, "f2": 0}},
    }
    text = paired_table(paired(summary), [0], "cmd --paired")
    assert "| per run |" in text and "p (runs)" not in text and "per-seed" not in text
    assert text.splitlines()[-1].endswith("| +2.0 / +0.0 / +1.0 | **+1.00 ± 1.00** | 2 / 1 / 0 | 0.50 |")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "0", "--dataset", "fpha"], "--paired compares rows seed by seed or run by run"),
        (["--seeds", "0", "--splits", "fold2"], "seeds '0', 1 split(s) of sbu"),
        (["--seeds", "0,x"], "--seeds: expected"),
    ],
)
def test_dense_benchmark_refuses_a_single_pair_for_paired_or_a_bad_seed_before_training(
    tmp_path: Path, args: list[str], message: str
) -> None:
    cmd = [sys.executable, "-m", "benchmarks.dense", "--rows", "default,crop4", *args, "--paired"]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([*cmd, "--out", str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())
