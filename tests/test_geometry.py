"""Body geometry and input descriptors on tiny hand-made skeletons."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mrmp.config import FeatureConfig
from mrmp.data import geometry, load_npz
from mrmp.data.augment import random_rotations
from mrmp.data.base import Body
from mrmp.data.features import InputPipeline, Skeleton
from mrmp.errors import ConfigError

# A 5-joint "body": 0 root, 1 neck above it, 2/3 shoulders left/right of the neck, 4 a hand.
EDGES = ((0, 1), (1, 2), (1, 3), (3, 4))
BODY = Body(root=0, primary=(2, 3), secondary=(0, 1))


def sequences(n: int = 3, t: int = 6, persons: int = 1, seed: int = 0) -> list[np.ndarray]:
    """Random-walk skeletons (T_i, 5·persons, 3) of different lengths."""
    g = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [0, 1, 0], [-0.5, 1, 0], [0.5, 1, 0], [1, 0.5, 0.2]], dtype=np.float32)
    out = []
    for i in range(n):
        frames = t - i % (t - 1)
        body = np.concatenate([base + 3 * p for p in range(persons)])  # persons side by side
        walk = np.cumsum(g.normal(0, 0.1, (frames, len(body), 3)), 0).astype(np.float32)
        out.append(body[None] + walk)
    return out


def padded(seqs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    from mrmp.data.features import pad_sequences

    return pad_sequences(seqs)


@pytest.mark.parametrize("mode", ["frame", "sequence"])
def test_centring_puts_the_root_at_the_origin(mode: str) -> None:
    x, lengths = padded(sequences())
    out = geometry.centre(x, lengths, roots=[0], mode=mode)
    for i, n in enumerate(lengths.tolist()):
        root = out[i, :n, 0]
        target = root if mode == "frame" else root.mean(0, keepdim=True)
        assert torch.allclose(target, torch.zeros_like(target), atol=1e-6)
        assert out[i, n:].abs().sum() == 0  # padding stays zero
    # Unequal: the root moves within the sequence, so sequence centring keeps that motion.
    assert mode == "frame" or out[0, :, 0].abs().max() > 1e-3


def test_two_persons_are_centred_on_the_midpoint_of_their_roots() -> None:
    x, lengths = padded(sequences(persons=2))
    out = geometry.centre(x, lengths, roots=[0, 5], mode="frame")
    mid = (out[0, :, 0] + out[0, :, 5]) / 2
    assert torch.allclose(mid[: lengths[0]], torch.zeros(3), atol=1e-6)


def test_size_normalisation_makes_the_mean_bone_length_one() -> None:
    x, lengths = padded(sequences())
    scaled = x / geometry.mean_bone_length(x, lengths, EDGES)[:, None, None, None]
    after = geometry.mean_bone_length(scaled, lengths, EDGES)
    assert torch.allclose(after, torch.ones(3), atol=1e-5)
    one = torch.tensor([[[[0.0, 0, 0], [0, 2, 0], [0, 2, 3], [0, 2, 3], [0, 2, 3]]]])
    # bones 2, 3, 3, 0 -> mean 2 on the one frame
    assert geometry.mean_bone_length(one, torch.tensor([1]), EDGES).item() == pytest.approx(2.0)


def test_bones_are_child_minus_parent() -> None:
    x, _lengths = padded(sequences())
    parents = geometry.parents_from_edges(EDGES, 5, roots=[0])
    assert parents == [0, 0, 1, 1, 3]
    b = geometry.bones(x, parents)
    assert torch.equal(b[:, :, 4], x[:, :, 4] - x[:, :, 3])
    assert torch.equal(b[:, :, 0], torch.zeros_like(b[:, :, 0]))


def test_alignment_maps_the_axes_onto_the_canonical_ones() -> None:
    x, lengths = padded(sequences())
    x = geometry.centre(x, lengths, [0], "sequence")
    primary, secondary = x[:, :, 3] - x[:, :, 2], x[:, :, 1] - x[:, :, 0]
    out = geometry.align(x, lengths, primary, secondary)
    for i, n in enumerate(lengths.tolist()):
        p = (out[i, :n, 3] - out[i, :n, 2]).mean(0)
        s = (out[i, :n, 1] - out[i, :n, 0]).mean(0)
        assert p[1].abs() < 1e-5 and p[2].abs() < 1e-5 and p[0] > 0  # on +x
        assert s[2].abs() < 1e-5 and s[1] > 0  # in the x-y plane, towards +y
        # a rotation: distances to the origin kept
        assert torch.allclose(out[i, :n].norm(dim=-1), x[i, :n].norm(dim=-1), atol=1e-5)


def test_canonical_frame_falls_back_to_identity_on_degenerate_axes() -> None:
    rot = geometry.canonical_frame(torch.tensor([[0.0, 0, 0], [1.0, 0, 0]]), torch.tensor([[0.0, 1, 0], [2.0, 0, 0]]))
    assert torch.equal(rot, torch.eye(3).expand(2, 3, 3))


def test_the_most_active_person_comes_first() -> None:
    quiet = np.zeros((4, 5, 3), dtype=np.float32)
    busy = np.cumsum(np.ones((4, 5, 3), dtype=np.float32), 0)
    x, lengths = padded([np.concatenate([quiet, busy], 1), np.concatenate([busy, quiet], 1)])
    out = geometry.order_persons(x, lengths, persons=2)
    assert torch.equal(out[0, :, :5], x[0, :, 5:]) and torch.equal(out[0, :, 5:], x[0, :, :5])
    assert torch.equal(out[1], x[1])


ALIGNED = FeatureConfig(centre="sequence", align="on", size="bones", streams=("joint", "bone"))


@pytest.mark.parametrize("kind", ["chunks", "frames"])
def test_descriptors_are_invariant_to_a_global_similarity_when_aligned(kind: str) -> None:
    seqs = sequences(n=4, t=9)
    rot = random_rotations(1, 180.0, torch.Generator().manual_seed(3))[0].numpy()
    moved = [(2.5 * s @ rot.T + np.array([4.0, -1.0, 7.0], dtype=np.float32)).astype(np.float32) for s in seqs]
    skeleton = Skeleton(1, EDGES, BODY)
    a = InputPipeline(seqs, ALIGNED, kind, skeleton, scale=1.0)
    b = InputPipeline(moved, ALIGNED, kind, skeleton, scale=1.0)
    idx = torch.arange(4)
    assert torch.allclose(a.inputs(idx), b.inputs(idx), atol=1e-4)
    assert a.num_features == (2 * 4 * 6 if kind == "chunks" else 6)
    # without alignment a rotation changes the inputs
    plain = FeatureConfig(centre="sequence", size="bones", align="off")
    c = InputPipeline(seqs, plain, kind, skeleton, scale=1.0)
    d = InputPipeline(moved, plain, kind, skeleton, scale=1.0)
    assert not torch.allclose(c.inputs(idx), d.inputs(idx), atol=1e-2)


def test_two_person_alignment_puts_the_second_person_on_plus_x() -> None:
    seqs = sequences(persons=2)
    skeleton = Skeleton(2, tuple(EDGES) + tuple((i + 5, j + 5) for i, j in EDGES), BODY)
    pipe = InputPipeline(seqs, FeatureConfig(centre="sequence", align="on"), "chunks", skeleton, scale=1.0)
    axis = (pipe.x[:, :, 5] - pipe.x[:, :, 0]).sum(1)
    assert (axis[:, 0] > 0).all() and torch.allclose(axis[:, 1:], torch.zeros(3, 2), atol=1e-4)


def test_augmentation_is_explicit_and_seeded() -> None:
    pipe = InputPipeline(sequences(), FeatureConfig(), "chunks", Skeleton(1, EDGES, BODY))
    idx = torch.arange(3)
    assert torch.equal(pipe(idx), pipe.inputs(idx))
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    assert torch.equal(pipe.augmented(idx, g()), pipe(idx, g()))
    assert not torch.allclose(pipe.augmented(idx, g()), pipe.inputs(idx))


def test_align_without_axes_is_a_clear_error_or_skipped_on_auto() -> None:
    with pytest.raises(ConfigError, match="primary_axis"):
        InputPipeline(sequences(), FeatureConfig(align="on"), "chunks", Skeleton(1, EDGES, Body()))
    auto = InputPipeline(
        sequences(), FeatureConfig(align="auto"), "chunks", Skeleton(1, EDGES, Body(root=0)), scale=1.0
    )
    off = InputPipeline(sequences(), FeatureConfig(align="off"), "chunks", Skeleton(1, EDGES, BODY), scale=1.0)
    assert torch.equal(auto.x, off.x)  # auto without axes: no rotation


def test_synthetic_body_aligns_hips_on_x_and_spine_up() -> None:
    from mrmp.data import make_synthetic

    ds = make_synthetic(seed=0)
    pipe = InputPipeline(ds.sequences[:8], FeatureConfig(), "chunks", Skeleton(1, ds.edges, ds.body), scale=1.0)
    right, left = ds.body.primary
    hips = (pipe.x[:, :, left] - pipe.x[:, :, right]).sum(1)
    spine = (pipe.x[:, :, ds.body.secondary[1]] - pipe.x[:, :, 0]).sum(1)
    assert (hips[:, 0] > 0).all() and torch.allclose(hips[:, 1:], torch.zeros(8, 2), atol=1e-4)
    assert (spine[:, 1] > 0).all() and torch.allclose(spine[:, 2], torch.zeros(8), atol=1e-4)


def npz(tmp_path: Path, **extra: np.ndarray) -> Path:
    seqs = sequences(n=10, t=6)
    x = np.stack([np.pad(s, ((0, 6 - len(s)), (0, 0), (0, 0))) for s in seqs])
    path = tmp_path / "set.npz"
    np.savez(path, x=x, y=np.arange(10) % 2, edges=np.array(EDGES), lengths=np.array([len(s) for s in seqs]), **extra)
    return path


def test_npz_without_body_keys_centres_on_the_most_connected_joint(tmp_path: Path) -> None:
    ds = load_npz(npz(tmp_path))
    assert ds.body == Body()
    skeleton = Skeleton(ds.persons, ds.edges, ds.body)
    assert skeleton.roots(5) == [1]  # the neck has three bones
    pipe = InputPipeline(
        ds.sequences, FeatureConfig(centre="frame", size="bones", streams=("joint", "bone")), "chunks", skeleton
    )
    assert torch.allclose(pipe.x[:, :, 1], torch.zeros_like(pipe.x[:, :, 1]), atol=1e-6)
    assert pipe.inputs(torch.arange(10)).shape == (10, 5, 2 * 4 * 6)


def test_npz_body_keys(tmp_path: Path) -> None:
    ds = load_npz(npz(tmp_path, root=np.array(0), primary_axis=np.array([2, 3]), secondary_axis=np.array([0, 1])))
    assert ds.body == BODY
    pipe = InputPipeline(ds.sequences, ALIGNED, "chunks", Skeleton(1, ds.edges, ds.body))
    assert math.isfinite(pipe.scale) and pipe.inputs(torch.arange(10)).isfinite().all()


@pytest.mark.parametrize(
    ("key", "value"),
    [("root", np.array(7)), ("primary_axis", np.array([0, 1, 2])), ("secondary_axis", np.array([0.5, 1.0]))],
)
def test_npz_bad_body_keys(tmp_path: Path, key: str, value: np.ndarray) -> None:
    from mrmp.errors import DataError

    with pytest.raises(DataError, match=key):
        load_npz(npz(tmp_path, **{key: value}))


def test_swapping_persons_equals_normalising_them_stored_the_other_way_round() -> None:
    from mrmp.data.augment import swap_persons

    seqs = sequences(persons=2)
    reversed_seqs = [np.concatenate([s[:, 5:], s[:, :5]], 1) for s in seqs]
    skeleton = Skeleton(2, tuple(EDGES) + tuple((i + 5, j + 5) for i, j in EDGES), BODY)
    cfg = FeatureConfig(centre="sequence", align="on", size="bones")
    pipe = InputPipeline(seqs, cfg, "chunks", skeleton, scale=1.0)
    other = InputPipeline(reversed_seqs, cfg, "chunks", skeleton, scale=1.0)
    assert torch.allclose(swap_persons(pipe.x, 2), other.x, atol=1e-5)
    assert not torch.allclose(pipe.x, other.x, atol=1e-2)
    assert torch.equal(swap_persons(swap_persons(pipe.x, 2), 2), pipe.x)  # an involution for two persons


def test_test_swap_adds_the_other_order_to_every_view() -> None:
    from mrmp.data.augment import even_windows, swap_persons

    seqs = sequences(persons=2)
    skeleton = Skeleton(2, tuple(EDGES) + tuple((i + 5, j + 5) for i, j in EDGES), BODY)
    idx = torch.arange(3)
    for clips in (1, 3):
        pipe = InputPipeline(seqs, FeatureConfig(clips=clips, test_swap=True), "chunks", skeleton, scale=1.0)
        views = pipe.views(idx)
        windows = [None] if clips == 1 else list(even_windows(3, clips, 1 - pipe.cfg.crop / 2))
        assert len(views) == 2 * clips
        for i, w in enumerate(windows):  # the stored order first, then the same windows swapped
            frames = pipe._frames(idx, w)
            assert torch.equal(views[i], pipe._encoder.encode(frames, pipe.cfg, pipe.parents, 2))
            swapped = pipe._encoder.encode(swap_persons(frames, 2), pipe.cfg, pipe.parents, 2)
            assert torch.equal(views[clips + i], swapped) and not torch.equal(views[clips + i], views[i])
    single = InputPipeline(sequences(), FeatureConfig(test_swap=True), "chunks", Skeleton(1, EDGES, BODY))
    assert len(single.views(idx)) == 1  # one person: nothing to swap


def test_a_share_of_a_batch_is_augmented_as_in_the_whole_batch() -> None:
    seqs = sequences(n=6, persons=2)
    skeleton = Skeleton(2, tuple(EDGES) + tuple((i + 5, j + 5) for i, j in EDGES), BODY)
    pipe = InputPipeline(seqs, FeatureConfig(swap_persons=0.5), "chunks", skeleton)
    idx, keep = torch.arange(6), torch.tensor([1, 3, 5])
    whole = pipe.augmented(idx, torch.Generator().manual_seed(3))
    share = pipe.augmented(idx, torch.Generator().manual_seed(3), keep=keep)
    assert torch.allclose(share, whole[keep], atol=1e-6)
    assert not torch.allclose(share, whole[:3], atol=1e-3)


def test_pyramid_adds_the_coarser_levels_of_chunks() -> None:
    from mrmp.data.features import chunk_descriptors

    seqs = sequences()
    skeleton = Skeleton(1, EDGES, BODY)
    plain = InputPipeline(seqs, FeatureConfig(chunks=4), "chunks", skeleton)
    pyramid = InputPipeline(seqs, FeatureConfig(chunks=4, pyramid=True), "chunks", skeleton)
    idx = torch.arange(3)
    x, p = plain.inputs(idx), pyramid.inputs(idx)
    assert p.shape[-1] == pyramid.num_features == x.shape[-1] * 7 // 4
    assert torch.equal(p[..., : x.shape[-1]], x)  # the finest level first, unchanged
    frames = pyramid._frames(idx, None)
    from mrmp.data.features import streams

    whole = chunk_descriptors(streams(frames, pyramid.cfg.streams, pyramid.parents), 1, pyramid.cfg.stats)
    assert torch.allclose(p[..., -whole.shape[-1] :], whole)  # the coarsest: the whole window


def test_partner_stream_is_a_joint_minus_the_same_joint_of_the_other_person() -> None:
    from mrmp.data.features import streams

    x, _ = padded(sequences(persons=2))
    out = streams(x, ("joint", "partner"), list(range(10)), persons=2)
    assert torch.equal(out[..., :3], x)
    assert torch.allclose(out[..., 0, 3:], x[..., 0, :] - x[..., 5, :])
    assert torch.allclose(out[..., 5, 3:], x[..., 5, :] - x[..., 0, :])
    with pytest.raises(ConfigError, match="partner"):
        InputPipeline(sequences(), FeatureConfig(streams=("joint", "partner")), "chunks", Skeleton(1, EDGES, BODY))


@pytest.mark.parametrize("kind", ["chunks", "frames"])
def test_distance_stream_is_every_joints_distance_to_every_joint(kind: str) -> None:
    from mrmp.config import ModelConfig
    from mrmp.data.features import streams
    from mrmp.models import build_model

    x, _ = padded(sequences(persons=2))  # (N, T, 10, 3)
    out = streams(x, ("joint", "distance"), list(range(10)), persons=2)
    assert out.shape == (*x.shape[:3], 3 + 10) and torch.equal(out[..., :3], x)
    d = out[..., 3:]
    assert torch.allclose(d[..., 1, 7], (x[..., 1, :] - x[..., 7, :]).norm(dim=-1))  # across persons too
    assert torch.equal(d, d.transpose(-1, -2)) and not d.diagonal(dim1=-2, dim2=-1).any()
    # unchanged by a rotation, even without alignment; the joint stream moves
    rot = random_rotations(1, 180.0, torch.Generator().manual_seed(3))[0]
    plain = FeatureConfig(centre="sequence", size="bones", align="off", streams=("joint", "distance"))
    skeleton = Skeleton(2, EDGES, BODY)
    a = InputPipeline(sequences(persons=2), plain, kind, skeleton, scale=1.0)
    b = InputPipeline([s @ rot.numpy().T for s in sequences(persons=2)], plain, kind, skeleton, scale=1.0)
    ia, ib = a.inputs(torch.arange(3)), b.inputs(torch.arange(3))
    channels = -1 if kind == "chunks" else 1
    assert ia.shape[channels] == a.num_features == (2 * 4 * 13 if kind == "chunks" else 13)
    if kind == "frames":  # (N, C, T, V/M, M): the distances are channels 3 onwards
        assert torch.allclose(ia[:, 3:], ib[:, 3:], atol=1e-4) and not torch.allclose(ia[:, :3], ib[:, :3], atol=1e-2)
    else:  # (N, V, stat · chunk · 13): each block's last 10 are distances
        blocks = ia.view(3, 10, -1, 13), ib.view(3, 10, -1, 13)
        assert torch.allclose(blocks[0][..., 3:], blocks[1][..., 3:], atol=1e-4)
    # and a backbone takes them as they come
    both = [*EDGES, *((i + 5, j + 5) for i, j in EDGES)]
    cfg = ModelConfig(name="gcn" if kind == "chunks" else "stgcn")
    model = build_model(cfg, in_features=a.num_features, num_joints=10, num_classes=4, edges=both, persons=2)
    assert model(ia).shape == (3, 4)


# A symmetric 6-joint body for mirroring: 0 root, 1 neck, 2/3 left/right shoulders, 4/5 left/right hands.
SYM_EDGES = ((0, 1), (1, 2), (1, 3), (2, 4), (3, 5))
SYM_MIRROR = (0, 1, 3, 2, 5, 4)


def sym_sequences(persons: int, n: int = 3, t: int = 7, seed: int = 1) -> list[np.ndarray]:
    g = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [0, 1, 0], [-0.5, 1, 0], [0.5, 1, 0], [-0.9, 0.6, 0.3], [0.8, 1.4, -0.2]])
    out = []
    for i in range(n):
        body = np.concatenate([base + np.array([2.0, 0.1, 0.3]) * p for p in range(persons)])
        walk = np.cumsum(g.normal(0, 0.1, (t - i, len(body), 3)), 0)
        out.append((body[None] + walk).astype(np.float32))
    return out


def sym_skeleton(persons: int, primary: tuple[int, int] | None = (2, 3)) -> Skeleton:
    edges = tuple((i + 6 * p, j + 6 * p) for p in range(persons) for i, j in SYM_EDGES)
    return Skeleton(persons, edges, Body(root=0, primary=primary, secondary=(0, 1), mirror=SYM_MIRROR))


def reflected(seqs: list[np.ndarray], persons: int, reflection: np.ndarray) -> list[np.ndarray]:
    """The mirror image of raw sequences: every point reflected, each person's joints relabelled."""
    index = [6 * p + j for p in range(persons) for j in SYM_MIRROR]
    return [(s @ reflection.T)[:, index].astype(np.float32) for s in seqs]


@pytest.mark.parametrize(
    ("persons", "align"),
    [(1, "on"), (2, "on"), (1, "off"), (2, "off")],  # aligned: a left→right primary axis (1), the pair axis (2)
)
def test_mirroring_equals_normalising_the_mirror_image_of_the_recording(persons: int, align: str) -> None:
    seqs, skeleton = sym_sequences(persons), sym_skeleton(persons)
    cfg = FeatureConfig(centre="sequence", align=align, size="bones")
    # unaligned data are flipped horizontally (x); aligned data may be reflected in any plane
    q = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0] if align == "on" else np.eye(3)
    reflection = q @ np.diag([-1.0, 1.0, 1.0]) @ q.T
    pipe = InputPipeline(seqs, cfg, "chunks", skeleton, scale=1.0)
    other = InputPipeline(reflected(seqs, persons, reflection), cfg, "chunks", skeleton, scale=1.0)
    mirror = skeleton.mirror_image(3, align == "on")
    mirrored = mirror(pipe.x)
    assert torch.allclose(mirrored, other.x, atol=1e-5)
    assert not torch.allclose(pipe.x, other.x, atol=1e-2)
    assert torch.equal(mirror(mirrored), pipe.x)  # an involution


def test_mirror_augmentation_and_test_views() -> None:
    seqs, skeleton, idx = sym_sequences(2), sym_skeleton(2), torch.arange(3)
    still = {"rotate_deg": 0.0, "scale": 0.0, "noise": 0.0, "crop": 0.0}
    pipe = InputPipeline(seqs, FeatureConfig(mirror=1.0, **still), "chunks", skeleton, scale=1.0)
    frames = pipe._frames(idx, None)
    expected = pipe._encoder.encode(pipe.mirror(frames), pipe.cfg, pipe.parents, 2)
    assert torch.allclose(pipe.augmented(idx, torch.Generator().manual_seed(0)), expected, atol=1e-6)
    half = InputPipeline(seqs, FeatureConfig(mirror=0.5, swap_persons=0.5), "chunks", skeleton)
    whole = half.augmented(idx, torch.Generator().manual_seed(3))  # a rank's share draws as the batch does
    assert torch.allclose(half.augmented(idx, torch.Generator().manual_seed(3), keep=idx[1:]), whole[1:], atol=1e-6)
    both = InputPipeline(seqs, FeatureConfig(test_swap=True, test_mirror=True), "chunks", skeleton)
    views = both.views(idx)
    assert len(views) == 4  # stored, swapped, then both mirrored
    plain = InputPipeline(seqs, FeatureConfig(test_swap=True), "chunks", skeleton).views(idx)
    assert all(torch.equal(a, b) for a, b in zip(views[:2], plain, strict=True))
    stored = both._frames(idx, None)
    assert torch.equal(views[2], both._encoder.encode(both.mirror(stored), both.cfg, both.parents, 2))
    assert not torch.allclose(views[2], views[0], atol=1e-3)


def test_mirroring_a_dataset_without_left_and_right_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="left/right"):
        InputPipeline(sequences(), FeatureConfig(mirror=0.5), "chunks", Skeleton(1, EDGES, BODY))
    with pytest.raises(ConfigError, match="left/right"):
        InputPipeline(sequences(), FeatureConfig(test_mirror=True), "chunks", Skeleton(1, EDGES, BODY))


def test_built_in_mirrors_exchange_left_and_right_and_are_involutions() -> None:
    from mrmp.data.ntu import NTU_BODY
    from mrmp.data.pyskl import LAYOUTS
    from mrmp.data.sbu import SBU_BODY

    for body, fixed in ((SBU_BODY, {0, 1, 2}), (NTU_BODY, {0, 1, 2, 3, 20}), (LAYOUTS[17][1], {0})):
        m = body.mirror
        assert m is not None and all(m[m[j]] == j for j in range(len(m)))
        assert {j for j in range(len(m)) if m[j] == j} == fixed
    assert SBU_BODY.mirror[3:9] == (6, 7, 8, 3, 4, 5)  # left arm (3–5) ↔ right arm (6–8)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.array([0, 1, 3, 2]), "expected int \\(5,\\)"),
        (np.array([0, 1, 3, 3, 4]), "permutation"),
        (np.array([1, 2, 0, 3, 4]), "joint 0 -> 1 but 1 -> 2"),
        (np.array([0.0, 1, 3, 2, 4]), "found float64"),
    ],
)
def test_npz_bad_mirror(tmp_path: Path, value: np.ndarray, match: str) -> None:
    from mrmp.errors import DataError

    with pytest.raises(DataError, match=match):
        load_npz(npz(tmp_path, mirror=value))


def test_npz_mirror_key(tmp_path: Path) -> None:
    ds = load_npz(npz(tmp_path, mirror=np.array([0, 1, 3, 2, 4])))
    assert ds.body.mirror == (0, 1, 3, 2, 4)
    pipe = InputPipeline(ds.sequences, FeatureConfig(test_mirror=True), "chunks", Skeleton(1, ds.edges, ds.body))
    assert len(pipe.views(torch.arange(4))) == 2


def test_speed_keeps_the_back_and_forth_that_velocity_cancels() -> None:
    from mrmp.data.features import chunk_descriptors

    # one joint going out and back within a chunk of 4 frames, then resting: x = 0, 1, 0, 0 | 0, 0, 0, 0
    x = torch.zeros(1, 8, 1, 3)
    x[0, 1, 0, 0] = 1.0
    d = chunk_descriptors(x, 2, ("velocity", "speed")).view(2, 2, 3)  # (stat, chunk, C)
    assert torch.allclose(d[0, 0], torch.zeros(3))  # the displacement over the chunk cancels (−1 + 1)
    assert torch.allclose(d[1, 0], torch.tensor([2 * 8 / 4, 0, 0]))  # two unit steps over 4 frames, × T
    assert torch.equal(d[:, 1], torch.zeros(2, 3))  # the resting chunk: no motion either way


def test_motion_stream_is_the_frame_difference_scaled_by_the_frame_count() -> None:
    from mrmp.data.features import chunk_descriptors, streams

    x = torch.zeros(1, 4, 2, 3)
    x[0, :, 1, 0] = torch.tensor([0.0, 1.0, 3.0, 6.0])  # joint 1 moves along x
    out = streams(x, ("joint", "motion"), [-1, 0])
    assert torch.equal(out[..., :3], x)
    assert out[0, :, 1, 3].tolist() == [0.0, 4.0, 8.0, 12.0]  # displacements 0, 1, 2, 3 times T = 4
    assert not out[0, :, 0, 3:].any() and not out[0, :, 1, 4:].any()  # still joints and axes: 0
    # the motion stream's chunk means are the velocity statistic of the joints
    assert torch.allclose(chunk_descriptors(out[..., 3:], 2, ("mean",)), chunk_descriptors(x, 2, ("velocity",)))


def test_shear_is_a_per_sequence_linear_map_with_unit_diagonal() -> None:
    from mrmp.data.augment import augment

    frames = torch.randn(4, 8, 5, 3)
    only_shear = FeatureConfig(rotate_deg=0, scale=0, noise=0, shear=0.3)
    out = augment(frames, only_shear, 1, torch.Generator().manual_seed(0))
    for x, y in zip(frames, out, strict=True):
        m = torch.linalg.lstsq(x.reshape(-1, 3), y.reshape(-1, 3)).solution.T  # y = m · x
        assert torch.allclose(x.reshape(-1, 3) @ m.T, y.reshape(-1, 3), atol=1e-5)
        off = m - torch.eye(3)
        assert torch.allclose(off.diagonal(), torch.zeros(3), atol=1e-5) and off.abs().max() <= 0.3 + 1e-5
        assert off.abs().max() > 0.01
    off = FeatureConfig(rotate_deg=0, scale=0, noise=0)  # shear 0, the default: no change
    assert torch.equal(augment(frames, off, 1, torch.Generator().manual_seed(0)), frames)


def test_noise_per_sequence_shifts_each_joint_by_one_offset() -> None:
    from mrmp.data.augment import augment

    frames = torch.randn(3, 8, 5, 3)
    only_noise: dict[str, Any] = {"rotate_deg": 0, "scale": 0, "noise": 0.1}
    per_frame = augment(frames, FeatureConfig(**only_noise), 1, torch.Generator().manual_seed(0)) - frames
    per_seq = augment(frames, FeatureConfig(**only_noise, noise_per="sequence"), 1, torch.Generator().manual_seed(0))
    shift = per_seq - frames
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-6)  # constant over time
    assert shift.abs().max() > 0.01  # but not zero
    assert torch.allclose(torch.diff(per_seq, dim=1), torch.diff(frames, dim=1), atol=1e-5)
    assert not torch.allclose(per_frame, per_frame[:, :1].expand_as(per_frame), atol=1e-3)
