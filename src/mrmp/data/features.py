"""From raw sequences to network inputs: body normalisation, augmentation, descriptors.

Layouts:
    raw batch       (N, T, V, C)  padded frames, with ``lengths`` (N,)
    streams         (N, T, V, Σ C_s) joint positions, bone vectors, distances, …, concatenated
    chunk inputs    (N, V, F)     F = len(stats) · chunks · Σ C_s, for the attention GCN
    frame inputs    (N, Σ C_s, T, V/M, M) resampled frames split into M persons, for ST-GCN

Sequences are normalised once (:func:`normalise`): persons put in a canonical order, the body
centred on its root, optionally rotated into a canonical view and divided by its mean bone length,
then divided by one dataset scale. Each batch is then (for training) augmented, resampled to a
fixed number of frames by linear interpolation over a (possibly randomly cropped) time window —
which makes the descriptors independent of frame rate and length — and encoded for its backbone.
"""

from __future__ import annotations

import functools
import hashlib
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from mrmp.config import FeatureConfig, StatName, StreamName
from mrmp.data import geometry
from mrmp.data.augment import augment, evaluation_windows, random_windows, swap_persons
from mrmp.data.base import Body
from mrmp.data.cache import derived_store
from mrmp.errors import ConfigError

__all__ = [
    "ENCODERS",
    "Encoder",
    "STATS",
    "STREAMS",
    "Skeleton",
    "InputPipeline",
    "NORMALISATION",
    "chunk_descriptors",
    "input_features",
    "normalise",
    "pad_sequences",
    "resample",
    "motion",
    "streams",
]

STATS: tuple[str, ...] = typing.get_args(StatName)
STREAMS: tuple[str, ...] = typing.get_args(StreamName)
_SAMPLES_PER_CHUNK = 8

#: The feature settings :func:`normalise` depends on (beside the skeleton).
NORMALISATION: tuple[str, ...] = ("person_order", "centre", "align", "size")


@dataclass(frozen=True)
class Skeleton:
    """What normalisation needs to know of a dataset's skeleton.

    Attributes:
        persons: M, bodies per frame (the V joints are M blocks of V/M).
        edges: Bones over all V joints (0-based).
        body: Root joint and alignment axes within one person.
    """

    persons: int = 1
    edges: tuple[tuple[int, int], ...] = ()
    body: Body = field(default_factory=Body)

    def roots(self, joints: int) -> list[int]:
        """The root joint of each person, over all ``joints`` (V)."""
        root = self.body.root
        if root is None:
            per = joints // self.persons
            root = geometry.most_connected_joint([(i, j) for i, j in self.edges if i < per and j < per], per)
        return geometry.person_roots(root, joints, self.persons)

    @property
    def has_axes(self) -> bool:
        """Whether the body names the axes that view alignment needs."""
        pair = self.persons > 1 and self.body.pair_axis
        return self.body.secondary is not None and (pair or self.body.primary is not None)

    def parents(self, joints: int) -> list[int]:
        """Parent of each joint in the bone trees grown from the roots (bones = child − parent)."""
        return geometry.parents_from_edges(self.edges, joints, self.roots(joints))

    def aligned(self, cfg: FeatureConfig) -> bool:
        """Whether :func:`normalise` rotates sequences into the canonical view under ``cfg``."""
        return cfg.align == "on" or (cfg.align == "auto" and self.has_axes)

    def mirror_image(self, coords: int, aligned: bool) -> Callable[[Tensor], Tensor]:
        """The mirror image of normalised (N, T, V, C) sequences (:func:`geometry.mirror`, with the
        signs of :func:`geometry.mirror_signs` for ``aligned`` or unaligned data)."""
        body = self.body
        if body.mirror is None:
            raise ConfigError(
                "features.mirror / features.test_mirror need the dataset's left/right joint pairs "
                "(for npz: the key mirror); this dataset names none"
            )
        primary = None if self.persons > 1 and body.pair_axis else body.primary
        signs = geometry.mirror_signs(body.mirror, coords, (primary, body.secondary) if aligned else None)
        return functools.partial(geometry.mirror, joints=body.mirror, persons=self.persons, signs=signs)


def pad_sequences(sequences: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Stack variable-length (T_i, V, C) arrays into (N, T_max, V, C) zero-padded + lengths (N,)."""
    lengths = torch.tensor([s.shape[0] for s in sequences], dtype=torch.long)
    t_max = int(lengths.max())
    v, c = sequences[0].shape[1:]
    out = np.zeros((len(sequences), t_max, v, c), dtype=np.float32)
    for i, s in enumerate(sequences):  # numpy copies: the arrays may be read-only memory maps
        out[i, : s.shape[0]] = s
    return torch.from_numpy(out), lengths


def _axes(x: Tensor, skeleton: Skeleton) -> tuple[Tensor, Tensor]:
    """Per-frame primary and secondary alignment axes (N, T, 3) of ``x`` (N, T, V, 3)."""
    body, m = skeleton.body, skeleton.persons
    per = x.shape[2] // m
    if not skeleton.has_axes:
        raise ConfigError(
            "features.align = on needs the dataset's alignment axes (for npz: the keys "
            "primary_axis and secondary_axis); set features.align = auto or off"
        )
    blocks = x.reshape(*x.shape[:2], m, per, x.shape[3])
    if m > 1 and body.pair_axis:
        roots = skeleton.roots(x.shape[2])
        primary = x[:, :, roots[1]] - x[:, :, roots[0]]
    else:
        primary = blocks[:, :, 0, body.primary[1]] - blocks[:, :, 0, body.primary[0]]
    secondary = (blocks[:, :, :, body.secondary[1]] - blocks[:, :, :, body.secondary[0]]).mean(2)
    return primary, secondary


def normalise(x: Tensor, lengths: Tensor, cfg: FeatureConfig, skeleton: Skeleton) -> Tensor:
    """Body-normalised padded sequences (N, T, V, C), before the dataset scale.

    Steps, each set in ``cfg``: person order (``person_order``), centring (``centre``), view
    alignment (``align``), size (``size``: ``bones`` divides by each sequence's mean bone length).
    """
    if cfg.person_order == "active":
        x = geometry.order_persons(x, lengths, skeleton.persons)
    x = geometry.centre(x, lengths, skeleton.roots(x.shape[2]), cfg.centre)
    if skeleton.aligned(cfg):
        x = geometry.align(x, lengths, *_axes(x, skeleton))
    if cfg.size == "bones":
        x = x / geometry.mean_bone_length(x, lengths, skeleton.edges, skeleton.persons)[:, None, None, None]
    return x


def resample(x: Tensor, lengths: Tensor, frames: int, window: Tensor | None = None) -> Tensor:
    """Linearly resample each sequence to ``frames`` frames.

    Args:
        x: Padded sequences (N, T, V, C).
        lengths: Valid frames per sequence (N,).
        frames: Output length.
        window: Optional (N, 2) fractions [start, stop) of each sequence to keep (crop).

    Returns:
        (N, frames, V, C).
    """
    n = x.shape[0]
    length = lengths.to(x.dtype)
    if window is None:
        start, stop = torch.zeros(n, dtype=x.dtype), length
    else:
        start, stop = window[:, 0] * length, window[:, 1] * length
    steps = (torch.arange(frames, dtype=x.dtype) + 0.5) / frames
    tau = start[:, None] + steps[None, :] * (stop - start)[:, None] - 0.5  # (N, frames)
    tau = torch.minimum(tau.clamp(min=0.0), (length - 1)[:, None])
    lo = tau.floor().long()
    hi = torch.minimum(lo + 1, (lengths - 1)[:, None])
    frac = (tau - lo.to(x.dtype))[:, :, None, None]
    idx = lambda t: t[:, :, None, None].expand(-1, -1, *x.shape[2:])  # noqa: E731
    return torch.gather(x, 1, idx(lo)) * (1 - frac) + torch.gather(x, 1, idx(hi)) * frac


def _check_streams(names: Sequence[str], persons: int) -> None:
    if "partner" in names and persons < 2:
        raise ConfigError("features.streams: 'partner' needs multi-person data (persons > 1)")


def stream_channels(name: str, coords: int, joints: int) -> int:
    """Channels C_s one stream adds per joint and frame: the V distances of ``distance``, else C."""
    return joints if name == "distance" else coords


def streams(frames: Tensor, names: Sequence[str], parents: Sequence[int], persons: int = 1) -> Tensor:
    """Joint positions, bone vectors (child − parent), joint motion (:func:`motion`), partner
    vectors (a joint minus the same joint of the next person, multi-person data) and/or each
    joint's distances to all V joints, concatenated: (N, T, V, Σ C_s), C_s = C or V (``distance``)."""
    parts = []
    for name in names:
        if name == "joint":
            parts.append(frames)
        elif name == "bone":
            parts.append(geometry.bones(frames, parents))
        elif name == "motion":
            parts.append(motion(frames))
        elif name == "partner":
            _check_streams(names, persons)
            parts.append(frames - geometry.roll_persons(frames, persons, -1))
        elif name == "distance":  # exact differences, not cdist's matrix-product shortcut
            parts.append(torch.cdist(frames, frames, compute_mode="donot_use_mm_for_euclid_dist"))
        else:
            raise ConfigError(f"unknown input stream {name!r}; choose from {STREAMS}")
    return parts[0] if len(parts) == 1 else torch.cat(parts, -1)


def motion(frames: Tensor) -> Tensor:
    """Frame-to-frame displacement times the frame count T (0 at the first frame): (N, T, V, C) in
    and out. Scaled by T, it is the velocity over a window of unit duration, so that its size does
    not depend on how many frames the window is resampled to (as the ``velocity`` statistic)."""
    return torch.diff(frames, dim=1, prepend=frames[:, :1]) * frames.shape[1]


def chunk_descriptors(frames: Tensor, chunks: int, stats: tuple[str, ...]) -> Tensor:
    """Per-joint statistics over equal temporal chunks.

    Args:
        frames: Resampled sequences (N, T, V, C) with T divisible by ``chunks``.
        chunks: Number of chunks M_c.
        stats: Statistics among :data:`STATS`, concatenated in this order.

    Returns:
        (N, V, len(stats) · chunks · C).
    """
    n, t, v, c = frames.shape
    blocks = frames.reshape(n, chunks, t // chunks, v, c)
    parts = []
    for stat in stats:
        if stat == "mean":
            parts.append(blocks.mean(2))
        elif stat == "std":
            parts.append(blocks.std(2, unbiased=False))
        elif stat in ("velocity", "speed"):
            diff = motion(frames) if stat == "velocity" else motion(frames).abs()
            parts.append(diff.reshape(n, chunks, t // chunks, v, c).mean(2))
        else:
            raise ConfigError(f"unknown chunk statistic {stat!r}; choose from {STATS}")
    out = torch.stack(parts, 1)  # (N, S, M, V, C)
    return out.permute(0, 3, 1, 2, 4).reshape(n, v, -1)


def pyramid_levels(chunks: int, pyramid: bool) -> list[int]:
    """Chunk counts of the descriptor: ``chunks``, then (``pyramid``) halved while even, then 1
    (each level divides ``chunks``, so its chunks hold whole frames).

    >>> pyramid_levels(4, True), pyramid_levels(6, True), pyramid_levels(7, True), pyramid_levels(4, False)
    ([4, 2, 1], [6, 3, 1], [7, 1], [4])
    """
    levels = [chunks]
    while pyramid and levels[-1] > 1:
        levels.append(levels[-1] // 2 if levels[-1] % 2 == 0 else 1)
    return levels


def _encode_chunks(frames: Tensor, cfg: FeatureConfig, parents: Sequence[int], persons: int) -> Tensor:
    x = streams(frames, cfg.streams, parents, persons)
    parts = [chunk_descriptors(x, c, cfg.stats) for c in pyramid_levels(cfg.chunks, cfg.pyramid)]
    return parts[0] if len(parts) == 1 else torch.cat(parts, -1)


def _encode_frames(frames: Tensor, cfg: FeatureConfig, parents: Sequence[int], persons: int) -> Tensor:
    x = streams(frames, cfg.streams, parents, persons)  # (N, T, V, Σ C_s)
    n, t, v, c = x.shape
    return x.reshape(n, t, persons, v // persons, c).permute(0, 4, 1, 3, 2).contiguous()


@dataclass(frozen=True)
class Encoder:
    """How one input kind is made: the resampled length, then the encoding of those frames."""

    frames: Callable[[FeatureConfig], int]
    encode: Callable[[Tensor, FeatureConfig, Sequence[int], int], Tensor]


#: Input kind -> encoder from normalised, resampled (and augmented) frames to a backbone's inputs.
ENCODERS: dict[str, Encoder] = {
    "chunks": Encoder(lambda cfg: cfg.chunks * _SAMPLES_PER_CHUNK, _encode_chunks),
    "frames": Encoder(lambda cfg: cfg.frames, _encode_frames),
}


def input_features(cfg: FeatureConfig, kind: str, coords: int, joints: int) -> int:
    """F of ``chunks`` inputs, channels of ``frames`` inputs, of sequences of ``joints`` × ``coords``."""
    c = sum(stream_channels(s, coords, joints) for s in cfg.streams)
    if kind != "chunks":
        return c
    return len(cfg.stats) * sum(pyramid_levels(cfg.chunks, cfg.pyramid)) * c


def _spread(n: int, most: int) -> list[int]:
    """At most ``most`` evenly spaced indices of ``range(n)``."""
    return sorted({int(i) for i in np.linspace(0, n - 1, min(n, most)).round()})


def _rms(sequences: Iterable[np.ndarray]) -> float:
    """Root mean square of every coordinate of ``sequences`` (float64 sums, one sequence at a time)."""
    total, count = 0.0, 0
    for s in sequences:
        total += float(np.square(s, dtype=np.float64).sum())
        count += s.size
    return max(float(np.sqrt(total / max(count, 1))), 1e-8)


class InputPipeline:
    """Normalised sequences of one dataset, turned into model inputs batch by batch.

    Sequences are body-normalised (:func:`normalise`) and divided by ``scale`` (one number per
    dataset, the coordinate std of the normalised training sequences), so datasets in metres,
    millimetres or normalised units all reach the network at unit scale.

    In memory (a list of arrays) the whole set is padded and normalised once. A streamed set (a
    memory-mapped :class:`~mrmp.data.cache.FrameStore`) is normalised once into its cache entry
    (:func:`~mrmp.data.cache.derived_store`, keyed by the normalisation settings) and padded batch
    by batch in :meth:`load` (what :func:`mrmp.data.loader.batches` runs in worker processes); its
    scale is measured on at most ``SCALE_SAMPLE`` evenly spaced sequences. Both give the same inputs.

    Args:
        sequences: Raw (T_i, V, C) arrays, or a streamed store of them.
        cfg: Normalisation, descriptor and augmentation settings.
        kind: Input kind of the backbone, a key of :data:`ENCODERS`.
        skeleton: Persons, bones and body layout of the dataset.
        scale: Dataset scale; computed from these sequences when None.
    """

    SCALE_SAMPLE = 4096

    def __init__(
        self,
        sequences: Sequence[np.ndarray],
        cfg: FeatureConfig,
        kind: str = "chunks",
        skeleton: Skeleton | None = None,
        scale: float | None = None,
    ) -> None:
        if kind not in ENCODERS:
            raise ConfigError(f"unknown input kind {kind!r}; choose from {sorted(ENCODERS)}")
        self.cfg, self.kind = cfg, kind
        self.skeleton = skeleton or Skeleton()
        _check_streams(cfg.streams, self.skeleton.persons)
        self.joints, self.coords = sequences[0].shape[1:]
        self.parents = self.skeleton.parents(self.joints)
        self.mirror: Callable[[Tensor], Tensor] | None = None
        if cfg.mirror > 0 or cfg.test_mirror:
            self.mirror = self.skeleton.mirror_image(self.coords, self.skeleton.aligned(cfg))
        self.store, self.x = None, None
        if hasattr(sequences, "subset"):  # streamed: normalised once into the cache, read per batch
            self.store = derived_store(sequences, self._normalised_name(), self._normalise_each)
            self.lengths = torch.as_tensor(self.store.lengths)
            self.scale = scale or _rms(self.store[int(i)] for i in _spread(len(self.store), self.SCALE_SAMPLE))
            self.store.release()
            return
        x, self.lengths = pad_sequences(sequences)
        x = normalise(x, self.lengths, cfg, self.skeleton)
        if scale is None:
            count = geometry.valid_mask(x, self.lengths).sum() * x.shape[2] * x.shape[3]
            scale = float(((x**2).sum() / count).sqrt().clamp(min=1e-8))
        self.scale = scale
        self.x = x / scale

    def _normalised_name(self) -> str:
        """Name of the normalised copy of a cache entry: a hash of what :func:`normalise` depends on."""
        cfg, sk = self.cfg, self.skeleton
        settings = (*(getattr(cfg, name) for name in NORMALISATION), sk.persons, sk.edges, sk.body)
        return "normalised-" + hashlib.sha256(repr(settings).encode()).hexdigest()[:16]

    def _normalise_each(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        """:func:`normalise` of each sequence (a batch padded, then cut back to its lengths)."""
        x, lengths = pad_sequences(sequences)
        x = normalise(x, lengths, self.cfg, self.skeleton).numpy()
        return [x[i, :n] for i, n in enumerate(lengths.tolist())]

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def streamed(self) -> bool:
        """Whether sequences are read and normalised per batch (:meth:`load`) rather than held."""
        return self.store is not None

    @property
    def persons(self) -> int:
        return self.skeleton.persons

    @property
    def num_features(self) -> int:
        """F of ``chunks`` inputs, channels of ``frames`` inputs."""
        return input_features(self.cfg, self.kind, self.coords, self.joints)

    def load(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised, scaled sequences at ``index``, padded (N, T, V, C), and their lengths (N,)."""
        if self.store is None:  # padded to the batch's longest, like a streamed batch; index_select
            lengths = self.lengths[index]  # copies rows ~7x faster than x[index] (FPHA: 1,151 frames)
            frames = int(lengths.max()) if len(lengths) else self.x.shape[1]
            return self.x[:, :frames].index_select(0, index), lengths
        x, lengths = pad_sequences([self.store[int(i)] for i in index])
        self.store.release()  # resident memory: this batch, not every page read so far
        return x / self.scale, lengths

    def inputs(self, index: Tensor, loaded: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Model inputs of the sequences at ``index``, as they are (evaluation); ``loaded``: their :meth:`load`."""
        return self._encoder.encode(self._frames(index, None, loaded), self.cfg, self.parents, self.persons)

    def views(self, index: Tensor) -> list[Tensor]:
        """The test-time views of the sequences at ``index``: the windows of ``clips`` and
        ``clip_lengths`` (:func:`~mrmp.data.augment.evaluation_windows`: by default the whole sequences
        for one clip, else ``clips`` evenly placed windows of the mean training crop), each also
        with the persons in the other order when ``test_swap`` is set (multi-person data), and
        each of those also mirrored when ``test_mirror`` is set."""
        swap = self.cfg.test_swap and self.persons > 1
        windows = evaluation_windows(len(index), self.cfg)
        if len(windows) == 1 and windows[0] is None and not swap and not self.cfg.test_mirror:
            return [self.inputs(index)]
        loaded = self.load(index)
        frames = [self._frames(index, w, loaded) for w in windows]
        if swap:
            frames += [swap_persons(f, self.persons) for f in frames]
        if self.mirror is not None and self.cfg.test_mirror:
            frames += [self.mirror(f) for f in frames]
        return [self._encoder.encode(f, self.cfg, self.parents, self.persons) for f in frames]

    def augmented(
        self,
        index: Tensor,
        generator: torch.Generator,
        loaded: tuple[Tensor, Tensor] | None = None,
        keep: Tensor | None = None,
    ) -> Tensor:
        """Model inputs of the sequences at ``index``, randomly cropped and augmented (training).

        ``keep``: positions in ``index`` to make inputs of (a rank's share of a global batch); the
        random draws are made for all of ``index``, so the result equals those rows of the whole
        batch's inputs while only they are resampled, augmented and encoded.
        """
        return self.encode(self.augmented_frames(index, generator, loaded, keep))

    def augmented_frames(
        self,
        index: Tensor,
        generator: torch.Generator,
        loaded: tuple[Tensor, Tensor] | None = None,
        keep: Tensor | None = None,
    ) -> Tensor:
        """The resampled, cropped and augmented frames (N, T', V, C) that :meth:`augmented` encodes."""
        size = len(index)
        windows = random_windows(size, self.cfg.crop, generator)
        if keep is not None:
            windows, index = windows[keep], index[keep]
            loaded = None if loaded is None else (loaded[0][keep], loaded[1][keep])
        frames = self._frames(index, windows, loaded)
        return augment(frames, self.cfg, self.persons, generator, keep, size, self.mirror)

    def encode(self, frames: Tensor) -> Tensor:
        """Model inputs of resampled frames (N, T', V, C)."""
        return self._encoder.encode(frames, self.cfg, self.parents, self.persons)

    def __call__(self, index: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """:meth:`augmented` with a generator, else :meth:`inputs`."""
        return self.inputs(index) if generator is None else self.augmented(index, generator)

    @property
    def _encoder(self) -> Encoder:
        return ENCODERS[self.kind]

    def _frames(self, index: Tensor, window: Tensor | None, loaded: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """The sequences at ``index`` resampled over ``window`` to the encoder's length (N, T', V, C)."""
        x, lengths = self.load(index) if loaded is None else loaded
        return resample(x, lengths, self._encoder.frames(self.cfg), window)
