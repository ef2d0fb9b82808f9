"""``benchmarks.ddp --smoke``: one epoch of a tiny model in every setting, ``torchrun`` included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.ddp import SETTINGS, per_process
from conftest import REPO


def test_per_process() -> None:
    assert (per_process(64, 1), per_process(64, 2), per_process(17, 2)) == ("64", "32", "8–9")


@pytest.mark.slow
def test_smoke_has_every_row(tmp_path: Path) -> None:
    path = os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    doc = tmp_path / "results.md"
    doc.write_text("before\n<!-- ddp -->\nplaceholder\n<!-- /ddp -->\nafter\n")
    cmd = [sys.executable, "-m", "benchmarks.ddp", "--smoke", "--out", str(tmp_path / "out"), "--results", str(doc)]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "ddp.json").read_text())
    assert list(result["rows"]) == list(SETTINGS)
    for name, row in result["rows"].items():
        assert (row["processes"], row["threads"]) == SETTINGS[name][1:]
        assert row["samples_per_s"] > 0 and 0 <= row["test_accuracy"] <= 1
        assert (tmp_path / "out" / "runs" / name / "metrics.json").exists()
    assert "torch.distributed.run" in result["rows"]["ddp2x1"]["command"]
    assert set(result["ratios"]) == {"ddp2x1/1x1", "ddp2x1/1x2"}
    text = doc.read_text()
    assert "placeholder" not in text and text.startswith("before\n<!-- ddp -->\n`python -m benchmarks.ddp")
    assert text.endswith("<!-- /ddp -->\nafter\n") and text.count("| 1 process") == 2
    assert (tmp_path / "out" / "ddp.md").read_text().strip() in text
