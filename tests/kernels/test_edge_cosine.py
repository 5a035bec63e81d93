"""edge_cosine (DGD edge scores) with the Triton kernel against the float64 reference: forward and both
embedding gradients (atomic scatter of per-edge rows), repeated endpoints, a zero row (clamped norm),
widths across the column-block boundary, no edges, non-contiguous embeddings."""
import pytest
import torch

import mcdrec.ops as ops
from mcdrec.engine.ops import _reference as R
from mcdrec.engine.ops._dispatch import select


def _check(user_emb, item_rep, edge_user, edge_item, assert_close):
    out = ops.edge_cosine(user_emb, item_rep, edge_user, edge_item)
    u64, v64 = (t.detach().double().requires_grad_() for t in (user_emb, item_rep))
    ref = R.edge_cosine(u64, v64, edge_user, edge_item)
    assert_close(out, ref, rtol=1e-5, what="forward")
    if not edge_user.numel():
        return
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, (user_emb, item_rep), g)
    want = torch.autograd.grad(ref, (u64, v64), g.double())
    for a, b, name in zip(got, want, ("user_emb", "item_rep")):
        assert_close(a, b, rtol=1e-4, what=f"grad {name}")


@pytest.mark.parametrize("n_users,n_items,d,n_edges", [(7, 5, 33, 40), (1, 1, 17, 1), (4, 9, 64, 70), (3, 2, 130, 5)])
def test_edge_cosine(tdev, assert_close, n_users, n_items, d, n_edges):
    assert select("edge_cosine", tdev)[0] == "triton"
    user_emb = torch.randn(n_users, d, device=tdev, requires_grad=True)
    item_rep = torch.randn(n_items, d, device=tdev, requires_grad=True)
    edge_user = torch.randint(0, n_users, (n_edges,), device=tdev)
    edge_item = torch.randint(0, n_items, (n_edges,), device=tdev)
    _check(user_emb, item_rep, edge_user, edge_item, assert_close)


def test_edge_cosine_zero_row(tdev, assert_close):
    """An all-zero item row: the norm product is clamped to eps, the cosine is 0."""
    user_emb = torch.randn(4, 8, device=tdev, requires_grad=True)
    item_rep = torch.randn(3, 8, device=tdev)
    item_rep[1] = 0
    item_rep.requires_grad_()
    edge_user = torch.tensor([0, 1, 2, 3, 0], device=tdev)
    edge_item = torch.tensor([1, 1, 0, 2, 2], device=tdev)
    _check(user_emb, item_rep, edge_user, edge_item, assert_close)


def test_edge_cosine_no_edges_and_noncontiguous(tdev, assert_close):
    user_emb = torch.randn(16, 5, device=tdev).t().requires_grad_()  # [5, 16] non-contiguous
    item_rep = torch.randn(6, 16, device=tdev, requires_grad=True)
    empty = torch.empty(0, dtype=torch.int64, device=tdev)
    _check(user_emb, item_rep, empty, empty, assert_close)
    _check(user_emb, item_rep, torch.tensor([4, 0, 2], device=tdev), torch.tensor([5, 5, 1], device=tdev),
           assert_close)
