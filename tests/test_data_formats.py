"""Loaders on tiny files written here: SBU and FPHA layouts, ``.npz``, synthetic data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from mrmp.data import (
    DATASETS,
    SkeletonSet,
    load_dataset,
    load_fpha,
    load_npz,
    load_sbu,
    make_synthetic,
)
from mrmp.data.sbu import SBU_FOLDS
from mrmp.errors import ConfigError, DataError

# --------------------------------------------------------------------------- helpers

PAIRS = sorted(p for fold in SBU_FOLDS for p in fold)


def sbu_lines(frames: int, start: int = 0) -> list[str]:
    """Valid SBU lines: frame number then 90 values (value = 1000 * frame + column)."""
    rows = [[f"{100 + t}"] + [f"{1000 * (start + t) + c}" for c in range(90)] for t in range(frames)]
    return [",".join(row) for row in rows]


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def sbu_root(tmp_path: Path) -> Path:
    """All 21 pairs; pair ``i`` holds class ``i % 8 + 1`` with one 3-frame sequence, plus
    ``s01s02/01/002`` (4 frames)."""
    root = tmp_path / "sbu"
    for i, pair in enumerate(PAIRS):
        write(root / pair / f"{i % 8 + 1:02d}" / "001" / "skeleton_pos.txt", sbu_lines(3))
    write(root / "s01s02" / "01" / "002" / "skeleton_pos.txt", sbu_lines(4))
    return root


def sbu_file(root: Path, rel: str = "s01s02/01/002") -> Path:
    return root / rel / "skeleton_pos.txt"


def fpha_lines(frames: int) -> list[str]:
    return [" ".join([f"{t:04d}"] + [f"{t + c / 10:.4f}" for c in range(63)]) for t in range(frames)]


FPHA_TRAIN = [
    "Subject_1/open_juice_bottle/1 0",
    "Subject_1/close_juice_bottle/1 1",
    "Subject_2/open_juice_bottle/1 0",
]
FPHA_TEST = ["Subject_3/open_juice_bottle/2 0", "Subject_3/close_juice_bottle/1 1"]


@pytest.fixture
def fpha_root(tmp_path: Path) -> Path:
    root = tmp_path / "fpha"
    write_split(root, FPHA_TRAIN, FPHA_TEST)
    for k, entry in enumerate(FPHA_TRAIN + FPHA_TEST):
        write(root / "Hand_pose_annotation_v1" / entry.split()[0] / "skeleton.txt", fpha_lines(k + 2))
    return root


def write_split(root: Path, train: list[str], test: list[str], counts: tuple[int, int] | None = None) -> Path:
    n_train, n_test = counts or (len(train), len(test))
    lines = [f"Training {n_train}", *train, f"Test {n_test}", *test]
    return write(root / "data_split_action_recognition.txt", lines)


def fpha_file(root: Path, k: int) -> Path:
    entry = (FPHA_TRAIN + FPHA_TEST)[k].split()[0]
    return root / "Hand_pose_annotation_v1" / entry / "skeleton.txt"


def npz_arrays(n: int = 10, t: int = 6, v: int = 4, classes: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x": rng.normal(size=(n, t, v, 3)).astype(np.float32),
        "y": np.arange(n) % classes,
        "edges": np.array([[0, 1], [1, 2], [2, 3]]),
    }


def save_npz(tmp_path: Path, **arrays: np.ndarray) -> Path:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


@contextmanager
def raises_data_error(path: Path, line: int | None, *fragments: str) -> Iterator[None]:
    """Expect a DataError naming ``path`` and ``line`` whose message holds every fragment."""
    with pytest.raises(DataError) as info:
        yield
    err = info.value
    assert (err.path, err.line) == (path, line), str(err)
    for fragment in fragments:
        assert fragment in err.message, str(err)


def check_split(ds: SkeletonSet, name: str) -> None:
    split = ds.split(name)
    both = np.concatenate([split.train, split.test])
    assert len(np.unique(both)) == len(both) and both.max(initial=-1) < len(ds.sequences)


# --------------------------------------------------------------------------- SBU


def test_sbu_loads(sbu_root: Path) -> None:
    ds = load_sbu(sbu_root, metres=False)
    assert ds.name == "sbu" and len(ds.sequences) == 22 and ds.persons == 2
    assert ds.ids == sorted(ds.ids) and ds.ids[:2] == ["s01s02/01/001", "s01s02/01/002"]
    assert ds.sequences[1].shape == (4, 30, 3) and ds.sequences[1].dtype == np.float32
    # Person 2's first joint (index 15) holds columns 45..47 of the 90 coordinates.
    assert ds.sequences[1][2, 15].tolist() == [2045.0, 2046.0, 2047.0]
    assert ds.labels[ds.ids.index("s01s03/02/001")] == 1
    assert len(ds.edges) == 28 and (0, 1) in ds.edges and (15, 16) in ds.edges
    assert ds.class_names[4] == "shaking hands"
    for k, pairs in enumerate(SBU_FOLDS):
        split = ds.split(f"fold{k}")
        check_split(ds, f"fold{k}")
        assert len(split.train) + len(split.test) == 22
        assert {ds.ids[i].split("/")[0] for i in split.test} == set(pairs)


def test_sbu_metres_follow_the_documented_inverse(sbu_root: Path) -> None:
    raw = load_sbu(sbu_root, metres=False).sequences[1]
    metres = load_sbu(sbu_root).sequences[1]
    x, y, z = raw[2, 15]  # 2045, 2046, 2047 (see test_sbu_loads)
    expected = [(1280 - 2560 * x) / 1000, (960 - 1920 * y) / 1000, 10000 * z / 7.8125 / 1000]
    assert metres[2, 15].tolist() == pytest.approx(expected, rel=1e-6)
    assert load_sbu(sbu_root).body.units == "metres"


def test_sbu_tolerates_blank_lines_and_crlf(sbu_root: Path) -> None:
    path = sbu_file(sbu_root)
    path.write_text("\r\n".join(sbu_lines(2)) + "\r\n\r\n")
    assert load_sbu(sbu_root).sequences[1].shape == (2, 30, 3)


@pytest.mark.parametrize(
    ("lines", "line", "fragments"),
    [
        (
            [*sbu_lines(2), ",".join(sbu_lines(1)[0].split(",")[:90])],
            3,
            ["expected 91 values", "found 90"],
        ),
        (
            [sbu_lines(1)[0].replace(",5,", ",abc,", 1), *sbu_lines(1)],
            1,
            ["non-numeric value 'abc'", "column 7"],
        ),
        ([*sbu_lines(1), sbu_lines(1)[0].replace(",5,", ",nan,", 1)], 2, ["'nan'", "not a finite"]),
        (
            [*sbu_lines(1), sbu_lines(1)[0].replace(",5,", ",-inf,", 1)],
            2,
            ["'-inf'", "not a finite"],
        ),
        ([*sbu_lines(1), sbu_lines(1)[0].replace(",5,", ",1e39,", 1)], 2, ["'1e39'", "float32"]),
        ([], None, ["empty file", "91 values"]),
        (["", "  "], None, ["empty file"]),
    ],
)
def test_sbu_malformed_file(sbu_root: Path, lines: list[str], line: int | None, fragments: list[str]) -> None:
    path = write(sbu_file(sbu_root), lines)
    with raises_data_error(path, line, *fragments):
        load_sbu(sbu_root)


def test_sbu_missing_root(tmp_path: Path) -> None:
    with raises_data_error(tmp_path / "nope", None, "not found", "set pair"):
        load_sbu(tmp_path / "nope")


def test_sbu_unknown_layout(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    with raises_data_error(tmp_path, None, "unknown layout", "s01s02"):
        load_sbu(tmp_path)


def test_sbu_missing_pair_folder(sbu_root: Path) -> None:
    for path in sorted((sbu_root / "s07s03").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (sbu_root / "s07s03").rmdir()
    with raises_data_error(sbu_root / "s07s03", None, "missing set-pair", "s07s03"):
        load_sbu(sbu_root)


def test_sbu_unexpected_folders(sbu_root: Path) -> None:
    (sbu_root / "s01s02" / "09").mkdir()
    with raises_data_error(sbu_root / "s01s02" / "09", None, "class folder 01..08"):
        load_sbu(sbu_root)
    (sbu_root / "s01s02" / "09").rmdir()
    (sbu_root / "s09s01").mkdir()
    with raises_data_error(sbu_root / "s09s01", None, "unexpected folder"):
        load_sbu(sbu_root)


def test_sbu_missing_sequence_file(sbu_root: Path) -> None:
    sbu_file(sbu_root).unlink()
    with raises_data_error(sbu_file(sbu_root), None, "file not found"):
        load_sbu(sbu_root)


def test_sbu_skip_bad(sbu_root: Path) -> None:
    bad = write(sbu_file(sbu_root), ["1,2,3"])
    missing = sbu_file(sbu_root, "s01s03/02/001")
    missing.unlink()
    ds = load_sbu(sbu_root, skip_bad=True)
    assert len(ds.sequences) == 20 and "s01s02/01/002" not in ds.ids
    assert len(ds.skipped) == 2
    assert ds.skipped[0].startswith(f"{bad}:1: expected 91 values")
    assert ds.skipped[1].startswith(f"{missing}: file not found")
    for name in ds.splits:
        check_split(ds, name)
        assert len(ds.split(name).train) + len(ds.split(name).test) == 20


def test_sbu_skip_bad_empties_a_fold(sbu_root: Path) -> None:
    for pair in SBU_FOLDS[4]:
        for path in (sbu_root / pair).rglob("skeleton_pos.txt"):
            write(path, ["oops"])
    ds = load_sbu(sbu_root, skip_bad=True)
    assert len(ds.skipped) == 5 and len(ds.split("fold4").test) == 0
    assert len(ds.split("fold4").train) == len(ds.sequences) == 17
    assert len(ds.split("fold0").test) == 5  # s01s02 holds two sequences


def test_sbu_all_skipped(sbu_root: Path) -> None:
    for path in sbu_root.rglob("skeleton_pos.txt"):
        write(path, [])
    with raises_data_error(sbu_root, None, "no readable sequences", "all 22 skipped"):
        load_sbu(sbu_root, skip_bad=True)


# --------------------------------------------------------------------------- FPHA


def test_fpha_loads(fpha_root: Path) -> None:
    ds = load_fpha(fpha_root)
    assert ds.name == "fpha" and len(ds.sequences) == 5 and ds.persons == 1
    assert ds.class_names == ("open_juice_bottle", "close_juice_bottle")
    assert ds.labels.tolist() == [0, 1, 0, 0, 1]
    assert ds.ids[0] == "Subject_1/open_juice_bottle/1"
    assert ds.sequences[2].shape == (4, 21, 3) and ds.sequences[2].dtype == np.float32
    assert ds.sequences[2][3, 1].tolist() == pytest.approx([3.3, 3.4, 3.5])
    assert len(ds.edges) == 20 and (0, 5) in ds.edges and (19, 20) in ds.edges
    split = ds.split("default")
    assert split.train.tolist() == [0, 1, 2] and split.test.tolist() == [3, 4]


@pytest.mark.parametrize(
    ("counts", "line", "fragment"),
    [
        ((4, 2), 1, "'Training 4' announces 4 entries, found 3"),
        ((3, 1), 5, "'Test 1' announces 1 entries, found 2"),
    ],
)
def test_fpha_header_count_mismatch(fpha_root: Path, counts: tuple[int, int], line: int, fragment: str) -> None:
    path = write_split(fpha_root, FPHA_TRAIN, FPHA_TEST, counts)
    with raises_data_error(path, line, fragment):
        load_fpha(fpha_root)


@pytest.mark.parametrize(
    ("lines", "line", "fragment"),
    [
        (["Subject_1/open_juice_bottle/1 0"], 1, "expected a header 'Training <count>'"),
        (
            ["Training 1", "Subject_1/open_juice_bottle/1 zero", "Test 0"],
            2,
            "non-numeric label 'zero'",
        ),
        (["Training 1", "Subject_1/open_juice_bottle/1", "Test 0"], 2, "found 1 fields"),
        (["Training 1", "Subject_1/open_juice_bottle/1 0"], None, "no 'Test <count>' header"),
        (["Test 0", "Training 0"], 1, "unexpected header 'Test 0'"),
        (
            [
                "Training 2",
                "Subject_1/open_juice_bottle/1 0",
                "Subject_1/open_juice_bottle/1 0",
                "Test 0",
            ],
            3,
            "duplicate entry",
        ),
        (
            [
                "Training 2",
                "Subject_1/open_juice_bottle/1 0",
                "Subject_1/close_juice_bottle/1 0",
                "Test 0",
            ],
            3,
            "label 0 is action 'close_juice_bottle' here but 'open_juice_bottle'",
        ),
        ([], None, "no 'Training <count>' header"),
    ],
)
def test_fpha_malformed_split_file(fpha_root: Path, lines: list[str], line: int | None, fragment: str) -> None:
    path = write(fpha_root / "data_split_action_recognition.txt", lines)
    with raises_data_error(path, line, fragment):
        load_fpha(fpha_root, skip_bad=True)  # structural errors raise even with skip_bad


def test_fpha_entry_without_file(fpha_root: Path) -> None:
    fpha_file(fpha_root, 1).unlink()
    split_file = fpha_root / "data_split_action_recognition.txt"
    with raises_data_error(split_file, 3, "'Subject_1/close_juice_bottle/1' has no file"):
        load_fpha(fpha_root)
    ds = load_fpha(fpha_root, skip_bad=True)
    assert len(ds.sequences) == 4 and ds.skipped[0].startswith(f"{split_file}:3: entry")
    assert ds.split("default").train.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("lines", "line", "fragment"),
    [
        ([*fpha_lines(2), " ".join(fpha_lines(1)[0].split()[:63])], 3, "expected 64 values"),
        ([fpha_lines(1)[0].replace("0.1000", "x1")], 1, "non-numeric value 'x1' in column 3"),
        ([fpha_lines(1)[0].replace("0.1000", "NaN")], 1, "value 'NaN' in column 3 is not a finite"),
        ([], None, "empty file"),
    ],
)
def test_fpha_malformed_skeleton(fpha_root: Path, lines: list[str], line: int | None, fragment: str) -> None:
    path = write(fpha_file(fpha_root, 0), lines)
    with raises_data_error(path, line, fragment):
        load_fpha(fpha_root)


def test_fpha_skip_bad_empties_test_split(fpha_root: Path) -> None:
    write(fpha_file(fpha_root, 3), ["1 2 3"])
    write(fpha_file(fpha_root, 4), [])
    ds = load_fpha(fpha_root, skip_bad=True)
    assert len(ds.skipped) == 2 and ds.skipped[0].endswith("whitespace-separated), found 3")
    assert ds.split("default").train.tolist() == [0, 1, 2]
    assert ds.split("default").test.tolist() == []


def test_fpha_layout_errors(fpha_root: Path, tmp_path: Path) -> None:
    with raises_data_error(tmp_path, None, "unknown layout", "data_split_action_recognition.txt"):
        load_fpha(tmp_path)
    with raises_data_error(tmp_path / "absent", None, "not found"):
        load_fpha(tmp_path / "absent")
    poses = fpha_root / "Hand_pose_annotation_v1"
    poses.rename(fpha_root / "elsewhere")
    with raises_data_error(poses, None, "missing folder"):
        load_fpha(fpha_root)


# --------------------------------------------------------------------------- NPZ


def test_npz_full(tmp_path: Path) -> None:
    arrays = npz_arrays()
    arrays["x"][0, 5] = np.nan  # padding beyond lengths[0] is ignored
    path = save_npz(
        tmp_path,
        **arrays,
        lengths=np.array([5, 6, 1, 6, 6, 6, 6, 6, 6, 2]),
        split=np.array(["train", "test"] * 5),
        class_names=np.array(["wave", "clap"]),
        persons=np.array(2),
    )
    ds = load_npz(path)
    assert ds.name == "npz" and len(ds.sequences) == 10 and ds.persons == 2
    assert [len(s) for s in ds.sequences[:3]] == [5, 6, 1]
    assert ds.sequences[0].dtype == np.float32 and ds.class_names == ("wave", "clap")
    assert ds.edges == ((0, 1), (1, 2), (2, 3))
    assert ds.split("default").train.tolist() == [0, 2, 4, 6, 8]
    assert ds.ids[3] == "3"


def test_npz_folds(tmp_path: Path) -> None:
    ds = load_npz(save_npz(tmp_path, **npz_arrays(), split=np.arange(10) % 3))
    assert sorted(ds.splits) == ["fold0", "fold1", "fold2"]
    assert ds.split("fold1").test.tolist() == [1, 4, 7]
    assert len(ds.split("fold1").train) == 7
    assert ds.class_names == ("0", "1")


def test_npz_default_split_is_stratified_and_deterministic(tmp_path: Path) -> None:
    arrays = npz_arrays(n=40, classes=4)
    first = load_npz(save_npz(tmp_path, **arrays)).split("default")
    again = load_npz(save_npz(tmp_path, **arrays)).split("default")
    assert first.test.tolist() == again.test.tolist()
    assert np.bincount(arrays["y"][first.test]).tolist() == [2, 2, 2, 2]
    assert len(first.train) == 32


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"x": None}, ["missing array 'x'"]),
        ({"x": np.zeros((10, 6, 4))}, ["array 'x'", "(10, 6, 4)"]),
        ({"x": np.zeros((10, 6, 4, 3), dtype=bool)}, ["array 'x'", "bool"]),
        ({"y": np.zeros(10)}, ["array 'y'", "float64"]),
        ({"y": np.zeros(9, dtype=int)}, ["array 'y'", "(9,)"]),
        ({"edges": np.array([[0, 1], [1, 4]])}, ["array 'edges'", "row 1 = (1, 4)", "[0, 4)"]),
        ({"edges": np.array([[0, 1], [2, 2]])}, ["array 'edges'", "row 1 joins joint 2 to itself"]),
        ({"edges": np.array([0, 1])}, ["array 'edges'", "(E, 2)"]),
        ({"lengths": np.full(10, 2.0)}, ["array 'lengths'"]),
        ({"persons": np.array(3)}, ["array 'persons'", "divide the 4 joints"]),
        ({"class_names": np.array(["a", "a"])}, ["array 'class_names'", "distinct"]),
        ({"split": np.array([0, 2] * 5)}, ["array 'split'", "fold id(s) [1] have no samples"]),
        ({"split": np.zeros((10, 2))}, ["array 'split'"]),
        ({"extra": np.zeros(3)}, ["unexpected array(s) ['extra']"]),
        (
            {"class_names": np.array([object()] * 2, dtype=object)},
            ["'class_names'", "Python objects"],
        ),
    ],
)
def test_npz_malformed_arrays(tmp_path: Path, change: dict, fragments: list[str]) -> None:
    arrays = {**npz_arrays(), **change}
    path = save_npz(tmp_path, **{k: v for k, v in arrays.items() if v is not None})
    with raises_data_error(path, None, *fragments):
        load_npz(path, skip_bad=True)  # structural errors raise even with skip_bad


BAD_SAMPLES = [
    ("lengths", 2, 0, "array 'lengths': sample 2 has length 0, expected 1..6"),
    ("y", 4, -1, "array 'y': sample 4 has label -1, expected >= 0"),
    ("split", 5, "val", "array 'split': sample 5 is 'val', expected 'train' or 'test'"),
    (
        "x",
        (7, 2, 3, 1),
        np.inf,
        "array 'x': sample 7: value inf at frame 2, joint 3, coordinate 1 is not finite or beyond ±1e+09",
    ),
    ("lengths", 9, 7, "array 'lengths': sample 9 has length 7, expected 1..6"),
]


def optional_arrays() -> dict[str, np.ndarray]:
    return {**npz_arrays(), "lengths": np.full(10, 6), "split": np.array(["train", "test"] * 5)}


@pytest.mark.parametrize(("name", "index", "value", "message"), BAD_SAMPLES)
def test_npz_bad_sample(tmp_path: Path, name: str, index: object, value: object, message: str) -> None:
    arrays = optional_arrays()
    arrays[name][index] = value
    path = save_npz(tmp_path, **arrays)
    with raises_data_error(path, None, message):
        load_npz(path)


def test_npz_huge_coordinate_and_label(tmp_path: Path) -> None:
    arrays = optional_arrays()
    arrays["x"][3, 0, 1, 2] = 1e30  # finite, but its square overflows float32: the dataset scale was inf
    path = save_npz(tmp_path, **arrays)
    with raises_data_error(path, None, "array 'x': sample 3: value 1e+30 at frame 0, joint 1, coordinate 2 is not"):
        load_npz(path)
    arrays = optional_arrays()
    arrays["y"][0] = 10**9  # without class_names: 10⁹ class names were built
    with raises_data_error(save_npz(tmp_path, **arrays), None, "label 1000000000: expected a class index in 0..9999"):
        load_npz(tmp_path / "data.npz")


def test_npz_label_beyond_class_names(tmp_path: Path) -> None:
    path = save_npz(tmp_path, **npz_arrays(classes=3), class_names=np.array(["a", "b"]))
    with raises_data_error(path, None, "array 'y': sample 2 has label 2, expected 0..1"):
        load_npz(path)


def test_npz_skip_bad(tmp_path: Path) -> None:
    arrays = optional_arrays()
    for name, index, value, _ in BAD_SAMPLES:
        arrays[name][index] = value
    path = save_npz(tmp_path, **arrays)
    ds = load_npz(path, skip_bad=True)
    assert ds.ids == ["0", "1", "3", "6", "8"]
    assert list(ds.skipped) == [f"{path}: {message}" for *_, message in BAD_SAMPLES]
    assert ds.split("default").train.tolist() == [0, 3, 4]
    assert ds.split("default").test.tolist() == [1, 2]


def test_npz_unreadable(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip archive at all")
    with raises_data_error(garbage, None, "not a readable .npz"):
        load_npz(garbage)
    with raises_data_error(tmp_path / "absent.npz", None, "file not found"):
        load_npz(tmp_path / "absent.npz")


# --------------------------------------------------------------------------- registry


def test_load_dataset_registry(tmp_path: Path, sbu_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(DATASETS) == {"sbu", "fpha", "npz", "synthetic"}
    with pytest.raises(ConfigError, match="choose one of sbu, fpha, npz, synthetic"):
        load_dataset("ntu")
    monkeypatch.delenv("MRMP_DATA", raising=False)
    with pytest.raises(ConfigError, match=r"pass --data .* or set MRMP_DATA"):
        load_dataset("fpha")
    with pytest.raises(ConfigError, match="--data"):
        load_dataset("npz")
    monkeypatch.setenv("MRMP_DATA", str(sbu_root.parent))
    assert len(load_dataset("sbu").sequences) == 22
    assert len(load_dataset("sbu", str(sbu_root)).sequences) == 22
    path = save_npz(tmp_path, **npz_arrays())
    assert load_dataset("npz", path).name == "npz"
    assert load_dataset("synthetic", seed=3).name == "synthetic"
    with pytest.raises(ConfigError, match="'synthetic' is built in and reads no files; drop --data elsewhere"):
        load_dataset("synthetic", "elsewhere")


# --------------------------------------------------------------------------- synthetic


def probe_accuracy(features: np.ndarray, ds: SkeletonSet, ridge: float = 10.0) -> float:
    """Test accuracy of ridge regression on one-hot targets over standardised features."""
    split = ds.split("default")
    mean, std = features[split.train].mean(0), features[split.train].std(0) + 1e-6
    z = np.hstack([(features - mean) / std, np.ones((len(features), 1))])
    targets = np.eye(ds.num_classes)[ds.labels]
    a = z[split.train]
    w = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ targets[split.train])
    return float(((z[split.test] @ w).argmax(1) == ds.labels[split.test]).mean())


def time_means(ds: SkeletonSet) -> np.ndarray:
    return np.stack([s.mean(0).ravel() for s in ds.sequences])


def chunk_means(ds: SkeletonSet, chunks: int = 4) -> np.ndarray:
    return np.stack([np.concatenate([c.mean(0).ravel() for c in np.array_split(s, chunks)]) for s in ds.sequences])


def test_synthetic_shape_and_split() -> None:
    ds = make_synthetic()
    assert ds.name == "synthetic" and ds.num_classes == 6 and len(ds.sequences) == 240
    assert ds.num_joints == 15 and ds.num_coords == 3 and ds.persons == 1
    assert len(ds.edges) == 14 and len(set(ds.class_names)) == 6
    assert {j for edge in ds.edges for j in edge} == set(range(15))  # a tree over all joints
    assert all(24 <= len(s) <= 48 and s.dtype == np.float32 for s in ds.sequences)
    check_split(ds, "default")
    split = ds.split("default")
    assert np.bincount(ds.labels[split.test]).tolist() == [20] * 6
    assert len(split.train) == 120


def test_synthetic_is_deterministic() -> None:
    a, b, c = make_synthetic(seed=1), make_synthetic(seed=1), make_synthetic(seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a.sequences, b.sequences, strict=True))
    assert a.split("default").test.tolist() == b.split("default").test.tolist()
    assert not np.array_equal(a.sequences[0][:24], c.sequences[0][:24])


@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_needs_temporal_structure(seed: int) -> None:
    ds = make_synthetic(seed=seed)
    static = probe_accuracy(time_means(ds), ds)
    temporal = probe_accuracy(chunk_means(ds), ds)
    assert static < 0.7, static
    assert temporal > 0.8 and temporal > static + 0.25, (static, temporal)


@pytest.mark.parametrize(
    "kwargs", [{"joints": 6}, {"joints": 25}, {"num_classes": 14, "per_class": 4, "frames": (4, 6)}]
)
def test_synthetic_options(kwargs: dict) -> None:
    ds = make_synthetic(**kwargs)
    assert ds.num_joints == kwargs.get("joints", 15) and len(ds.edges) == ds.num_joints - 1
    assert len(set(ds.class_names)) == ds.num_classes == kwargs.get("num_classes", 6)
    assert all(np.isfinite(s).all() for s in ds.sequences)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"joints": 5},
        {"num_classes": 1},
        {"num_classes": 73},
        {"per_class": 1},
        {"frames": (10, 5)},
        {"frames": (2, 5)},
    ],
)
def test_synthetic_bad_options(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="synthetic"):
        make_synthetic(**kwargs)
