"""A restructured inference form of the attention GCN: fewer copies, pruned units dropped.

:class:`FusedGCN` computes what :class:`mrmp.models.AttentionGCN` computes (to float rounding)
with the work laid out for inference on CPU:

- ``query``, ``key`` and ``gconv`` are one matrix product (1/√d folded into the query weights);
- the heads lead the layout, (H, N, V, d), so that the attention products are single ``bmm``
  calls on contiguous operands and the skeleton head writes its slice of the output, no ``cat``;
- the ``fc`` input is written once, ReLU applied, as ((H+1)·V·c, N) (``fc`` columns permuted
  from the plain (V, H+1, c) order), the operand layout of both the dense and the CSR product; ``fc`` and the
  classifier then run as Wᵀ-free ``addmm`` calls;
- hidden units that the classifier no longer reads (a column the rate emptied) are dropped from
  ``fc`` and the classifier, and ``fc`` runs on CSR or dense by a timing on its real input.

:data:`FUSERS` maps a backbone name (``ModelConfig.name``) to its builder; backbones without one
keep their plain form.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from mrmp.deploy.sparse import MAX_SPARSE_DENSITY, LayerChoice, quiet_csr
from mrmp.models import AttentionGCN
from mrmp.timing import best_times

__all__ = ["FUSERS", "FusedGCN", "drop_dead_units", "fuse", "live_hidden"]


def _frozen(t: Tensor) -> nn.Parameter:
    """An inference weight: a parameter (so that ``.parameters()`` and ``.to()`` see it), no gradient."""
    return nn.Parameter(t.detach().clone(), requires_grad=False)


class FusedGCN(nn.Module):
    """Inference form of an :class:`~mrmp.models.AttentionGCN` (module docstring); eval only.

    Args:
        model: The plain backbone holding the (pruned) weights; not modified.
        sparse_fc: Run ``fc`` on a CSR weight (else dense).
    """

    def __init__(self, model: AttentionGCN, sparse_fc: bool = False) -> None:
        super().__init__()
        h, da, c = model.heads, model.att_dim, model.head_dim
        v = int(model.adjacency.shape[0])
        self.heads, self.att_dim, self.head_dim, self.joints = h, da, c, v
        self.norm = None if isinstance(model.norm, nn.Identity) else model.norm
        self.embed_weight = _frozen(model.embed.weight.t().contiguous())  # (F, D)
        self.embed_bias = _frozen(model.embed.bias)
        w = torch.cat([model.query.weight / math.sqrt(da), model.key.weight, model.gconv.weight])
        b = torch.cat([torch.zeros(2 * h * da), model.gconv.bias])
        self.proj_weight = _frozen(w.t().contiguous())  # (D, 2·H·d + (H+1)·c)
        self.proj_bias = _frozen(b)
        self.register_buffer("adjacency", model.adjacency.clone())
        live = live_hidden(model)
        fc = model.fc.weight[live].view(-1, v, h + 1, c).transpose(1, 2).reshape(int(live.sum()), -1)
        self.sparse_fc = sparse_fc
        self.fc_weight = _frozen(fc.contiguous())  # (hidden', (H+1)·V·c)
        self.fc_bias = _frozen(model.fc.bias[live].unsqueeze(1))  # (hidden', 1)
        self.cls_weight = _frozen(model.classifier.weight[:, live].t().contiguous())  # (hidden', K)
        self.cls_bias = _frozen(model.classifier.bias)
        self._build()

    def _build(self) -> None:
        with quiet_csr():
            self._fc = self.fc_weight.data.to_sparse_csr() if self.sparse_fc else self.fc_weight

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.pop("_fc", None)  # a CSR tensor cannot be copied or pickled; rebuilt from the buffer
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        super().__setstate__(state)
        self._build()

    @property
    def hidden(self) -> int:
        """Hidden units kept (those the classifier reads)."""
        return int(self.fc_weight.shape[0])

    def features(self, x: Tensor) -> Tensor:
        """The ``fc`` input, ReLU applied: ((H+1)·V·c, N), from descriptors ``x`` (N, V, F)."""
        n, v, _ = x.shape
        h, da, c = self.heads, self.att_dim, self.head_dim
        e = torch.addmm(self.embed_bias, x.reshape(n * v, -1), self.embed_weight).relu_()  # (N·V, D)
        if self.norm is not None:
            e = self.norm(e)
        p = torch.addmm(self.proj_bias, e, self.proj_weight)  # (N·V, 2·H·d + (H+1)·c)
        qk = p[:, : 2 * h * da].view(n, v, 2 * h, da).permute(2, 0, 1, 3).contiguous()  # (2H, N, V, d)
        g = p[:, 2 * h * da :].view(n, v, h + 1, c).permute(2, 0, 1, 3).contiguous()  # (H+1, N, V, c)
        q, k = qk[:h].view(h * n, v, da), qk[h:].view(h * n, v, da)
        att = torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)  # (H·N, V, V)
        z = torch.empty(h + 1, n, v, c, dtype=x.dtype)
        torch.bmm(att, g[:h].view(h * n, v, c), out=z[:h].view(h * n, v, c))
        torch.matmul(self.adjacency, g[h], out=z[h])
        zt = torch.empty(h + 1, v, c, n, dtype=x.dtype)
        torch.clamp_min(z.permute(0, 2, 3, 1), 0, out=zt)
        return zt.view(-1, n)

    def head(self, zt: Tensor) -> Tensor:
        """Logits (N, classes) from the ``fc`` input ``zt`` ((H+1)·V·c, N)."""
        y = torch.addmm(self.fc_bias, self._fc, zt).relu_()  # (hidden', N)
        return torch.addmm(self.cls_bias, y.t(), self.cls_weight)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, classes) from node descriptors ``x`` of layout (N, V, F)."""
        return self.head(self.features(x))

    def _apply(self, fn: Callable[..., Tensor], recurse: bool = True) -> FusedGCN:  # type: ignore[override]
        super()._apply(fn, recurse)
        self._build()
        return self

    def extra_repr(self) -> str:
        density = float(self.fc_weight.count_nonzero()) / max(self.fc_weight.numel(), 1)
        return f"hidden={self.hidden}, fc={'csr' if self.sparse_fc else 'dense'}, fc_density={density:.4f}"


def live_hidden(model: AttentionGCN) -> Tensor:
    """(hidden,) bool: the hidden units whose classifier column holds a kept weight (the others
    reach the logits only through nothing: their ``fc`` row is dead weight)."""
    return model.classifier.weight.ne(0).any(0)


@torch.no_grad()
def drop_dead_units(model: nn.Module) -> nn.Module:
    """A copy of an :class:`~mrmp.models.AttentionGCN` whose ``fc`` and classifier hold only the
    :func:`live_hidden` units (same outputs, smaller dense matrices); other backbones as they are."""
    model = copy.deepcopy(model)
    if not isinstance(model, AttentionGCN):
        return model
    live = live_hidden(model)
    fc, cls = (
        nn.Linear(model.fc.in_features, int(live.sum())),
        nn.Linear(int(live.sum()), model.classifier.out_features),
    )
    fc.weight.copy_(model.fc.weight[live])
    fc.bias.copy_(model.fc.bias[live])
    cls.weight.copy_(model.classifier.weight[:, live])
    cls.bias.copy_(model.classifier.bias)
    model.fc, model.classifier = fc.requires_grad_(False), cls.requires_grad_(False)
    return model


@torch.no_grad()
def _fuse_gcn(model: AttentionGCN, example: Tensor, mode: str, repeats: int) -> tuple[nn.Module, LayerChoice]:
    """:class:`FusedGCN` of ``model`` with ``fc`` on the path ``mode`` asks for (``auto``: the
    faster on ``example``'s real ``fc`` input, CSR only when at least 5 % faster)."""
    dense = FusedGCN(model).eval()
    density = float(dense.fc_weight.count_nonzero()) / max(dense.fc_weight.numel(), 1)
    if mode != "auto" or density > MAX_SPARSE_DENSITY:
        sparse = mode == "always"
        return (FusedGCN(model, sparse).eval() if sparse else dense), LayerChoice(
            "sparse" if sparse else "dense", density
        )
    csr = FusedGCN(model, sparse_fc=True).eval()
    zt = dense.features(example)
    t_dense, t_csr = (t * 1e6 for t in best_times([lambda: dense.head(zt), lambda: csr.head(zt)], repeats))
    faster = t_csr < 0.95 * t_dense
    return (csr if faster else dense), LayerChoice("sparse" if faster else "dense", density, t_dense, t_csr)


#: Backbone name → builder of its fused form: (plain model, example input, sparse mode, repeats)
#: → (module, the choice made for its ``fc``).
FUSERS: dict[str, Callable[[nn.Module, Tensor, str, int], tuple[nn.Module, LayerChoice]]] = {"gcn": _fuse_gcn}


def fuse(
    name: str, model: nn.Module, example: Tensor, mode: str = "auto", repeats: int = 15
) -> tuple[nn.Module, LayerChoice] | None:
    """The fused form of backbone ``name`` (:data:`FUSERS`), or None when it has none."""
    builder = FUSERS.get(name)
    return None if builder is None else builder(model, example, mode, repeats)
