"""Which weights are prunable, how to rank them, and how sparse they are."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from mrmp.errors import ConfigError
from mrmp.pruning.rates import check_rate
from mrmp.pruning.scope import Scope

__all__ = [
    "Include",
    "select_weights",
    "resolve",
    "effective_weight",
    "magnitude_masks",
    "anchored_masks",
    "floor_count",
    "check_floor",
    "floor_bound",
    "layer_sparsity",
]

Include = Sequence[str] | Callable[[str, Tensor], bool] | None


def _plain_named_weights(model: nn.Module) -> Iterable[tuple[str, Tensor]]:
    """Named tensors as a user sees them: parametrised weights under their public name."""
    for mod_name, module in model.named_modules():
        names = [n for n, _ in module.named_parameters(recurse=False)]
        if parametrize.is_parametrized(module):
            names = [n for n in names if n != "parametrizations"] + list(module.parametrizations)
        for name in names:
            full = f"{mod_name}.{name}" if mod_name else name
            yield full, getattr(module, name)


def select_weights(model: nn.Module, include: Include = None, exclude: Sequence[str] = ()) -> list[str]:
    """Qualified names of the prunable weights of ``model``.

    Args:
        model: Any module.
        include: None for every weight tensor with two or more dimensions (the weight matrices
            of linear, convolution and attention layers; biases and normalisation parameters are
            left out), a list of qualified names, or a predicate ``(name, tensor) -> bool``.
        exclude: Qualified names to leave out.

    >>> from torch import nn
    >>> select_weights(nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3), nn.Linear(3, 1)))
    ['0.weight', '2.weight']
    """
    named = dict(_plain_named_weights(model))
    if include is None:
        names = [n for n, t in named.items() if n.rsplit(".", 1)[-1] == "weight" and t.dim() >= 2]
    elif callable(include):
        names = [n for n, t in named.items() if include(n, t)]
    else:
        missing = [n for n in include if n not in named]
        if missing:
            raise ConfigError(f"no such weight(s) in the model: {missing}")
        names = list(include)
    names = [n for n in names if n not in set(exclude)]
    if not names:
        raise ConfigError("no prunable weight selected")
    return names


def resolve(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    """(owning module, tensor name) of the qualified name ``name``."""
    mod_name, _, tensor = name.rpartition(".")
    return (model.get_submodule(mod_name) if mod_name else model), tensor


def effective_weight(model: nn.Module, name: str) -> Tensor:
    """The weight as the forward pass sees it (masks applied)."""
    module, tensor = resolve(model, name)
    return getattr(module, tensor)


def check_floor(floor: float) -> float:
    """``floor`` as a float in [0, 1]; :class:`ConfigError` otherwise."""
    floor = float(floor)
    if not 0.0 <= floor <= 1.0:
        raise ConfigError(f"prune.floor must be in [0, 1], got {floor}")
    return floor


def floor_count(numel: int, rate: float, floor: float) -> int:
    """k = min(n, ⌈f · (1 − r) · n⌉): the entries a tensor of ``numel`` keeps at least under a floor f.

    >>> floor_count(1000, 0.99, 0.5), floor_count(1000, 0.5, 0.0), floor_count(7, 0.999, 1.0)
    (5, 0, 1)
    """
    return min(numel, math.ceil(floor * (1.0 - rate) * numel - 1e-9))


def magnitude_masks(
    scores: dict[str, Tensor], rate: float, scope: Scope | str = Scope.LAYER, floor: float = 0.0
) -> dict[str, Tensor]:
    """0/1 masks that prune the ``rate`` fraction of smallest scores.

    ``layer``: exactly round(rate · n_l) entries in each tensor; ``global``: exactly
    round(rate · Σ n_l) entries over all tensors together. Ties are broken by position.

    ``floor`` f > 0 (``global`` only): every tensor first reserves the largest entry of each
    output row (``score[i]``; a tensor of fewer than two dimensions is one row) and its largest
    other entries up to k_l = :func:`floor_count` in all, so no tensor is emptied or starved; the rest of
    the budget round((1 − r) · N) goes to the largest unreserved entries over all tensors. The
    total kept is then exactly round((1 − r) · N) unless the reserved entries alone exceed it
    (extreme rates), where only they are kept. Masks of increasing rates are nested except, at
    most, for a few entries between rates closer than about (L + 1) / ((1 − f) · N) (L tensors).

    >>> import torch
    >>> magnitude_masks({"w": torch.tensor([3.0, 1.0, 2.0, 4.0])}, 0.5)["w"].tolist()
    [1.0, 0.0, 0.0, 1.0]
    >>> s = {"big": torch.arange(1.0, 9.0).view(2, 4), "small": torch.tensor([[0.1, 0.2]])}
    >>> [m.tolist() for m in magnitude_masks(s, 0.6, "global", floor=0.5).values()]
    [[[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]], [[0.0, 1.0]]]
    """
    rate, floor = check_rate(rate), check_floor(floor)
    if Scope.parse(scope) is Scope.LAYER:
        return {n: _keep_top(s.abs().reshape(-1), rate).view_as(s) for n, s in scores.items()}
    flat = torch.cat([s.detach().abs().reshape(-1) for s in scores.values()])
    if floor > 0:
        reserved = torch.cat([_reserve(s.detach().abs(), rate, floor) for s in scores.values()])
        keep = _fill(flat, reserved, flat.numel() - round(rate * flat.numel()))
    else:
        keep = _keep_top(flat, rate)
    out, start = {}, 0
    for n, s in scores.items():
        out[n] = keep[start : start + s.numel()].view_as(s)
        start += s.numel()
    return out


def _keep_top(values: Tensor, rate: float) -> Tensor:
    n = values.numel()
    pruned = round(rate * n)
    mask = torch.zeros(n, dtype=torch.float32, device=values.device)
    if pruned < n:
        mask[torch.topk(values.detach(), n - pruned, sorted=False).indices] = 1.0
    return mask


def _reserve(magnitude: Tensor, rate: float, floor: float) -> Tensor:
    """Flat bool mask of a tensor's floor: the largest |w| of each row, then its largest other
    |w| up to k = :func:`floor_count` in all (max(k, rows) entries)."""
    flat = magnitude.reshape(-1)
    reserved = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    rows = magnitude.reshape(magnitude.shape[0] if magnitude.dim() > 1 else 1, -1)
    width = rows.shape[1]
    reserved[rows.argmax(1) + torch.arange(rows.shape[0], device=flat.device) * width] = True
    missing = floor_count(flat.numel(), rate, floor) - int(reserved.sum())
    if missing > 0:
        reserved[torch.topk(flat.masked_fill(reserved, -math.inf), missing, sorted=False).indices] = True
    return reserved


def _fill(values: Tensor, reserved: Tensor, budget: int) -> Tensor:
    """0/1 mask: the ``reserved`` entries, plus the largest others up to ``budget`` kept in all."""
    keep = reserved.to(torch.float32)
    extra = budget - int(reserved.sum())
    if extra > 0:
        free = values.detach().masked_fill(reserved, -math.inf)
        keep[torch.topk(free, extra, sorted=False).indices] = 1.0
    return keep


def anchored_masks(
    scores: dict[str, Tensor],
    rate: float,
    anchor: float | None,
    scope: Scope | str = Scope.LAYER,
    floor: float = 0.0,
) -> dict[str, Tensor]:
    """0/1 masks at ``rate`` that narrow those of a lower ``anchor`` rate, every tensor by the same step.

    At or below ``anchor`` (or without one) they are :func:`magnitude_masks`. Above it, tensor l
    keeps the k_l largest of the entries that its mask at ``anchor`` keeps (K_l of its n_l), with
    k_l = K_l − δ · n_l: every tensor's own rate rises by the same step δ, as uniform per-layer
    pruning would spread the extra pruning, instead of where global ranking would put it. δ is set
    so that Σ k_l = round((1 − rate) · Σ n_l) exactly (largest remainders round the k_l), no tensor
    emptied that kept an entry (while the budget holds one per tensor). The ``floor`` applies to the
    anchor's masks only: above it, it would hold the largest tensor up at the others' expense.
    Masks above ``anchor`` are nested within the anchor's, and across rates up to the rounding of
    one entry per tensor.

    This is how a multi-rate model is evaluated at a rate it was not trained at, from the nearest
    trained rate below (:class:`~mrmp.pruning.thresholds.AnchoredThreshold`): its latents were
    trained with that rate's masks, and a higher global cut-off strips first the tensors whose kept
    latents sit just above the trained one (a small first layer whose every weight matters).

    >>> import torch
    >>> s = {"big": torch.arange(1.0, 17.0).view(2, 8), "small": torch.tensor([[9.5, 10.5, 11.5, 12.5]])}
    >>> [int(m.sum()) for m in magnitude_masks(s, 0.5, "global").values()]  # the anchor's: 7 and 3
    [7, 3]
    >>> [int(m.sum()) for m in magnitude_masks(s, 0.75, "global").values()]
    [4, 1]
    >>> [int(m.sum()) for m in anchored_masks(s, 0.75, 0.5, "global").values()]  # both rates up 0.25
    [3, 2]
    """
    rate, floor = check_rate(rate), check_floor(floor)
    if anchor is None or rate <= check_rate(anchor) + 1e-9:  # at the anchor (to rounding) or below
        return magnitude_masks(scores, rate, scope, floor)
    base = magnitude_masks(scores, anchor, scope, floor)
    kept = {n: int(m.sum()) for n, m in base.items()}
    size = {n: s.numel() for n, s in scores.items()}
    total = sum(size.values())
    budget = total - round(rate * total)
    low = {n: min(kept[n], 1) for n in scores}  # no tensor emptied, where the budget allows it
    if sum(low.values()) > budget:
        low = dict.fromkeys(scores, 0)

    def counts(step: float) -> dict[str, float]:
        return {n: max(float(low[n]), kept[n] - step * size[n]) for n in scores}

    lo, hi = 0.0, 1.0  # Σ counts(step) falls from Σ K_l (≥ budget) at 0 to Σ low at 1
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sum(counts(mid).values()) > budget else (lo, mid)
    real = counts(hi)
    k = {n: math.floor(v) for n, v in real.items()}
    room = sorted((n for n in scores if k[n] < kept[n]), key=lambda n: real[n] - k[n], reverse=True)
    for n in room[: max(0, budget - sum(k.values()))]:
        k[n] += 1
    out = {}
    for n, s in scores.items():
        inside = s.detach().abs().reshape(-1).masked_fill(base[n].reshape(-1) == 0, -math.inf)
        mask = torch.zeros(size[n], dtype=torch.float32, device=s.device)
        mask[torch.topk(inside, k[n], sorted=False).indices] = 1.0
        out[n] = mask.view_as(s)
    return out


def floor_bound(
    scores: dict[str, Tensor], rate: float, scope: Scope | str, floor: float, anchor: float | None = None
) -> dict[str, bool]:
    """Whether each tensor keeps more entries under the ``floor`` than the same ranking without it
    (global ranking, or :func:`anchored_masks` above ``anchor``) gives it.

    >>> import torch
    >>> s = {"big": torch.arange(1.0, 9.0).view(2, 4), "small": torch.tensor([[0.1, 0.2]])}
    >>> floor_bound(s, 0.6, "global", 0.5)
    {'big': False, 'small': True}
    """
    if Scope.parse(scope) is Scope.LAYER or check_floor(floor) == 0:
        return dict.fromkeys(scores, False)
    floored = anchored_masks(scores, rate, anchor, Scope.GLOBAL, floor)
    plain = anchored_masks(scores, rate, anchor, Scope.GLOBAL)
    return {n: bool(floored[n].sum() > plain[n].sum()) for n in scores}


@torch.no_grad()
def layer_sparsity(model: nn.Module, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(zeros, total) of each named effective weight."""
    out = {}
    for n in names:
        w = effective_weight(model, n)
        out[n] = (int((w == 0).sum()), w.numel())
    return out
