"""Losses shared by the models, with MMRec's exact definitions."""
from __future__ import annotations

import torch


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """-mean(log(1e-10 + sigmoid(pos - neg))). pos, neg: [b]."""
    return -torch.log(1e-10 + torch.sigmoid(pos - neg)).mean()


def emb_loss(*tables: torch.Tensor) -> torch.Tensor:
    """MMRec's EmbLoss: sum of the Frobenius norms divided by the row count of the LAST table."""
    total = tables[-1].new_zeros(())
    for t in tables:
        total = total + torch.linalg.vector_norm(t)
    return total / tables[-1].shape[0]
