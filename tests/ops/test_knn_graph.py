"""knn_graph / knn_adjacency: C++ backend against the float64 reference and dense torch.topk; tie rule,
certification fallback, malformed inputs."""
import os
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mcdrec import _C
from mcdrec.engine.ops import _reference
from mcdrec.engine.ops.knn_graph import _cpp_knn_graph
from mcdrec.ops import knn_adjacency, knn_graph

warnings.filterwarnings("ignore", message=".*Sparse.*")


def test_equals_dense_topk_on_5000_items():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5000, 48, generator=gen) + 0.3 * torch.randn(1, 48, generator=gen)  # correlated rows
    idx, sim = knn_graph(x, 10, block_rows=700)
    xn = x.double() / x.double().norm(dim=1, keepdim=True)
    dense = xn @ xn.T  # [5000, 5000] float64, test only
    top_sim, top_idx = torch.topk(dense, 10, dim=1)
    assert torch.equal(idx, top_idx)
    torch.testing.assert_close(sim, top_sim.float(), rtol=0, atol=1e-7)
    assert torch.equal(idx[:, 0], torch.arange(5000))  # self first


@pytest.mark.parametrize("n,d,k,block", [(1, 3, 1, 1), (37, 5, 37, 8), (200, 64, 10, 64), (333, 17, 4, 1000)])
def test_matches_reference(rng, n, d, k, block):
    x = torch.from_numpy(rng.standard_normal((n, d)).astype(np.float32))
    idx, sim = knn_graph(x, k, block_rows=block)
    ridx, rsim = _reference.knn_graph(x, k, block)
    assert torch.equal(idx, ridx)
    torch.testing.assert_close(sim, rsim, rtol=0, atol=1e-7)


def test_ties_go_to_the_lower_index():
    """One-hot rows (and scaled copies) have exact float dot products, so ties are exact in any order."""
    cats = torch.tensor([0, 1, 0, 2, 1, 0, 2, 2, 0, 1])
    x = torch.nn.functional.one_hot(cats, 3).float() * torch.arange(1, 11).float()[:, None]
    idx, sim = knn_graph(x, 5, block_rows=3)
    ridx, _ = _reference.knn_graph(x, 5, 3)
    assert torch.equal(idx, ridx)
    assert idx[0].tolist() == [0, 2, 5, 8, 1]  # the four category-0 rows ascending, then the lowest zero


def test_uncertified_rows_fall_back_to_exact(rng):
    """Many near-duplicates make the float32 candidates ambiguous: the float64 fallback keeps the result exact."""
    base = rng.standard_normal((4, 32))
    x = np.repeat(base, 60, axis=0) + 1e-9 * rng.standard_normal((240, 32))
    x = torch.from_numpy(x)  # float64 input
    idx, sim = _cpp_knn_graph(x, 7, block_rows=50, col_block=64, cache_bytes=0)
    ridx, rsim = _reference.knn_graph(x, 7, 50)
    xn = x / x.norm(dim=1, keepdim=True)
    true = torch.gather(xn @ xn.T, 1, idx)
    torch.testing.assert_close(true.float(), rsim, rtol=0, atol=1e-7)  # same similarities as the reference
    assert (idx == ridx).float().mean() > 0.5


def test_block_sizes_and_cache_agree(rng):
    x = torch.from_numpy(rng.standard_normal((150, 9)).astype(np.float32))
    a = _cpp_knn_graph(x, 6, block_rows=17, col_block=23, cache_bytes=0)
    b = _cpp_knn_graph(x, 6, block_rows=1024)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 60), d=st.integers(1, 20), k=st.integers(1, 12), block=st.integers(1, 70),
       seed=st.integers(0, 2**31 - 1))
def test_property_random_features(n, d, k, block, seed):
    k = min(k, n)
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32))
    idx, sim = knn_graph(x, k, block_rows=block)
    ridx, rsim = _reference.knn_graph(x, k, block)
    torch.testing.assert_close(sim, rsim, rtol=0, atol=1e-7)
    gap_ok = (rsim[:, 1:] - rsim[:, :-1]).abs().min(dim=1).values > 1e-12 if k > 1 else torch.ones(n, dtype=torch.bool)
    assert torch.equal(idx[gap_ok], ridx[gap_ok])


@pytest.mark.parametrize("n,k", [(1, 1), (40, 3), (25, 25)])
def test_knn_adjacency_matches_reference(rng, n, k):
    idx, _ = knn_graph(torch.from_numpy(rng.standard_normal((n, 6)).astype(np.float32)), k)
    got, ref = knn_adjacency(idx, n), _reference.knn_adjacency(idx, n)
    assert torch.equal(got.crow_indices(), ref.crow_indices()) and torch.equal(got.col_indices(), ref.col_indices())
    torch.testing.assert_close(got.values(), ref.values(), rtol=0, atol=1e-7)


def test_knn_adjacency_sums_repeated_pairs():
    idx = torch.tensor([[0, 1, 1], [2, 0, 1], [2, 2, 2]])
    got, ref = knn_adjacency(idx, 3), _reference.knn_adjacency(idx, 3)
    torch.testing.assert_close(got.to_dense(), ref.to_dense(), rtol=0, atol=1e-7)


def test_input_checks():
    with pytest.raises(ValueError, match=r"k=4 must be in \[1, n=3\]"):
        knn_graph(torch.randn(3, 2), 4)
    with pytest.raises(ValueError, match=r"must be 2-d"):
        knn_graph(torch.randn(3), 1)
    bad = torch.randn(5, 2)
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"non-finite value in row 3"):
        knn_graph(bad, 2, block_rows=2)
    with pytest.raises(ValueError, match=r"indices: index 7 at row 1, column 0 out of range \[0, 3\)"):
        _C.knn_adjacency(np.array([[0], [7], [1]], np.int64), 3)
    with pytest.raises(ValueError, match=r"indices: expected 3 rows \(n\), got shape \(2, 1\), dtype int64"):
        _C.knn_adjacency(np.array([[0], [1]], np.int64), 3)
    with pytest.raises(ValueError, match=r"top_sim: dtype must match sim"):
        _C.knn_topk_update(np.zeros((2, 3), np.float32), 0, np.zeros((2, 2), np.int64), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"cand_idx: index 9 at flat position 1 out of range \[0, 2\)"):
        _C.knn_rescore(np.ones((2, 2), np.float32), np.ones(2), 0, np.array([[0, 9]], np.int64),
                       np.zeros((1, 2), np.float32), 1, 0.0)
    with pytest.raises(ValueError, match=r"features: expected a C-contiguous array"):
        _C.knn_rescore(np.ones((3, 2), np.float32).T, np.ones(2), 0, np.zeros((1, 2), np.int64),
                       np.zeros((1, 2), np.float32), 1, 0.0)


def test_forced_torch_backend_is_the_reference(rng):
    x = torch.from_numpy(rng.standard_normal((30, 4)).astype(np.float32))
    os.environ["MCDREC_BACKEND"] = "torch"
    try:
        idx, _ = knn_graph(x, 3)
    finally:
        del os.environ["MCDREC_BACKEND"]
    assert torch.equal(idx, _reference.knn_graph(x, 3)[0])
