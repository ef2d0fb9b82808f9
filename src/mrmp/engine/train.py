"""Training loop for every method (dense, MP, SRMP, MRMP), resumable and seeded.

Every epoch draws its randomness (shuffling, augmentation, dropout, MRMP rate draws) from
generators seeded by (seed, epoch), so a run resumed from a checkpoint at an epoch boundary
ends with exactly the metrics of an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from mrmp.config import ModelConfig, RunConfig
from mrmp.engine import distributed as dist
from mrmp.engine.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from mrmp.engine.evaluate import accuracy
from mrmp.engine.objective import Objective
from mrmp.engine.setup import Bundle, Data, build_bundle, load_bundle, load_data, pruned_view
from mrmp.errors import ConfigError

__all__ = ["fit", "sigma_at", "sample_rates", "FitResult"]


@dataclass
class FitResult:
    """Outcome of :func:`fit`."""

    bundle: Bundle
    metrics: dict[str, Any]
    checkpoint: Path


def sigma_at(progress: float, start: float, end: float) -> float:
    """Geometric annealing of σ from ``start`` (progress 0) to ``end`` (progress 1)."""
    return start * (end / start) ** min(max(progress, 0.0), 1.0)


def sample_rates(seen: tuple[float, ...], k: int, generator: torch.Generator) -> list[float]:
    """Rates trained in one MRMP step: the smallest, the largest and k − 2 random others."""
    ordered = sorted(seen)
    if k >= len(ordered):
        return ordered
    if k == 1:
        return [ordered[int(torch.randint(len(ordered), (1,), generator=generator))]]
    middle = ordered[1:-1]
    pick = torch.randperm(len(middle), generator=generator)[: k - 2].tolist()
    return [ordered[0], *sorted(middle[i] for i in pick), ordered[-1]]


def _epoch_generator(seed: int, epoch: int, salt: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch * 7919 + salt)


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(json.dumps(obj, indent=2).encode()))


def _architecture(model: ModelConfig) -> ModelConfig:
    """The model settings that shape the weights (dropout rates do not)."""
    return replace(model, dropout=0.0, input_dropout=0.0)


def _init_from_source(bundle: Bundle, source: str) -> None:
    """Start from a dense checkpoint.

    MP copies the dense weights and masks them by magnitude at its rate. SRMP / MRMP copy
    them as latents, Ŵ = W / s (a warm start: rate 0 reproduces the dense model), and the
    KL term then draws the latents towards the prior while the rates are trained.
    """
    from mrmp.pruning.select import magnitude_masks, resolve

    src, _ = load_bundle(source)
    if src.pruner is not None or src.cfg.prune.method != "dense":
        raise ConfigError(f"{source}: --from needs a dense checkpoint, got method {src.cfg.prune.method!r}")
    if _architecture(src.cfg.model) != _architecture(bundle.cfg.model):
        raise ConfigError(f"{source}: --from needs the same model settings (dropout aside), got {src.cfg.model}")
    state = src.model.state_dict()
    scales = {} if bundle.pruner is None else {n: m.scale for n, m in bundle.pruner.masks.items()}
    with torch.no_grad():
        for name, param in bundle.model.named_parameters():
            plain = name.replace("parametrizations.", "").replace(".original", "")
            param.copy_(state[plain] / scales.get(plain, 1.0))
        if bundle.cfg.prune.method == "mp":
            dense = {n: state[n] for n in bundle.names}
            masks = magnitude_masks(dense, bundle.cfg.prune.rate, bundle.cfg.prune.scope)
            for n in bundle.names:
                module, tensor = resolve(bundle.model, n)
                module.parametrizations[tensor][0].mask.copy_(masks[n])


def _eval_rates(cfg: RunConfig) -> list[float]:
    if cfg.prune.method == "srmp":
        return [cfg.prune.rate]
    if cfg.prune.method == "mrmp":
        seen = sorted(cfg.prune.rates)
        return sorted({seen[0], seen[len(seen) // 2], seen[-1]})
    return []


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
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    payload = None
    if resume:
        payload = load_checkpoint(ckpt_path)
        cfg = RunConfig.from_stored(payload["config"])
    tc, pc = cfg.train, cfg.prune
    ctx = dist.context(tc.device)
    torch.manual_seed(tc.seed)
    data = data or load_data(cfg)
    bundle = build_bundle(cfg, data.meta, torch.Generator().manual_seed(tc.seed))
    if pc.method == "mp" and not pc.source:
        raise ConfigError("method mp needs --from DENSE_CHECKPOINT")
    if pc.source and payload is None:
        _init_from_source(bundle, pc.source)
    model = bundle.model.to(ctx.device)
    objective = ctx.wrap(Objective(model, bundle.pruner, pc, tc.label_smoothing))
    groups = bundle.pruner.param_groups(tc.lr) if bundle.pruner is not None else model.parameters()
    opt = torch.optim.Adam(groups, lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(tc.epochs, 1), eta_min=tc.lr_min)
    start_epoch = 0
    if payload is not None:
        model.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
        sched.load_state_dict(payload["scheduler"])
        torch.set_rng_state(payload["rng"]["torch"])
        start_epoch = int(payload["epoch"])
    ctx.check_same(start_epoch, "epoch to resume from")
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / "config.json", cfg.to_dict())
        _truncate_log(out / "log.jsonl", start_epoch)

    n = len(data.train)
    steps_per_epoch = math.ceil(n / tc.batch_size)
    total_steps = max(tc.epochs * steps_per_epoch, 1)
    pruner = bundle.pruner
    if pruner is not None and pc.method == "srmp":
        pruner.set_rate(pc.rate, pc.threshold, pc.scale)
    metrics: dict[str, Any] = {}
    bar = tqdm(range(start_epoch, tc.epochs), initial=start_epoch, total=tc.epochs,
               disable=not (progress and ctx.is_main), desc=f"{pc.method} {cfg.data.dataset}", unit="ep")
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        gen = _epoch_generator(tc.seed, epoch)
        torch.manual_seed(tc.seed * 1_000_003 + epoch + 100_003 * ctx.rank)  # dropout: own draws per rank
        order = torch.randperm(n, generator=gen)
        sums = {"loss": 0.0, "ce": 0.0, "kl": 0.0, "correct": 0.0, "count": 0}
        for b in range(steps_per_epoch):
            batch = order[b * tc.batch_size : (b + 1) * tc.batch_size]
            x = data.train(batch, gen)  # augment the global batch: same draws on every rank
            share = ctx.share(len(batch))
            idx, k = share.index, share.count
            x, y = x[idx].to(ctx.device), data.train_labels[batch[idx]].to(ctx.device)
            step = epoch * steps_per_epoch + b
            rates = _step_rates(pc, gen)
            if pruner is not None:
                pruner.set_sigma(sigma_at(step / total_steps, *pc.sigma))
            loss, ce, kl, logits = objective(x, y, rates, gen)
            opt.zero_grad(set_to_none=True)
            (loss * share.weight).backward()  # DDP's average of these = grad of the global mean
            opt.step()
            sums["loss"] += float(loss.detach()) * k
            sums["ce"] += float(ce.detach()) * k
            sums["kl"] += float(kl.detach()) * k
            sums["correct"] += float((logits.argmax(1) == y)[:k].sum())
            sums["count"] += k
        sums = ctx.sum(sums)  # over ranks: every rank holds the global epoch metrics
        sched.step()
        count = max(sums["count"], 1)
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": sums["loss"] / count,
            "ce": sums["ce"] / count,
            "kl": sums["kl"] / count,
            "train_accuracy": sums["correct"] / count,
            "lr": opt.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
        }
        if pruner is not None:
            record["sigma"] = pruner.masks[bundle.names[0]].sigma
        last = epoch + 1 == tc.epochs
        if ctx.is_main and (last or (epoch + 1) % tc.eval_every == 0):
            record.update(_evaluate(bundle, data, cfg))
            model.train()
        if ctx.is_main:
            _append_log(out / "log.jsonl", record)
            if last or (epoch + 1) % tc.save_every == 0:
                _save(ckpt_path, cfg, bundle, opt, sched, epoch + 1, record)
            bar.set_postfix({k: round(v, 3) for k, v in record.items() if k in ("loss", "test_accuracy")})
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record)
        metrics = record
    if payload is not None and start_epoch >= tc.epochs:
        metrics = dict(payload.get("metrics", {}))
    if not ctx.is_main:
        metrics = {}  # under DDP only rank 0 reports (and evaluates)
    if pruner is not None:
        pruner.set_hard(True)
        if pc.method == "srmp":
            pruner.set_rate(pc.rate, pc.threshold, pc.scale)
    model.eval()
    if ctx.is_main:
        _write_json(out / "metrics.json", metrics)
    ctx.close()  # every rank waits for rank 0's evaluation and files
    return FitResult(bundle, metrics, ckpt_path)


def _step_rates(pc: Any, gen: torch.Generator) -> list[float]:
    if pc.method == "srmp":
        return [pc.rate]
    if pc.method == "mrmp":
        return sample_rates(pc.rates, pc.rates_per_step, gen)
    return []


def _evaluate(bundle: Bundle, data: Data, cfg: RunConfig) -> dict[str, Any]:
    bundle.model.eval()
    rates = _eval_rates(cfg)
    if not rates:
        return {"test_accuracy": accuracy(bundle.model, data.test, data.test_labels)}
    out: dict[str, Any] = {}
    for r in rates:
        model = pruned_view(bundle, r)
        out[f"test_accuracy@{r:g}"] = accuracy(model, data.test, data.test_labels)
        out[f"observed_rate@{r:g}"] = bundle.pruner.observed_rate()
    out["test_accuracy"] = out[f"test_accuracy@{rates[0]:g}"]  # SRMP: its rate; MRMP: the lowest
    return out


def _save(path: Path, cfg: RunConfig, bundle: Bundle, opt: Any, sched: Any, epoch: int,
          metrics: dict[str, Any]) -> None:
    save_checkpoint(path, {
        "config": cfg.to_dict(),
        "meta": bundle.meta.to_dict(),
        "model": bundle.model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "epoch": epoch,
        "rng": {"torch": torch.get_rng_state()},
        "metrics": metrics,
    })


def _append_log(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _truncate_log(path: Path, epochs: int) -> None:
    """Keep the log records of the first ``epochs`` epochs (those the checkpoint holds)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("epoch", 0) <= epochs]
    atomic_write_bytes(path, lambda fh: fh.write("".join(k + "\n" for k in keep).encode()))
