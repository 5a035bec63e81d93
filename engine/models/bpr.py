"""BPR-MF: id embeddings scored by dot product, BPR loss + reg_weight * EmbLoss (MMRec's BPR)."""
from __future__ import annotations

import torch
from torch import nn

from .base import Recommender
from .losses import bpr_loss, emb_loss


class BPRMF(Recommender):
    def __init__(self, dataset, config: dict):
        super().__init__(dataset, config)
        d = int(config["embedding_size"])
        self.reg_weight = float(config["reg_weight"])
        self.user_embedding = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_users, d)))
        self.item_embedding = nn.Parameter(nn.init.xavier_normal_(torch.empty(self.n_items, d)))

    def loss(self, users, pos, neg):
        u = self.user_embedding[users]  # [b, d]
        p, n = self.item_embedding[pos], self.item_embedding[neg]
        mf = bpr_loss((u * p).sum(-1), (u * n).sum(-1))
        reg = emb_loss(u, p, n)
        return mf + self.reg_weight * reg, {"bpr": mf.detach(), "reg": reg.detach()}

    @torch.no_grad()
    def scores(self, users):
        return self.user_embedding[users] @ self.item_embedding.T
