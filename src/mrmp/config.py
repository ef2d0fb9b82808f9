"""Run configuration: one frozen dataclass per concern, serialisable to JSON.

The resolved :class:`RunConfig` is written as ``config.json`` next to every run and stored
inside every checkpoint, so a checkpoint alone is enough to rebuild its model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from mrmp.config_types import Annotated, NonEmpty, Pattern, Range, check_fields
from mrmp.errors import ConfigError
from mrmp.pruning.rates import DEFAULT_SEEN_RATES, check_rate, parse_rates
from mrmp.pruning.scope import Scope
from mrmp.pruning.select import check_floor
from mrmp.pruning.thresholds import get_threshold

__all__ = [
    "DataConfig",
    "FeatureConfig",
    "ModelConfig",
    "PruneConfig",
    "TrainConfig",
    "RunConfig",
    "DEFAULT_SEEN_RATES",
    "check_rate",
    "parse_rates",
]

PriorName = Literal["gaussian", "laplace", "uniform"]
StreamName = Literal["joint", "bone", "partner", "motion", "distance"]  # input streams (mrmp.data.features.STREAMS)
StatName = Literal["mean", "velocity", "std", "speed"]  # per-chunk statistics (mrmp.data.features.STATS)
Count = Annotated[int, Range(1, 1_000_000)]  # epochs, sizes, steps: at least one, at most a million
Size = Annotated[int, Range(1, 65_536)]  # widths of the model
Fraction = Annotated[float, Range(0, 1, hi_open=True)]  # in [0, 1)
Probability = Annotated[float, Range(0, 1)]
NonNegative = Annotated[float, Range(0)]
Seed = Annotated[int, Range(0, 2**31 - 1)]


@dataclass(frozen=True)
class DataConfig:
    """Which dataset and split to use.

    ``coords``: ``physical`` converts coordinates stored normalised to physical units where the
    dataset documents how (SBU: metres); ``native`` keeps the files' values.
    ``cache``: where ``ntu`` and ``pyskl`` keep their parsed, memory-mapped form and stream from
    (:mod:`mrmp.data.cache`): ``auto`` (``$MRMP_CACHE``, else ``~/.cache/mrmp``), ``off`` (in
    memory, as the small datasets always are) or a folder.
    ``workers``: processes that parse ``ntu`` files into the cache, and that read the batches of
    a streamed set while the model trains (``torch.utils.data.DataLoader``); 0: in the training
    process.
    """

    dataset: str = "synthetic"
    root: str | None = None
    split: str = "default"
    skip_bad: bool = False
    seed: Seed = 0
    coords: Literal["physical", "native"] = "physical"
    cache: str = "auto"
    workers: Annotated[int, Range(0, 256)] = 4

    def __post_init__(self) -> None:
        check_fields(self, "data")


@dataclass(frozen=True)
class FeatureConfig:
    """Input descriptors and training-time augmentation.

    Attributes:
        person_order: ``active``: the most active person first (multi-person data); ``as-is``.
        centre: ``sequence``: subtract the root's mean position (two persons: the midpoint of
            their roots); ``frame``: the root of every frame; ``centroid``: the mean of all joints;
            ``none``.
        align: Rotate each sequence into the canonical view of the dataset's body axes: ``on``;
            ``auto``: when the dataset names them (SBU, FPHA, synthetic, ``npz`` with the keys);
            ``off``.
        size: ``bones``: divide each sequence by its mean bone length; ``dataset``: no per-sequence
            size (the dataset scale alone).
        streams: Input streams: ``joint`` positions, ``bone`` vectors (child − parent), ``motion``
            (each joint's displacement from the previous frame times the frame count: the velocity
            over the whole window, as the ``velocity`` statistic measures it), ``distance`` (each
            joint's Euclidean distance to every joint, all persons included: V channels instead of
            C, unchanged by any rotation of the body) and, for multi-person data, ``partner``
            vectors (a joint minus the same joint of the next person).
        chunks: Temporal chunks M_c per trajectory (chunk-descriptor backbones).
        pyramid: Also the statistics over every coarser level of chunks (M_c / 2, M_c / 4, …, 1:
            a temporal pyramid ending with the whole window).
        stats: Per-chunk statistics: ``mean`` (position), ``velocity`` (mean frame difference),
            ``std`` (position spread), ``speed`` (mean absolute frame difference: motion that a
            chunk's back-and-forth cancels in ``velocity``).
        frames: Resampled length for frame-based backbones (ST-GCN).
        rotate_deg: Max random rotation about each axis, degrees.
        rotate_axes: Axes rotated about (letters among ``xyz``).
        swap_persons: Probability of putting a training sequence's persons in the other order
            (multi-person data; see :func:`mrmp.data.augment.swap_persons`).
        mirror: Probability of training on a sequence's mirror image, left and right exchanged
            (datasets that name their left/right joints; see :func:`mrmp.data.geometry.mirror_signs`).
        scale: Max relative random scaling.
        shear: Max random shear: each coordinate gains up to ± ``shear`` times each other one
            (a per-sequence matrix I + off-diagonal entries uniform in ± ``shear``; 0: off).
        crop: Max fraction of frames removed by a random temporal crop.
        clips: Test-time clips K: a prediction averages the class probabilities of K temporal
            windows evenly placed over the sequence, each of the mean training crop's length
            (1 − ``crop`` / 2); 1: the whole sequence in one pass.
        clip_lengths: The test clips' lengths as fractions of the sequence, instead of the mean
            training crop's: K windows of each length (1: the whole sequence, once), all averaged;
            empty: the mean training crop's length (K = 1: the whole sequence).
        test_swap: Multi-person data: also predict each test view with the persons in the other
            order, averaging the class probabilities of both orders.
        test_mirror: Also predict each test view mirrored, averaging the class probabilities of
            both (datasets that name their left/right joints).
        noise: Gaussian coordinate noise, in units of the dataset scale.
        noise_per: What one noise draw covers: a ``frame`` (jitter, which also moves every
            frame-to-frame difference) or a whole ``sequence`` (each joint shifted by one offset for
            all its frames: velocities and speeds unchanged).
    """

    person_order: Literal["as-is", "active"] = "as-is"
    centre: Literal["none", "centroid", "sequence", "frame"] = "sequence"
    align: Literal["auto", "on", "off"] = "auto"
    size: Literal["dataset", "bones"] = "bones"
    streams: Annotated[tuple[StreamName, ...], NonEmpty()] = ("joint", "bone")
    chunks: Annotated[int, Range(1, 1000)] = 4
    pyramid: bool = False
    stats: Annotated[tuple[StatName, ...], NonEmpty()] = ("mean", "velocity")
    frames: Count = 32
    rotate_deg: Annotated[float, Range(0, 180)] = 10.0
    rotate_axes: Annotated[str, Pattern("[xyz]*", "letters among x, y, z")] = "xyz"
    swap_persons: Probability = 0.0
    mirror: Probability = 0.0
    scale: Fraction = 0.2
    shear: Fraction = 0.0
    crop: Fraction = 0.4
    noise: NonNegative = 0.05
    noise_per: Literal["frame", "sequence"] = "frame"
    clips: Annotated[int, Range(1, 100)] = 1
    clip_lengths: tuple[Annotated[float, Range(0, 1, lo_open=True)], ...] = ()
    test_swap: bool = False
    test_mirror: bool = False

    def __post_init__(self) -> None:
        check_fields(self, "features")


@dataclass(frozen=True)
class ModelConfig:
    """Backbone hyper-parameters (``gcn``: the paper's attention GCN; ``stgcn``).

    ``stgcn_persons``: multi-person data in ST-GCN, each person through the network ``apart`` (the
    original's way) or all persons' joints in one ``graph``; ``stgcn_partitions``: ST-GCN's
    neighbour subsets, ``distance`` (the joint, its neighbours) or the original's ``spatial``
    configuration (same depth, nearer, farther from the body's centre); ``stgcn_adaptive``: add a
    learnable (K, V, V) graph to the partitions in every block, so that any two joints may exchange
    features (2s-AGCN's B_k); ``stgcn_attention``: also a graph computed from each sample, the
    softmax of its joints' embedded similarities (2s-AGCN's C_k); ``stgcn_input_norm``: a batch
    norm over each joint's input channels, the original's ``data_bn``; ``stgcn_temporal``: each block's
    temporal convolution, the original's ``plain`` kernel of 9 frames or ST-GCN++'s ``multiscale``
    branches (dilated kernels of 3, a max-pool, a 1×1); ``stgcn_gcn_residual``: a residual around
    each block's graph convolution too (ST-GCN++'s); ``stgcn_block_dropout``: dropout after every
    block's temporal convolution but the first's (the original's, 0.5 there); ``stgcn_head``: what
    the classifier reads, the features averaged over frames and joints (``pool``, the original's) or
    averaged over frames only, each joint's kept apart (``joints``, as the GCN's classifier reads
    every joint's own features); see :mod:`mrmp.models.stgcn`.
    """

    name: Literal["gcn", "stgcn"] = "gcn"
    embed: Size = 32
    heads: Size = 8
    att_dim: Size = 16
    head_dim: Size = 16
    hidden: Size = 256
    dropout: Fraction = 0.3
    input_dropout: Fraction = 0.0
    norm: bool = False
    stgcn_channels: Annotated[tuple[Size, ...], NonEmpty()] = (32, 64, 64)
    stgcn_persons: Literal["apart", "graph"] = "apart"
    stgcn_partitions: Literal["distance", "spatial"] = "distance"
    stgcn_adaptive: bool = False
    stgcn_attention: bool = False
    stgcn_input_norm: bool = False
    stgcn_temporal: Literal["plain", "multiscale"] = "plain"
    stgcn_gcn_residual: bool = False
    stgcn_block_dropout: Fraction = 0.0
    stgcn_head: Literal["pool", "joints"] = "pool"

    def __post_init__(self) -> None:
        check_fields(self, "model")


@dataclass(frozen=True)
class PruneConfig:
    """Pruning method and its settings.

    Attributes:
        method: A name in :data:`mrmp.methods.METHODS`: ``dense``, ``mp`` (magnitude + fine-tune),
            ``srmp``, ``mrmp``, ``gmp`` (gradual magnitude pruning) or ``mrmag`` (multi-rate
            magnitude training).
        prior: Prior Q of the latent weights.
        kl_weight: λ in front of D_KL(P‖Q).
        rate: Target rate of ``mp`` / ``srmp`` / ``gmp``.
        rates: Seen rates of ``mrmp`` / ``mrmag``.
        rates_per_step: Rates trained per ``mrmp`` / ``mrmag`` step (smallest, largest, random others).
        grouping: ``global``: one KL over all prunable weights; ``layer``: one KL per layer.
        scale: ``global``: one latent scale for all weights (small layers keep more weights);
            ``layer``: one per layer (every layer pruned at about the rate).
        kl_estimator: ``quantile`` (histogram of the prior-mode rate of each weight) or
            ``value`` (histogram of the latent values); see :mod:`mrmp.pruning.kl`.
        threshold: How a rate's cut-off is set in training, a trainable rule of
            :mod:`mrmp.pruning.thresholds`: ``empirical`` (default), the r-quantile of the
            current |Ŵ| over the ``scale`` scope (observed ≈ r at every step); ``prior``, the
            paper's a(r) from the prior's quantile (the observed rate drifts from r as far as
            the latents differ from the prior). Evaluation, sweeps and exports default to
            ``anchored`` either way (observed = r to one weight: global ranking at the seen rates,
            an unseen rate from the nearest seen rate below it with every layer's rate up by the
            same step); ``--threshold exact`` ranks globally at every rate, ``--threshold prior``
            evaluates in the paper's mode.
        sigma: Crispness σ of the band-stop, annealed geometrically from the first to the last.
        prune_classifier: Whether the classifier's weight is prunable.
        scope: Ranking scope of ``mp`` and of magnitude pruning of dense checkpoints at
            evaluation: ``global`` (default) or ``layer``.
        floor: Per-layer floor f in [0, 1] of global ranking (``mp``, magnitude pruning of dense
            checkpoints, ``exact`` / ``anchored`` / ``empirical`` thresholds): at rate r every prunable tensor
            keeps at least ⌈f · (1 − r) · n_l⌉ of its n_l weights and one weight per output row,
            so no layer is emptied or starved; 0: none. See :func:`mrmp.pruning.magnitude_masks`.
        source: Dense checkpoint to start from: ``mp`` prunes and fine-tunes its weights;
            ``srmp`` / ``mrmp`` take them as initial latents (warm start) instead of prior draws.
        warmup: ``srmp`` / ``mrmp`` / ``gmp`` / ``mrmag`` without ``source``: train the dense backbone first, in the
            same run (into ``OUT/dense/``), and warm-start the latents from it. Carried out by
            :func:`mrmp.engine.recipe.fit_recipe` (what ``mrmp train`` runs); ``fit`` alone
            trains the pruned phase only. ``train.epochs`` counts the pruned phase (from the
            command line the pruned methods default to ``phase_fraction`` of ``warmup_epochs``).
        warmup_epochs: Epochs of the dense warm-up phase.
        phase_fraction: Epochs of a pruned method's run (``mp``, ``srmp``, ``mrmp``, ``gmp``, ``mrmag``)
            from the command line when ``--epochs`` is not given, as a fraction of ``warmup_epochs``
            (see ``Method.default_epochs``; SBU 600 → 150; FPHA's MRMP 1200 → 450).
        warmup_lr: Learning rate of the dense warm-up phase (0: ``train.lr``, the pruned phase's).
        warmup_batch_size: Batch size of the dense warm-up phase (0: ``train.batch_size``). A dataset's
            recipe sets both where its pruned phase trains with other settings than its dense runs
            (FPHA's MRMP, see :func:`mrmp.data.dataset_recipe`), so that the warm-up stays the dense run.
        warmup_crop: Temporal crop (``features.crop``) of the dense warm-up phase (none: the pruned
            phase's). Set by a dataset's recipe whose pruned phase crops otherwise (SBU's MRMP).
        gmp_end: ``gmp``: fraction of the training steps over which the rate rises along the cubic
            schedule (the rest fine-tunes at ``rate``); see :mod:`mrmp.pruning.schedules`.
        gmp_every: ``gmp``: steps between mask updates (0: one epoch).
        distill: ``mrmp``: distil the lowest rate's predictions into the other rates
            (every rate then sees the whole batch).
        split_batch: ``mrmp``: give each rate of a step its own share of the batch, so that a
            step costs about one backbone pass; else every rate sees the whole batch.
        kl_samples: Latent weights sampled per step for the KL estimate (0: all).
    """

    method: str = "dense"
    prior: PriorName = "gaussian"
    kl_weight: NonNegative = 1.0
    rate: float = 0.9
    rates: Annotated[tuple[float, ...], NonEmpty()] = DEFAULT_SEEN_RATES
    rates_per_step: Count = 4
    grouping: Scope = Scope.GLOBAL
    scale: Scope = Scope.GLOBAL
    kl_estimator: Literal["quantile", "value"] = "value"
    threshold: str = "empirical"
    sigma: tuple[Annotated[float, Range(0, lo_open=True)], Annotated[float, Range(0, lo_open=True)]] = (2.0, 200.0)
    prune_classifier: bool = True
    scope: Scope = Scope.GLOBAL
    floor: float = 0.5
    source: str | None = None
    warmup: bool = True
    warmup_epochs: Count = 600
    phase_fraction: Annotated[float, Range(0, 10, lo_open=True)] = 0.25
    warmup_lr: NonNegative = 0.0
    warmup_batch_size: Annotated[int, Range(0, 1_000_000)] = 0
    warmup_crop: Fraction | None = None
    gmp_end: Probability = 0.75
    gmp_every: Annotated[int, Range(0, 1_000_000)] = 0
    distill: bool = False
    split_batch: bool = True
    kl_samples: Annotated[int, Range(0)] = 32768

    def __post_init__(self) -> None:
        from mrmp.methods import get_method  # lazily: the methods read this config

        for name in ("grouping", "scale", "scope"):
            object.__setattr__(self, name, Scope.parse(getattr(self, name), name))
        check_fields(self, "prune")
        method = get_method(self.method)
        check_rate(self.rate, name="prune.rate")
        for r in self.rates:
            check_rate(r, name="prune.rates")
        get_threshold(self.threshold, training=True)
        check_floor(self.floor)
        method.check(self)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping.

    ``optimizer``: Adam, with ``weight_decay`` as an L2 term added to the gradient (``adam``, whose
    adaptive step scales it down for weights of large gradients), or with the decay decoupled from the
    gradient (``adamw``, Loshchilov & Hutter 2019: every step also shrinks each weight by
    lr·``weight_decay``, so decays of 1e-2 to 5e-2 are usual there, against 1e-4 to 5e-4 for ``adam``).
    ``class_weight``: ``balanced`` weighs each class's cross-entropy by N / (K·N_k), the inverse of
    its share of the N training samples over K classes (scikit-learn's rule), so that a rare class
    counts as much as a frequent one; ``none``: every sample alike.
    ``mixup``: α of mixup's Beta(α, α) blend of each training batch with itself shuffled
    (:mod:`mrmp.engine.mixup`; 0: off; training accuracy then counts the larger share's label).
    ``ema``: decay of an exponential moving average of the weights (0: none); when set, the
    average is what is evaluated and what the checkpoint's model holds (see
    :mod:`mrmp.engine.averaging`). ``ema_distill``: weight α of a distillation term towards that
    average's predictions on the same batch (a mean teacher, Tarvainen & Valpola 2017): the loss is
    (1 − α)·CE + α·T²·KL(softmax(t/T) ‖ softmax(s/T)), T = ``distill_temperature``, t the
    average's logits and s the network's; in training without a rate handle (dense runs, the
    dense warm-up of a pruning method; its pruned phase trains without it), with ``ema`` > 0.
    ``teacher``: a finished dense run (its folder or checkpoint) whose predictions are distilled
    instead, the same term with α = ``teacher_distill``; its backbone and streams may differ from
    this run's (a GCN teaching an ST-GCN): it sees the same augmented sequences as its own inputs
    (:mod:`mrmp.engine.teacher`); None (the default): none.
    ``swa``: the last ``swa`` fraction of the epochs as stochastic weight averaging (Izmailov et
    al. 2018; 0: off): the learning rate follows its cosine from ``lr`` down to ``swa_lr`` over the
    other epochs and then holds at ``swa_lr``, and from there on the weight average is the equal
    average of the weights after every step instead of the EMA (which it continues, with ``ema`` > 0).
    ``amp``: mixed precision of the forward pass (``bf16``, or ``fp16`` with gradient scaling), on
    CUDA or CPU; ``auto``: bf16 where the device computes it in hardware (CPUs with AMX or AVX-512
    BF16, recent GPUs), else float32, the choice logged with every epoch; ``off``: float32.
    Evaluation always runs in float32.

    Checkpoints are written after the last epoch, every ``save_every`` epochs, and after any
    epoch that ends ``save_seconds`` or more after the previous checkpoint (the first epoch of a
    run included; 0: off), so a kill loses at most about ``save_seconds`` of training. One SBU
    checkpoint (22.5 MB: model, average, Adam state) takes ~40 ms, 20-45 % of an SBU epoch: every
    10 s it costs under 0.5 % of the training time (docs/results.md).
    """

    epochs: Count = 600
    batch_size: Count = 64
    lr: Annotated[float, Range(0, lo_open=True)] = 1e-3
    lr_min: NonNegative = 1e-5
    weight_decay: NonNegative = 0.0
    optimizer: Literal["adam", "adamw"] = "adam"
    label_smoothing: Fraction = 0.1
    class_weight: Literal["none", "balanced"] = "none"
    mixup: NonNegative = 0.0
    ema: Fraction = 0.995
    ema_distill: Fraction = 0.0
    teacher: str | None = None
    teacher_distill: Fraction = 0.5
    distill_temperature: Annotated[float, Range(0, lo_open=True)] = 1.0
    swa: Annotated[float, Range(0, 1, hi_open=True)] = 0.0
    swa_lr: Annotated[float, Range(0, lo_open=True)] = 5e-4
    seed: Seed = 0
    device: Annotated[str, Pattern(r"cpu|auto|cuda(:\d+)?", "cpu, cuda, cuda:N or auto")] = "cpu"
    amp: Literal["off", "auto", "bf16", "fp16"] = "off"
    eval_every: Count = 25
    save_every: Count = 25
    save_seconds: NonNegative = 10.0

    def __post_init__(self) -> None:
        check_fields(self, "train")
        if self.ema_distill > 0 and self.ema == 0:
            raise ConfigError("train.ema_distill needs a weight average to distil from: set train.ema > 0")
        if self.ema_distill > 0 and self.teacher:
            raise ConfigError("train.ema_distill and train.teacher both name a teacher: set one of them")
        if self.swa > 0 and self.ema == 0:
            raise ConfigError("train.swa continues the weight average: set train.ema > 0")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run."""

    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of plain values (enums become their strings), ready for JSON and checkpoints."""
        return dataclasses.asdict(self, dict_factory=_plain_dict)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> RunConfig:
        """Rebuild a configuration stored with a run or checkpoint: fields added since it was
        written take the values that reproduce the run (see ``_STORED_BEFORE``), not today's defaults."""
        filled = {name: {**_STORED_BEFORE.get(name, {}), **section} for name, section in data.items()}
        return cls.from_dict(filled)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`."""
        unknown = set(data) - set(_SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config section(s): {sorted(unknown)}")
        return cls(**{name: _build(name, data.get(name, {})) for name in _SECTIONS})

    def replace(self, **sections: Any) -> RunConfig:
        """Copy with some sections' fields replaced, e.g. ``replace(train={"epochs": 5})``."""
        updated = {}
        for name, changes in sections.items():
            updated[name] = dataclasses.replace(getattr(self, name), **changes)
        return dataclasses.replace(self, **updated)


#: Values of fields added after runs were first stored, which those runs used.
_STORED_BEFORE: dict[str, dict[str, Any]] = {
    "data": {"coords": "native"},
    "prune": {"floor": 0.0, "warmup": False, "warmup_epochs": 300},
    "train": {"ema": 0.0},
    "features": {
        "person_order": "as-is",
        "centre": "centroid",
        "align": "off",
        "size": "dataset",
        "streams": ("joint",),
        "clips": 1,
    },
}

_SECTIONS = {
    "data": DataConfig,
    "features": FeatureConfig,
    "model": ModelConfig,
    "prune": PruneConfig,
    "train": TrainConfig,
}


def _plain_dict(items: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, Enum) else v for k, v in items}


def _build(section: str, values: Any) -> Any:
    kind = _SECTIONS[section]
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table of fields, got {values!r}")
    known = {f.name: f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"[{section}] has no field(s) {', '.join(sorted(unknown))}")
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return kind(**fixed)
