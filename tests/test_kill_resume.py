"""Nothing lost on a kill: a checkpoint after the first epoch by default, bit-identical resume,
files published with the umask's mode, a sweep's CSV and plot together."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mrmp.engine import fit
from mrmp.engine.checkpoint import load_checkpoint
from mrmp.engine.runfiles import log_seconds, truncate_log
from mrmp.io import atomic_write_files
from tiny import tiny_config

TRAIN = [sys.executable, "-m", "mrmp", "train", "--threads", "1", "--no-progress"]
TINY = ["--epochs", "60", "--set", "model.hidden=16", "--set", "model.heads=2"]


def test_first_epoch_is_checkpointed_by_default(tmp_path: Path) -> None:
    cfg = tiny_config(3).replace(train={"save_every": 25, "eval_every": 25})  # the default cadence but tiny
    epochs = []
    fit(
        cfg,
        tmp_path,
        progress=False,
        on_epoch_end=lambda e, _: epochs.append(load_checkpoint(tmp_path / "checkpoint.pt")["epoch"]),
    )
    assert epochs == [1, 1, 3]  # epoch 1 (no checkpoint yet), then save_seconds not reached, then the last


def test_files_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        fit(tiny_config(1), tmp_path, progress=False)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["checkpoint.pt", "config.json", "log.jsonl", "metrics.json"], 0o640)


def test_files_written_together_appear_together(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"old")

    def fail(fh) -> None:
        raise KeyboardInterrupt  # killed while rendering the second file

    with pytest.raises(KeyboardInterrupt):
        atomic_write_files({tmp_path / "a.csv": lambda fh: fh.write(b"new"), tmp_path / "a.png": fail})
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"] and (tmp_path / "a.csv").read_bytes() == b"old"


def test_resume_drops_a_log_line_cut_short_by_a_kill(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text('{"epoch": 1, "seconds": 0.5}\n{"epoch": 2, "seconds": 0.5}\n{"epoch": 3, "sec')
    truncate_log(log, 2)
    assert log.read_text() == '{"epoch": 1, "seconds": 0.5}\n{"epoch": 2, "seconds": 0.5}\n'
    assert log_seconds(log) == 1.0


def _state(out: Path) -> tuple[dict, dict, list]:
    metrics = {k: v for k, v in json.loads((out / "metrics.json").read_text()).items() if k != "seconds"}
    log = [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in (out / "log.jsonl").open()]
    return load_checkpoint(out / "checkpoint.pt")["model"], metrics, log


@pytest.mark.slow
def test_killed_run_resumes_bit_identically_with_default_flags(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([*TRAIN, *TINY, "--out", str(tmp_path / "full")], check=True, env=env, capture_output=True)
    cut = tmp_path / "cut"
    proc = subprocess.Popen([*TRAIN, *TINY, "--out", str(cut)], env=env, stdout=subprocess.DEVNULL)
    while not (cut / "checkpoint.pt").exists() and proc.poll() is None:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (cut / "metrics.json").exists(), "the run ended before it was killed"
    done = load_checkpoint(cut / "checkpoint.pt")["epoch"]
    assert 1 <= done < 60
    resumed = subprocess.run([*TRAIN, "--out", str(cut), "--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    (model, metrics, log), (model_cut, metrics_cut, log_cut) = _state(tmp_path / "full"), _state(cut)
    assert metrics == metrics_cut and log == log_cut and len(log) == 60
    assert model.keys() == model_cut.keys() and all(torch.equal(model[k], model_cut[k]) for k in model)
