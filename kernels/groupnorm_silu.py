"""Triton GroupNorm + time-embedding add + swish, forward and fused backward.

x [N, C, *spatial] contiguous is viewed as rows of one (sample, group) each: [N * G, GS] with
GS = (C / G) * HW elements, contiguous. A program normalises ROWS such rows held in registers. Element
(r, j) belongs to channel c = (r % G) * CPG + j // HW and sample r // G, so its temb entry sits at
r * CPG + j // HW of the [N, C] time embedding. The backward recomputes the group statistics from x
(cheaper than storing them: the row is in registers anyway) and writes dx, dtemb and per-(sample,
channel) partial sums for dweight / dbias, reduced over samples by one small torch sum.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from mcdrec.engine.ops import _reference
from mcdrec.engine.ops._dispatch import register

from ._launch import FLOAT_DTYPES, cdiv, next_pow2

TILE = 2048  # elements per program
MAX_GROUP = 8192  # larger groups take the torch reference (one row must fit in registers)


@triton.jit
def _load_rows(x_ptr, temb_ptr, w_ptr, b_ptr, pid, n_rows, GS, HW, G, eps,
               HAS_TEMB: tl.constexpr, CPG: tl.constexpr, ROWS: tl.constexpr, BLOCK_GS: tl.constexpr):
    rows = pid * ROWS + tl.arange(0, ROWS)  # [ROWS]
    cols = tl.arange(0, BLOCK_GS)  # [BLOCK_GS]
    mask = (rows < n_rows)[:, None] & (cols < GS)[None, :]
    lc = cols // HW  # local channel of each column
    offs = rows[:, None] * GS + cols[None, :]
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_TEMB:
        x += tl.load(temb_ptr + rows[:, None] * CPG + lc[None, :], mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=1) / GS
    xc = tl.where(mask, x - mean[:, None], 0.0)
    rstd = tl.rsqrt(tl.sum(xc * xc, axis=1) / GS + eps)
    xhat = xc * rstd[:, None]
    ch = (rows % G)[:, None] * CPG + lc[None, :]
    w = tl.load(w_ptr + ch, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + ch, mask=mask, other=0.0).to(tl.float32)
    y = xhat * w + b
    return rows, lc, mask, offs, xhat, rstd, w, y


@triton.jit
def _gn_silu_fwd_kernel(x_ptr, temb_ptr, w_ptr, b_ptr, out_ptr, n_rows, GS, HW, G, eps,
                        HAS_TEMB: tl.constexpr, CPG: tl.constexpr, ROWS: tl.constexpr, BLOCK_GS: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    rows, lc, mask, offs, xhat, rstd, w, y = _load_rows(x_ptr, temb_ptr, w_ptr, b_ptr, pid, n_rows, GS, HW, G,
                                                        eps, HAS_TEMB, CPG, ROWS, BLOCK_GS)
    out = y / (1.0 + tl.exp(-y))
    tl.store(out_ptr + offs, out.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _gn_silu_bwd_kernel(g_ptr, x_ptr, temb_ptr, w_ptr, b_ptr, gx_ptr, gtemb_ptr, gwb_ptr, n_rows, GS, HW, G, eps,
                        HAS_TEMB: tl.constexpr, CPG: tl.constexpr, ROWS: tl.constexpr, BLOCK_GS: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    rows, lc, mask, offs, xhat, rstd, w, y = _load_rows(x_ptr, temb_ptr, w_ptr, b_ptr, pid, n_rows, GS, HW, G,
                                                        eps, HAS_TEMB, CPG, ROWS, BLOCK_GS)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    s = 1.0 / (1.0 + tl.exp(-y))
    gy = tl.where(mask, g * s * (1.0 + y * (1.0 - s)), 0.0)  # d swish / dy
    gxh = gy * w
    m1 = tl.sum(gxh, axis=1) / GS
    m2 = tl.sum(gxh * xhat, axis=1) / GS
    gx = rstd[:, None] * (gxh - m1[:, None] - xhat * m2[:, None])
    tl.store(gx_ptr + offs, gx.to(gx_ptr.dtype.element_ty), mask=mask)
    rmask = rows < n_rows
    n_part = n_rows * CPG
    for k in tl.static_range(CPG):
        sel = mask & (lc == k)[None, :]
        # rows * CPG + k is the (sample, channel) slot n * C + c of an [N, C] array
        tl.store(gwb_ptr + rows * CPG + k, tl.sum(tl.where(sel, gy * xhat, 0.0), axis=1), mask=rmask)
        tl.store(gwb_ptr + n_part + rows * CPG + k, tl.sum(tl.where(sel, gy, 0.0), axis=1), mask=rmask)
        if HAS_TEMB:
            gt = tl.sum(tl.where(sel, gx, 0.0), axis=1)
            tl.store(gtemb_ptr + rows * CPG + k, gt.to(gtemb_ptr.dtype.element_ty), mask=rmask)


def _geometry(x: torch.Tensor, num_groups: int):
    n, c = x.shape[0], x.shape[1]
    hw = math.prod(x.shape[2:])
    cpg = c // num_groups
    gs = cpg * hw
    block_gs = next_pow2(gs)
    rows = max(1, min(TILE // block_gs, next_pow2(n * num_groups)))
    return n * num_groups, gs, hw, cpg, rows, block_gs


def _forward_impl(x, num_groups, weight, bias, temb, eps):
    x = x.contiguous()
    out = torch.empty_like(x)
    n_rows, gs, hw, cpg, rows, block_gs = _geometry(x, num_groups)
    if x.numel():
        tb = temb.contiguous() if temb is not None else x
        _gn_silu_fwd_kernel[(cdiv(n_rows, rows),)](x, tb, weight.contiguous(), bias.contiguous(), out, n_rows, gs,
                                                   hw, num_groups, eps, HAS_TEMB=temb is not None, CPG=cpg,
                                                   ROWS=rows, BLOCK_GS=block_gs)
    return out


@torch.library.custom_op("mcdrec_triton::groupnorm_silu", mutates_args=())
def _groupnorm_silu(x: torch.Tensor, num_groups: int, weight: torch.Tensor, bias: torch.Tensor,
                    temb: torch.Tensor | None, eps: float) -> torch.Tensor:
    """x: [N, C, *spatial]; weight, bias: [C]; temb: [N, C] or None -> swish(GN(x + temb)) like x."""
    return _forward_impl(x, num_groups, weight, bias, temb, eps)


@_groupnorm_silu.register_fake
def _(x, num_groups, weight, bias, temb, eps):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _backward_impl(grad, x, num_groups, weight, bias, temb, eps):
    x, grad = x.contiguous(), grad.contiguous()
    n, c = x.shape[0], x.shape[1]
    n_rows, gs, hw, cpg, rows, block_gs = _geometry(x, num_groups)
    gx = torch.empty_like(x)
    gwb = torch.empty(2, n, c, dtype=torch.float32, device=x.device)  # per-sample partials of dweight, dbias
    gtemb = torch.empty(n, c, dtype=temb.dtype, device=x.device) if temb is not None else x.new_empty(0)
    if x.numel():
        tb = temb.contiguous() if temb is not None else x
        _gn_silu_bwd_kernel[(cdiv(n_rows, rows),)](grad, x, tb, weight.contiguous(), bias.contiguous(), gx,
                                                   gtemb if temb is not None else gx, gwb, n_rows, gs, hw,
                                                   num_groups, eps, HAS_TEMB=temb is not None, CPG=cpg,
                                                   ROWS=rows, BLOCK_GS=block_gs)
    else:
        gwb.zero_()
        gtemb.zero_()
    gw = gwb[0].sum(0).to(weight.dtype)  # [C]
    gb = gwb[1].sum(0).to(bias.dtype)  # [C]
    return gx, gw, gb, gtemb


@torch.library.custom_op("mcdrec_triton::groupnorm_silu_bwd", mutates_args=())
def _groupnorm_silu_bwd(grad: torch.Tensor, x: torch.Tensor, num_groups: int, weight: torch.Tensor,
                        bias: torch.Tensor, temb: torch.Tensor | None,
                        eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """grad, x: [N, C, *spatial] -> (grad_x like x, grad_weight [C], grad_bias [C], grad_temb [N, C] or [0])."""
    return _backward_impl(grad, x, num_groups, weight, bias, temb, eps)


@_groupnorm_silu_bwd.register_fake
def _(grad, x, num_groups, weight, bias, temb, eps):
    gtemb = temb.new_empty(x.shape[0], x.shape[1]) if temb is not None else x.new_empty(0)
    return (torch.empty_like(x, memory_format=torch.contiguous_format), torch.empty_like(weight),
            torch.empty_like(bias), gtemb)


def _setup(ctx, inputs, output):
    x, num_groups, weight, bias, temb, eps = inputs
    ctx.num_groups, ctx.eps, ctx.has_temb = num_groups, eps, temb is not None
    ctx.save_for_backward(x, weight, bias, temb)


def _backward(ctx, grad):
    x, weight, bias, temb = ctx.saved_tensors
    gx, gw, gb, gtemb = _groupnorm_silu_bwd(grad, x, ctx.num_groups, weight, bias, temb, ctx.eps)
    return gx, None, gw, gb, (gtemb if ctx.has_temb else None), None


_groupnorm_silu.register_autograd(_backward, setup_context=_setup)


class _GroupNormSiluFn(torch.autograd.Function):
    """Eager path: the same launchers without the custom-op dispatch, whose Python cost exceeds the
    kernel's time at the denoiser's sizes; torch.compile traces the custom op instead."""

    @staticmethod
    def forward(ctx, x, num_groups, weight, bias, temb, eps):
        ctx.num_groups, ctx.eps, ctx.has_temb = num_groups, eps, temb is not None
        ctx.save_for_backward(x, weight, bias, temb)
        return _forward_impl(x, num_groups, weight, bias, temb, eps)

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias, temb = ctx.saved_tensors
        gx, gw, gb, gtemb = _backward_impl(grad, x, ctx.num_groups, weight, bias, temb, ctx.eps)
        return gx, None, gw, gb, (gtemb if ctx.has_temb else None), None


def groupnorm_silu(x, num_groups, weight, bias, temb=None, eps=1e-6):
    """x: [N, C, *spatial]; weight, bias: [C]; temb: [N, C] or None -> swish(GroupNorm(x + temb))."""
    fits = (x.dim() >= 2 and x.dtype in FLOAT_DTYPES and weight is not None and bias is not None
            and (temb is None or (temb.dtype == x.dtype and temb.shape == x.shape[:2]))
            and next_pow2((x.shape[1] // num_groups) * math.prod(x.shape[2:])) <= MAX_GROUP)
    if not fits:
        return _reference.groupnorm_silu(x, num_groups, weight, bias, temb, eps)
    if torch.compiler.is_compiling():
        return _groupnorm_silu(x, num_groups, weight, bias, temb, float(eps))
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad or bias.requires_grad
                                    or (temb is not None and temb.requires_grad)):
        return _GroupNormSiluFn.apply(x, num_groups, weight, bias, temb, float(eps))
    return _forward_impl(x, num_groups, weight, bias, temb, float(eps))


register("groupnorm_silu", "triton", groupnorm_silu)
