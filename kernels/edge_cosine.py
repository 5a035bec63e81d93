"""Triton DGD edge scoring: cosine of the two endpoint rows of every edge, on edges only.

A program scores BLOCK_E edges, gathering their user and item rows in column blocks (dot product and
both squared norms accumulated together). The backward recomputes the three sums and scatters the
per-edge row gradients into the embedding gradients with atomic adds, in one kernel.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from mcdrec.engine.ops import _reference
from mcdrec.engine.ops._dispatch import register

from ._launch import FLOAT_DTYPES, cdiv, next_pow2

BLOCK_E = 32


@triton.jit
def _edge_sums(u_ptr, v_ptr, iu, iv, emask, D, BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr):
    dot = tl.zeros([BLOCK_E], dtype=tl.float32)
    nu = tl.zeros([BLOCK_E], dtype=tl.float32)
    nv = tl.zeros([BLOCK_E], dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        d = d0 + tl.arange(0, BLOCK_D)
        m = emask[:, None] & (d < D)[None, :]
        u = tl.load(u_ptr + iu[:, None] * D + d[None, :], mask=m, other=0.0).to(tl.float32)
        v = tl.load(v_ptr + iv[:, None] * D + d[None, :], mask=m, other=0.0).to(tl.float32)
        dot += tl.sum(u * v, axis=1)
        nu += tl.sum(u * u, axis=1)
        nv += tl.sum(v * v, axis=1)
    return dot, nu, nv


@triton.jit
def _edge_cos_fwd_kernel(u_ptr, v_ptr, eu_ptr, ei_ptr, out_ptr, E, D, eps,
                         BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr):
    e = tl.program_id(0).to(tl.int64) * BLOCK_E + tl.arange(0, BLOCK_E)
    emask = e < E
    iu = tl.load(eu_ptr + e, mask=emask, other=0).to(tl.int64)
    iv = tl.load(ei_ptr + e, mask=emask, other=0).to(tl.int64)
    dot, nu, nv = _edge_sums(u_ptr, v_ptr, iu, iv, emask, D, BLOCK_E, BLOCK_D)
    den = tl.maximum(tl.sqrt(nu) * tl.sqrt(nv), eps)
    tl.store(out_ptr + e, (dot / den).to(out_ptr.dtype.element_ty), mask=emask)


@triton.jit
def _edge_cos_bwd_kernel(g_ptr, u_ptr, v_ptr, eu_ptr, ei_ptr, gu_ptr, gv_ptr, E, D, eps,
                         BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr):
    """gu[eu] += g (v / den - cos u / |u|^2), gv[ei] += g (u / den - cos v / |v|^2); when the norm product
    is clamped to eps the denominator is a constant and only v / eps, u / eps remain."""
    e = tl.program_id(0).to(tl.int64) * BLOCK_E + tl.arange(0, BLOCK_E)
    emask = e < E
    iu = tl.load(eu_ptr + e, mask=emask, other=0).to(tl.int64)
    iv = tl.load(ei_ptr + e, mask=emask, other=0).to(tl.int64)
    g = tl.load(g_ptr + e, mask=emask, other=0.0).to(tl.float32)
    dot, nu, nv = _edge_sums(u_ptr, v_ptr, iu, iv, emask, D, BLOCK_E, BLOCK_D)
    prod = tl.sqrt(nu) * tl.sqrt(nv)
    clamped = prod <= eps
    den = tl.maximum(prod, eps)
    cos = dot / den
    cu = tl.where(clamped, 0.0, cos / tl.where(nu > 0, nu, 1.0))
    cv = tl.where(clamped, 0.0, cos / tl.where(nv > 0, nv, 1.0))
    for d0 in range(0, D, BLOCK_D):
        d = d0 + tl.arange(0, BLOCK_D)
        m = emask[:, None] & (d < D)[None, :]
        u = tl.load(u_ptr + iu[:, None] * D + d[None, :], mask=m, other=0.0).to(tl.float32)
        v = tl.load(v_ptr + iv[:, None] * D + d[None, :], mask=m, other=0.0).to(tl.float32)
        gu = g[:, None] * (v / den[:, None] - cu[:, None] * u)
        gv = g[:, None] * (u / den[:, None] - cv[:, None] * v)
        tl.atomic_add(gu_ptr + iu[:, None] * D + d[None, :], gu, mask=m)
        tl.atomic_add(gv_ptr + iv[:, None] * D + d[None, :], gv, mask=m)


def _block_d(d: int) -> int:
    return min(next_pow2(max(d, 1)), 64)


@torch.library.custom_op("mcdrec_triton::edge_cosine", mutates_args=())
def _edge_cosine(user_emb: torch.Tensor, item_rep: torch.Tensor, edge_user: torch.Tensor, edge_item: torch.Tensor,
                 eps: float) -> torch.Tensor:
    """user_emb: [n_users, d]; item_rep: [n_items, d]; edge_user, edge_item: [E] int -> cosine [E]."""
    u, v = user_emb.contiguous(), item_rep.contiguous()
    n_edges = edge_user.numel()
    out = torch.empty(n_edges, dtype=u.dtype, device=u.device)
    if n_edges:
        _edge_cos_fwd_kernel[(cdiv(n_edges, BLOCK_E),)](u, v, edge_user.contiguous(), edge_item.contiguous(), out,
                                                        n_edges, u.shape[1], eps, BLOCK_E=BLOCK_E,
                                                        BLOCK_D=_block_d(u.shape[1]))
    return out


@_edge_cosine.register_fake
def _(user_emb, item_rep, edge_user, edge_item, eps):
    return user_emb.new_empty(edge_user.shape[0])


@torch.library.custom_op("mcdrec_triton::edge_cosine_bwd", mutates_args=())
def _edge_cosine_bwd(grad: torch.Tensor, user_emb: torch.Tensor, item_rep: torch.Tensor, edge_user: torch.Tensor,
                     edge_item: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """grad: [E] -> (grad_user_emb [n_users, d], grad_item_rep [n_items, d])."""
    u, v = user_emb.contiguous(), item_rep.contiguous()
    gu = torch.zeros(u.shape, dtype=torch.float32, device=u.device)  # atomics accumulate in float32
    gv = torch.zeros(v.shape, dtype=torch.float32, device=v.device)
    n_edges = edge_user.numel()
    if n_edges:
        _edge_cos_bwd_kernel[(cdiv(n_edges, BLOCK_E),)](grad.contiguous(), u, v, edge_user.contiguous(),
                                                        edge_item.contiguous(), gu, gv, n_edges, u.shape[1], eps,
                                                        BLOCK_E=BLOCK_E, BLOCK_D=_block_d(u.shape[1]))
    return gu.to(u.dtype), gv.to(v.dtype)


@_edge_cosine_bwd.register_fake
def _(grad, user_emb, item_rep, edge_user, edge_item, eps):
    return (torch.empty_like(user_emb, memory_format=torch.contiguous_format),
            torch.empty_like(item_rep, memory_format=torch.contiguous_format))


def _setup(ctx, inputs, output):
    user_emb, item_rep, edge_user, edge_item, eps = inputs
    ctx.save_for_backward(user_emb, item_rep, edge_user, edge_item)
    ctx.eps = eps


def _backward(ctx, grad):
    user_emb, item_rep, edge_user, edge_item = ctx.saved_tensors
    gu, gv = _edge_cosine_bwd(grad, user_emb, item_rep, edge_user, edge_item, ctx.eps)
    return gu, gv, None, None, None


_edge_cosine.register_autograd(_backward, setup_context=_setup)


def edge_cosine(user_emb, item_rep, edge_user, edge_item, eps: float = 1e-8):
    """user_emb: [n_users, d]; item_rep: [n_items, d]; edge_user, edge_item: [E] int -> cosine [E]."""
    if (user_emb.dtype not in FLOAT_DTYPES or item_rep.dtype != user_emb.dtype or user_emb.dim() != 2
            or item_rep.shape[1:] != user_emb.shape[1:]):
        return _reference.edge_cosine(user_emb, item_rep, edge_user, edge_item, eps)
    return _edge_cosine(user_emb, item_rep, edge_user, edge_item, float(eps))


register("edge_cosine", "triton", edge_cosine)
