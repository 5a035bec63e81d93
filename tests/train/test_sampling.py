"""Negative sampling and epoch batches."""
import numba
import numpy as np
import pytest
import torch

from mcdrec.engine.train.sampling import TrainBatches, sample_negatives


class ToyTrainDataset:
    """The Dataset members TrainBatches uses, built from train (user, item) pairs."""

    def __init__(self, n_users, n_items, users, items):
        self.n_users, self.n_items = n_users, n_items
        self._users = np.asarray(users, dtype=np.int64)
        self._items = np.asarray(items, dtype=np.int64)

    def pairs(self, split):
        assert split == "train"
        return self._users, self._items

    @property
    def train_csr(self):
        order = np.lexsort((self._items, self._users))
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(self._users, minlength=self.n_users), out=indptr[1:])
        return indptr, self._items[order]

    @property
    def train_items(self):
        return np.unique(self._items)


def random_train(rng, n_users=40, n_items=60):
    """Random train pairs; user 0 covers all but two of the items occurring in train."""
    users, items = [], []
    for u in range(n_users):
        k = n_items - 2 if u == 0 else int(rng.integers(1, n_items // 2))
        users += [u] * k
        items += rng.choice(n_items, size=k, replace=False).tolist()
    return ToyTrainDataset(n_users, n_items, users, items)


def row_sets(ds):
    indptr, indices = ds.train_csr
    return [set(indices[indptr[u]:indptr[u + 1]].tolist()) for u in range(ds.n_users)]


def test_negatives_valid(rng):
    ds = random_train(rng)
    indptr, indices = ds.train_csr
    cand = ds.train_items
    users = rng.integers(0, ds.n_users, size=5000)
    neg = sample_negatives(users, indptr, indices, cand, seed=int(rng.integers(2**31)))
    assert neg.dtype == np.int64 and neg.shape == users.shape
    rows = row_sets(ds)
    cand_set = set(cand.tolist())
    for u, j in zip(users.tolist(), neg.tolist()):
        assert j in cand_set and j not in rows[u]


def test_same_result_for_any_thread_count(rng):
    ds = random_train(rng)
    indptr, indices = ds.train_csr
    users = rng.integers(0, ds.n_users, size=20000)
    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sample_negatives(users, indptr, indices, ds.train_items, seed=7)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = sample_negatives(users, indptr, indices, ds.train_items, seed=7)
    finally:
        numba.set_num_threads(saved)
    np.testing.assert_array_equal(one, two)


def test_seeds(rng):
    ds = random_train(rng)
    indptr, indices = ds.train_csr
    users = rng.integers(0, ds.n_users, size=2000)
    a = sample_negatives(users, indptr, indices, ds.train_items, seed=1)
    b = sample_negatives(users, indptr, indices, ds.train_items, seed=2)
    np.testing.assert_array_equal(a, sample_negatives(users, indptr, indices, ds.train_items, seed=1))
    assert (a != b).mean() > 0.5
    # Seeds outside int64 are reduced, not rejected.
    sample_negatives(users, indptr, indices, ds.train_items, seed=-(2**70) + 3)


def chi_square(counts):
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("n_train", [5, 197])
def test_uniform_over_allowed(n_train):
    # 200 candidates (not all items), one user with n_train of them in train. n_train = 197 leaves 3
    # allowed items, so most draws go through the exact fallback after the rejection attempts.
    n_items = 300
    cand = np.arange(0, 2 * 200, 2, dtype=np.int64)
    row = np.sort(cand[np.random.default_rng(0).permutation(200)[:n_train]])
    indptr = np.array([0, n_train], dtype=np.int64)
    allowed = np.setdiff1d(cand, row)
    n = 300 * allowed.size
    neg = sample_negatives(np.zeros(n, np.int64), indptr, row, cand, seed=12345)
    counts = np.bincount(neg, minlength=n_items)
    assert counts[np.setdiff1d(np.arange(n_items), allowed)].sum() == 0
    dof = allowed.size - 1
    # Chi-square with dof degrees of freedom: mean dof, sd sqrt(2 dof); the bound is ~6 sd above.
    assert chi_square(counts[allowed]) < dof + 6 * np.sqrt(2 * dof) + 10


def test_user_with_every_candidate_raises():
    indptr = np.array([0, 2, 5], dtype=np.int64)
    indices = np.array([1, 3, 1, 2, 3], dtype=np.int64)
    cand = np.array([1, 2, 3], dtype=np.int64)
    assert sample_negatives(np.array([0, 0]), indptr, indices, cand, seed=0).tolist() == [2, 2]
    with pytest.raises(ValueError, match="user 1 "):
        sample_negatives(np.array([0, 1]), indptr, indices, cand, seed=0)


def test_empty_users():
    indptr = np.array([0, 1], dtype=np.int64)
    out = sample_negatives(np.zeros(0, np.int64), indptr, np.array([0]), np.array([0, 1]), seed=0)
    assert out.shape == (0,) and out.dtype == np.int64


@pytest.mark.parametrize("batch_size", [1, 64, 1000, 100000])
def test_batches_cover_each_pair_once(rng, device, batch_size):
    ds = random_train(rng)
    n_train = ds.pairs("train")[0].size
    batches = TrainBatches(ds, batch_size, seed=3, epoch=1, device=device)
    got = list(batches)
    assert len(batches) == len(got) == -(-n_train // batch_size)
    assert all(len(b[0]) == batch_size for b in got[:-1]) and 1 <= len(got[-1][0]) <= batch_size
    users, pos, neg = (torch.cat(parts).cpu().numpy() for parts in zip(*got))
    for t in got[0]:
        assert t.dtype == torch.int64 and t.device.type == device.type
    want = sorted(zip(*(a.tolist() for a in ds.pairs("train"))))
    assert sorted(zip(users.tolist(), pos.tolist())) == want
    rows = row_sets(ds)
    assert all(j not in rows[u] for u, j in zip(users.tolist(), neg.tolist()))


def test_batches_reproducible_per_epoch(rng):
    ds = random_train(rng)

    def epoch(seed, e):
        return [torch.cat(p) for p in zip(*TrainBatches(ds, 100, seed=seed, epoch=e))]

    a, b, c = epoch(3, 0), epoch(3, 0), epoch(3, 1)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a[0], c[0])  # a new shuffle each epoch
    assert not torch.equal(a[0], epoch(4, 0)[0])
