"""FREEDOM (Zhou & Shen, MM'23; MMRec's freedom.py), SPEC section 3.

A frozen item-item kNN graph built from the raw features (engine/graph/item_knn.py), degree-sensitive edge
pruning of the user-item graph before each epoch, BPR loss plus reg_weight * BPR of the projected features.
Item output = LightGCN item output + A_mm^L (item input).
"""
from __future__ import annotations

import torch

import mcdrec.ops as ops
from mcdrec.engine.graph.item_knn import item_knn_adjacency

from ._modality import ModalityEncoder, dot_bpr_loss, id_embedding, item_graph_propagate, lightgcn
from .base import CachedTowers


class FREEDOM(CachedTowers):
    """Config keys: embedding_size, knn_k, mm_image_weight, n_mm_layers, n_ui_layers, dropout (edge pruning
    ratio), reg_weight, feature_norm."""

    needs_features = True

    def __init__(self, dataset, config: dict):
        super().__init__(dataset, config)
        d = int(config["embedding_size"])
        self.d = d
        self.n_mm_layers = int(config["n_mm_layers"])
        self.n_ui_layers = int(config["n_ui_layers"])
        self.reg_weight = float(config["reg_weight"])
        self.graph = dataset.graph
        self.user_emb = id_embedding(self.n_users, d)  # [U, d]
        self.item_emb = id_embedding(self.n_items, d)  # [I, d]
        self.modalities = ModalityEncoder(dataset.features, d, normalize=config["feature_norm"])
        self._mm_adj = {"cpu": item_knn_adjacency(dataset.features, int(config["knn_k"]),
                                                  float(config["mm_image_weight"]))}  # device -> [I, I]
        self._train_adj: torch.Tensor | None = None

    def mm_adj(self) -> torch.Tensor:
        key = str(self.device)
        if key not in self._mm_adj:
            self._mm_adj[key] = self._mm_adj["cpu"].to(self.device)
        return self._mm_adj[key]

    def full_adj(self) -> torch.Tensor:
        return self.graph.norm_adj(self.device)

    def pre_epoch(self, epoch: int, generator: torch.Generator) -> None:
        p = float(self.config["dropout"])
        if p <= 0.0:
            self._train_adj = self.full_adj()
        else:
            self._train_adj = ops.prune_graph(self.graph, 1.0 - p, generator, self.device)

    def train_adj(self) -> torch.Tensor:
        return self._train_adj if self._train_adj is not None else self.full_adj()

    def encode(self, adj: torch.Tensor, item_in: torch.Tensor):
        """adj: [(U+I), (U+I)]; item_in: [I, d] -> (users [U, d], items [I, d])."""
        h = item_graph_propagate(self.mm_adj(), item_in, self.n_mm_layers)
        u, i = lightgcn(adj, self.user_emb, item_in, self.n_ui_layers)
        return u, i + h

    def freedom_loss(self, u_all, i_all, feats, users, pos, neg):
        """u_all: [U, d]; i_all: [I, d]; feats: M tables [I, d]; users, pos, neg: [b]."""
        u = u_all[users]
        mf = dot_bpr_loss(u, i_all[pos], i_all[neg])
        feat = u_all.new_zeros(())
        for f in feats:
            feat = feat + dot_bpr_loss(u, f[pos], f[neg])
        return mf + self.reg_weight * feat, {"bpr": mf.detach(), "feat_bpr": feat.detach()}

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        """users, pos, neg: [b] int64."""
        u_all, i_all = self.encode(self.train_adj(), self.item_emb)
        return self.freedom_loss(u_all, i_all, self.modalities.project(), users, pos, neg)

    @torch.no_grad()
    def eval_item_input(self) -> torch.Tensor:
        return self.item_emb

    @torch.no_grad()
    def eval_tables(self):
        """user and item outputs of the full graphs: [U, d], [I, d]."""
        return self.encode(self.full_adj(), self.eval_item_input())
