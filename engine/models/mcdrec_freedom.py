"""MCDRec(FREEDOM) (SPEC section 6): FREEDOM whose item id input to both graphs (the frozen kNN graph and
the user-item graph) is MRD's fused input, and whose per-epoch pruning is DGD (keep ratio 1 - dropout_adj).

The reference released only the BM3 variant; this follows the paper's description. Loss = FREEDOM's loss
(BPR + reg_weight * feature BPR) + diff_weight * L_diff over all items.
"""
from __future__ import annotations

import torch

from ._mcdrec import MCDRecHooks, MCDRecParts
from .freedom import FREEDOM


class MCDRecFREEDOM(MCDRecHooks, FREEDOM):
    """Config keys: FREEDOM's except `dropout` (DGD's dropout_adj replaces it) plus the full variant's keys."""

    def __init__(self, dataset, config: dict):
        super().__init__(dataset, config)
        self.parts = MCDRecParts("full", self.n_items, self.d, len(self.modalities), config)

    def pre_epoch(self, epoch: int, generator: torch.Generator) -> None:
        self._train_adj = self.parts.dgd_adj(self.graph, self.user_emb, self.item_emb, generator)

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        """users, pos, neg: [b] int64."""
        feats = self.modalities.project()  # M x [I, d]
        item_in, l_diff = self.parts.train_input(self.item_emb, feats)
        u_all, i_all = self.encode(self.train_adj(), item_in)
        loss, parts = self.freedom_loss(u_all, i_all, feats, users, pos, neg)
        loss = loss + l_diff
        parts["diff"] = l_diff.detach()
        return loss, parts
