"""propagate: LightGCN layer mean over a sparse adjacency (mean over layers 0..L of A^l x).

The C++ backend is the custom op `mcdrec::propagate`, which takes plain tensors (the CSR of A, the CSR of
A^T, x) so that autograd and torch.compile see an ordinary op: its backward is the same op on the
transpose (grad_x = mean_l (A^T)^l g), and its double backward follows for free. The adjacency values are
treated as constants: no gradient flows to them. The transpose is built once per adjacency tensor (in C++,
by a counting sort) and cached on a weak reference to that tensor, so a graph built once per epoch is
transposed once per epoch. Other backends (Triton) register under the same op name in the dispatcher and
may add a device kernel to `mcdrec::propagate` with `torch.library.register_kernel`.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch.utils.weak import WeakIdKeyDictionary

from . import _reference
from ._dispatch import cpp_available, register, select

register("propagate", "torch", _reference.propagate)


class CsrPair(NamedTuple):
    """A square sparse matrix as plain tensors: CSR of A and CSR of A^T (same index dtype and device)."""

    crow: torch.Tensor  # [n + 1]
    col: torch.Tensor  # [nnz]
    values: torch.Tensor  # [nnz]
    crow_t: torch.Tensor  # [n + 1]
    col_t: torch.Tensor  # [nnz]
    values_t: torch.Tensor  # [nnz]


_PAIRS: WeakIdKeyDictionary = WeakIdKeyDictionary()


@torch.compiler.disable
def csr_pair(adj: torch.Tensor) -> CsrPair:
    """CSR of `adj` and of its transpose, built once per tensor object (weakly cached).

    adj: sparse CSR [n, n], float32/float64 values, int32/int64 indices. Non-contiguous parts are made
    contiguous. On the CPU the transpose is a C++ counting sort; elsewhere torch's CSR -> CSC conversion
    (the CSC arrays of A are the CSR arrays of A^T).
    """
    pair = _PAIRS.get(adj)
    if pair is not None:
        return pair
    if adj.layout != torch.sparse_csr:
        raise ValueError(f"propagate: adj must be a sparse CSR tensor, got layout {adj.layout}")
    if adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"propagate: adj must be square 2-d, got shape {tuple(adj.shape)}")
    crow, col = adj.crow_indices().contiguous(), adj.col_indices().contiguous()
    values = adj.values().detach().contiguous()
    if adj.device.type == "cpu" and cpp_available():
        from mcdrec import _C

        crow_t, col_t, values_t = (torch.from_numpy(a) for a in
                                   _C.csr_transpose(crow.numpy(), col.numpy(), values.numpy(), adj.shape[1]))
    else:
        csc = adj.detach().to_sparse_csc()
        crow_t, col_t, values_t = csc.ccol_indices(), csc.row_indices(), csc.values()
    pair = CsrPair(crow, col, values, crow_t.contiguous(), col_t.contiguous(), values_t.contiguous())
    _PAIRS[adj] = pair
    return pair


@torch.library.custom_op("mcdrec::propagate", mutates_args=(), device_types="cpu")
def propagate_op(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, crow_t: torch.Tensor,
                 col_t: torch.Tensor, values_t: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """mean_{l=0..n_layers} A^l x with A = CSR(crow [n+1], col [nnz], values [nnz]); x: [n, d].
    (crow_t, col_t, values_t) is the CSR of A^T, used by the backward pass only."""
    from mcdrec import _C

    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    _C.propagate(crow.numpy(), col.numpy(), values.numpy(), x.contiguous().numpy(), out.numpy(), n_layers)
    return out


@propagate_op.register_fake
def _(crow, col, values, crow_t, col_t, values_t, x, n_layers):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _setup_context(ctx, inputs, output):
    crow, col, values, crow_t, col_t, values_t, _, n_layers = inputs
    ctx.save_for_backward(crow, col, values, crow_t, col_t, values_t)
    ctx.n_layers = n_layers


def _backward(ctx, grad):
    crow, col, values, crow_t, col_t, values_t = ctx.saved_tensors
    grad_x = propagate_op(crow_t, col_t, values_t, crow, col, values, grad.contiguous(), ctx.n_layers)
    return None, None, None, None, None, None, grad_x, None


propagate_op.register_autograd(_backward, setup_context=_setup_context)


def _cpp_propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    pair = csr_pair(adj)
    values, values_t = pair.values, pair.values_t
    if values.dtype != x.dtype:  # e.g. a float32 graph under a float64 gradient check
        values, values_t = values.to(x.dtype), values_t.to(x.dtype)
    return propagate_op(pair.crow, pair.col, values, pair.crow_t, pair.col_t, values_t, x, n_layers)


register("propagate", "cpp", _cpp_propagate)


def propagate(adj: torch.Tensor, x: torch.Tensor, n_layers: int) -> torch.Tensor:
    """adj: torch sparse CSR [n, n] (float32 values, int32 or int64 indices); x: [n, d] float32/float64
    -> [n, d] = mean_{l=0..L} A^l x. Differentiable in x (not in the adjacency values)."""
    if n_layers < 0:
        raise ValueError(f"propagate: n_layers must be >= 0, got {n_layers}")
    if x.dim() != 2:
        raise ValueError(f"propagate: x must be 2-d [n, d], got shape {tuple(x.shape)}")
    if adj.shape[1] != x.shape[0]:
        raise ValueError(f"propagate: adj has shape {tuple(adj.shape)} but x has {x.shape[0]} rows")
    if adj.device != x.device:
        raise ValueError(f"propagate: adj is on {adj.device} but x is on {x.device}")
    _, fn = select("propagate", x.device)
    return fn(adj, x, n_layers)
