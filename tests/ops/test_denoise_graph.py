"""denoise_graph / prune_graph / edge_cosine: C++ backend against the torch reference (same kept edges,
values to 1e-6), determinism, scale without a users x items tensor, malformed inputs."""
import os
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mcdrec import _C
from mcdrec.engine.graph.bipartite import BipartiteGraph
from mcdrec.engine.ops import _reference
from mcdrec.engine.ops.denoise_graph import _uniforms
from mcdrec.ops import denoise_graph, edge_cosine, prune_graph

warnings.filterwarnings("ignore", message=".*Sparse.*")


def random_graph(rng, n_users, n_items, n_edges):
    flat = rng.choice(n_users * n_items, size=min(n_edges, n_users * n_items), replace=False)
    return BipartiteGraph(n_users, n_items, flat // n_items, flat % n_items)


def both_backends(fn):
    out = {}
    for backend in ("torch", "cpp"):
        os.environ["MCDREC_BACKEND"] = backend
        try:
            out[backend] = fn()
        finally:
            del os.environ["MCDREC_BACKEND"]
    return out["torch"], out["cpp"]


def assert_same_csr(a, b):
    assert torch.equal(a.crow_indices(), b.crow_indices())
    assert torch.equal(a.col_indices(), b.col_indices())
    torch.testing.assert_close(a.values(), b.values(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", [(50, 30, 400), (1, 1, 1), (3, 200, 150), (300, 2, 500)])
@pytest.mark.parametrize("keep_ratio", [0.9, 0.5, 1.0])
@pytest.mark.parametrize("multiply_weight", [False, True])
def test_matches_reference(rng, shape, keep_ratio, multiply_weight):
    g = random_graph(rng, *shape)
    user = torch.from_numpy(rng.standard_normal((g.n_users, 19)).astype(np.float32))
    item = torch.from_numpy(rng.standard_normal((g.n_items, 19)).astype(np.float32))
    seed = int(rng.integers(2**31))

    def run():
        return denoise_graph(g, user, item, keep_ratio=keep_ratio, tau=0.3,
                             generator=torch.Generator().manual_seed(seed), multiply_weight=multiply_weight)

    ref, got = both_backends(run)
    assert_same_csr(ref, got)
    n_keep = _reference.n_kept(g.n_edges, keep_ratio)
    assert got.values().numel() == 2 * n_keep
    torch.testing.assert_close(got.to_dense(), got.to_dense().T)


def test_kept_set_and_values_equal_reference_core(rng):
    g = random_graph(rng, 80, 60, 900)
    eu, ei = torch.from_numpy(g.edge_user), torch.from_numpy(g.edge_item)
    probs = torch.from_numpy(g.norm_values())
    uniforms = _uniforms(g.n_edges, torch.Generator().manual_seed(5))
    scores = torch.rand(g.n_edges) * 2 - 1
    kept, values = _reference.denoise_graph_values(g.n_users, g.n_items, eu, ei, probs, uniforms, scores, 0.8, 0.3)
    _, _, _, kept_c = _C.denoise_graph(g.n_users, g.n_items, eu.numpy(), ei.numpy(), probs.numpy(), uniforms.numpy(),
                                       scores.numpy(), kept.numel(), 0.3, False)
    np.testing.assert_array_equal(kept_c, kept.numpy())


def test_ties_go_to_the_lower_edge_id():
    eu, ei = np.array([0, 0, 1, 1], np.int64), np.array([0, 1, 0, 1], np.int64)
    probs, uniforms = np.full(4, 0.5, np.float32), np.full(4, 0.25)
    _, _, _, kept = _C.denoise_graph(2, 2, eu, ei, probs, uniforms, None, 2, 0.0, False)
    assert kept.tolist() == [0, 1]


def test_prune_graph_matches_reference_and_is_deterministic(rng):
    g = random_graph(rng, 120, 90, 1500)
    ref, got = both_backends(lambda: prune_graph(g, 0.7, generator=torch.Generator().manual_seed(11)))
    assert_same_csr(ref, got)
    assert_same_csr(got, prune_graph(g, 0.7, generator=torch.Generator().manual_seed(11)))


def test_edge_cosine_matches_reference(rng):
    u = torch.from_numpy(rng.standard_normal((30, 13)).astype(np.float32))
    v = torch.from_numpy(rng.standard_normal((20, 13)).astype(np.float32))
    u[3] = 0.0  # zero row: the eps clamp
    eu, ei = torch.from_numpy(rng.integers(0, 30, 200)), torch.from_numpy(rng.integers(0, 20, 200))
    eu[0] = 3
    ref, got = both_backends(lambda: edge_cosine(u, v, eu, ei))
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-6)


def test_huge_id_space_few_edges():
    """10^6 users x 10^6 items, a few thousand edges: runs on edges only (a dense matrix would be 4 TB)."""
    rng = np.random.default_rng(0)
    n, e = 10**6, 5000
    flat = np.unique(rng.integers(0, n * n, e))
    g = BipartiteGraph(n, n, flat // n, flat % n)
    user = torch.randn(n, 8)
    item = torch.randn(n, 8)
    adj = denoise_graph(g, user, item, keep_ratio=0.9, generator=torch.Generator().manual_seed(0))
    assert adj.shape == (2 * n, 2 * n)
    assert adj.values().numel() == 2 * _reference.n_kept(g.n_edges, 0.9)


@settings(max_examples=30, deadline=None)
@given(n_users=st.integers(1, 30), n_items=st.integers(1, 30), frac=st.floats(0.01, 1.0),
       keep=st.floats(0.05, 1.0), seed=st.integers(0, 2**31 - 1), scored=st.booleans())
def test_property_random_graphs(n_users, n_items, frac, keep, seed, scored):
    rng = np.random.default_rng(seed)
    g = random_graph(rng, n_users, n_items, max(1, int(frac * n_users * n_items)))
    user = torch.from_numpy(rng.standard_normal((n_users, 5)).astype(np.float32)) if scored else None
    item = torch.from_numpy(rng.standard_normal((n_items, 5)).astype(np.float32)) if scored else None
    ref, got = both_backends(lambda: denoise_graph(g, user, item, keep_ratio=keep,
                                                   generator=torch.Generator().manual_seed(seed)))
    assert_same_csr(ref, got)


def _call(eu, ei, probs=None, uniforms=None, scores=None, n_keep=1, n_users=3, n_items=3):
    eu, ei = np.asarray(eu, np.int64), np.asarray(ei, np.int64)
    probs = np.ones(len(eu), np.float32) if probs is None else probs
    uniforms = np.full(len(eu), 0.5) if uniforms is None else uniforms
    return _C.denoise_graph(n_users, n_items, eu, ei, probs, uniforms, scores, n_keep, 0.3, False)


@pytest.mark.parametrize("kwargs,match", [
    (dict(eu=[0, 3], ei=[0, 1]), r"edge_user: id 3 at position 1 out of range \[0, 3\)"),
    (dict(eu=[1, 0], ei=[0, 1]), r"edges must be sorted user-major.*edge 1 \(0, 1\) follows \(1, 0\)"),
    (dict(eu=[0, 0], ei=[1, 1]), r"strictly increasing items"),
    (dict(eu=[0, 1], ei=[0, 1], n_keep=3), r"n_keep: must be in \[0, 2\], got 3"),
    (dict(eu=[0, 1], ei=[0, 1], probs=np.array([1, 0], np.float32)), r"probs: expected positive finite.*edge 1"),
    (dict(eu=[0, 1], ei=[0, 1], uniforms=np.array([0.5, 0.0])), r"uniforms: expected values in \(0, 1\].*edge 1"),
    (dict(eu=[0, 1], ei=[0, 1], uniforms=np.array([0.5], np.float64)), r"uniforms: expected 2 rows"),
    (dict(eu=[0, 1], ei=[0, 1], scores=np.zeros(2)), r"scores: expected dtype float32, got shape \(2,\), dtype float64"),
])
def test_malformed_inputs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _call(**kwargs)


def test_empty_graph():
    crow, col, values, kept = _call([], [], n_keep=0)
    assert crow.tolist() == [0] * 7 and col.size == 0 and values.size == 0 and kept.size == 0


def test_tau_that_could_make_weights_non_positive_is_refused():
    g = BipartiteGraph(3, 4, np.array([0, 1, 2]), np.array([1, 2, 3]))
    emb_u, emb_i = torch.randn(3, 8), torch.randn(4, 8)
    with pytest.raises(ValueError, match=r"tau must be in \(-1, 1\)"):
        denoise_graph(g, emb_u, emb_i, keep_ratio=0.9, tau=1.0)
