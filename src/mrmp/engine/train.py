"""Training loop for every method (dense, MP, SRMP, MRMP), resumable and seeded.

:func:`fit` builds a :class:`Run` (model, loss, optimizer, schedule, data, paths, DDP context),
resumes it from its checkpoint if asked, trains epoch by epoch (evaluating and saving on
schedule) and finishes with the model at its default rate.

Every epoch draws its randomness (shuffling, augmentation, dropout, MRMP rate draws) from
generators seeded by (seed, epoch), so a run resumed from a checkpoint at an epoch boundary
ends with exactly the metrics of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from mrmp.config import ModelConfig, RunConfig, TrainConfig
from mrmp.data.loader import Loaded, batches
from mrmp.engine import distributed as dist
from mrmp.engine.averaging import WeightAverage
from mrmp.engine.checkpoint import first_non_finite, load_checkpoint, save_checkpoint
from mrmp.engine.evaluate import accuracy
from mrmp.engine.mixup import mixup
from mrmp.engine.precision import autocast, grad_scaler, resolve_amp, subnormals_flushed
from mrmp.engine.runfiles import append_log, truncate_log, write_json
from mrmp.engine.setup import Bundle, Data, Meta, build_bundle, load_bundle, load_data, pruned_view, use_default_rate
from mrmp.engine.teacher import Teacher, load_teacher
from mrmp.errors import CheckpointError, ConfigError, TrainingError, one_line
from mrmp.methods import Method, get_method
from mrmp.pruning import MultiRateLoss, layer_sparsity, sigma_at

__all__ = ["OPTIMIZERS", "fit", "FitResult", "Run", "build_objective", "source_weights"]

#: ``train.optimizer`` -> its torch optimizer, built from (param groups, lr, weight_decay).
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


@dataclass
class FitResult:
    """Outcome of :func:`fit`."""

    bundle: Bundle
    metrics: dict[str, Any]
    checkpoint: Path


@dataclass
class Run:
    """State of one training run.

    Attributes:
        objective: The method's loss (:class:`~mrmp.pruning.MultiRateLoss`), DDP-wrapped under torchrun.
        average: EMA of the weights (``train.ema`` > 0): evaluated, and saved as the model.
        teacher: The dense run of ``train.teacher`` whose predictions are distilled (None: none).
        amp: The precision the forward pass runs at: ``train.amp`` resolved on the device (``auto``
            is ``bf16`` or ``off``, :func:`~mrmp.engine.precision.resolve_amp`), once per run.
        scaler: Gradient scaling of ``fp16`` (a no-op otherwise).
        start_epoch: Epochs already done (resumed from the checkpoint).
        metrics: Metrics of the last epoch done (those of the checkpoint when nothing is left to train).
        saved: Epoch of the last checkpoint written or resumed from (0: none yet).
        saved_at: ``time.monotonic()`` of that checkpoint (−inf: none yet).
    """

    cfg: RunConfig
    out: Path
    data: Data
    bundle: Bundle
    objective: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    ctx: dist.Context
    average: WeightAverage | None = None
    teacher: Teacher | None = None
    amp: str = "off"
    scaler: torch.amp.GradScaler = field(default_factory=lambda: grad_scaler("off", torch.device("cpu")))
    start_epoch: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    saved: int = 0
    saved_at: float = -math.inf

    @property
    def method(self) -> Method:
        return self.bundle.method

    @property
    def checkpoint(self) -> Path:
        return self.out / "checkpoint.pt"

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(len(self.data.train), self.cfg.train.batch_size)

    @property
    def total_steps(self) -> int:
        return max(self.cfg.train.epochs * self.steps_per_epoch, 1)


def fit(
    cfg: RunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    data: Data | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> FitResult:
    """Train the model described by ``cfg``; write config, log and checkpoints into ``out``.

    Args:
        cfg: The run's configuration (ignored in favour of the stored one when resuming).
        out: Run directory: ``config.json``, ``log.jsonl``, ``checkpoint.pt``, ``metrics.json``.
        resume: Continue from ``out/checkpoint.pt``.
        data: Pre-loaded data (tests, benchmarks); loaded from ``cfg`` when None.
        progress: Show a progress bar.
        on_epoch_end: Called with (epoch, log record) after each epoch (and its checkpoint).

    Under ``torchrun`` every rank calls ``fit``; rank 0 alone evaluates, writes files and
    returns metrics (the other ranks return an empty dict). See :mod:`mrmp.engine.distributed`.
    """
    with subnormals_flushed():
        return _fit(setup(cfg, Path(out), resume, data), progress, on_epoch_end)


def _fit(run: Run, progress: bool, on_epoch_end: Callable[[int, dict[str, Any]], None] | None) -> FitResult:
    """The epochs of ``run`` (see :func:`fit`)."""
    tc = run.cfg.train
    bar = tqdm(
        range(run.start_epoch, tc.epochs),
        initial=run.start_epoch,
        total=tc.epochs,
        disable=not (progress and run.ctx.is_main),
        unit="ep",
        desc=f"{run.cfg.prune.method} {run.cfg.data.dataset}",
    )
    for epoch in bar:
        record = train_epoch(run, epoch)
        end_epoch(run, epoch, record)
        if run.ctx.is_main:
            bar.set_postfix({k: round(v, 3) for k, v in record.items() if k in ("loss", "test_accuracy")})
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record)
        run.metrics = record
    return finish(run)


# -- setup ------------------------------------------------------------------------------------
def setup(cfg: RunConfig, out: Path, resume: bool = False, data: Data | None = None) -> Run:
    """Build the run of ``cfg`` in ``out`` (from ``out/checkpoint.pt`` when ``resume``); write its
    config and trim its log to the epochs done."""
    payload = load_checkpoint(out / "checkpoint.pt") if resume else None
    if payload is not None:
        cfg = RunConfig.from_stored(payload["config"])
    tc = cfg.train
    ctx = dist.context(tc.device)
    torch.manual_seed(tc.seed)
    data = data or load_data(cfg)
    bundle = _build(cfg, data, warm=payload is None)
    model = bundle.model.to(ctx.device)
    objective = ctx.wrap(build_objective(bundle, cfg, data.train_labels))
    groups = bundle.pruner.param_groups(tc.lr) if bundle.pruner is not None else model.parameters()
    opt = OPTIMIZERS[tc.optimizer](groups, lr=tc.lr, weight_decay=tc.weight_decay)
    sched = lr_schedule(opt, tc)
    swa_from = swa_start(tc) * steps_per_epoch(len(data.train), tc.batch_size) if tc.swa > 0 else None
    average = WeightAverage(model, tc.ema, swa_from) if tc.ema > 0 else None
    amp = resolve_amp(tc.amp, ctx.device)
    teacher = load_teacher(tc.teacher, cfg, data, ctx.device) if tc.teacher and distils(bundle, cfg) else None
    run = Run(cfg, out, data, bundle, objective, opt, sched, ctx, average, teacher, amp, grad_scaler(amp, ctx.device))
    if payload is not None:
        resume_from(run, payload)
    ctx.check_same(run.start_epoch, "epoch to resume from")
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", cfg.to_dict())
        truncate_log(out / "log.jsonl", run.start_epoch)
    return run


def steps_per_epoch(samples: int, batch_size: int) -> int:
    """Optimizer steps of one epoch over ``samples`` training sequences (the last batch may be short)."""
    return math.ceil(samples / batch_size)


def swa_start(tc: TrainConfig) -> int:
    """The epoch (0-based) at which ``train.swa``'s weight averaging starts: the last ``swa``
    fraction of ``train.epochs``, rounded."""
    return tc.epochs - round(tc.swa * tc.epochs)


def lr_schedule(opt: torch.optim.Optimizer, tc: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-epoch learning rate: cosine decay from ``train.lr`` to ``train.lr_min`` over the
    epochs; with ``train.swa``, cosine decay to ``train.swa_lr`` until :func:`swa_start`, then flat
    (each parameter group scaled alike: a group at c · ``lr`` ends at c · ``swa_lr``)."""
    if tc.swa == 0:
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(tc.epochs, 1), eta_min=tc.lr_min)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, functools.partial(_cosine_to_flat, span=swa_start(tc), floor=tc.swa_lr / tc.lr)
    )


def _cosine_to_flat(epoch: int, span: int, floor: float) -> float:
    """Factor of the base learning rate: a half cosine from 1 to ``floor`` over ``span`` epochs, then ``floor``.

    >>> [round(_cosine_to_flat(e, 4, 0.5), 3) for e in range(6)]
    [1.0, 0.927, 0.75, 0.573, 0.5, 0.5]
    """
    if epoch >= span:
        return floor
    return floor + (1 - floor) * (1 + math.cos(math.pi * epoch / span)) / 2


def _build(cfg: RunConfig, data: Data, warm: bool) -> Bundle:
    """The bundle of ``cfg``; ``warm``: start from the dense weights of ``--from`` if given."""
    pc = cfg.prune
    method = get_method(pc.method)
    if method.needs_source and not pc.source:
        raise ConfigError(f"method {method.name} needs prune.source (a dense checkpoint)")
    weights = source_weights(cfg, data.meta) if pc.source and warm else None
    return build_bundle(cfg, data.meta, torch.Generator().manual_seed(cfg.train.seed), weights)


def _architecture(model: ModelConfig) -> ModelConfig:
    """The model settings that shape the weights (dropout rates do not)."""
    return replace(model, dropout=0.0, input_dropout=0.0)


def source_weights(cfg: RunConfig, meta: Meta | None = None) -> dict[str, Tensor]:
    """The dense weights of the checkpoint ``cfg.prune.source`` (a plain model of ``cfg``'s shape).

    Loaded into the fresh model before the method attaches (see :func:`build_bundle`): MP masks
    them by magnitude at its rate; SRMP / MRMP take them as latents, Ŵ = W / s (a warm start:
    rate 0 reproduces the dense model), and the KL term then draws the latents towards the
    prior while the rates are trained.
    """
    source = cfg.prune.source
    src, _ = load_bundle(source)
    if not src.method.plain:
        raise ConfigError(f"{source}: prune.source must be a dense checkpoint, got method {src.cfg.prune.method!r}")
    theirs, ours = _architecture(src.cfg.model), _architecture(cfg.model)
    if theirs != ours:
        diff = ", ".join(
            f"model.{f.name}={getattr(theirs, f.name)!r} (this run: {getattr(ours, f.name)!r})"
            for f in fields(ours)
            if getattr(theirs, f.name) != getattr(ours, f.name)
        )
        raise ConfigError(f"{source}: prune.source needs the same model settings (dropout aside), it has {diff}")
    for what in ("num_joints", "in_features", "num_classes", "persons"):
        found, wanted = getattr(src.meta, what), getattr(meta, what, None)
        if meta is not None and found != wanted:
            what = what.replace("num_", "").replace("_", " ")
            raise ConfigError(f"{source}: prune.source was trained with {found} {what}, this data has {wanted}")
    return src.model.state_dict()


def distils(bundle: Bundle, cfg: RunConfig) -> bool:
    """Whether training distils a teacher's predictions, the weight average's (``train.ema_distill``)
    or a dense run's (``train.teacher``): in runs without a rate handle (dense training and dense
    warm-ups) only."""
    return (cfg.train.ema_distill > 0 or bool(cfg.train.teacher)) and bundle.pruner is None


def teacher_weight(cfg: RunConfig) -> float:
    """α of the distillation term: ``train.teacher_distill`` with a teacher run, else ``train.ema_distill``."""
    return cfg.train.teacher_distill if cfg.train.teacher else cfg.train.ema_distill


def class_weights(labels: Tensor, num_classes: int, rule: str) -> Tensor | None:
    """Per-class cross-entropy weights (classes,) of ``train.class_weight`` from the training
    labels (N,): ``balanced`` gives N / (K·N_k) (0 for a class without samples); ``none``: None.

    >>> class_weights(torch.tensor([0, 0, 0, 1]), 2, "balanced")
    tensor([0.6667, 2.0000])
    """
    if rule == "none":
        return None
    counts = torch.bincount(labels, minlength=num_classes).float()
    return torch.where(counts > 0, len(labels) / (num_classes * counts.clamp(min=1)), torch.zeros(()))


def build_objective(bundle: Bundle, cfg: RunConfig, labels: Tensor | None = None) -> MultiRateLoss:
    """The training loss of ``cfg`` over the bundle's model and handle; ``labels``: the training
    labels (N,) that ``train.class_weight`` weighs the classes by (required unless it is ``none``)."""
    pc = cfg.prune
    weights = None
    if cfg.train.class_weight != "none":
        if labels is None:
            raise ValueError("train.class_weight needs the training labels")
        weights = class_weights(labels, bundle.meta.num_classes, cfg.train.class_weight)
        weights = weights.to(next(bundle.model.parameters()).device)
    return MultiRateLoss(
        bundle.model,
        bundle.pruner,
        threshold=pc.threshold,
        kl_weight=pc.kl_weight,
        kl_samples=pc.kl_samples,
        split_batch=pc.split_batch,
        distill=pc.distill,
        label_smoothing=cfg.train.label_smoothing,
        teacher_weight=teacher_weight(cfg) if distils(bundle, cfg) else 0.0,
        temperature=cfg.train.distill_temperature,
        class_weights=weights,
    )


def resume_from(run: Run, payload: dict[str, Any]) -> None:
    """Restore weights, optimizer, schedule, loss scale, RNG and epoch count from a checkpoint's payload.

    Raises:
        CheckpointError: A section is missing, damaged, of another shape or not finite.
    """
    try:
        trained = payload.get("trained", payload["model"])
        run.bundle.model.load_state_dict(trained)
        if run.average is not None:
            run.average.load_state_dict(payload["average"])
        run.optimizer.load_state_dict(payload["optimizer"])
        run.scheduler.load_state_dict(payload["scheduler"])
        if "scaler" in payload and run.scaler.is_enabled():
            run.scaler.load_state_dict(payload["scaler"])
        torch.set_rng_state(payload["rng"]["torch"])
        run.start_epoch = run.saved = int(payload["epoch"])
        run.saved_at = time.monotonic()
    except KeyError as exc:
        raise CheckpointError(f"{run.checkpoint}: cannot resume: no section {exc} in the checkpoint") from None
    except (RuntimeError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{run.checkpoint}: cannot resume ({one_line(exc)})") from None
    states = [trained, run.average.state if run.average is not None else {}]
    bad = next((name for name in map(first_non_finite, states) if name is not None), None)
    if bad is not None:
        raise CheckpointError(f"{run.checkpoint}: cannot resume: tensor {bad!r} holds NaN or infinite values")
    if run.start_epoch >= run.cfg.train.epochs:
        run.metrics = dict(payload.get("metrics", {}))


# -- one epoch --------------------------------------------------------------------------------
def _epoch_generator(seed: int, epoch: int, salt: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch * 7919 + salt)


def train_epoch(run: Run, epoch: int) -> dict[str, Any]:
    """Train one epoch; returns its log record (losses, accuracy, lr, seconds, σ)."""
    t0 = time.perf_counter()
    tc, ctx = run.cfg.train, run.ctx
    run.bundle.model.train()
    gen = _epoch_generator(tc.seed, epoch)
    torch.manual_seed(tc.seed * 1_000_003 + epoch + 100_003 * ctx.rank)  # dropout: own draws per rank
    order = torch.randperm(len(run.data.train), generator=gen)
    sums = {"loss": 0.0, "ce": 0.0, "kl": 0.0, "correct": 0.0, "count": 0}
    pin = ctx.device.type == "cuda"
    loads = batches(run.data.train, order, tc.batch_size, run.cfg.data.workers, pin)
    for b, (batch, loaded) in enumerate(loads):
        _train_step(run, batch, epoch * run.steps_per_epoch + b, gen, sums, loaded)
    sums = ctx.sum(sums)  # over ranks: every rank holds the global epoch metrics
    run.scheduler.step()
    count = max(sums["count"], 1)
    record: dict[str, Any] = {
        "epoch": epoch + 1,
        **{k: sums[k] / count for k in ("loss", "ce", "kl")},
        "train_accuracy": sums["correct"] / count,
        "lr": run.optimizer.param_groups[0]["lr"],
        "seconds": time.perf_counter() - t0,
    }
    if run.bundle.pruner is not None and run.bundle.pruner.sigma is not None:
        record["sigma"] = run.bundle.pruner.sigma
    if tc.amp != "off":
        record["amp"] = run.amp  # what ``auto`` ran as on this machine
    return record


def _train_step(
    run: Run, batch: Tensor, step: int, gen: torch.Generator, sums: dict[str, float], loaded: Loaded | None = None
) -> None:
    """One optimizer step on the global ``batch`` (this rank's share of it); adds to ``sums``.

    ``loaded``: the batch's normalised sequences when a loader read them ahead (see :func:`batches`)."""
    data, ctx, pc = run.data, run.ctx, run.cfg.prune
    share = ctx.share(len(batch))
    idx, k = share.index, share.count
    keep = idx if ctx.world > 1 else None  # this rank's share, with the global batch's random draws
    frames = data.train.augmented_frames(batch, gen, loaded, keep)
    x = data.train.encode(frames).to(ctx.device, non_blocking=True)
    y = data.train_labels[batch[idx]].to(ctx.device)
    xt = run.teacher.inputs(frames).to(ctx.device, non_blocking=True) if run.teacher is not None else None
    targets = y
    if run.cfg.train.mixup > 0:  # one draw from the shared generator keeps the ranks' draws in step
        seed = int(torch.randint(2**62, (1,), generator=gen)) + ctx.rank
        x, targets = mixup(x, y, data.meta.num_classes, run.cfg.train.mixup, torch.Generator().manual_seed(seed))
        if xt is not None:  # the teacher's inputs blended by the same λ and pairing
            xt, _ = mixup(xt, y, data.meta.num_classes, run.cfg.train.mixup, torch.Generator().manual_seed(seed))
    run.method.before_step(run.bundle, step, run.total_steps, run.steps_per_epoch)
    rates = run.method.step_rates(pc, gen)
    if run.bundle.pruner is not None:
        run.bundle.pruner.set_sigma(sigma_at(step / run.total_steps, *pc.sigma))
    with autocast(run.amp, ctx.device):
        teacher = _teacher_logits(run, x, xt)
        loss, ce, kl, logits = run.objective(x, targets, rates, gen, teacher)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss * share.weight).backward()  # DDP's average of these = grad of the global mean
    run.scaler.step(run.optimizer)
    run.scaler.update()
    if run.average is not None:
        run.average.update()
    value = float(loss.detach())
    if not math.isfinite(value):
        raise _diverged(run, step // run.steps_per_epoch + 1, f"loss {value}")
    sums["loss"] += value * k
    sums["ce"] += float(ce.detach()) * k
    sums["kl"] += float(kl.detach()) * k
    sums["correct"] += float((logits.argmax(1) == (y if targets is y else targets.argmax(1)))[:k].sum())
    sums["count"] += k


def _teacher_logits(run: Run, x: Tensor, xt: Tensor | None) -> Tensor | None:
    """The logits to distil on this batch: the teacher run's on its inputs ``xt``, or the weight
    average's on ``x`` (``train.ema_distill``), or None."""
    if xt is not None and run.teacher is not None:
        return run.teacher(xt)
    distil_average = run.average is not None and distils(run.bundle, run.cfg)
    return run.average.predict(x) if distil_average else None


def end_epoch(run: Run, epoch: int, record: dict[str, Any]) -> None:
    """Rank 0: evaluate on schedule, log the record, and checkpoint after the last epoch, every
    ``save_every`` epochs and when ``save_seconds`` have passed since the last checkpoint."""
    tc, done = run.cfg.train, epoch + 1
    last = done == tc.epochs
    if not run.ctx.is_main:
        return
    if last or done % tc.eval_every == 0:
        with _averaged(run):
            record.update(evaluate(run))
        run.bundle.model.train()
    append_log(run.out / "log.jsonl", record)
    due = tc.save_seconds > 0 and time.monotonic() - run.saved_at >= tc.save_seconds
    if last or done % tc.save_every == 0 or due:
        save(run, done, record)


def evaluate(run: Run) -> dict[str, Any]:
    """Test accuracy (and observed rate) at each of the method's evaluation rates, or as it is."""
    bundle, data = run.bundle, run.data
    bundle.model.eval()
    rates = run.method.eval_rates(run.cfg.prune)
    if not rates:
        return {"test_accuracy": accuracy(bundle.model, data.test, data.test_labels)}
    out: dict[str, Any] = {}
    for r in rates:
        with pruned_view(bundle, r) as model:
            out[f"test_accuracy@{r:g}"] = accuracy(model, data.test, data.test_labels)
            out[f"observed_rate@{r:g}"] = _observed_rate(model, bundle.names)
    out["test_accuracy"] = out[f"test_accuracy@{rates[0]:g}"]  # SRMP: its rate; MRMP: the lowest
    return out


@contextlib.contextmanager
def _averaged(run: Run) -> Iterator[None]:
    """The run's model with its averaged weights, if it keeps an average."""
    if run.average is None:
        yield
    else:
        with run.average.applied():
            yield


def _observed_rate(model: nn.Module, names: list[str]) -> float:
    stats = layer_sparsity(model, names).values()
    total = sum(t for _, t in stats)
    return 1.0 - (total - sum(z for z, _ in stats)) / total


def save(run: Run, epoch: int, metrics: dict[str, Any]) -> None:
    """Write the resumable checkpoint (config, meta, weights, optimizer, schedule, epoch, RNG).

    With a weight average, ``model`` holds the averaged weights (what is evaluated, exported and
    warm-started from) and ``trained`` / ``average`` what resuming needs.
    """
    extra: dict[str, Any] = {}
    if run.average is not None:
        extra = {"trained": run.bundle.model.state_dict(), "average": run.average.state_dict()}
    if run.scaler.is_enabled():
        extra["scaler"] = run.scaler.state_dict()
    with _averaged(run):
        model_state = {k: v.clone() for k, v in run.bundle.model.state_dict().items()}
    bad = first_non_finite(model_state)
    if bad is not None:
        raise _diverged(run, epoch, f"weight {bad!r} not finite")
    save_checkpoint(
        run.checkpoint,
        {
            **extra,
            "config": run.cfg.to_dict(),
            "meta": run.bundle.meta.to_dict(),
            "model": model_state,
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "epoch": epoch,
            "rng": {"torch": torch.get_rng_state()},
            "metrics": metrics,
        },
    )
    run.saved, run.saved_at = epoch, time.monotonic()


def _diverged(run: Run, epoch: int, what: str) -> TrainingError:
    """The error of a run whose loss or weights stopped being finite at ``epoch``."""
    kept = f"{run.checkpoint} (epoch {run.saved}) is kept" if run.saved else "no checkpoint was written"
    return TrainingError(f"training diverged at epoch {epoch} ({what}); try a lower train.lr; {kept}")


def finish(run: Run) -> FitResult:
    """Put the model at its default rate (eval mode), write ``metrics.json``, release the ranks."""
    metrics = run.metrics if run.ctx.is_main else {}  # under DDP only rank 0 reports (and evaluates)
    if run.average is not None:  # training is over: the model is its average from now on
        run.bundle.model.load_state_dict(run.average.state, strict=False)
    use_default_rate(run.bundle)
    run.bundle.model.eval()
    if run.ctx.is_main:
        write_json(run.out / "metrics.json", metrics)
    run.ctx.close()  # every rank waits for rank 0's evaluation and files
    return FitResult(run.bundle, metrics, run.checkpoint)
