"""denoise_graph (DGD, SPEC section 5) and FREEDOM's degree-sensitive pruning: both keep-sample edges of the
train graph with probability proportional to 1/sqrt(d_u d_i) and renormalise over the kept edges."""
from __future__ import annotations

import torch

from . import _reference
from ._dispatch import register, select

register("edge_cosine", "torch", _reference.edge_cosine)
register("denoise_graph_values", "torch", _reference.denoise_graph_values)


def edge_cosine(user_emb: torch.Tensor, item_rep: torch.Tensor, edge_user: torch.Tensor,
                edge_item: torch.Tensor) -> torch.Tensor:
    """user_emb: [n_users, d]; item_rep: [n_items, d]; edge_user, edge_item: [E] int64 -> cosine [E]."""
    _, fn = select("edge_cosine", user_emb.device)
    return fn(user_emb, item_rep, edge_user, edge_item)


def _uniforms(n: int, generator: torch.Generator | None) -> torch.Tensor:
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return u.clamp_(min=torch.finfo(torch.float64).tiny)  # log(0) would give a -inf key


@torch.no_grad()
def denoise_graph(graph, user_emb: torch.Tensor | None, item_rep: torch.Tensor | None, keep_ratio: float = 0.9,
                  tau: float = 0.3, generator: torch.Generator | None = None,
                  multiply_weight: bool = False) -> torch.Tensor:
    """Training adjacency of DGD.

    graph: BipartiteGraph of the train split; user_emb: [n_users, d]; item_rep: [n_items, d] (S, or e at
    epoch 0). With user_emb/item_rep None every kept edge has weight 1 (FREEDOM's pruning).
    Returns the symmetric sparse CSR [(U+I), (U+I)] on user_emb's device (CPU when None).
    """
    from mcdrec.engine.graph.bipartite import bipartite_adjacency

    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"denoise_graph: keep_ratio must be in (0, 1], got {keep_ratio}")
    device = user_emb.device if user_emb is not None else torch.device("cpu")
    edge_user = torch.as_tensor(graph.edge_user)
    edge_item = torch.as_tensor(graph.edge_item)
    probs = torch.as_tensor(graph.norm_values())
    uniforms = _uniforms(edge_user.numel(), generator)
    scores = None
    if user_emb is not None:
        scores = edge_cosine(user_emb.detach(), item_rep.detach(), edge_user.to(device), edge_item.to(device)).cpu()
    _, fn = select("denoise_graph_values", torch.device("cpu"))
    kept, values = fn(graph.n_users, graph.n_items, edge_user, edge_item, probs, uniforms, scores,
                      keep_ratio, tau, multiply_weight)
    return bipartite_adjacency(graph.n_users, graph.n_items, edge_user[kept].numpy(), edge_item[kept].numpy(),
                               values.numpy(), device=device)


def prune_graph(graph, keep_ratio: float, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """FREEDOM's per-epoch degree-sensitive edge pruning: denoise_graph with unit edge weights."""
    adj = denoise_graph(graph, None, None, keep_ratio=keep_ratio, tau=0.0, generator=generator)
    return adj.to(device)
