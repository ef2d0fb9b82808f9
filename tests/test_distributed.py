"""Data-parallel training under ``torchrun`` (2 CPU processes, gloo) against one process.

One ``torchrun --standalone --nproc-per-node 2`` launch runs a small worker on every rank that
calls the real command line (``mrmp.cli.main(["train", ...])``, i.e. ``mrmp train``) five times
in one process group: dense, mrmp, mrmp with ``split_batch``, an mrmp run killed after epoch 2,
and its ``--resume``. The
worker records each rank's final weights and that the group is destroyed at exit. The same
commands then run here in a single process, with the same global batch.

Tolerance. With dropout 0, no batch statistics in the backbone and the same random draws
(shuffle, augmentation, rates, KL samples) on every rank, two ranks compute exactly the
single-process gradient of the global-batch mean; only the floating-point summation order
differs (two per-rank partial sums + an all-reduce instead of one sum, and the per-rank
loss weight ``count · world / batch``). That is ~1e-7 relative per step; Adam's
normalisation and the steep band-stop sigmoid (σ up to 200) amplify it a little over the
24 steps of these runs. We allow ``|ddp − single| ≤ RTOL · max|w|`` per tensor with
``RTOL = 1e-3`` (latent weights included; they live in prior units, so the bound is relative):
measured ~4e-7 (dense) and ~4e-6 (mrmp) on one CPU, but up to 2.4e-4 (dense ``fc``) on another
of the same family, where BLAS sums in another order and Adam turns rounding-level gradients of
nearly dead units into lr-sized steps; weighting every rank's loss equally instead of by its
share gives ~0.5 (a margin of 500×) — the global batch of 17 leaves uneven shares
9/8 and a last batch of 1 sample, where rank 1 holds none and runs a zero-weight dummy.
The tiny network's embedding is 16 wide: `mrmp train` gives the GCN a layer norm over it, and
over 8 units the MRMP trajectories parted (0.13 of ``fc``'s scale; the dense ones did not),
most likely where a node's few ReLU outputs are all zero and the norm divides by √eps, which
multiplies rounding by ~300; at 16 the largest difference is ~3e-6.
The comparison uses ``split_batch = false``: with ``split_batch`` every rank cuts its own
share of the batch into one part per rate, so a sample may be trained at another rate than in
one process (same expected gradient, different trajectory); that run is only checked for
identical weights on the ranks. Epoch losses must agree to 1e-5 relative; accuracies are counts
and must be equal. Ranks must hold bit-identical weights (DDP all-reduces identical gradients), and a
killed and resumed DDP run must end bit-identical to the uninterrupted one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mrmp.cli import main
from mrmp.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

RTOL = 1e-3
LOSS_RTOL = 1e-5

TINY_TOML = """
[data]
dataset = "synthetic"
[model]
hidden = 16
heads = 2
att_dim = 4
head_dim = 4
embed = 16
dropout = 0.0
[prune]
rates = [0.5, 0.7, 0.9]
rates_per_step = 2
split_batch = false
warmup = false
[train]
epochs = 3
batch_size = 17
lr = 0.01
eval_every = 100
save_every = 1
"""

WORKER = r"""
import atexit, os, sys
from pathlib import Path

import torch
import torch.distributed as tdist

import mrmp.engine.recipe as recipe
from mrmp.cli import main

out, config = Path(sys.argv[1]), sys.argv[2]
rank = int(os.environ["RANK"])
real_fit, captured, kill = recipe.fit, [], {}
# atexit runs handlers last-in first-out: this one runs after mrmp's shutdown()
atexit.register(lambda: print(f"rank {rank} group destroyed: {not tdist.is_initialized()}", flush=True))


class Killed(Exception):
    pass


def spy(*args, **kwargs):  # cmd_train runs fit_recipe, which calls recipe.fit
    if "epoch" in kill:
        stop = kill.pop("epoch")

        def hook(epoch, record):
            if epoch == stop:
                raise Killed

        kwargs["on_epoch_end"] = hook
    captured.append(real_fit(*args, **kwargs))
    return captured[-1]


recipe.fit = spy


def train(name, *flags):
    captured.clear()
    assert main(["train", "--out", str(out / name), "--no-progress", *flags]) == 0
    assert tdist.is_initialized()  # kept for the next run, destroyed at exit
    res = captured[0]
    torch.save({"state": res.bundle.model.state_dict(), "metrics": res.metrics},
               out / f"{name}.rank{rank}.pt")


train("dense", "--config", config, "--method", "dense")
train("mrmp", "--config", config, "--method", "mrmp")
train("split", "--config", config.replace("tiny", "split"), "--method", "mrmp")
kill["epoch"] = 2
try:
    main(["train", "--out", str(out / "cut"), "--no-progress", "--config", config, "--method", "mrmp"])
    raise AssertionError("not killed")
except Killed:
    tdist.barrier()  # as after a relaunch: rank 0 has written the epoch-2 checkpoint
train("cut", "--resume")
print(f"rank {rank} done", flush=True)
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    (root / "tiny.toml").write_text(TINY_TOML)
    (root / "split.toml").write_text(TINY_TOML.replace("split_batch = false", "split_batch = true"))
    (root / "worker.py").write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(root / "worker.py"),
        str(root / "ddp"),
        str(root / "tiny.toml"),
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300, env=env, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for rank in (0, 1):
        assert f"rank {rank} done" in proc.stdout
        assert f"rank {rank} group destroyed: True" in proc.stdout
    torch.set_num_threads(1)
    for method in ("dense", "mrmp"):
        assert (
            main(
                [
                    "train",
                    "--config",
                    str(root / "tiny.toml"),
                    "--method",
                    method,
                    "--out",
                    str(root / "single" / method),
                    "--no-progress",
                ]
            )
            == 0
        )
    return root


def _rank(root: Path, name: str, rank: int) -> dict:
    return torch.load(root / "ddp" / f"{name}.rank{rank}.pt", weights_only=True)


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method", ["dense", "mrmp", "split"])
def test_ranks_hold_identical_weights(runs: Path, method: str) -> None:
    r0, r1 = _rank(runs, method, 0), _rank(runs, method, 1)
    assert r0["state"].keys() == r1["state"].keys()
    if method != "dense":
        assert any(k.endswith("parametrizations.weight.original") for k in r0["state"])
    for k, v in r0["state"].items():
        assert torch.equal(v, r1["state"][k]), k
    assert r1["metrics"] == {}  # only rank 0 reports, what it wrote
    written = json.loads((runs / "ddp" / method / "metrics.json").read_text())
    assert r0["metrics"] == written == _log(runs / "ddp" / method)[-1]
    assert "test_accuracy" in r0["metrics"]


@pytest.mark.parametrize("method", ["dense", "mrmp"])
def test_ddp_matches_single_process(runs: Path, method: str) -> None:
    ddp = load_checkpoint(runs / "ddp" / method / "checkpoint.pt")
    one = load_checkpoint(runs / "single" / method / "checkpoint.pt")
    rank0 = _rank(runs, method, 0)["state"]
    for k, v in ddp["model"].items():
        assert torch.equal(v, rank0[k]), k  # the checkpoint holds rank 0's weights
        if v.is_floating_point():
            diff = float((v - one["model"][k]).abs().max())
            bound = RTOL * max(float(one["model"][k].abs().max()), 1e-6)
            assert diff <= bound, f"{k}: max |ddp - single| = {diff:.3g} > {bound:.3g}"
        else:
            assert torch.equal(v, one["model"][k]), k
    log_ddp, log_one = _log(runs / "ddp" / method), _log(runs / "single" / method)
    assert [r["epoch"] for r in log_ddp] == [1, 2, 3]  # rank 0 alone writes the log
    for a, b in zip(log_ddp, log_one, strict=True):
        for key in ("loss", "ce", "kl"):
            assert a[key] == pytest.approx(b[key], rel=LOSS_RTOL, abs=1e-9), (a["epoch"], key)
        assert a["train_accuracy"] == b["train_accuracy"]  # global sums, not rank 0's share
    m_ddp = json.loads((runs / "ddp" / method / "metrics.json").read_text())
    m_one = json.loads((runs / "single" / method / "metrics.json").read_text())
    assert {k: v for k, v in m_ddp.items() if "accuracy" in k or "observed" in k} == {
        k: v for k, v in m_one.items() if "accuracy" in k or "observed" in k
    }


def test_ddp_resume_equals_uninterrupted(runs: Path) -> None:
    full = load_checkpoint(runs / "ddp" / "mrmp" / "checkpoint.pt")
    resumed = load_checkpoint(runs / "ddp" / "cut" / "checkpoint.pt")
    assert resumed["epoch"] == full["epoch"] == 3
    for k, v in full["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    assert [r["epoch"] for r in _log(runs / "ddp" / "cut")] == [1, 2, 3]
    assert _log(runs / "ddp" / "cut")[-1]["loss"] == _log(runs / "ddp" / "mrmp")[-1]["loss"]
    for rank in (0, 1):
        for k, v in _rank(runs, "cut", rank)["state"].items():
            assert torch.equal(v, full["model"][k]), (rank, k)
