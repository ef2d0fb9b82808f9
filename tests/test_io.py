"""The one payload reader of checkpoints and exports (mrmp.io) and the Meta record."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mrmp.engine.checkpoint import load_checkpoint, save_checkpoint
from mrmp.errors import CheckpointError
from mrmp.io import CHECKPOINT, EXPORT, atomic_write_bytes, read_payload
from mrmp.meta import Meta


def test_each_kind_reads_its_own_format_only(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ckpt.pt", {"epoch": 3})
    torch.save({"format": EXPORT.format, "x": torch.ones(2)}, tmp_path / "exp.pt")
    assert load_checkpoint(tmp_path / "ckpt.pt") == {"format": CHECKPOINT.format, "epoch": 3}
    assert torch.equal(read_payload(tmp_path / "exp.pt", EXPORT)["x"], torch.ones(2))
    with pytest.raises(CheckpointError, match=r"ckpt\.pt: a training checkpoint, not an export; run `mrmp export`"):
        read_payload(tmp_path / "ckpt.pt", EXPORT)
    with pytest.raises(CheckpointError, match=r"exp\.pt: not an mrmp checkpoint \(expected format 'mrmp-checkpoint/1"):
        load_checkpoint(tmp_path / "exp.pt")


@pytest.mark.parametrize("kind", [CHECKPOINT, EXPORT], ids=lambda k: k.name)
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path: Path, kind) -> None:
    torch.save([1, 2], tmp_path / "list.pt")
    torch.save({"format": ["not", "a", "string"]}, tmp_path / "odd.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 64)
    torch.save({"format": kind.format, "obj": Meta}, tmp_path / "unsafe.pt")  # a class: refused unpickled
    cases = {
        "missing.pt": f"no such {kind.file}",
        "list.pt": f"not an mrmp {kind.name}",
        "odd.pt": f"not an mrmp {kind.name}",
        "junk.pt": f"not a readable mrmp {kind.name}",
        "unsafe.pt": f"not a readable mrmp {kind.name} (refused by the safe loader: Unsupported global: GLOBAL",
    }
    for name, message in cases.items():
        with pytest.raises(CheckpointError) as info:
            read_payload(tmp_path / name, kind)
        assert str(info.value).startswith(f"{tmp_path / name}: {message}") and "\n" not in str(info.value)
        assert "weights_only" not in str(info.value)  # not torch's advice to load it unsafely


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(path, lambda fh: fh.write(b"old"))

    def broken(fh) -> None:
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write_bytes(path, broken)
    assert path.read_bytes() == b"old" and [p.name for p in path.parent.iterdir()] == ["f.bin"]


def test_meta_round_trips_through_a_weights_only_file(tmp_path: Path) -> None:
    meta = Meta(3, 15, 8, 2, ((0, 1), (1, 2)), 0.25, tuple("abcdefgh"))
    torch.save({"meta": meta.to_dict()}, tmp_path / "m.pt")
    assert Meta.from_dict(torch.load(tmp_path / "m.pt", weights_only=True)["meta"]) == meta
