"""NTU RGB+D ``.skeleton`` files written here in the distributed format; bodies, splits, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mrmp.cli import main
from mrmp.config import FeatureConfig
from mrmp.data import load_dataset, load_ntu
from mrmp.data.features import Skeleton, normalise, pad_sequences
from mrmp.data.geometry import parents_from_edges
from mrmp.data.ntu import NTU_BODY, NTU_EDGES, NTU_SPLITS, skeleton_text
from mrmp.errors import DataError
from test_data_formats import raises_data_error


def person(t: int, shift: float = 0.0, amplitude: float = 0.01) -> np.ndarray:
    """(25, 3) joints of frame ``t``: a fixed pose (joint k at k cm) moving by ``amplitude``·t."""
    base = np.stack([np.arange(25) * 0.01, np.arange(25) * 0.02, np.full(25, 3.0)], 1)
    return (base + shift + amplitude * t).astype(np.float32)


def write_ntu(root: Path, name: str, frames: list[dict[int, np.ndarray]]) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(skeleton_text(frames).encode())
    return path


def one_body(frames: int, amplitude: float = 0.01) -> list[dict[int, np.ndarray]]:
    return [{7: person(t, amplitude=amplitude)} for t in range(frames)]


@pytest.fixture
def ntu_root(tmp_path: Path) -> Path:
    """Five files across setups, cameras, performers and actions (NTU-60 and NTU-120 names)."""
    root = tmp_path / "ntu"
    write_ntu(root, "S001C001P001R001A001.skeleton", one_body(4))
    write_ntu(root, "S001C002P003R002A013.skeleton", one_body(5))
    write_ntu(root, "nturgb+d_skeletons/S002C003P008R001A060.skeleton", one_body(3))
    write_ntu(root, "S018C001P045R001A061.skeleton", one_body(6))
    write_ntu(root, "S019C002P044R002A120.skeleton", one_body(2))
    return root


def test_ntu_loads_with_splits(ntu_root: Path) -> None:
    ds = load_ntu(ntu_root)
    assert ds.name == "ntu" and ds.persons == 2 and ds.body == NTU_BODY and ds.body.units == "metres"
    assert ds.ids == [
        "S001C001P001R001A001",
        "S001C002P003R002A013",
        "S002C003P008R001A060",
        "S018C001P045R001A061",
        "S019C002P044R002A120",
    ]
    assert ds.labels.tolist() == [0, 12, 59, 60, 119] and ds.num_classes == 120
    assert [s.shape for s in ds.sequences] == [(4, 50, 3), (5, 50, 3), (3, 50, 3), (6, 50, 3), (2, 50, 3)]
    np.testing.assert_allclose(ds.sequences[0][2, :25], person(2), atol=1e-6)
    assert not ds.sequences[0][:, 25:].any()  # one body: the second block is an absent person
    expected = {
        "xsub": ([0, 2], [1]),  # NTU-60 performers 1, 8 train; 3 tests; setups 18+ are in neither side
        "xview": ([1, 2], [0]),  # cameras 2 and 3 train
        "xsub120": ([0, 2, 3], [1, 4]),  # performer 45 is in the NTU-120 list, 44 is not
        "xset120": ([2, 3], [0, 1, 4]),  # even setups (2, 18) train
    }
    assert set(ds.splits) == set(NTU_SPLITS)
    for name, (train, test) in expected.items():
        assert (ds.split(name).train.tolist(), ds.split(name).test.tolist()) == (train, test), name


def test_ntu60_names_sixty_classes(tmp_path: Path) -> None:
    write_ntu(tmp_path, "S001C001P001R001A007.skeleton", one_body(2))
    assert load_ntu(tmp_path).class_names[:2] == ("A001", "A002") and load_ntu(tmp_path).num_classes == 60


def test_ntu_edges_are_one_tree_per_body() -> None:
    assert len(NTU_EDGES) == 48 and len(set(NTU_EDGES)) == 48
    parents = parents_from_edges(NTU_EDGES, 50, roots=[1, 26])
    reached = [j for j in range(50) if parents[j] != j]
    assert len(reached) == 48  # every joint but the two roots hangs off its body's root


def test_ntu_keeps_the_two_most_active_bodies(tmp_path: Path) -> None:
    frames = [
        {1: person(t, amplitude=0.001), 2: person(t, 1.0, amplitude=0.05), 3: person(t, 2.0, amplitude=0.02)}
        for t in range(4)
    ]
    frames.insert(0, {})  # a frame without bodies is dropped
    frames.append({1: person(9, amplitude=0.001)})  # only the least active body: dropped too
    path = write_ntu(tmp_path, "S001C001P001R001A050.skeleton", frames)
    seq = load_ntu(tmp_path).sequences[0]
    assert seq.shape == (4, 50, 3)
    np.testing.assert_allclose(seq[:, :25], np.stack([person(t, 1.0, amplitude=0.05) for t in range(4)]), atol=1e-6)
    np.testing.assert_allclose(seq[:, 25:], np.stack([person(t, 2.0, amplitude=0.02) for t in range(4)]), atol=1e-6)
    assert path.read_bytes().count(b"\r\n") > 0


def test_ntu_body_that_leaves_is_zero_where_absent(tmp_path: Path) -> None:
    frames = [{1: person(t), **({2: person(t, 1.0, 0.05)} if t < 2 else {})} for t in range(4)]
    write_ntu(tmp_path, "S001C001P001R001A050.skeleton", frames)
    seq = load_ntu(tmp_path).sequences[0]
    assert seq[:2, :25].any() and not seq[2:, :25].any()  # the most active body left after frame 2
    assert (np.abs(seq[:, 25:]).sum((1, 2)) > 0).all()  # the other body is in every frame


def test_ntu_missing_skeleton_is_reported_and_skipped(ntu_root: Path) -> None:
    path = write_ntu(ntu_root, "S001C001P002R001A005.skeleton", [{}, {}, {}])
    ds = load_ntu(ntu_root)  # without skip_bad: a documented empty sample, not a malformed file
    assert len(ds.sequences) == 5 and "S001C001P002R001A005" not in ds.ids
    assert ds.skipped == (f"{path}: no skeleton in any frame (one of NTU's missing-skeleton samples)",)


def good_lines() -> list[str]:
    return skeleton_text(one_body(2)).splitlines()


def edit(lines: list[str], line: int, text: str | None) -> list[str]:
    """Replace (None: delete) 1-based ``line``."""
    out = list(lines)
    if text is None:
        del out[line - 1]
    else:
        out[line - 1] = text
    return out


@pytest.mark.parametrize(
    ("lines", "line", "fragment"),
    [
        (edit(good_lines(), 1, "two"), 1, "the frame count (a non-negative integer), found 'two'"),
        (edit(good_lines(), 2, "1.5"), 2, "the body count of frame 1"),
        (edit(good_lines(), 3, "72057594037931101 0 1 1"), 3, "expected 10 values (body info"),
        (edit(good_lines(), 4, "24"), 4, "expected the joint count 25, found 24"),
        (edit(good_lines(), 9, "0.1 0.2 0.3 1 2 3 4 5 6 7 8"), 9, "expected 12 values (joint x y z"),
        (edit(good_lines(), 9, "0.1 0.2 nan 1 2 3 4 5 6 7 8 2"), 9, "value 'nan' in column 3: expected a finite"),
        (edit(good_lines(), 33, "0.1 0.2 0.3 1 2 3 4 5 6 7 x 2"), 33, "value 'x' in column 11"),
        (good_lines()[:40], 41, "file ends early: expected 25 joint lines of 12 values"),
        (good_lines()[:29], 30, "file ends early: expected the body count of frame 2"),
        ([*good_lines(), "1"], 58, "unexpected line after the 2 frames"),
        ([], 1, "file ends early: expected the frame count"),
    ],
)
def test_ntu_malformed_file(tmp_path: Path, lines: list[str], line: int, fragment: str) -> None:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("\n".join(lines) + "\n")
    with raises_data_error(path, line, fragment):
        load_ntu(tmp_path)


def test_ntu_layout_errors(tmp_path: Path) -> None:
    with raises_data_error(tmp_path / "none", None, "NTU folder not found"):
        load_ntu(tmp_path / "none")
    with raises_data_error(tmp_path, None, "no .skeleton files"):
        load_ntu(tmp_path)
    bad = write_ntu(tmp_path, "S001C001P001A001.skeleton", one_body(2))
    with raises_data_error(bad, None, "expected SsssCcccPpppRrrrAaaa.skeleton"):
        load_ntu(tmp_path)


def test_ntu_parses_on_a_worker_process(ntu_root: Path) -> None:
    inline = load_ntu(ntu_root)
    pooled = load_ntu(ntu_root, processes=1)
    assert pooled.ids == inline.ids and all(
        np.array_equal(a, b) for a, b in zip(pooled.sequences, inline.sequences, strict=True)
    )
    bad = ntu_root / "S001C001P001R001A001.skeleton"
    bad.write_text("\n".join(edit(good_lines(), 4, "24")))
    with raises_data_error(bad, 4, "expected the joint count 25, found 24"):  # the worker's error, as it was
        load_ntu(ntu_root, processes=1)
    assert load_ntu(ntu_root, skip_bad=True, processes=1).skipped == (
        f"{bad}:4: expected the joint count 25, found 24",
    )


def test_ntu_skip_bad(ntu_root: Path) -> None:
    bad = ntu_root / "S001C001P001R001A001.skeleton"
    bad.write_text("\n".join(edit(good_lines(), 4, "24")))
    with raises_data_error(bad, 4, "joint count"):
        load_ntu(ntu_root)
    ds = load_ntu(ntu_root, skip_bad=True)
    assert len(ds.sequences) == 4 and ds.skipped == (f"{bad}:4: expected the joint count 25, found 24",)
    assert ds.split("xsub").train.tolist() == [1]  # indices follow the files kept


def test_ntu_normalises_one_person_sequences_without_a_ghost(ntu_root: Path) -> None:
    ds = load_dataset("ntu", ntu_root)
    x, lengths = pad_sequences(ds.sequences)
    out = normalise(x, lengths, FeatureConfig(), Skeleton(ds.persons, ds.edges, ds.body))
    assert not out[:, :, 25:].any()  # the absent person stays absent
    valid = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    root_mean = (out[:, :, 1] * valid[..., None]).sum(1) / lengths[:, None]
    torch.testing.assert_close(root_mean, torch.zeros_like(root_mean), atol=1e-5, rtol=0)  # centred on its root
    i, j = zip(*NTU_EDGES[:24], strict=True)
    bone = (out[:, :, list(i)] - out[:, :, list(j)]).norm(dim=-1).mean(2)
    mean_bone = (bone * valid).sum(1) / lengths
    torch.testing.assert_close(mean_bone, torch.ones_like(mean_bone), atol=1e-4, rtol=0)  # size from the body present


def test_cli_lists_ntu_splits(ntu_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_ntu(ntu_root, "S001C001P002R001A005.skeleton", [{}])
    assert main(["data", "--dataset", "ntu", "--data", str(ntu_root), "--json"]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["splits"] == {
        "xsub": {"train": 2, "test": 1},
        "xview": {"train": 2, "test": 1},
        "xsub120": {"train": 3, "test": 2},
        "xset120": {"train": 2, "test": 3},
    }
    assert summary["joints"] == 50 and "missing-skeleton" in out.err


def test_cli_ntu_error_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("\n".join(edit(good_lines(), 4, "24")))
    assert main(["data", "--dataset", "ntu", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{path}:4" in err and "joint count 25" in err


def test_ntu_file_error_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "S001C001P001R001A001.skeleton").mkdir()
    with pytest.raises(DataError, match="expected a file, found a folder"):
        load_ntu(tmp_path)
