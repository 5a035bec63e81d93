"""Pure-torch references of every hot op: the oracle the tests compare against and the fallback backend.

They favour clarity over speed, but never build a users x items or items x items dense matrix where the
op's contract forbids it (denoise_graph scores edges only; knn_graph works in row blocks).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


# ---------------------------------------------------------------- graph propagation
def propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """LightGCN layer mean: (1/(L+1)) * sum_{l=0..L} A^l x.

    adj: sparse [n, n] (CSR or COO); x: [n, d] dense.
    """
    h, acc = x, x
    for _ in range(n_layers):
        h = torch.sparse.mm(adj, h)
        acc = acc + h
    return acc / (n_layers + 1)


# ---------------------------------------------------------------- graph denoising (DGD) and pruning
def edge_cosine(user_emb: torch.Tensor, item_rep: torch.Tensor, edge_user: torch.Tensor,
                edge_item: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine of the two endpoint rows of each edge, on edges only.

    user_emb: [n_users, d]; item_rep: [n_items, d]; edge_user, edge_item: [E] int64 -> [E].
    """
    u = user_emb.index_select(0, edge_user)
    v = item_rep.index_select(0, edge_item)
    num = (u * v).sum(-1)
    den = torch.clamp(u.norm(dim=-1) * v.norm(dim=-1), min=eps)
    return num / den


def keep_edges(probs: torch.Tensor, uniforms: torch.Tensor, n_keep: int) -> torch.Tensor:
    """Weighted sampling of n_keep edges without replacement by exponential keys (Efraimidis-Spirakis).

    probs: [E] positive weights (need not sum to 1); uniforms: [E] in (0, 1), the randomness.
    key_e = log(u_e) / w_e; the n_keep largest keys are kept. Ties broken by the lower edge id.
    Returns the kept edge ids [n_keep] int64, ascending.
    """
    keys = torch.log(uniforms.double()) / probs.double()
    order = torch.sort(keys, descending=True, stable=True).indices[:n_keep]
    return torch.sort(order).values


def n_kept(n_edges: int, keep_ratio: float) -> int:
    return int(math.floor(n_edges * keep_ratio))


def denoise_graph_values(n_users: int, n_items: int, edge_user: torch.Tensor, edge_item: torch.Tensor,
                         probs: torch.Tensor, uniforms: torch.Tensor, scores: torch.Tensor | None,
                         keep_ratio: float, tau: float, multiply_weight: bool = False):
    """DGD core (SPEC section 5): keep-sample, weight kept edges by 1 + tau * score, renormalise.

    edge_user, edge_item: [E] int64; probs: [E] (1/sqrt(d_u d_i) of the full graph); uniforms: [E];
    scores: [E] edge cosine or None (weight 1, FREEDOM's pruning).
    Returns (kept edge ids [K], values [K] float32) with value = D_u^-1/2 D_i^-1/2 (* weight if asked),
    degrees being sums of weights over kept edges.
    """
    kept = keep_edges(probs, uniforms, n_kept(edge_user.numel(), keep_ratio))
    eu, ei = edge_user[kept], edge_item[kept]
    if scores is None:
        weight = torch.ones(kept.numel(), dtype=torch.float64)
    else:
        weight = 1.0 + tau * scores[kept].double()
    deg_u = torch.zeros(n_users, dtype=torch.float64).index_add_(0, eu, weight)
    deg_i = torch.zeros(n_items, dtype=torch.float64).index_add_(0, ei, weight)
    values = deg_u[eu].rsqrt() * deg_i[ei].rsqrt()
    if multiply_weight:
        values = values * weight
    return kept, values.float()


# ---------------------------------------------------------------- kNN item-item graph
def knn_graph(features: torch.Tensor, k: int, block_rows: int = 1024):
    """Cosine top-k per row (self included), computed in row blocks; ties broken by the lower index.

    features: [n, d] -> (indices [n, k] int64, similarities [n, k] float32), rows sorted by similarity.
    """
    n = features.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"knn_graph: k={k} must be in [1, n={n}]")
    x = features.double()
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    idx_out = torch.empty(n, k, dtype=torch.int64)
    sim_out = torch.empty(n, k, dtype=torch.float32)
    for start in range(0, n, block_rows):
        sim = x[start:start + block_rows] @ x.T  # [b, n]
        order = torch.sort(sim, dim=1, descending=True, stable=True).indices[:, :k]
        idx_out[start:start + block_rows] = order
        sim_out[start:start + block_rows] = torch.gather(sim, 1, order).float()
    return idx_out, sim_out


def knn_adjacency(indices: torch.Tensor, n: int) -> torch.Tensor:
    """FREEDOM's normalised kNN graph: A[i, j] = 1 for j in knn(i), value D_i^-1/2 D_j^-1/2 with D the
    row sums (+1e-7). indices: [n, k] -> sparse CSR [n, n] float32."""
    k = indices.shape[1]
    rows = torch.arange(n).repeat_interleave(k)
    cols = indices.reshape(-1)
    row_sum = torch.zeros(n, dtype=torch.float64).index_add_(0, rows, torch.ones(rows.numel(), dtype=torch.float64))
    r_inv_sqrt = (row_sum + 1e-7).pow(-0.5)
    values = (r_inv_sqrt[rows] * r_inv_sqrt[cols]).float()
    coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n), check_invariants=True).coalesce()
    return coo.to_sparse_csr()


# ---------------------------------------------------------------- diffusion steps
def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, sqrt_ab: torch.Tensor,
             sqrt_1mab: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise.

    x0, noise: [n, d]; t: [n] int64; sqrt_ab, sqrt_1mab: [T].
    """
    return sqrt_ab[t].to(x0.dtype)[:, None] * x0 + sqrt_1mab[t].to(x0.dtype)[:, None] * noise


def x0_mse(x0_hat: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the x0 prediction (the diffusion loss). x0_hat, x0: [n, d] -> scalar."""
    return F.mse_loss(x0_hat, x0)


def p_sample_step(x_t: torch.Tensor, x0_hat: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                  coef1: torch.Tensor, coef2: torch.Tensor, log_var: torch.Tensor, last: bool) -> torch.Tensor:
    """One reverse step: posterior mean coef1[t] x0_hat + coef2[t] x_t, plus exp(log_var[t]/2) noise
    unless `last`. x_t, x0_hat, noise: [n, d]; t: [n] int64; coef1, coef2, log_var: [T]."""
    dt = x_t.dtype
    mean = coef1[t].to(dt)[:, None] * x0_hat + coef2[t].to(dt)[:, None] * x_t
    if last:
        return mean
    return mean + torch.exp(0.5 * log_var[t].to(dt))[:, None] * noise


def groupnorm_silu(x: torch.Tensor, num_groups: int, weight: torch.Tensor, bias: torch.Tensor,
                   temb: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """swish(GroupNorm(x + temb)). x: [N, C, H, W]; weight, bias: [C]; temb: [N, C] or None."""
    if temb is not None:
        x = x + temb[:, :, None, None]
    return F.silu(F.group_norm(x, num_groups, weight, bias, eps))
