"""Counts and protocols of the real SBU and FPHA datasets (skipped when they are absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mrmp.data import SkeletonSet, load_dataset, load_fpha, load_sbu

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def sbu(real_data: Path) -> SkeletonSet:
    return load_sbu(real_data / "sbu")


@pytest.fixture(scope="module")
def fpha(real_data: Path) -> SkeletonSet:
    return load_fpha(real_data / "fpha")


def _check_common(ds: SkeletonSet) -> None:
    assert len(ds.sequences) == len(ds.labels) == len(ds.ids)
    assert len(set(ds.ids)) == len(ds.ids)
    for seq in ds.sequences:
        assert seq.dtype == np.float32 and seq.ndim == 3 and seq.shape[2] == 3
        assert np.isfinite(seq).all()
    v = ds.num_joints
    assert all(0 <= i < v and 0 <= j < v and i != j for i, j in ds.edges)
    assert ds.skipped == ()


def test_sbu_counts(sbu: SkeletonSet) -> None:
    _check_common(sbu)
    lengths = [len(s) for s in sbu.sequences]
    assert len(sbu.sequences) == 282
    assert sbu.num_classes == 8 and sbu.num_joints == 30 and sbu.persons == 2
    assert (min(lengths), max(lengths), sum(lengths)) == (10, 46, 6822)
    assert np.bincount(sbu.labels).tolist() == [42, 43, 40, 41, 18, 21, 39, 38]
    assert len(sbu.edges) == 28
    assert sbu.ids == sorted(sbu.ids)


def test_sbu_folds(sbu: SkeletonSet) -> None:
    assert sorted(sbu.splits) == [f"fold{k}" for k in range(5)]
    sizes = [len(sbu.split(f"fold{k}").test) for k in range(5)]
    assert sizes == [55, 52, 56, 54, 65]
    every_test = np.concatenate([sbu.split(f"fold{k}").test for k in range(5)])
    assert sorted(every_test.tolist()) == list(range(282))
    for split in sbu.splits.values():
        assert len(split.train) + len(split.test) == 282
        assert not set(split.train.tolist()) & set(split.test.tolist())


@pytest.mark.slow
def test_fpha_counts(fpha: SkeletonSet) -> None:
    _check_common(fpha)
    assert len(fpha.sequences) == 1175
    assert fpha.num_classes == 45 and fpha.num_joints == 21 and fpha.persons == 1
    assert len(fpha.edges) == 20
    assert fpha.class_names[0] == "open_juice_bottle" and fpha.class_names[44] == "high_five"
    assert set(np.unique(fpha.labels).tolist()) == set(range(45))
    split = fpha.split("default")
    assert (len(split.train), len(split.test)) == (600, 575)
    assert not set(split.train.tolist()) & set(split.test.tolist())


def test_load_dataset_uses_mrmp_data(real_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MRMP_DATA", str(real_data))
    assert len(load_dataset("sbu").sequences) == 282
