"""propagate: C++ backend against the torch reference, forward and gradient; malformed inputs raise."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mcdrec import _C
from mcdrec.engine.ops import _reference
from mcdrec.engine.ops.propagate import csr_pair, propagate_op
from mcdrec.ops import propagate

warnings.filterwarnings("ignore", message=".*Sparse.*")


def random_csr(rng, n, nnz, index_dtype=torch.int64, symmetric=False):
    """Random square sparse CSR [n, n] float32 with sorted columns (some rows empty when nnz is small)."""
    rows, cols = rng.integers(0, max(n, 1), nnz), rng.integers(0, max(n, 1), nnz)
    a = sp.coo_matrix((rng.standard_normal(nnz).astype(np.float32), (rows, cols)), shape=(n, n)).tocsr()
    if symmetric:
        a = (a + a.T).tocsr()
    a.sum_duplicates()
    a.sort_indices()
    return torch.sparse_csr_tensor(torch.from_numpy(a.indptr).to(index_dtype),
                                   torch.from_numpy(a.indices).to(index_dtype),
                                   torch.from_numpy(a.data.astype(np.float32)), size=(n, n))


def reference64(adj, x, n_layers):
    return _reference.propagate(adj.to(torch.float64), x.double(), n_layers)


@pytest.mark.parametrize("n,nnz,d", [(1, 1, 3), (7, 0, 5), (40, 90, 1), (60, 300, 64), (200, 700, 67), (30, 120, 130)])
@pytest.mark.parametrize("n_layers", [0, 1, 3])
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
def test_forward_and_gradient_match_reference(rng, n, nnz, d, n_layers, index_dtype):
    adj = random_csr(rng, n, nnz, index_dtype)
    x = torch.from_numpy(rng.standard_normal((n, d)).astype(np.float32)).requires_grad_()
    out = propagate(adj, x, n_layers)
    ref = reference64(adj, x.detach(), n_layers)
    scale = ref.abs().max().clamp_min(1.0)
    assert out.dtype == torch.float32 and out.shape == (n, d)
    torch.testing.assert_close(out.double() / scale, ref / scale, rtol=0, atol=2e-6)
    cot = torch.from_numpy(rng.standard_normal((n, d)))
    (grad,) = torch.autograd.grad(out, x, cot.float())
    x64 = x.detach().double().requires_grad_()
    (grad_ref,) = torch.autograd.grad(reference64(adj, x64, n_layers), x64, cot)
    gscale = grad_ref.abs().max().clamp_min(1.0)
    torch.testing.assert_close(grad.double() / gscale, grad_ref / gscale, rtol=0, atol=2e-6)


def test_float64_gradcheck_on_nonsymmetric_graph(rng):
    adj = random_csr(rng, 12, 40)
    x = torch.randn(12, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: propagate(adj, t, 2), (x,))
    assert torch.autograd.gradgradcheck(lambda t: propagate(adj, t, 2), (x,))


def test_transpose_is_cached_and_correct(rng):
    adj = random_csr(rng, 50, 200)
    pair = csr_pair(adj)
    assert csr_pair(adj) is pair
    at = torch.sparse_csr_tensor(pair.crow_t, pair.col_t, pair.values_t, size=adj.shape)
    torch.testing.assert_close(at.to_dense(), adj.to_dense().T)


def test_non_contiguous_x(rng):
    adj = random_csr(rng, 30, 100, symmetric=True)
    x = torch.randn(16, 30).T  # [30, 16], column-major
    torch.testing.assert_close(propagate(adj, x, 2), _reference.propagate(adj, x.contiguous(), 2), atol=1e-5, rtol=1e-5)


def test_custom_op_under_compile(rng):
    adj = random_csr(rng, 25, 80)
    pair = csr_pair(adj)
    x = torch.randn(25, 8, requires_grad=True)

    def f(x):
        return propagate_op(*pair, x, 2).square().sum()

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    g1 = torch.autograd.grad(compiled(x), x)[0]
    g2 = torch.autograd.grad(f(x), x)[0]
    torch.testing.assert_close(g1, g2)
    torch.library.opcheck(propagate_op, (*pair, x.detach(), 2))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), density=st.floats(0, 0.5), d=st.integers(1, 37), n_layers=st.integers(0, 4),
       seed=st.integers(0, 2**31 - 1))
def test_property_random_graphs(n, density, d, n_layers, seed):
    rng = np.random.default_rng(seed)
    adj = random_csr(rng, n, int(density * n * n))
    x = torch.from_numpy(rng.standard_normal((n, d)).astype(np.float32))
    ref = reference64(adj, x, n_layers)
    scale = ref.abs().max().clamp_min(1.0)
    torch.testing.assert_close(propagate(adj, x, n_layers).double() / scale, ref / scale, rtol=0, atol=5e-6)


def _raw(indptr, indices, values=None, n=3, d=2):
    indptr, indices = np.asarray(indptr, np.int64), np.asarray(indices, np.int64)
    values = np.ones(len(indices), np.float32) if values is None else values
    x = np.ones((n, d), np.float32)
    _C.propagate(indptr, indices, values, x, np.empty_like(x), 1)


def test_large_layers_use_per_call_buffers_and_repeat_exactly(rng):
    # n x d above the 64 MB kept-scratch limit: intermediate layers are allocated per call (csrc/propagate.cpp)
    n, d = 270_000, 64
    adj = random_csr(rng, n, 400_000)
    x = torch.from_numpy(rng.standard_normal((n, d)).astype(np.float32))
    out = propagate(adj, x, 3)
    ref = _reference.propagate(adj.double(), x.double(), 3)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    assert torch.equal(propagate(adj, x, 3), out)


@pytest.mark.parametrize("indptr,indices,match", [
    ([0, 2, 2, 3], [1, 0, 2], r"not strictly increasing in row 0 at position 1"),
    ([0, 1, 2, 3], [0, 3, 1], r"column index 3 at position 1 \(row 1\) out of range \[0, 3\)"),
    ([0, 2, 1, 3], [0, 1, 2], r"indptr not monotone at row 1"),
    ([0, 1, 2, 2], [0, 1, 2], r"indptr\[-1\] must equal nnz=3, got 2"),
    ([1, 1, 2, 3], [0, 1, 2], r"indptr\[0\] must be 0"),
    ([0, 1, 2, 3], [-1, 1, 2], r"column index -1 at position 0"),
])
def test_malformed_csr_raises(indptr, indices, match):
    with pytest.raises(ValueError, match=match):
        _raw(indptr, indices)


@pytest.mark.parametrize("n_layers", [1, 3])
@pytest.mark.parametrize("d", [3, 64])
@pytest.mark.parametrize("bad", ["column", "huge_column", "indptr_past_nnz", "unsorted"])
def test_malformed_row_late_in_a_large_graph_raises(rng, n_layers, d, bad):
    # the structure is validated inside the first layer, by whichever thread owns the row: a bad row near the
    # end (another thread's range) must raise with the serial check's message before any later layer reads it
    n = 2000
    a = sp.random(n, n, density=0.01, format="csr", random_state=np.random.default_rng(rng.integers(1 << 31)))
    a.sort_indices()
    indptr, indices = a.indptr.astype(np.int64), a.indices.astype(np.int64)
    r = int(np.flatnonzero(np.diff(indptr) >= 2)[-1])  # a late row with two entries or more
    p = int(indptr[r])
    if bad == "column":
        indices[p] = n
    elif bad == "huge_column":
        indices[p] = 1 << 40
    elif bad == "unsorted":
        indices[p], indices[p + 1] = indices[p + 1], indices[p]
    else:
        indptr[r] = indptr[-1] + 5
    x = rng.standard_normal((n, d)).astype(np.float32)
    with pytest.raises(ValueError, match=r"adjacency: (column index|indptr not monotone|column indices not)"):
        _C.propagate(indptr, indices, a.data.astype(np.float32), x, np.empty_like(x), n_layers)


def test_argument_checks_name_the_argument():
    ip, ix = np.array([0, 1, 2, 3]), np.array([0, 1, 2])
    x = np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"values: dtype must match x \(float32\), got shape \(3,\), dtype float64"):
        _C.propagate(ip, ix, np.ones(3), x, np.empty_like(x), 1)
    with pytest.raises(ValueError, match=r"col_indices: dtype must match crow_indices"):
        _C.propagate(ip, ix.astype(np.int32), np.ones(3, np.float32), x, np.empty_like(x), 1)
    with pytest.raises(ValueError, match=r"adjacency: expected a square matrix matching x, got 3 rows for x with 4"):
        _C.propagate(ip, ix, np.ones(3, np.float32), np.ones((4, 2), np.float32), np.empty((4, 2), np.float32), 1)
    with pytest.raises(ValueError, match=r"x: expected a C-contiguous array"):
        _C.propagate(ip, ix, np.ones(3, np.float32), np.ones((2, 3), np.float32).T, np.empty((3, 2), np.float32), 1)
    with pytest.raises(ValueError, match=r"n_layers: must be >= 0"):
        _C.propagate(ip, ix, np.ones(3, np.float32), x, np.empty_like(x), -1)


def test_public_function_checks(rng):
    adj = random_csr(rng, 5, 10)
    with pytest.raises(ValueError, match=r"adj has shape \(5, 5\) but x has 4 rows"):
        propagate(adj, torch.ones(4, 2), 1)
    with pytest.raises(ValueError, match=r"must be a sparse CSR tensor"):
        propagate(adj.to_sparse_coo(), torch.ones(5, 2), 1)
