"""LightGCN: mean over layers 0..L of the symmetric-normalised user-item propagation (MMRec's LightGCN)."""
from __future__ import annotations

import torch
from torch import nn

from mcdrec.engine import ops

from .base import Recommender
from .losses import bpr_loss, emb_loss


class LightGCN(Recommender):
    def __init__(self, dataset, config: dict):
        super().__init__(dataset, config)
        d = int(config["embedding_size"])
        self.n_layers = int(config["n_layers"])
        self.reg_weight = float(config["reg_weight"])
        self.graph = dataset.graph
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.n_users, d)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.n_items, d)))
        self._user_out = None
        self._item_out = None

    def propagate(self):
        """-> (users [n_users, d], items [n_items, d]) after propagation over the full normalised graph."""
        adj = self.graph.norm_adj(self.device)
        x = torch.cat([self.user_embedding, self.item_embedding], 0)  # [U + I, d]
        out = ops.propagate(adj, x, self.n_layers)
        return out[: self.n_users], out[self.n_users:]

    def loss(self, users, pos, neg):
        u_all, i_all = self.propagate()
        u, p, n = u_all[users], i_all[pos], i_all[neg]
        mf = bpr_loss((u * p).sum(-1), (u * n).sum(-1))
        reg = emb_loss(self.user_embedding[users], self.item_embedding[pos], self.item_embedding[neg])
        return mf + self.reg_weight * reg, {"bpr": mf.detach(), "reg": reg.detach()}

    @torch.no_grad()
    def prepare_eval(self):
        self._user_out, self._item_out = self.propagate()

    @torch.no_grad()
    def scores(self, users):
        if self._user_out is None:
            self.prepare_eval()
        return self._user_out[users] @ self._item_out.T

    def train(self, mode: bool = True):
        self._user_out = self._item_out = None  # cached eval outputs go stale once training resumes
        return super().train(mode)
