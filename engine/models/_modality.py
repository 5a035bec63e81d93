"""Pieces shared by the multimodal models: trainable modality features with their projections, the fusion
MLP of MCDRec, and BM3's loss (MMRec's definitions, SPEC section 3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import mcdrec.ops as ops

from .losses import bpr_loss, emb_loss


def id_embedding(n: int, d: int) -> nn.Parameter:
    """[n, d] id table, Xavier-uniform as in MMRec."""
    w = torch.empty(n, d)
    nn.init.xavier_uniform_(w)
    return nn.Parameter(w)


FEATURE_NORMS = ("none", "l2", "center_l2")


def normalize_features(f: torch.Tensor, mode: str) -> torch.Tensor:
    """f: [n_items, d_m] float32 -> a new tensor, normalised per `mode` (see ModalityEncoder)."""
    if mode == "center_l2":
        f = f - f.mean(dim=0, keepdim=True)
    return F.normalize(f, dim=1) if mode in ("l2", "center_l2") else f.clone()


class ModalityEncoder(nn.Module):
    """One trainable feature table per modality (initialised from the dataset's features, as MMRec's
    `Embedding.from_pretrained(freeze=False)`) and one Linear(d_m, d) projection each.

    The modality order is the dataset's; `names` keeps it so callers can pick e.g. "image".
    normalize (not in MMRec; see docs/results.md, "the oscillation"): how the tables start -
    "none" (raw features, the reference), "l2" (each item's row L2-normalised), or "center_l2" (each
    dimension's mean over items subtracted, then rows L2-normalised). Raw TikTok image rows have norm ~33
    and share one direction (mean pairwise cosine 0.86), which then dominates MCDRec's fusion MLP.
    True / False are read as "l2" / "none".
    """

    def __init__(self, features: dict[str, torch.Tensor], d: int, normalize: str | bool = "none"):
        super().__init__()
        mode = {True: "l2", False: "none"}.get(normalize, normalize) if isinstance(normalize, bool) else normalize
        if mode not in FEATURE_NORMS:
            raise ValueError(f"feature_norm: expected one of {', '.join(FEATURE_NORMS)}, got {normalize!r}")
        self.names = list(features)
        self.tables = nn.ParameterDict()
        self.proj = nn.ModuleDict()
        for m, f in features.items():  # f: [n_items, d_m]
            self.tables[m] = nn.Parameter(normalize_features(f.detach().float(), mode))
            lin = nn.Linear(f.shape[1], d)
            nn.init.xavier_normal_(lin.weight)
            self.proj[m] = lin

    def __len__(self) -> int:
        return len(self.names)

    def project(self) -> list[torch.Tensor]:
        """Projected features of all items, one [n_items, d] tensor per modality."""
        return [self.proj[m](self.tables[m]) for m in self.names]


class FusionMLP(nn.Module):
    """MCDRec's item-input MLP: [(1+M) d] -> 128 -> 64 -> d, ReLU and dropout after the first two layers."""

    def __init__(self, n_in: int, d: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, 128), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(128, 64), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(64, d),
        )
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight)  # the reference's initialisation

    def forward(self, x_fused: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """x_fused: [n, d]; feats: M tensors [n, d] -> [n, d]."""
        return self.net(torch.cat([x_fused, *feats], dim=-1))


def lightgcn(adj: torch.Tensor, user: torch.Tensor, item: torch.Tensor, n_layers: int):
    """LightGCN layer mean over the [(U+I), (U+I)] adjacency. user: [U, d]; item: [I, d] -> ([U, d], [I, d])."""
    out = ops.propagate(adj, torch.cat([user, item], dim=0), n_layers)
    return out[: user.shape[0]], out[user.shape[0]:]


def item_graph_propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """FREEDOM's item-item branch: A^L x (the last layer, not a layer mean). adj: sparse [I, I]; x: [I, d].

    The kNN graph has I*k non-zeros (small next to the user-item graph), so a plain sparse product suffices.
    """
    for _ in range(n_layers):
        x = torch.sparse.mm(adj, x)
    return x


def cosine_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - mean cosine similarity of matching rows. a, b: [n, d] -> scalar."""
    return 1.0 - F.cosine_similarity(a, b, dim=-1).mean()


def dot_bpr_loss(u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """BPR on dot products. u, pos, neg: [b, d] -> scalar."""
    return bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))


def bm3_loss(predictor: nn.Module, u_all: torch.Tensor, i_all: torch.Tensor, feats: list[torch.Tensor],
             users: torch.Tensor, items: torch.Tensor, dropout: float, reg_weight: float, cl_weight: float,
             align_target: torch.Tensor | None = None):
    """BM3's loss on one batch of (user, item) pairs.

    u_all: [U, d], i_all: [I, d] graph outputs; feats: M projected feature tables [I, d]; users, items: [b];
    align_target: [I, d] (MCDRec: the item id table) or None (BM3: the graph item target).
    Targets are detached and dropped out (always, as MMRec's F.dropout default). Returns (loss, parts).
    """
    u_on, i_on = u_all[users], i_all[items]  # [b, d]
    u_tgt = F.dropout(u_on.detach(), dropout, training=True)
    i_tgt = F.dropout(i_on.detach(), dropout, training=True)
    boot = cosine_loss(predictor(u_on), i_tgt) + cosine_loss(predictor(i_on), u_tgt)
    if align_target is None:
        a_tgt = i_tgt
    else:
        a_tgt = F.dropout(align_target.detach()[items], dropout, training=True)
    modal = u_all.new_zeros(())
    for f in feats:
        f_b = f[items]  # [b, d]
        f_on = predictor(f_b)
        f_tgt = F.dropout(f_b.detach(), dropout, training=True)
        modal = modal + cosine_loss(f_on, a_tgt) + cosine_loss(f_on, f_tgt)
    reg = emb_loss(u_all, i_all)
    loss = boot + reg_weight * reg + cl_weight * modal
    return loss, {"bootstrap": boot.detach(), "modal": modal.detach(), "reg": reg.detach()}
