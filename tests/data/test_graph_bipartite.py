"""BipartiteGraph and bipartite_adjacency against dense numpy computations."""
import numpy as np
import pytest
import torch

from mcdrec.engine.graph.bipartite import BipartiteGraph, bipartite_adjacency


def random_pairs(rng, n_users, n_items, n_edges):
    """Unique (user, item) pairs in random order: users [E], items [E]."""
    keys = rng.choice(n_users * n_items, size=n_edges, replace=False)
    return keys // n_items, keys % n_items


def dense_norm_adj(n_users, n_items, users, items):
    """float64 [(U+I), (U+I)] D^-1/2 A D^-1/2 of the bipartite graph."""
    n = n_users + n_items
    a = np.zeros((n, n))
    a[users, n_users + items] = 1.0
    a[n_users + items, users] = 1.0
    deg = a.sum(1)
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1)), 0.0)
    return inv[:, None] * a * inv[None, :]


def check_sorted_csr(adj):
    crow, col = adj.crow_indices().numpy(), adj.col_indices().numpy()
    assert crow.dtype == np.int64 and col.dtype == np.int64
    assert np.all(np.diff(crow) >= 0)
    for r in range(len(crow) - 1):
        assert np.all(np.diff(col[crow[r]:crow[r + 1]]) > 0)


@pytest.mark.parametrize("shape", [(7, 5, 12), (13, 29, 60), (1, 1, 1), (31, 3, 40)])
def test_norm_adj_matches_dense(rng, shape):
    n_users, n_items, n_edges = shape
    users, items = random_pairs(rng, n_users, n_items, n_edges)
    g = BipartiteGraph(n_users, n_items, users, items)
    adj = g.norm_adj()
    assert adj.layout == torch.sparse_csr and adj.shape == (n_users + n_items,) * 2
    dense = adj.to_dense().double().numpy()
    np.testing.assert_allclose(dense, dense_norm_adj(n_users, n_items, users, items), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(dense, dense.T)
    check_sorted_csr(adj)
    assert g.norm_adj() is adj  # cached per device


def test_graph_structure(rng):
    n_users, n_items = 9, 6
    users, items = random_pairs(rng, n_users, n_items, 20)
    g = BipartiteGraph(n_users, n_items, users, items)
    a = np.zeros((n_users, n_items), dtype=np.int64)
    a[users, items] = 1
    assert g.n_edges == 20
    np.testing.assert_array_equal(g.user_deg, a.sum(1))
    np.testing.assert_array_equal(g.item_deg, a.sum(0))
    assert g.user_deg.dtype == np.float64 and g.item_deg.dtype == np.float64
    # user-major CSR order, items ascending within each user
    order = np.lexsort((g.edge_item, g.edge_user))
    np.testing.assert_array_equal(order, np.arange(20))
    np.testing.assert_array_equal(g.ui_indices, g.edge_item)
    for u in range(n_users):
        np.testing.assert_array_equal(g.ui_indices[g.ui_indptr[u]:g.ui_indptr[u + 1]], np.flatnonzero(a[u]))
    for i in range(n_items):
        np.testing.assert_array_equal(g.iu_indices[g.iu_indptr[i]:g.iu_indptr[i + 1]], np.flatnonzero(a[:, i]))
    np.testing.assert_array_equal(g.edge_item[g.iu_perm], np.repeat(np.arange(n_items), np.diff(g.iu_indptr)))
    np.testing.assert_array_equal(g.edge_user[g.iu_perm], g.iu_indices)
    vals = g.norm_values()
    assert vals.dtype == np.float32
    np.testing.assert_allclose(vals, 1 / np.sqrt(a.sum(1)[g.edge_user] * a.sum(0)[g.edge_item]), rtol=1e-6)


def test_users_with_one_item_and_isolated_nodes():
    # user 0: one item; user 1: none; user 2: two items; item 3: no user
    g = BipartiteGraph(3, 4, np.array([2, 0, 2]), np.array([1, 0, 2]))
    assert g.user_deg.tolist() == [1, 0, 2] and g.item_deg.tolist() == [1, 1, 1, 0]
    dense = g.norm_adj().to_dense().numpy()
    assert dense[0, 3] == 1.0 and dense[3, 0] == 1.0  # 1/sqrt(1*1)
    assert not dense[1].any() and not dense[:, 6].any()
    np.testing.assert_allclose(dense[2, 4], 1 / np.sqrt(2), rtol=1e-6)


def test_empty_graph():
    g = BipartiteGraph(2, 3, np.zeros(0, np.int64), np.zeros(0, np.int64))
    adj = g.norm_adj()
    assert adj.shape == (5, 5) and adj.values().numel() == 0


def test_duplicate_edge_rejected():
    with pytest.raises(ValueError, match=r"duplicate edge \(user 1, item 2\)"):
        BipartiteGraph(2, 3, np.array([1, 0, 1]), np.array([2, 0, 2]))


@pytest.mark.parametrize("as_torch", [False, True])
def test_bipartite_adjacency_custom_values(rng, as_torch):
    n_users, n_items = 6, 8
    users, items = random_pairs(rng, n_users, n_items, 15)
    values = rng.random(15).astype(np.float32) + 0.1  # [E]
    n = n_users + n_items
    want = np.zeros((n, n), dtype=np.float32)
    want[users, n_users + items] = values
    want[n_users + items, users] = values
    args = (users, items, values)
    if as_torch:
        args = tuple(torch.from_numpy(np.asarray(x)) for x in args)
    adj = bipartite_adjacency(n_users, n_items, *args)
    np.testing.assert_array_equal(adj.to_dense().numpy(), want)
    check_sorted_csr(adj)


def test_bipartite_adjacency_keeps_dtype_and_grad(rng):
    users, items = random_pairs(rng, 4, 5, 9)
    values = torch.rand(9, dtype=torch.float64, requires_grad=True)  # [E]
    adj = bipartite_adjacency(4, 5, users, items, values)
    assert adj.values().dtype == torch.float64
    adj.values().sum().backward()
    np.testing.assert_array_equal(values.grad.numpy(), np.full(9, 2.0))  # each edge appears twice


def test_bipartite_adjacency_bad_shapes():
    with pytest.raises(ValueError, match="edge_item"):
        bipartite_adjacency(2, 2, np.array([0, 1]), np.array([0]), np.ones(2))
    with pytest.raises(ValueError, match="values"):
        bipartite_adjacency(2, 2, np.array([0, 1]), np.array([0, 1]), np.ones(3))


def test_norm_adj_propagation_matches_dense(rng):
    users, items = random_pairs(rng, 20, 15, 70)
    g = BipartiteGraph(20, 15, users, items)
    x = torch.from_numpy(rng.standard_normal((35, 4)))  # [U+I, d]
    got = (g.norm_adj() @ x.float()).double().numpy()
    np.testing.assert_allclose(got, dense_norm_adj(20, 15, users, items) @ x.numpy(), rtol=1e-5, atol=1e-6)
