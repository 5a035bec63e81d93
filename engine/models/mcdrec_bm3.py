"""MCDRec(BM3) and its ablations (SPEC sections 4-6): BM3 with MRD-fused item inputs and DGD.

Per mini-batch: loss = BM3-variant loss (alignment target dropout(e), no BPR term) + diff_weight * L_diff
over all items. Item output = graph item output + e. Training propagates over the DGD adjacency drawn in
pre_epoch (full and dgd variants); evaluation always uses the full normalised graph.
"""
from __future__ import annotations

import torch

from ._mcdrec import MCDRecHooks, MCDRecParts
from ._modality import bm3_loss
from .bm3 import BM3


class MCDRecBM3(MCDRecHooks, BM3):
    """Names mcdrec-bm3 (variant full), bm3-mk, bm3-mrd, bm3-dgd. Config keys: BM3's plus `variant` and
    the keys MCDRecParts reads for that variant."""

    def __init__(self, dataset, config: dict):
        super().__init__(dataset, config)
        self.parts = MCDRecParts(config["variant"], self.n_items, self.d, len(self.modalities), config)
        self._train_adj: torch.Tensor | None = None

    def pre_epoch(self, epoch: int, generator: torch.Generator) -> None:
        if self.parts.use_dgd:
            self._train_adj = self.parts.dgd_adj(self.graph, self.user_emb, self.item_emb, generator)

    def train_adj(self) -> torch.Tensor:
        return self._train_adj if self._train_adj is not None else self.full_adj()

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        """users, pos: [b] int64 (neg unused, as in BM3)."""
        feats = self.modalities.project()  # M x [I, d]
        item_in, l_diff = self.parts.train_input(self.item_emb, feats)
        u_all, i_all = self.encode(self.train_adj(), item_in)
        loss, parts = bm3_loss(self.predictor, u_all, i_all, feats, users, pos, self.dropout,
                               self.reg_weight, self.cl_weight, align_target=self.item_emb)
        if l_diff is not None:
            loss = loss + l_diff
            parts["diff"] = l_diff.detach()
        return loss, parts
