"""propagate (mean over layers of A^l x) with the Triton CSR kernel against the float64 reference:
forward and the gradient (through the stored transpose) on non-symmetric matrices with empty rows,
no edges at all, one node, widths across the column-block boundary, and non-contiguous x."""
import pytest
import torch

import mcdrec.ops as ops
from mcdrec.engine.ops import _reference as R
from mcdrec.engine.ops._dispatch import select


def _adjacency(n, density, device, seed):
    """Non-symmetric sparse CSR [n, n] float32 with row 0 empty (when n > 1) and column 1 empty."""
    gen = torch.Generator().manual_seed(seed)
    dense = (torch.rand(n, n, generator=gen) < density).float() * torch.rand(n, n, generator=gen)
    if n > 1:
        dense[0] = 0
        dense[:, 1] = 0
    return dense.to_sparse_csr().to(device)


def _check(adj, x, n_layers, assert_close):
    out = ops.propagate(adj, x, n_layers)
    x64 = x.detach().double().requires_grad_()
    adj64 = adj.to_dense().double().to_sparse_csr()
    ref = R.propagate(adj64, x64, n_layers)
    assert_close(out, ref, what=f"forward L={n_layers}")
    g = torch.randn_like(out)
    (got,) = torch.autograd.grad(out, x, g)
    (want,) = torch.autograd.grad(ref, x64, g.double()) if n_layers else (g.double(),)
    assert_close(got, want, what=f"grad x L={n_layers}")


@pytest.mark.parametrize("n_layers", [0, 1, 2, 3])
@pytest.mark.parametrize("n,d", [(13, 17), (1, 5), (24, 1), (9, 130)])
def test_propagate(tdev, assert_close, n, d, n_layers):
    assert select("propagate", tdev)[0] == "triton"
    adj = _adjacency(n, 0.35, tdev, seed=n * 31 + d)
    _check(adj, torch.randn(n, d, device=tdev, requires_grad=True), n_layers, assert_close)


def test_propagate_dense_rows(tdev, assert_close):
    """Rows with more nonzeros than one gather block."""
    _check(_adjacency(40, 0.9, tdev, seed=3), torch.randn(40, 8, device=tdev, requires_grad=True), 2, assert_close)


def test_propagate_no_edges(tdev, assert_close):
    adj = torch.zeros(6, 6).to_sparse_csr().to(tdev)
    _check(adj, torch.randn(6, 4, device=tdev, requires_grad=True), 2, assert_close)


def test_propagate_noncontiguous(tdev, assert_close):
    adj = _adjacency(11, 0.4, tdev, seed=7)
    x = torch.randn(6, 11, device=tdev).t().requires_grad_()
    assert not x.is_contiguous()
    _check(adj, x, 2, assert_close)


def test_propagate_bipartite_symmetric(tdev, assert_close):
    """The normalised user-item adjacency the models use (symmetric, users then items)."""
    n_users, n_items = 7, 5
    gen = torch.Generator().manual_seed(11)
    r = (torch.rand(n_users, n_items, generator=gen) < 0.4).double()
    r[0, 0] = 1
    a = torch.zeros(n_users + n_items, n_users + n_items, dtype=torch.float64)
    a[:n_users, n_users:], a[n_users:, :n_users] = r, r.t()
    deg = a.sum(1).clamp_min(1)
    adj = (a / deg.sqrt()[:, None] / deg.sqrt()[None, :]).float().to_sparse_csr().to(tdev)
    _check(adj, torch.randn(n_users + n_items, 16, device=tdev, requires_grad=True), 3, assert_close)


def test_propagate_without_grad_and_coo(tdev, assert_close):
    """Under no_grad no transpose is built; a COO adjacency takes the torch reference with the same result."""
    adj = _adjacency(10, 0.4, tdev, seed=5)
    x = torch.randn(10, 6, device=tdev)
    ref = R.propagate(adj.to_dense().double().to_sparse_csr(), x.double(), 2)
    with torch.no_grad():
        assert_close(ops.propagate(adj, x, 2), ref, what="no_grad")
    assert_close(ops.propagate(adj.to_sparse_coo(), x, 2), ref, what="coo")
