"""pyskl annotation files: the format, the splits, and the restricted unpickler against hostile pickles."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mrmp.cli import main
from mrmp.data import load_dataset, load_pyskl
from mrmp.data.ntu import NTU_BODY, NTU_EDGES
from mrmp.data.pyskl import COCO_EDGES
from mrmp.errors import DataError


def annotation(name: str, label: int, persons: int = 1, frames: int = 5, joints: int = 25, coords: int = 3) -> dict:
    rng = np.random.default_rng(label)
    keypoint = rng.normal(size=(persons, frames, joints, coords)).astype(np.float32)
    return {
        "frame_dir": name,
        "label": np.int64(label) if label % 2 else label,  # pyskl files hold numpy and plain ints
        "keypoint": keypoint,
        "keypoint_score": np.ones((persons, frames, joints), dtype=np.float32),
        "total_frames": frames,
        "img_shape": (1080, 1920),
    }


def pyskl_data(**kwargs: Any) -> dict:
    names = ["S001C001P001R001A001", "S001C001P003R001A002", "S001C002P001R001A003", "S001C003P002R001A001"]
    annotations = [annotation(n, k % 3, persons=1 + k % 2, frames=4 + k, **kwargs) for k, n in enumerate(names)]
    split = {
        "xsub_train": [names[0], names[2]],
        "xsub_val": [names[1], names[3]],
        "xview_train": [names[2], names[3]],
        "xview_val": [names[0], names[1]],
    }
    return {"split": split, "annotations": annotations}


def save(path: Path, data: Any, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pyskl_loads_ntu_layout(tmp_path: Path, protocol: int) -> None:
    data = pyskl_data()
    ds = load_pyskl(save(tmp_path / "ntu.pkl", data, protocol))
    assert ds.name == "pyskl" and ds.persons == 2 and ds.body == NTU_BODY
    assert ds.edges == NTU_EDGES and ds.labels.tolist() == [0, 1, 2, 0] and ds.num_classes == 3
    assert [s.shape for s in ds.sequences] == [(4, 50, 3), (5, 50, 3), (6, 50, 3), (7, 50, 3)]
    kp = data["annotations"][1]["keypoint"]  # two persons: (M, T, V, C) -> (T, M·V, C)
    np.testing.assert_array_equal(ds.sequences[1][:, 25:], kp[1])
    assert not ds.sequences[0][:, 25:].any()  # one person: the second is absent
    assert {k: (v.train.tolist(), v.test.tolist()) for k, v in ds.splits.items()} == {
        "xsub": ([0, 2], [1, 3]),
        "xview": ([2, 3], [0, 1]),
    }


def test_pyskl_coco_2d(tmp_path: Path) -> None:
    data = pyskl_data(joints=17, coords=2)
    data["split"] = {"train1": data["split"]["xsub_train"], "test1": data["split"]["xsub_val"]}
    ds = load_dataset("pyskl", save(tmp_path / "coco.pkl", data))
    assert ds.edges[: len(COCO_EDGES)] == COCO_EDGES and ds.num_coords == 2 and ds.body.primary is None
    assert list(ds.splits) == ["1"]


def os_system_file(marker: Path) -> object:
    class Exploit:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    return Exploit()


@pytest.mark.parametrize("where", ["top", "annotation", "inside-array-state"])
def test_pyskl_refuses_code_in_the_pickle(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "pwned"
    data = pyskl_data()
    if where == "top":
        payload: Any = os_system_file(marker)
    elif where == "annotation":
        data["annotations"][2]["label"] = os_system_file(marker)
        payload = data
    else:
        data["annotations"][0]["keypoint"] = np.array([os_system_file(marker)], dtype=object)
        payload = data
    path = save(tmp_path / "evil.pkl", payload)
    with pytest.raises(DataError) as info:
        load_pyskl(path)
    assert not marker.exists()  # nothing ran
    assert str(info.value).startswith(f"{path}: refused: the pickle names {os.system.__module__}.system,")
    assert "\n" not in str(info.value)


def test_pyskl_refuses_other_globals(tmp_path: Path) -> None:
    path = save(tmp_path / "set.pkl", {"split": {}, "annotations": [], "x": {1, 2}.__class__})
    with pytest.raises(DataError, match=r"refused: the pickle names builtins\.set"):
        load_pyskl(path)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["annotations"][1].update(keypoint=np.zeros((1, 5, 25))), "expected a float array (M, T, V, C)"),
        (lambda d: d["annotations"][1].update(keypoint=[1, 2]), "found list"),
        (lambda d: d["annotations"][1].update(label=-1), "'label' is -1: expected an int >= 0"),
        (lambda d: d["annotations"][1].update(total_frames=9), "'total_frames' is 9, 'keypoint' has 5 frames"),
        (lambda d: d["annotations"][1]["keypoint"].__setitem__((0, 1, 2, 0), np.nan), "non-finite"),
        (lambda d: d["annotations"][1].update(keypoint=np.zeros((1, 5, 25, 4), np.float32)), "C = 2 or 3"),
        (lambda d: d["annotations"][1].pop("label"), "expected a dict with frame_dir, label, keypoint"),
    ],
)
def test_pyskl_bad_annotation(tmp_path: Path, change: Any, fragment: str) -> None:
    data = pyskl_data()
    change(data)
    path = save(tmp_path / "bad.pkl", data)
    with pytest.raises(DataError, match="annotation 1") as info:
        load_pyskl(path)
    assert info.value.path == path and fragment in info.value.message
    ds = load_pyskl(path, skip_bad=True)
    assert len(ds.sequences) == 3 and len(ds.skipped) == 1 and "annotation 1" in ds.skipped[0]
    assert ds.split("xsub").test.tolist() == [2]  # indices follow the annotations kept


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([1, 2], "expected a dict with 'split' and 'annotations' (pyskl format), found list"),
        ({"annotations": []}, "found ['annotations']"),
        ({"split": {"a": []}, "annotations": []}, "expected a non-empty list of dicts"),
        ({**pyskl_data(), "split": {"all": []}}, "'split' names ['all']: expected pairs such as xsub_train"),
        (
            {**pyskl_data(), "split": {"a_train": ["x", "y"], "a_val": []}},
            "list 'a_train' names frame_dir 'x': expected",
        ),
        ({**pyskl_data(joints=18), "split": {}}, "V = 18 joints: supported layouts are V in [17, 25]"),
    ],
)
def test_pyskl_bad_file(tmp_path: Path, data: Any, fragment: str) -> None:
    with pytest.raises(DataError) as info:
        load_pyskl(save(tmp_path / "bad.pkl", data))
    assert fragment in info.value.message


def test_pyskl_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_pyskl(tmp_path / "none.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(DataError, match="not a readable pickle"):
        load_pyskl(tmp_path / "junk.pkl")


def test_cli_pyskl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = save(tmp_path / "ntu.pkl", pyskl_data())
    assert main(["data", "--dataset", "pyskl", "--data", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["splits"] == {"xsub": {"train": 2, "test": 2}, "xview": {"train": 2, "test": 2}}
    marker = tmp_path / "pwned"
    evil = save(tmp_path / "evil.pkl", os_system_file(marker))
    assert main(["data", "--dataset", "pyskl", "--data", str(evil)]) == 2
    err = capsys.readouterr().err.strip()
    assert not marker.exists() and err.count("\n") == 0 and "refused" in err
