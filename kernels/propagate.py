"""Triton LightGCN propagation: mean over layers 0..L of A^l x, by a CSR row-parallel SpMM with the layer
sum fused in (each launch adds its layer into the running sum; the last one scales by 1/(L+1)).

The backward of mean_l A^l x is mean_l (A^T)^l g: the same op on the transpose. The transpose (A's CSC
arrays are A^T's CSR arrays) is built once per adjacency tensor and kept while that tensor lives.
"""
from __future__ import annotations

import weakref

import torch
import triton
import triton.language as tl

from mcdrec.engine.ops import _reference
from mcdrec.engine.ops._dispatch import register

from ._launch import FLOAT_DTYPES, next_pow2

BLOCK_NNZ = 16


@triton.jit
def _spmm_layer_kernel(crow_ptr, col_ptr, val_ptr, h_ptr, acc_ptr, h_out_ptr, acc_out_ptr, D, scale,
                       LAST: tl.constexpr, BLOCK_NNZ: tl.constexpr, BLOCK_D: tl.constexpr):
    """One layer for one row and one column block: s = A[row] h; acc_out = acc + s (times scale if LAST,
    else also h_out = s). acc_out may be acc itself: each program owns its row."""
    row = tl.program_id(0).to(tl.int64)
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)  # [BLOCK_D]
    dmask = d < D
    start = tl.load(crow_ptr + row).to(tl.int64)
    end = tl.load(crow_ptr + row + 1).to(tl.int64)
    s = tl.zeros([BLOCK_D], dtype=tl.float32)
    for k in range(start, end, BLOCK_NNZ):
        ks = k + tl.arange(0, BLOCK_NNZ)  # [BLOCK_NNZ]
        kmask = ks < end
        cols = tl.load(col_ptr + ks, mask=kmask, other=0).to(tl.int64)
        vals = tl.load(val_ptr + ks, mask=kmask, other=0.0).to(tl.float32)
        hv = tl.load(h_ptr + cols[:, None] * D + d[None, :], mask=kmask[:, None] & dmask[None, :], other=0.0)
        s += tl.sum(vals[:, None] * hv.to(tl.float32), axis=0)
    offs = row * D + d
    acc = tl.load(acc_ptr + offs, mask=dmask, other=0.0).to(tl.float32) + s
    if LAST:
        tl.store(acc_out_ptr + offs, (acc * scale).to(acc_out_ptr.dtype.element_ty), mask=dmask)
    else:
        tl.store(h_out_ptr + offs, s.to(h_out_ptr.dtype.element_ty), mask=dmask)
        tl.store(acc_out_ptr + offs, acc.to(acc_out_ptr.dtype.element_ty), mask=dmask)


def _layer_mean(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, x: torch.Tensor, n_layers: int):
    """crow: [n+1]; col, val: [nnz]; x: [m, d] contiguous -> [n, d] mean over layers (A square when L > 1)."""
    n, d = crow.numel() - 1, x.shape[1]
    if n_layers == 0:
        return x.clone()
    out = torch.empty(n, d, dtype=x.dtype, device=x.device)
    if out.numel() == 0:
        return out
    block_d = min(next_pow2(d), 128)
    grid = (n, triton.cdiv(d, block_d))
    h, acc = x, x
    for layer in range(n_layers):
        last = layer == n_layers - 1
        h_out = out if last else torch.empty_like(out)
        acc_out = out if last else (acc if acc is not x else torch.empty_like(out))
        _spmm_layer_kernel[grid](crow, col, val, h, acc, h_out, acc_out, d, 1.0 / (n_layers + 1), LAST=last,
                                 BLOCK_NNZ=BLOCK_NNZ, BLOCK_D=block_d, num_warps=2)
        h, acc = h_out, acc_out
    return out


@torch.library.custom_op("mcdrec_triton::propagate", mutates_args=())
def _propagate(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, crow_t: torch.Tensor, col_t: torch.Tensor,
               val_t: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """A as CSR (crow [n+1], col [nnz], val [nnz]) and its transpose (crow_t, col_t, val_t, used by the
    backward only); x: [n, d] -> [n, d] = mean_{l=0..L} A^l x."""
    return _layer_mean(crow.contiguous(), col.contiguous(), val.contiguous(), x.contiguous(), n_layers)


@_propagate.register_fake
def _(crow, col, val, crow_t, col_t, val_t, x, n_layers):
    return x.new_empty(crow.shape[0] - 1, x.shape[1])


def _setup(ctx, inputs, output):
    crow, col, val, crow_t, col_t, val_t, _, n_layers = inputs
    ctx.save_for_backward(crow, col, val, crow_t, col_t, val_t)
    ctx.n_layers = n_layers


def _backward(ctx, grad):
    crow, col, val, crow_t, col_t, val_t = ctx.saved_tensors
    g_x = _propagate(crow_t, col_t, val_t, crow, col, val, grad, ctx.n_layers)
    return None, None, None, None, None, None, g_x, None


_propagate.register_autograd(_backward, setup_context=_setup)

class _PropagateFn(torch.autograd.Function):
    """Eager path without the custom-op dispatch; torch.compile traces the custom op instead."""

    @staticmethod
    def forward(ctx, crow, col, val, crow_t, col_t, val_t, x, n_layers):
        ctx.save_for_backward(crow, col, val, crow_t, col_t, val_t)
        ctx.n_layers = n_layers
        return _layer_mean(crow, col, val, x.contiguous(), n_layers)

    @staticmethod
    def backward(ctx, grad):
        crow, col, val, crow_t, col_t, val_t = ctx.saved_tensors
        g_x = _PropagateFn.apply(crow_t, col_t, val_t, crow, col, val, grad, ctx.n_layers)
        return None, None, None, None, None, None, g_x, None


_TRANSPOSES: dict[int, tuple] = {}


def transpose_csr(adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A^T as CSR arrays (crow [m+1], col [nnz], val [nnz]) of the sparse CSR `adj` [n, m], cached while
    `adj` lives (keyed by the tensor and its values' storage)."""
    vals = adj.values()
    sig = (vals.data_ptr(), vals._version, tuple(adj.shape))
    hit = _TRANSPOSES.get(id(adj))
    if hit is not None and hit[0] == sig:
        return hit[1]
    csc = adj.detach().to_sparse_csc()
    arrays = (csc.ccol_indices(), csc.row_indices(), csc.values())
    if hit is None:
        weakref.finalize(adj, _TRANSPOSES.pop, id(adj), None)
    _TRANSPOSES[id(adj)] = (sig, arrays)
    return arrays


def propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """adj: sparse CSR [n, n]; x: [n, d] -> [n, d] = mean_{l=0..L} A^l x. Non-CSR layouts, a
    differentiable adj, or dtypes other than half/bfloat16/float32 take the torch reference."""
    if (adj.layout != torch.sparse_csr or adj.requires_grad or x.dim() != 2 or x.dtype not in FLOAT_DTYPES
            or adj.values().dtype not in FLOAT_DTYPES):
        return _reference.propagate(adj, x, n_layers)
    crow, col, val = adj.crow_indices(), adj.col_indices(), adj.values()
    if not (torch.is_grad_enabled() and x.requires_grad):
        return _layer_mean(crow, col, val, x.contiguous(), int(n_layers))
    crow_t, col_t, val_t = transpose_csr(adj)
    if torch.compiler.is_compiling():
        return _propagate(crow, col, val, crow_t, col_t, val_t, x, int(n_layers))
    return _PropagateFn.apply(crow, col, val, crow_t, col_t, val_t, x, int(n_layers))


register("propagate", "triton", propagate)
