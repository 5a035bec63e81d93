"""BM3 (Zhou et al., WWW'23; MMRec's bm3.py), SPEC section 3: self-supervised bootstrap without negatives.

Id embeddings, one predictor Linear(d, d), trainable modality features projected to d, LightGCN over the
symmetric normalised user-item graph (layer mean over 0..L); item output = graph item + item id embedding.
"""
from __future__ import annotations

import torch
from torch import nn

from ._modality import ModalityEncoder, bm3_loss, id_embedding, lightgcn
from .base import CachedTowers


class BM3(CachedTowers):
    """Config keys: embedding_size, n_layers, dropout (target dropout), reg_weight, cl_weight, feature_norm."""

    needs_features = True

    def __init__(self, dataset, config: dict):
        super().__init__(dataset, config)
        d = int(config["embedding_size"])
        self.d = d
        self.n_layers = int(config["n_layers"])
        self.dropout = float(config["dropout"])
        self.reg_weight = float(config["reg_weight"])
        self.cl_weight = float(config["cl_weight"])
        self.graph = dataset.graph
        self.user_emb = id_embedding(self.n_users, d)  # [U, d]
        self.item_emb = id_embedding(self.n_items, d)  # [I, d]: e
        self.predictor = nn.Linear(d, d)
        nn.init.xavier_normal_(self.predictor.weight)
        self.modalities = ModalityEncoder(dataset.features, d, normalize=config["feature_norm"])

    def full_adj(self) -> torch.Tensor:
        """The full symmetric normalised graph [(U+I), (U+I)] on the model's device (cached by the graph)."""
        return self.graph.norm_adj(self.device)

    def train_adj(self) -> torch.Tensor:
        """The adjacency used for training propagation (BM3: the full graph)."""
        return self.full_adj()

    def encode(self, adj: torch.Tensor, item_in: torch.Tensor):
        """adj: [(U+I), (U+I)]; item_in: [I, d] item node input -> (users [U, d], items [I, d])."""
        u, i = lightgcn(adj, self.user_emb, item_in, self.n_layers)
        return u, i + self.item_emb

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        """users, pos: [b] int64 (BM3 uses no negatives; neg is ignored)."""
        u_all, i_all = self.encode(self.train_adj(), self.item_emb)
        return bm3_loss(self.predictor, u_all, i_all, self.modalities.project(), users, pos,
                        self.dropout, self.reg_weight, self.cl_weight)

    @torch.no_grad()
    def eval_item_input(self) -> torch.Tensor:
        """[I, d] item node input at evaluation."""
        return self.item_emb

    @torch.no_grad()
    def eval_tables(self):
        """predictor(user), predictor(item) over the full graph's outputs: [U, d], [I, d]."""
        u_all, i_all = self.encode(self.full_adj(), self.eval_item_input())
        return self.predictor(u_all), self.predictor(i_all)
