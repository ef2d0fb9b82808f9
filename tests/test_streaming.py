"""The on-disk cache, memory-mapped streaming through the input pipeline and loader workers, mixed precision."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import mrmp.data.ntu as ntu
from mrmp.config import FeatureConfig
from mrmp.data import load_dataset
from mrmp.data.base import SkeletonSet
from mrmp.data.cache import FrameStore, write_entry
from mrmp.data.features import InputPipeline, Skeleton
from mrmp.data.loader import batches
from mrmp.engine import fit
from mrmp.errors import DataError
from test_data_ntu import person, write_ntu
from test_data_pyskl import pyskl_data, save
from tiny import tiny_config


@pytest.fixture
def ntu_root(tmp_path: Path) -> Path:
    """24 one- and two-body files over 4 actions, performers 1 (xsub train) and 3 (test)."""
    root = tmp_path / "ntu"
    for k in range(24):
        frames = 6 + k % 7
        bodies = [
            {1: person(t, 0.1 * k, 0.01 * (k % 4 + 1)), **({2: person(t, 1.0)} if k % 3 == 0 else {})}
            for t in range(frames)
        ]
        write_ntu(root, f"S001C00{1 + k % 3}P00{1 + 2 * (k % 2)}R{k:03d}A00{1 + k % 4}.skeleton", bodies)
    return root


def entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir())


def test_cache_is_written_once_and_streams(ntu_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    memory = load_dataset("ntu", ntu_root)
    streamed = load_dataset("ntu", ntu_root, cache=cache)
    assert streamed.streamed and not memory.streamed and len(entries(cache)) == 1
    assert isinstance(streamed.sequences, FrameStore) and isinstance(streamed.sequences.frames, np.memmap)
    for a, b in zip(memory.sequences, streamed.sequences, strict=True):
        np.testing.assert_array_equal(a, b)
    assert streamed.summary() == memory.summary() and streamed.body == memory.body
    assert streamed.split("xsub").train.tolist() == memory.split("xsub").train.tolist()

    def no_parsing(path: Path) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(ntu, "read_ntu_skeleton", no_parsing)
    again = load_dataset("ntu", ntu_root, cache=cache)  # the second run reads the entry, parses nothing
    np.testing.assert_array_equal(again.sequences[5], memory.sequences[5])
    monkeypatch.undo()
    changed = next(ntu_root.glob("*.skeleton"))
    os.utime(changed, ns=(1, 1))  # a changed source file: a new entry
    load_dataset("ntu", ntu_root, cache=cache)
    assert len(entries(cache)) == 2 and not any(".tmp" in e for e in entries(cache))
    load_dataset("ntu", ntu_root, skip_bad=True, cache=cache)  # a setting that shapes the set: a new entry
    assert len(entries(cache)) == 3


def test_failed_build_leaves_no_entry(ntu_root: Path, tmp_path: Path) -> None:
    bad = sorted(ntu_root.glob("*.skeleton"))[-1]
    bad.write_text("1\n1\n")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="file ends early"):
        load_dataset("ntu", ntu_root, cache=cache)
    assert entries(cache) == []  # nothing half-written is ever read
    assert len(load_dataset("ntu", ntu_root, skip_bad=True, cache=cache).sequences) == 23


def test_store_pickles_by_path(ntu_root: Path, tmp_path: Path) -> None:
    store = load_dataset("ntu", ntu_root, cache=tmp_path / "c").sequences
    part = store.subset([3, 1])
    blob = pickle.dumps(part)
    assert len(blob) < 2000  # the folder and the index, not the frames
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back[0], store[3])
    assert back.lengths.tolist() == [len(store[3]), len(store[1])]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_release_drops_read_pages_from_resident_memory(tmp_path: Path) -> None:
    def rss_mb() -> float:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS"))
        return int(line.split()[1]) / 1024

    sequences = (np.full((100, 50, 3), k, dtype=np.float32) for k in range(1000))  # 60 MB
    write_entry(tmp_path / "e", sequences, lambda read: SkeletonSet("x", read, np.zeros(1000), [], ("a",), (), {}))
    store = FrameStore.open(tmp_path / "e")
    before = rss_mb()
    total = sum(float(store[k][0, 0, 0]) for k in range(0, 1000, 3)) + sum(float(store[k].sum()) for k in range(1000))
    read = rss_mb()
    store.release()
    assert read - before > 40 and rss_mb() - before < 10  # the pages read no longer count
    assert float(store[999][5, 5, 1]) == 999.0 and total > 0  # and read again as before


def test_pyskl_cache(tmp_path: Path) -> None:
    path = save(tmp_path / "a.pkl", pyskl_data())
    memory = load_dataset("pyskl", path)
    streamed = load_dataset("pyskl", path, cache=tmp_path / "c")
    assert streamed.streamed and streamed.splits.keys() == memory.splits.keys()
    np.testing.assert_array_equal(streamed.sequences[1], memory.sequences[1])


def pipelines(ntu_root: Path, cache: Path, kind: str = "chunks") -> tuple[InputPipeline, InputPipeline]:
    cfg = FeatureConfig(person_order="active")
    out = []
    for ds in (load_dataset("ntu", ntu_root), load_dataset("ntu", ntu_root, cache=cache)):
        skeleton = Skeleton(ds.persons, ds.edges, ds.body)
        out.append(InputPipeline(ds.select(ds.split("xsub").train), cfg, kind, skeleton))
    return out[0], out[1]


@pytest.mark.parametrize("kind", ["chunks", "frames"])
def test_streamed_pipeline_gives_the_in_memory_inputs(ntu_root: Path, tmp_path: Path, kind: str) -> None:
    memory, streamed = pipelines(ntu_root, tmp_path / "c", kind)
    assert streamed.streamed and streamed.x is None and len(streamed) == len(memory) == 12
    assert streamed.scale == pytest.approx(memory.scale, rel=1e-5)
    assert streamed.num_features == memory.num_features
    index = torch.tensor([5, 0, 11, 3])
    torch.testing.assert_close(streamed.inputs(index), memory.inputs(index), atol=1e-5, rtol=1e-5)
    a = streamed.augmented(index, torch.Generator().manual_seed(1))
    b = memory.augmented(index, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_normalised_copy_is_written_once_per_setting(
    ntu_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, streamed = pipelines(ntu_root, tmp_path / "c")
    entry = streamed.store.folder.parent
    assert [p.name.startswith("normalised-") for p in entry.iterdir() if p.is_dir()] == [True]
    monkeypatch.setattr(InputPipeline, "_normalise_each", lambda *a: pytest.fail("normalised again"))
    pipelines(ntu_root, tmp_path / "c")  # the test side and a second run reuse it
    monkeypatch.undo()
    ds = load_dataset("ntu", ntu_root, cache=tmp_path / "c")
    InputPipeline(ds.sequences, FeatureConfig(centre="frame"), "chunks", Skeleton(ds.persons, ds.edges, ds.body))
    assert len([p for p in entry.iterdir() if p.is_dir()]) == 2  # another setting, another copy


def test_scale_from_a_sample(ntu_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory, _ = pipelines(ntu_root, tmp_path / "c")
    monkeypatch.setattr(InputPipeline, "SCALE_SAMPLE", 4)
    _, sampled = pipelines(ntu_root, tmp_path / "c")
    assert sampled.scale == pytest.approx(memory.scale, rel=0.3) and sampled.scale != pytest.approx(memory.scale)


def test_worker_batches_match(ntu_root: Path, tmp_path: Path) -> None:
    _, streamed = pipelines(ntu_root, tmp_path / "c")
    order = torch.randperm(len(streamed), generator=torch.Generator().manual_seed(0))
    inline = list(batches(streamed, order, 5, workers=0))
    ahead = list(batches(streamed, order, 5, workers=1))
    assert [len(i) for i, _ in ahead] == [5, 5, 2]
    for (i, (x, n)), (j, (y, m)) in zip(inline, ahead, strict=True):
        assert torch.equal(i, j) and torch.equal(n, m) and torch.equal(x, y)


def ntu_config(root: Path, cache: str, workers: int, epochs: int = 2) -> object:
    return tiny_config(
        epochs,
        data={"dataset": "ntu", "root": str(root), "split": "xsub", "cache": cache, "workers": workers},
        train={"batch_size": 4, "epochs": epochs, "eval_every": epochs, "save_every": epochs, "ema": 0.0},
    )


def test_streamed_training_follows_the_in_memory_run(ntu_root: Path, tmp_path: Path) -> None:
    memory = fit(ntu_config(ntu_root, "off", 0), tmp_path / "memory", progress=False)
    streamed = fit(ntu_config(ntu_root, str(tmp_path / "c"), 1), tmp_path / "streamed", progress=False)
    assert memory.metrics["loss"] == pytest.approx(streamed.metrics["loss"], rel=1e-4)
    assert memory.metrics["test_accuracy"] == streamed.metrics["test_accuracy"]


def test_mixed_precision_trains_on_cpu(tmp_path: Path) -> None:
    losses = {}
    for amp in ("off", "bf16", "fp16"):
        result = fit(tiny_config(2, train={"amp": amp}), tmp_path / amp, progress=False)
        losses[amp] = result.metrics["loss"]
        assert next(result.bundle.model.parameters()).dtype == torch.float32  # autocast: weights stay float32
    assert losses["bf16"] != losses["off"]  # the forward pass did run in reduced precision
    assert losses["bf16"] == pytest.approx(losses["off"], rel=0.05)
    assert losses["fp16"] == pytest.approx(losses["off"], rel=0.05)


@pytest.mark.parametrize("native", [True, False])
def test_automatic_precision_is_bf16_only_where_the_hardware_has_it(
    native: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mrmp.engine import precision

    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    expected = "bf16" if native else "off"
    assert precision.resolve_amp("auto", torch.device("cpu")) == expected
    assert precision.resolve_amp("fp16", torch.device("cpu")) == "fp16"  # an explicit choice stays
    result = fit(tiny_config(1, train={"amp": "auto"}), tmp_path / "auto", progress=False)
    assert result.metrics["amp"] == expected  # the precision it ran at is logged
    same = fit(tiny_config(1, train={"amp": expected}), tmp_path / expected, progress=False)
    assert result.metrics["loss"] == same.metrics["loss"]


def test_fp16_loss_scale_is_checkpointed_and_resumed(tmp_path: Path) -> None:
    cfg = tiny_config(2, train={"amp": "fp16", "save_every": 1})
    whole = fit(cfg, tmp_path / "whole", progress=False)

    class Killed(Exception):
        pass

    def kill(epoch: int, record: dict) -> None:
        raise Killed

    with pytest.raises(Killed):
        fit(cfg, tmp_path / "cut", progress=False, on_epoch_end=kill)
    stored = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert stored["epoch"] == 1 and stored["scaler"]["scale"] == 65536.0  # fp16's initial loss scale, kept
    resumed = fit(cfg, tmp_path / "cut", resume=True, progress=False)
    assert resumed.metrics["loss"] == whole.metrics["loss"]


def test_bad_workers() -> None:
    with pytest.raises(ValueError, match=r"data\.workers must be an integer in \[0, 256\], got -1"):
        tiny_config(data={"workers": -1})


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_cuda_streamed_training(ntu_root: Path, tmp_path: Path, amp: str) -> None:
    cfg = ntu_config(ntu_root, str(tmp_path / "c"), 1).replace(train={"device": "cuda", "amp": amp})
    result = fit(cfg, tmp_path / "run", progress=False)
    assert np.isfinite(result.metrics["loss"]) and next(result.bundle.model.parameters()).is_cuda


@cuda
def test_cuda_matches_cpu_in_float32(ntu_root: Path, tmp_path: Path) -> None:
    cpu = fit(ntu_config(ntu_root, "off", 0), tmp_path / "cpu", progress=False)
    gpu = fit(ntu_config(ntu_root, "off", 0).replace(train={"device": "cuda"}), tmp_path / "gpu", progress=False)
    assert gpu.metrics["loss"] == pytest.approx(cpu.metrics["loss"], rel=1e-2)


def test_cli_trains_on_streamed_ntu(ntu_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mrmp.cli import main

    argv = ["train", "--dataset", "ntu", "--data", str(ntu_root), "--split", "xsub", "--cache", str(tmp_path / "c")]
    argv += ["--workers", "1", "--amp", "bf16", "--epochs", "1", "--batch-size", "4", "--no-progress"]
    argv += ["--set", "model.hidden=16", "--set", "model.heads=2", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    data = stored["data"]
    assert (data["dataset"], data["cache"], data["workers"]) == ("ntu", str(tmp_path / "c"), 1)
    assert stored["train"]["amp"] == "bf16" and "test_accuracy" in capsys.readouterr().out
    assert any(p.name.startswith("ntu-") for p in (tmp_path / "c").iterdir())
