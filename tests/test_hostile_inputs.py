"""Hostile sizes and files bounded before anything is allocated or read: one-line errors, no hang."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mrmp.cli import main
from mrmp.data import load_fpha, load_npz, load_sbu
from mrmp.data.base import MAX_CLASSES, MAX_JOINTS
from mrmp.errors import DataError
from test_data_formats import (
    FPHA_TEST,
    FPHA_TRAIN,
    fpha_root,  # noqa: F401 (fixture)
    npz_arrays,
    raises_data_error,
    save_npz,
    sbu_file,
    sbu_root,  # noqa: F401 (fixture)
    write_split,
)


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_npy_header_claiming_tebibytes_is_refused_before_allocating(tmp_path: Path) -> None:
    path = save_npz(tmp_path, **npz_arrays())
    small = _npy(np.zeros((2, 2), dtype=np.float64))
    huge = small.replace(b"(2, 2)", b"(900000, 500000)")  # 3.27 TiB of float64 claimed, 32 bytes held
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("lengths.npy", huge)
    with raises_data_error(path, None, "array 'lengths': header claims shape (900000, 500000)", "3,600,000,000,000"):
        load_npz(path)


def test_archive_unpacking_past_memory_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mrmp.data.npz

    path = save_npz(tmp_path, **npz_arrays())  # a zip bomb in miniature: this machine given 1,000 bytes
    size = sum(info.file_size for info in zipfile.ZipFile(path).infolist())
    monkeypatch.setattr(mrmp.data.npz, "_memory_bytes", lambda: 1000)
    with raises_data_error(path, None, f"{size:,} bytes decompressed", "memory (1,000 bytes)"):
        load_npz(path)
    monkeypatch.setattr(mrmp.data.npz, "_memory_bytes", lambda: size)
    assert len(load_npz(path).labels) > 0


def test_duplicate_member_is_an_error(tmp_path: Path) -> None:
    path = save_npz(tmp_path, **npz_arrays())
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("y.npy", _npy(np.zeros(10, dtype=np.int64)))
    with raises_data_error(path, None, "member(s) ['y.npy'] appear more than once"):
        load_npz(path)


def test_npy_named_npz_and_non_regular_files(tmp_path: Path) -> None:
    npy = tmp_path / "data.npz"
    np.save(tmp_path / "x.npy", np.zeros(3))
    (tmp_path / "x.npy").rename(npy)
    with raises_data_error(npy, None, "expected an .npz archive of named arrays, found an .npy"):
        load_npz(npy)
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    with raises_data_error(fifo, None, "not a regular file"):  # reading it would block forever
        load_npz(fifo)


def test_huge_fpha_label_is_refused_before_building_class_lists(fpha_root: Path) -> None:  # noqa: F811
    split = write_split(fpha_root, [*FPHA_TRAIN[:-1], "Subject_2/open_juice_bottle/1 1000000000"], FPHA_TEST)
    with raises_data_error(split, 4, f"label 1000000000: expected a class index in 0..{MAX_CLASSES - 1}"):
        load_fpha(fpha_root)
    split = write_split(fpha_root, [*FPHA_TRAIN[:-1], "Subject_2/open_juice_bottle/1 5000"], FPHA_TEST)
    with pytest.raises(Exception, match="no entry has label") as info:
        load_fpha(fpha_root)
    assert len(str(info.value)) < 300  # was a 689 KB line for a label of 100000


def test_fifo_in_place_of_a_skeleton_file(sbu_root: Path) -> None:  # noqa: F811
    target = sbu_file(sbu_root)
    target.unlink()
    os.mkfifo(target)
    with raises_data_error(target, None, "not a regular file"):  # reading it would block forever
        load_sbu(sbu_root)


def _one_line(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mrmp: error: ") and err.count("\n") == 1, err
    assert all(f in err for f in fragments), err


def test_empty_test_split_and_other_joint_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arrays = npz_arrays(n=12, classes=3)
    empty = save_npz(tmp_path, **arrays, split=np.array(["train"] * 12))
    out = tmp_path / "run"
    _one_line(["train", "-d", "npz", "--data", str(empty), "--out", str(out)], capsys, "split 'default' has no test")
    assert not out.exists()
    (tmp_path / "a").mkdir()
    good = save_npz(tmp_path / "a", **arrays)
    tiny = ["--set", "model.hidden=16", "--set", "model.heads=2", "-e", "1", "--no-progress"]
    assert main(["train", "-d", "npz", "--data", str(good), *tiny, "--out", str(out)]) == 0
    (tmp_path / "b").mkdir()
    five = {**npz_arrays(n=12, v=5, classes=3), "edges": np.array([[0, 1], [1, 2], [2, 3], [3, 4]])}
    other = save_npz(tmp_path / "b", **five)
    _one_line(["eval", str(out / "checkpoint.pt"), "--data", str(other)], capsys, "5 joints", "takes 4")
    mp = ["train", *tiny, "-m", "mp", "--from", str(out / "checkpoint.pt"), "--out", str(tmp_path / "mp")]
    _one_line(mp, capsys, "--from", "trained with 4 joints, this data has 15")  # a synthetic skeleton


def test_too_many_joints_is_refused_before_building_a_model(tmp_path: Path) -> None:
    v = MAX_JOINTS + 1  # V × V adjacency and attention matrices: 20,000 joints took minutes and 5 GB
    arrays = {"x": np.zeros((4, 1, v, 1), np.float32), "y": np.arange(4) % 2, "edges": np.array([[0, 1]])}
    with pytest.raises(DataError, match=f"{v} joints, more than the {MAX_JOINTS}"):
        load_npz(save_npz(tmp_path, **arrays))
