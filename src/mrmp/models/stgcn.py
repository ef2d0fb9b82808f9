"""ST-GCN backbone: spatial graph convolutions on the skeleton + temporal convolutions.

A compact version of Yan et al., *Spatial Temporal Graph Convolutional Networks for
Skeleton-Based Action Recognition* (2018), made to prune well at many rates:

* **Spatial graph convolution** with distance partitioning (``stgcn_partitions = "distance"``):
  K = 2 subsets, the joint itself (hop 0) and its neighbours (hop 1, symmetrically normalised);
  or the original's spatial configuration (``"spatial"``): K = 3 subsets of the normalised
  hop-1 graph, the neighbours as far from the body's centre as the joint (itself included), those
  nearer (centripetal) and those farther (centrifugal), the centre being derived from the bones
  (:func:`mrmp.models.graph.centre_depths`). A 1×1 convolution gives K·C' channels, which are
  mixed over the joints by the K partition matrices. Each block has an
  optional learnable *edge importance* M (K, V, V), initialised to ones, multiplying the
  partitions element-wise (``edge_importance`` is not named ``weight``, so it is never pruned).
  With ``stgcn_adaptive``, each block also learns an additive graph B (K, V, V), initialised to
  zeros, as in Shi et al.'s 2s-AGCN: the partitions fix which joints exchange features at the
  start, B lets any two joints (e.g. one person's hand and the other's chest) do so as training
  finds useful (``adaptive_graph``, never pruned either).
  With ``stgcn_attention``, each block adds a graph of its own sample, C_k = softmax over the
  source joints of θ_k(x)ᵀ φ_k(x) / (C_e·T) (2s-AGCN's C_k; θ, φ: 1×1 convolutions to C_e =
  max(C'/4, 4) channels per subset, prunable like every convolution).
* **Temporal convolution** (stride 2 where the channels grow), by ``stgcn_temporal``: one
  convolution of kernel 9 over frames (``"plain"``, the original's), or the multi-scale temporal
  module of ST-GCN++ (``"multiscale"``, Duan et al., *PYSKL: Towards Good Practices for
  Skeleton Action Recognition*, 2022): six branches, each a 1×1 convolution to C/6 channels,
  then a kernel-3 convolution with dilation 1, 2, 3 or 4 (receptive fields 3 to 9 frames), a
  max-pool over 3 frames, or nothing; their concatenation is normalised and mixed by a 1×1
  convolution. It sees the same 9 frames as the plain kernel with about a quarter of its
  multiply-adds (:class:`MultiScaleTCN`).
* **Residual blocks** with the channels of ``cfg.stgcn_channels`` (1×1 projection where the
  shape changes; none in the first block, whose input is raw coordinates). With
  ``stgcn_gcn_residual`` (ST-GCN++'s ``gcn_with_res``) the graph convolution has a residual of
  its own, added before its ReLU (a 1×1 projection where the channels change, the first block's
  included).
* Each person is processed separately (batch N·M), pooled over time and joints, and the
  persons are merged by their **mean** (``stgcn_persons = "apart"``, the original ST-GCN's way);
  or (``"graph"``) the persons' joints form **one graph**, each joint also linked to the same joint
  of the other persons, so that the graph convolutions see who does what to whom (a two-person
  graph, as in interaction recognisers), pooled over time and all joints. Dropout and a linear
  ``classifier`` follow. With ``stgcn_head = "joints"`` the features are pooled over time only and
  the classifier reads each joint's apart (V·C inputs, persons still merged by their mean), as the
  paper's GCN reads each node's (the pooled head knows which joint moved only through what the
  graph convolutions wrote into the features). Dropout inside every block but the first, after its
  temporal convolution, as in the original, is ``stgcn_block_dropout`` (off by default: the
  original's 0.5 slowed training of this small network a lot on the small skeleton datasets, 41 %
  vs 77 % training accuracy after 30 synthetic epochs).

Normalisation: **GroupNorm**, not BatchNorm. BatchNorm's running statistics are estimated
during training under the mixture of rates of a multi-rate step, but a network pruned at
rate r has activations of another scale (fewer weights, smaller sums): the stored
statistics fit no single rate, and evaluating an unseen rate would need re-estimating them.
GroupNorm normalises every sample by its own statistics, so it is identical in training and
evaluation and adapts to any rate; it also makes every sample independent of the others in
its batch, so data-parallel training (per-rank batches) computes exactly the gradient of one
process with the whole batch, with no SyncBatchNorm.

The one exception, off by default, is ``stgcn_input_norm``: the original ST-GCN's input batch norm
(``data_bn``) over each joint's channels, i.e. a BatchNorm1d over V·C features of the frames
(N', V·C, T). It comes before every prunable weight, so its statistics are those of the data at
any rate; under data parallelism each process normalises its own part of the batch.

Every prunable tensor is the ≥ 2-D ``weight`` of a convolution or of the classifier; biases,
GroupNorm affine parameters and edge importances stay dense.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mrmp.config import ModelConfig
from mrmp.models.graph import adjacency, centre_depths, normalize_adjacency, skeleton_adjacency

__all__ = [
    "PARTITIONS",
    "STGCN",
    "TEMPORAL",
    "MultiScaleTCN",
    "STGCNBlock",
    "distance_partitions",
    "spatial_partitions",
]

_TEMPORAL_KERNEL = 9


def distance_partitions(adjacency: Tensor) -> Tensor:
    """Partition matrices (2, V, V): identity (hop 0) and normalised neighbours (hop 1).

    Only the sparsity pattern of ``adjacency`` is used (entries > 0, diagonal ignored).

    >>> import torch
    >>> p = distance_partitions(torch.tensor([[1.0, 0.5], [0.5, 1.0]]))
    >>> p.shape, p[1].tolist()
    (torch.Size([2, 2, 2]), [[0.0, 1.0], [1.0, 0.0]])
    """
    v = adjacency.shape[0]
    eye = torch.eye(v, dtype=torch.float32)
    neighbours = (adjacency > 0).float() * (1 - eye)
    return torch.stack([eye, normalize_adjacency(neighbours)])


def spatial_partitions(adjacency: Tensor, depth: Tensor | None = None) -> Tensor:
    """Partition matrices (3, V, V) of ST-GCN's spatial configuration: the normalised hop-1 graph
    (self-loops added) split by where a neighbour v lies against the joint w it feeds, entry (v, w):
    as deep as w (w itself included), nearer the centre, farther from it.

    Args:
        adjacency: (V, V), of which only the sparsity pattern (entries > 0) is used.
        depth: Each joint's hop distance from its body's centre (V,); default
            :func:`~mrmp.models.graph.centre_depths` of ``adjacency``.

    >>> import torch
    >>> p = spatial_partitions(torch.tensor([[1.0, 1, 0], [1, 1, 1], [0, 1, 1]]))  # a path, centre 1
    >>> [p[k].ne(0).int().tolist() for k in range(3)]
    [[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 0, 0], [1, 0, 1], [0, 0, 0]], [[0, 1, 0], [0, 0, 0], [0, 1, 0]]]
    """
    v = adjacency.shape[0]
    pattern = ((adjacency > 0).float() + torch.eye(v)).clamp(max=1)
    depth = centre_depths(pattern) if depth is None else depth
    a = normalize_adjacency(pattern)
    source, target = depth[:, None], depth[None, :]
    return torch.stack([a * (source == target), a * (source < target), a * (source > target)])


#: ``ModelConfig.stgcn_partitions`` -> builder of the partition matrices (K, V, V) from an
#: adjacency (V, V) and the joints' depths below their centres (None: derived from the adjacency).
PARTITIONS = {
    "distance": lambda a, depth: distance_partitions(a),
    "spatial": spatial_partitions,
}


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


def _shortcut(in_channels: int, out_channels: int, stride: int = 1) -> nn.Module:
    """A residual path, (N, C, T, V) -> (N, C', T / stride, V): the identity where the shape stays,
    else a strided 1×1 convolution and GroupNorm."""
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1))
    return nn.Sequential(conv, _norm(out_channels))


def _plain_tcn(channels: int, stride: int) -> nn.Module:
    """The original's temporal convolution: kernel 9 over frames, (N, C, T, V) -> (N, C, T / stride, V)."""
    pad = (_TEMPORAL_KERNEL - 1) // 2
    return nn.Conv2d(channels, channels, (_TEMPORAL_KERNEL, 1), (stride, 1), (pad, 0))


class MultiScaleTCN(nn.Module):
    """ST-GCN++'s multi-scale temporal convolution, (N, C, T, V) -> (N, C, T / stride, V).

    Six branches of w = max(C // 6, 1) channels each: for each dilation d in ``dilations``, a 1×1
    convolution, GroupNorm, ReLU and a (3, 1) convolution of dilation d; a 1×1 convolution,
    GroupNorm, ReLU and a max-pool over 3 frames; a 1×1 convolution alone. All stride ``stride``
    over frames. Their concatenation goes through GroupNorm, ReLU and a 1×1 convolution back to C
    channels. The branches' 1×1 convolutions are one convolution to 6·w channels (``reduce``; the
    strided 1×1 branch is its last w channels at every ``stride``-th frame), and their GroupNorms
    one GroupNorm whose groups lie inside the branches (``reduce_norm``): the same function as
    separate branches, with one large convolution where a CPU runs five small ones slowly. Every
    convolution's ``weight`` is prunable like the plain one's.

    >>> import torch
    >>> MultiScaleTCN(12, stride=2)(torch.randn(2, 12, 9, 5)).shape
    torch.Size([2, 12, 5, 5])
    """

    def __init__(self, channels: int, stride: int = 1, dilations: Sequence[int] = (1, 2, 3, 4)) -> None:
        super().__init__()
        self.width, self.stride = max(channels // (len(dilations) + 2), 1), stride
        w, normed = self.width, (len(dilations) + 1) * self.width
        self.reduce = nn.Conv2d(channels, normed + w, kernel_size=1)
        self.reduce_norm = nn.GroupNorm((len(dilations) + 1) * math.gcd(8, w), normed)
        self.dilated = nn.ModuleList(nn.Conv2d(w, w, (3, 1), (stride, 1), (d, 0), (d, 1)) for d in dilations)
        self.pool = nn.MaxPool2d((3, 1), (stride, 1), (1, 0))
        self.mix = nn.Sequential(_norm(normed + w), nn.ReLU(), nn.Conv2d(normed + w, channels, kernel_size=1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.reduce(x)
        normed, plain = h[:, : -self.width], h[:, -self.width :, :: self.stride]
        parts = F.relu(self.reduce_norm(normed)).split(self.width, dim=1)
        branches = [conv(part) for conv, part in zip(self.dilated, parts[:-1], strict=True)]
        return self.mix(torch.cat([*branches, self.pool(parts[-1]), plain], dim=1))


#: ``ModelConfig.stgcn_temporal`` -> builder of a block's temporal module from (channels, stride).
TEMPORAL = {"plain": _plain_tcn, "multiscale": MultiScaleTCN}


class STGCNBlock(nn.Module):
    """Spatial graph convolution → GroupNorm → ReLU → temporal convolution → GroupNorm →
    dropout, plus a residual path, then ReLU. Layout (N, C, T, V) in and out."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        partitions: int,
        joints: int,
        stride: int = 1,
        residual: bool = True,
        dropout: float = 0.0,
        edge_importance: bool = True,
        adaptive: bool = False,
        attention: bool = False,
        temporal: str = "plain",
        gcn_residual: bool = False,
    ) -> None:
        super().__init__()
        self.partitions, self.out_channels = partitions, out_channels
        self.gcn = nn.Conv2d(in_channels, partitions * out_channels, kernel_size=1)
        self.gcn_norm = _norm(out_channels)
        self.gcn_residual = _shortcut(in_channels, out_channels) if gcn_residual else None
        self.tcn = TEMPORAL[temporal](out_channels, stride)
        self.tcn_norm = _norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.residual = _shortcut(in_channels, out_channels, stride) if residual else None
        if edge_importance:
            self.edge_importance = nn.Parameter(torch.ones(partitions, joints, joints))
        else:
            self.register_parameter("edge_importance", None)
        if adaptive:
            self.adaptive_graph = nn.Parameter(torch.zeros(partitions, joints, joints))
        else:
            self.register_parameter("adaptive_graph", None)
        self.embed_channels = max(out_channels // 4, 4) if attention else 0
        if attention:
            self.theta = nn.Conv2d(in_channels, partitions * self.embed_channels, kernel_size=1)
            self.phi = nn.Conv2d(in_channels, partitions * self.embed_channels, kernel_size=1)
        else:
            self.theta = self.phi = None

    def forward(self, x: Tensor, partitions: Tensor) -> Tensor:
        a = partitions if self.edge_importance is None else partitions * self.edge_importance
        if self.adaptive_graph is not None:
            a = a + self.adaptive_graph
        n, _, t, v = x.shape
        y = self.gcn(x).view(n, self.partitions, self.out_channels, t, v)
        if self.theta is not None:
            a = a + self.sample_graph(x)  # (N, K, V, V)
            y = torch.einsum("nkctv,nkvw->nctw", y, a)
        else:
            y = torch.einsum("nkctv,kvw->nctw", y, a)
        y = self.gcn_norm(y)
        if self.gcn_residual is not None:
            y = y + self.gcn_residual(x)
        y = F.relu(y)
        y = self.dropout(self.tcn_norm(self.tcn(y)))
        if self.residual is not None:
            y = y + self.residual(x)
        return F.relu(y)

    def sample_graph(self, x: Tensor) -> Tensor:
        """Each sample's own graph (N, K, V, W) from the block input x (N, C, T, V): entry (v, w) is
        how much joint v feeds joint w, a softmax over v of the embedded similarity."""
        n, _, t, v = x.shape
        k, ce = self.partitions, self.embed_channels
        theta = self.theta(x).view(n, k, ce * t, v)
        phi = self.phi(x).view(n, k, ce * t, v)
        return torch.softmax(theta.transpose(2, 3) @ phi / (ce * t), dim=2)


class STGCN(nn.Module):
    """ST-GCN over frame inputs (N, C, T, V, M).

    Args:
        cfg: ``stgcn_channels`` (one block per entry), ``dropout`` (on the pooled features,
            before the classifier), ``stgcn_block_dropout`` (in the blocks after the first) and
            ``input_dropout`` (on the coordinates, when the config has it).
        adjacency: Normalised adjacency (V, V) of one person's skeleton.
        in_channels: C, coordinates per joint.
        num_classes: Output classes.
        edge_importance: Learn a (K, V, V) importance of the graph edges in every block.
        depth: Each joint's hop distance from its body's centre (V,), for ``spatial`` partitions
            (default: from ``adjacency``).

    >>> import torch
    >>> from mrmp.config import ModelConfig
    >>> from mrmp.models import skeleton_adjacency
    >>> net = STGCN(ModelConfig(stgcn_channels=(8, 16)), skeleton_adjacency([(0, 1), (1, 2)], 3), 3, 4)
    >>> net(torch.randn(2, 3, 12, 3, 2)).shape
    torch.Size([2, 4])
    """

    input_kind = "frames"

    def __init__(
        self,
        cfg: ModelConfig,
        adjacency: Tensor,
        in_channels: int,
        num_classes: int,
        edge_importance: bool = True,
        depth: Tensor | None = None,
    ) -> None:
        super().__init__()
        parts = PARTITIONS[cfg.stgcn_partitions](adjacency, depth)
        k, v = parts.shape[0], parts.shape[1]
        self.register_buffer("partition_matrices", parts)
        self.joint_graph = cfg.stgcn_persons == "graph"
        drop_in = float(getattr(cfg, "input_dropout", 0.0))
        self.in_dropout = nn.Dropout(drop_in) if drop_in > 0 else nn.Identity()
        self.input_norm = nn.BatchNorm1d(in_channels * v) if cfg.stgcn_input_norm else None
        blocks, cin = [], in_channels
        for i, c in enumerate(cfg.stgcn_channels):
            stride = 2 if i > 0 and c > cin else 1
            blocks.append(
                STGCNBlock(
                    cin,
                    c,
                    k,
                    v,
                    stride=stride,
                    residual=i > 0,
                    edge_importance=edge_importance,
                    adaptive=cfg.stgcn_adaptive,
                    attention=cfg.stgcn_attention,
                    temporal=cfg.stgcn_temporal,
                    gcn_residual=cfg.stgcn_gcn_residual,
                    dropout=cfg.stgcn_block_dropout if i > 0 else 0.0,
                )
            )
            cin = c
        self.blocks = nn.ModuleList(blocks)
        self.joint_head = cfg.stgcn_head == "joints"
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cin * v if self.joint_head else cin, num_classes)

    @classmethod
    def for_skeleton(
        cls,
        cfg: ModelConfig,
        in_features: int,
        num_joints: int,
        num_classes: int,
        edges: Sequence[tuple[int, int]],
        persons: int = 1,
    ) -> STGCN:
        """The network for ``persons`` bodies of ``num_joints / persons`` joints; ``edges`` over all
        joints, of which those of the first person give the shared graph (``stgcn_persons =
        "apart"``), or all of them plus a link between each joint and its counterparts in the
        other persons give the one graph of all joints (``"graph"``)."""
        per_person = num_joints // persons
        if cfg.stgcn_persons == "graph":
            m, per = range(persons), range(per_person)
            links = [(p * per_person + j, q * per_person + j) for p in m for q in m if q > p for j in per]
            depth = centre_depths(adjacency(edges, num_joints))  # each person's own centre
            return cls(cfg, skeleton_adjacency([*edges, *links], num_joints), in_features, num_classes, depth=depth)
        local = [(i, j) for i, j in edges if i < per_person and j < per_person]
        return cls(cfg, skeleton_adjacency(local, per_person), in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, classes) from frames ``x`` of layout (N, C, T, V, M)."""
        n, c, t, v, m = x.shape
        x = self.in_dropout(x)
        if self.joint_graph:  # one graph of the M·V joints, person after person
            h, m = x.permute(0, 1, 2, 4, 3).reshape(n, c, t, m * v), 1
        else:
            h = x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)
        if self.input_norm is not None:  # (N', C, T, V') -> (N', V'·C, T): each joint's channel
            b, _, _, w = h.shape
            h = self.input_norm(h.permute(0, 3, 1, 2).reshape(b, w * c, t)).view(b, w, c, t).permute(0, 2, 3, 1)
        for block in self.blocks:
            h = block(h, self.partition_matrices)
        h = h.mean(2).flatten(1) if self.joint_head else h.mean((2, 3))  # (N', C·V) or (N', C)
        h = h.view(n, m, -1).mean(1)  # then the persons
        return self.classifier(self.dropout(h))
