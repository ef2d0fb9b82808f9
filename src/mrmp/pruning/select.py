"""Which weights are prunable, how to rank them, and how sparse they are."""

from __future__ import annotations

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


def magnitude_masks(scores: dict[str, Tensor], rate: float, scope: Scope | str = Scope.LAYER) -> dict[str, Tensor]:
    """0/1 masks that prune the ``rate`` fraction of smallest scores.

    ``layer``: exactly round(rate · n_l) entries in each tensor; ``global``: exactly
    round(rate · Σ n_l) entries over all tensors together. Ties are broken by position.

    >>> import torch
    >>> magnitude_masks({"w": torch.tensor([3.0, 1.0, 2.0, 4.0])}, 0.5)["w"].tolist()
    [1.0, 0.0, 0.0, 1.0]
    """
    rate = check_rate(rate)
    if Scope.parse(scope) is Scope.LAYER:
        return {n: _keep_top(s.abs().reshape(-1), rate).view_as(s) for n, s in scores.items()}
    flat = torch.cat([s.detach().abs().reshape(-1) for s in scores.values()])
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


@torch.no_grad()
def layer_sparsity(model: nn.Module, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(zeros, total) of each named effective weight."""
    out = {}
    for n in names:
        w = effective_weight(model, n)
        out[n] = (int((w == 0).sum()), w.numel())
    return out
