"""The paper's backbone: multi-head attention graph convolutional network.

Each head h produces a node-to-node matrix A_h from the node embeddings (scaled dot-product
attention); the skeleton's own normalised adjacency is one extra, fixed head. A graph
convolution per head (A_h · X · W_h), a fully connected layer over all nodes and a linear
classifier follow. Every weight matrix is an ``nn.Linear`` so that pruning sees one uniform
kind of tensor; almost all weights sit in ``fc``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mrmp.config import ModelConfig
from mrmp.models.graph import skeleton_adjacency

__all__ = ["AttentionGCN"]


class AttentionGCN(nn.Module):
    """Attention GCN over per-joint chunk descriptors.

    Args:
        cfg: Sizes (``embed``, ``heads``, ``att_dim``, ``head_dim``, ``hidden``, ``dropout``).
        adjacency: Normalised skeleton adjacency (V, V).
        in_features: Descriptor size F per joint.
        num_classes: Output classes.

    >>> import torch
    >>> from mrmp.config import ModelConfig
    >>> net = AttentionGCN(ModelConfig(), torch.eye(5), in_features=12, num_classes=3)
    >>> net(torch.randn(2, 5, 12)).shape
    torch.Size([2, 3])
    """

    input_kind = "chunks"

    def __init__(self, cfg: ModelConfig, adjacency: Tensor, in_features: int, num_classes: int) -> None:
        super().__init__()
        v = adjacency.shape[0]
        self.heads, self.att_dim, self.head_dim = cfg.heads, cfg.att_dim, cfg.head_dim
        self.register_buffer("adjacency", adjacency.clone())
        self.embed = nn.Linear(in_features, cfg.embed)
        self.query = nn.Linear(cfg.embed, cfg.heads * cfg.att_dim, bias=False)
        self.key = nn.Linear(cfg.embed, cfg.heads * cfg.att_dim, bias=False)
        self.gconv = nn.Linear(cfg.embed, (cfg.heads + 1) * cfg.head_dim)
        self.fc = nn.Linear(v * (cfg.heads + 1) * cfg.head_dim, cfg.hidden)
        self.classifier = nn.Linear(cfg.hidden, num_classes)
        self.dropout = nn.Dropout(cfg.dropout)
        self.norm = nn.LayerNorm(cfg.embed) if cfg.norm else nn.Identity()
        self.in_dropout = nn.Dropout(cfg.input_dropout) if cfg.input_dropout > 0 else nn.Identity()

    @classmethod
    def for_skeleton(
        cls,
        cfg: ModelConfig,
        in_features: int,
        num_joints: int,
        num_classes: int,
        edges: Sequence[tuple[int, int]],
        persons: int = 1,
    ) -> AttentionGCN:
        """The network for a skeleton of ``num_joints`` nodes (all persons) joined by ``edges``."""
        return cls(cfg, skeleton_adjacency(edges, num_joints), in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, classes) from node descriptors ``x`` of layout (N, V, F)."""
        n, v, _ = x.shape
        h = self.norm(F.relu(self.embed(self.in_dropout(x))))  # (N, V, D)
        q = self.query(h).view(n, v, self.heads, self.att_dim).transpose(1, 2)  # (N, H, V, d)
        k = self.key(h).view(n, v, self.heads, self.att_dim).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(self.att_dim), dim=-1)  # (N, H, V, V)
        a = torch.cat([att, self.adjacency.expand(n, 1, v, v)], dim=1)  # (N, H+1, V, V)
        g = self.gconv(h).view(n, v, self.heads + 1, self.head_dim).transpose(1, 2)  # (N, H+1, V, c)
        z = F.relu(a @ g).transpose(1, 2).reshape(n, -1)  # (N, V·(H+1)·c)
        z = self.dropout(F.relu(self.fc(self.dropout(z))))
        return self.classifier(z)
