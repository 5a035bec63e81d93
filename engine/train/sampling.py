"""Training pairs and negative sampling (SPEC section 2).

Negatives come from a counter-based hash (splitmix64 of seed, position and attempt), so each draw
depends only on its position: the result is the same for any number of numba threads.
"""
import numpy as np
import torch
from numba import njit, prange

from mcdrec.engine.sorted_search import in_sorted

_MASK64 = (1 << 64) - 1
# Rejection attempts per position before drawing directly among the allowed candidates; only users
# who have interacted with nearly every candidate ever reach it.
_MAX_ATTEMPTS = 64


@njit(cache=True)
def _splitmix64(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True)
def _uniform_index(h, m):
    """Index in [0, m) from the top 53 bits of the hash h."""
    i = np.int64(np.float64(h >> np.uint64(11)) * (1.0 / 9007199254740992.0) * m)
    return min(i, m - 1)


@njit(parallel=True, cache=True)
def _sample_kernel(users, indptr, indices, candidates, seed, max_attempts):
    """users int64 [n], indptr int64 [n_users+1], indices int64 [nnz] (sorted per row),
    candidates int64 [m], seed uint64 -> int64 [n]. Every user must have an allowed candidate."""
    n = users.shape[0]
    m = candidates.shape[0]
    out = np.empty(n, dtype=np.int64)
    key = _splitmix64(seed)
    for p in prange(n):
        u = users[p]
        row = indices[indptr[u]:indptr[u + 1]]
        base = _splitmix64(key ^ np.uint64(p))
        found = False
        for a in range(max_attempts):
            item = candidates[_uniform_index(_splitmix64(base + np.uint64(a)), m)]
            if not in_sorted(row, item):
                out[p] = item
                found = True
                break
        if not found:
            # Uniform among the allowed candidates: the j-th one in candidate order.
            n_allowed = 0
            for c in range(m):
                if not in_sorted(row, candidates[c]):
                    n_allowed += 1
            j = _uniform_index(_splitmix64(base + np.uint64(max_attempts)), n_allowed)
            for c in range(m):
                if not in_sorted(row, candidates[c]):
                    if j == 0:
                        out[p] = candidates[c]
                        break
                    j -= 1
    return out


def _check_users_have_negatives(users, indptr, indices, candidates):
    """Raise ValueError naming the first user whose train row covers every candidate."""
    unique_cand = np.unique(candidates)
    degree = indptr[users + 1] - indptr[users]
    # A user with fewer train items than distinct candidates always has one left.
    for u in np.unique(users[degree >= unique_cand.size]):
        row = indices[indptr[u]:indptr[u + 1]]
        if np.isin(unique_cand, row, assume_unique=True).all():
            raise ValueError(
                f"user {int(u)} has interacted with all {unique_cand.size} candidate items: "
                "no negative item can be drawn")


def sample_negatives(users, train_indptr, train_indices, candidates, seed: int) -> np.ndarray:
    """One negative item per position, uniform over `candidates` minus the user's train items.

    users:         int64 [n]            user id per position
    train_indptr:  int64 [n_users+1]    train CSR
    train_indices: int64 [nnz]          sorted item ids per row
    candidates:    int64 [m]            items to draw from (the items occurring in train)
    seed:          any Python int; the result depends only on (seed, position, user's row)
    returns        int64 [n]
    """
    users = np.ascontiguousarray(users, dtype=np.int64)
    indptr = np.ascontiguousarray(train_indptr, dtype=np.int64)
    indices = np.ascontiguousarray(train_indices, dtype=np.int64)
    candidates = np.ascontiguousarray(candidates, dtype=np.int64)
    if users.size == 0:
        return np.empty(0, dtype=np.int64)
    if candidates.size == 0:
        raise ValueError("no candidate items to draw negatives from")
    if users.min() < 0 or users.max() >= indptr.size - 1:
        raise ValueError(
            f"user ids must lie in [0, {indptr.size - 1}), got range [{users.min()}, {users.max()}]")
    _check_users_have_negatives(users, indptr, indices, candidates)
    return _sample_kernel(users, indptr, indices, candidates, np.uint64(int(seed) & _MASK64),
                          _MAX_ATTEMPTS)


class TrainBatches:
    """One epoch of BPR triples: every train (u, i) pair once, shuffled, one negative each.

    The permutation and the negatives' seed come from a numpy Generator seeded by (seed, epoch), so an
    epoch is reproducible on its own. Yields (users, pos_items, neg_items), int64 tensors [<= batch_size]
    on `device`; the last batch may be smaller.
    """

    def __init__(self, dataset, batch_size: int, seed: int, epoch: int, device="cpu"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if seed < 0 or epoch < 0:
            raise ValueError(f"seed and epoch must be non-negative, got seed={seed}, epoch={epoch}")
        self.batch_size = int(batch_size)
        users, items = (np.asarray(a, dtype=np.int64) for a in dataset.pairs("train"))
        gen = np.random.default_rng([int(seed), int(epoch)])
        perm = gen.permutation(users.size)
        users, items = users[perm], items[perm]
        indptr, indices = dataset.train_csr
        neg = sample_negatives(users, indptr, indices, dataset.train_items,
                               int(gen.integers(0, 2**63, dtype=np.int64)))
        device = torch.device(device)
        self._users = torch.from_numpy(users).to(device)  # [n_train]
        self._pos = torch.from_numpy(items).to(device)  # [n_train]
        self._neg = torch.from_numpy(neg).to(device)  # [n_train]

    def __len__(self) -> int:
        return -(-self._users.shape[0] // self.batch_size)

    def __iter__(self):
        bs = self.batch_size
        for start in range(0, self._users.shape[0], bs):
            yield self._users[start:start + bs], self._pos[start:start + bs], self._neg[start:start + bs]
