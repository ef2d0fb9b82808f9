"""A run directory has one owner: a lock, no silent overwrite, stale temp files removed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mrmp.cli import main
from mrmp.engine import rundir
from mrmp.engine.rundir import LOCK_FILE, claim
from mrmp.errors import ConfigError

TINY = ["--set", "model.hidden=32", "--set", "model.heads=2", "--batch-size", "32", "--no-progress"]


def _train(out: Path, *extra: str) -> int:
    return main(["train", "--epochs", "2", *TINY, "--out", str(out), *extra])


def test_fresh_run_refuses_a_folder_holding_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert _train(out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert _train(out, "--lr", "0.01") == 2
    err = capsys.readouterr().err
    assert err == (
        f"mrmp: error: --out {out} holds another run (config.json); continue it with --resume or "
        "replace it with --overwrite\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert _train(out, "--lr", "0.01", "--overwrite") == 0
    assert json.loads((out / "config.json").read_text())["train"]["lr"] == 0.01


def test_resume_with_overwrite_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--out", str(tmp_path), "--resume", "--overwrite"]) == 2
    assert "drop --overwrite" in capsys.readouterr().err


def test_second_claim_fails_while_the_first_holds(tmp_path: Path) -> None:
    held = f"another mrmp process \\(pid {os.getpid()}\\) is writing this run"
    # a second open file description: flock conflicts as between two processes
    with claim(tmp_path / "run"), pytest.raises(ConfigError, match=held), claim(tmp_path / "run"):
        pass
    with claim(tmp_path / "run"):  # released on exit
        pass


def test_failed_fresh_claim_leaves_no_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), claim(tmp_path / "new"):
        raise RuntimeError
    assert not (tmp_path / "new").exists()


def test_a_claim_that_loses_the_race_never_removes_the_winners_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The winner creates and locks the folder between the loser's start and the loser's mkdir."""
    out = tmp_path / "run"
    winner = contextlib.ExitStack()
    real_mkdir = Path.mkdir
    started = []

    def mkdir_after_winner(self: Path, *args: object, **kwargs: object) -> None:
        if self == out and not started:
            started.append(True)
            winner.enter_context(claim(out))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir_after_winner)
    with winner:
        with pytest.raises(ConfigError, match="is writing this run"), claim(out):
            pass
        assert (out / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(ConfigError, match="is writing this run"), claim(out):  # still held
            pass


def test_claim_relocks_when_its_lock_file_was_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed fresh run removed the folder between our open and our flock: lock the new file."""
    out = tmp_path / "run"
    real_lock = rundir._lock
    calls = []

    def lock_after_removal(fd: int, where: Path) -> None:
        calls.append(fd)
        if len(calls) == 1:
            shutil.rmtree(where)
        real_lock(fd, where)

    monkeypatch.setattr(rundir, "_lock", lock_after_removal)
    with claim(out):
        assert len(calls) == 2 and (out / LOCK_FILE).exists()
        monkeypatch.setattr(rundir, "_lock", real_lock)
        with pytest.raises(ConfigError, match="is writing this run"), claim(out):
            pass


def test_out_must_be_a_writable_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    assert _train(tmp_path / "file") == 2
    assert capsys.readouterr().err.startswith(f"mrmp: error: --out {tmp_path / 'file'}: cannot write a run directory")
    assert (tmp_path / "file").read_text() == "x"


def test_claim_removes_stale_temp_files(tmp_path: Path) -> None:
    (tmp_path / "dense").mkdir()
    stale = [tmp_path / ".checkpoint.pt.abc123", tmp_path / "dense" / ".log.jsonl.x1.tmp"]
    for path in stale:
        path.write_bytes(b"partial")
    (tmp_path / ".keep.me").write_text("not ours")
    with claim(tmp_path):
        pass
    assert not any(p.exists() for p in stale) and (tmp_path / ".keep.me").exists()


@pytest.mark.slow
def test_two_processes_on_one_folder_one_clean_error_one_intact_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "mrmp", "train", "--epochs", "30", *TINY, "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in "ab"]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert sorted(rc for rc, _, _ in results) == [0, 2], results
    (_, out_text, _), (_, _, err) = sorted(results)
    assert err.count("\n") == 1 and err.startswith(f"mrmp: error: --out {out}")
    assert "is writing this run" in err or "holds another run" in err
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 31))
    metrics = json.loads((out / "metrics.json").read_text())
    assert json.loads(out_text)["test_accuracy"] == metrics["test_accuracy"] == records[-1]["test_accuracy"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [LOCK_FILE, "checkpoint.pt", "config.json", "log.jsonl", "metrics.json"]
    )
