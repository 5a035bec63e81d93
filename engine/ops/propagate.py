"""propagate: LightGCN layer mean over a sparse adjacency (mean over layers 0..L of A^l x)."""
from __future__ import annotations

import torch

from . import _reference
from ._dispatch import register, select

register("propagate", "torch", _reference.propagate)


def propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """adj: torch sparse CSR [n, n] float32; x: [n, d] -> [n, d] = mean_{l=0..L} A^l x."""
    if n_layers < 0:
        raise ValueError(f"propagate: n_layers must be >= 0, got {n_layers}")
    if adj.shape[1] != x.shape[0]:
        raise ValueError(f"propagate: adj has shape {tuple(adj.shape)} but x has {x.shape[0]} rows")
    _, fn = select("propagate", x.device)
    return fn(adj, x, n_layers)
