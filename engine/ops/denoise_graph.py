"""denoise_graph (DGD, SPEC section 5) and FREEDOM's degree-sensitive pruning: both keep-sample edges of the
train graph with probability proportional to 1/sqrt(d_u d_i) and renormalise over the kept edges.

Nothing here forms a users x items matrix: scores are computed on the edges only (O(E d)). The uniforms of
the keep-sampling are drawn from the torch generator in Python and handed to whichever backend runs, so
the C++ and the torch paths keep exactly the same edges for a given seed, whatever the thread count.
"""
from __future__ import annotations

import numpy as np
import torch

from . import _reference
from ._dispatch import register, select

register("edge_cosine", "torch", _reference.edge_cosine)


def _cpp_edge_cosine(user_emb, item_rep, edge_user, edge_item):
    from mcdrec import _C

    if user_emb.dtype not in (torch.float32, torch.float64):
        user_emb = user_emb.float()
    item_rep = item_rep.to(user_emb.dtype)
    out = _C.edge_cosine(user_emb.detach().contiguous().numpy(), item_rep.detach().contiguous().numpy(),
                         edge_user.contiguous().numpy(), edge_item.contiguous().numpy())
    return torch.from_numpy(out)


register("edge_cosine", "cpp", _cpp_edge_cosine)


def _torch_denoise_csr(n_users, n_items, edge_user, edge_item, probs, uniforms, scores, keep_ratio, tau,
                       multiply_weight):
    """Reference path: (crow [(U+I)+1], col [2K], values [2K] float32) of the symmetric training CSR."""
    from mcdrec.engine.graph.bipartite import bipartite_adjacency

    kept, values = _reference.denoise_graph_values(n_users, n_items, edge_user, edge_item, probs, uniforms,
                                                   scores, keep_ratio, tau, multiply_weight)
    adj = bipartite_adjacency(n_users, n_items, edge_user[kept].numpy(), edge_item[kept].numpy(), values.numpy())
    return adj.crow_indices(), adj.col_indices(), adj.values()


def _cpp_denoise_csr(n_users, n_items, edge_user, edge_item, probs, uniforms, scores, keep_ratio, tau,
                     multiply_weight):
    from mcdrec import _C

    n_keep = _reference.n_kept(edge_user.numel(), keep_ratio)
    sc = None if scores is None else scores.float().contiguous().numpy()
    crow, col, values, _ = _C.denoise_graph(n_users, n_items, edge_user.contiguous().numpy(),
                                            edge_item.contiguous().numpy(), probs.float().contiguous().numpy(),
                                            uniforms.double().contiguous().numpy(), sc, n_keep, float(tau),
                                            bool(multiply_weight))
    return torch.from_numpy(crow), torch.from_numpy(col), torch.from_numpy(values)


register("denoise_graph_csr", "torch", _torch_denoise_csr)
register("denoise_graph_csr", "cpp", _cpp_denoise_csr)


def edge_cosine(user_emb: torch.Tensor, item_rep: torch.Tensor, edge_user: torch.Tensor,
                edge_item: torch.Tensor) -> torch.Tensor:
    """user_emb: [n_users, d]; item_rep: [n_items, d]; edge_user, edge_item: [E] int64 -> cosine [E]."""
    _, fn = select("edge_cosine", user_emb.device)
    return fn(user_emb, item_rep, edge_user, edge_item)


def _uniforms(n: int, generator: torch.Generator | None) -> torch.Tensor:
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return u.clamp_(min=torch.finfo(torch.float64).tiny)  # log(0) would give a -inf key


def _edges(graph):
    """edge_user, edge_item [E] int64 in the graph's user-major order (edge id = position)."""
    return (torch.from_numpy(np.ascontiguousarray(graph.edge_user, dtype=np.int64)),
            torch.from_numpy(np.ascontiguousarray(graph.edge_item, dtype=np.int64)))


@torch.no_grad()
def denoise_graph(graph, user_emb: torch.Tensor | None, item_rep: torch.Tensor | None, keep_ratio: float = 0.9,
                  tau: float = 0.3, generator: torch.Generator | None = None,
                  multiply_weight: bool = False) -> torch.Tensor:
    """Training adjacency of DGD.

    graph: BipartiteGraph of the train split (edges user-major, items ascending); user_emb: [n_users, d];
    item_rep: [n_items, d] (S, or e at epoch 0). With user_emb/item_rep None every kept edge has weight 1
    (FREEDOM's pruning). Keeps floor(E * keep_ratio) edges drawn without replacement with probability
    proportional to 1/sqrt(d_u d_i); value D_u^-1/2 D_i^-1/2 (times the weight 1 + tau * cos if
    multiply_weight), degrees summed over kept edges with weights.
    Returns the symmetric sparse CSR [(U+I), (U+I)] (int64 indices, float32) on user_emb's device (CPU when None).
    """
    if generator is not None and generator.device.type != "cpu":
        raise ValueError(f"denoise_graph: generator must be a CPU torch.Generator (the edge sampling draws its "
                         f"uniforms on the CPU), got one on {generator.device}")
    if not -1.0 < tau < 1.0:
        raise ValueError(f"denoise_graph: tau must be in (-1, 1) so that edge weights 1 + tau * cos stay "
                         f"positive, got {tau}")
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"denoise_graph: keep_ratio must be in (0, 1], got {keep_ratio}")
    if (user_emb is None) != (item_rep is None):
        raise ValueError("denoise_graph: pass both user_emb and item_rep, or neither")
    device = user_emb.device if user_emb is not None else torch.device("cpu")
    edge_user, edge_item = _edges(graph)
    probs = torch.as_tensor(graph.norm_values())
    uniforms = _uniforms(edge_user.numel(), generator)
    scores = None
    if user_emb is not None:
        if user_emb.shape[0] != graph.n_users or item_rep.shape[0] != graph.n_items:
            raise ValueError(f"denoise_graph: user_emb {tuple(user_emb.shape)} / item_rep {tuple(item_rep.shape)} "
                             f"do not match the graph's {graph.n_users} users / {graph.n_items} items")
        scores = edge_cosine(user_emb.detach(), item_rep.detach(), edge_user.to(device), edge_item.to(device)).cpu()
    _, fn = select("denoise_graph_csr", torch.device("cpu"))
    crow, col, values = fn(graph.n_users, graph.n_items, edge_user, edge_item, probs, uniforms, scores,
                           keep_ratio, tau, multiply_weight)
    n = graph.n_users + graph.n_items
    return torch.sparse_csr_tensor(crow.to(device), col.to(device), values.to(device), size=(n, n),
                                   check_invariants=False)  # built and checked in C++


def prune_graph(graph, keep_ratio: float, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """FREEDOM's per-epoch degree-sensitive edge pruning: denoise_graph with unit edge weights."""
    adj = denoise_graph(graph, None, None, keep_ratio=keep_ratio, tau=0.0, generator=generator)
    return adj.to(device)
