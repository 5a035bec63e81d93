"""knn_graph: cosine top-k item-item graph in row blocks (never an n x n matrix), and FREEDOM's normalisation."""
from __future__ import annotations

import torch

from . import _reference
from ._dispatch import register, select

register("knn_graph", "torch", _reference.knn_graph)
register("knn_adjacency", "torch", _reference.knn_adjacency)


@torch.no_grad()
def knn_graph(features: torch.Tensor, k: int, block_rows: int = 1024):
    """features: [n, d] -> (indices [n, k] int64, similarities [n, k] float32); self included, ties -> lower index."""
    _, fn = select("knn_graph", features.device)
    return fn(features, k, block_rows)


def knn_adjacency(indices: torch.Tensor, n: int) -> torch.Tensor:
    """indices: [n, k] from knn_graph -> sparse CSR [n, n] with values D^-1/2 A D^-1/2 (FREEDOM)."""
    _, fn = select("knn_adjacency", indices.device)
    return fn(indices, n)
