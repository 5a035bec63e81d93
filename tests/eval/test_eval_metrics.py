"""evaluate_scores against a brute-force MMRec implementation and a case worked by hand."""
import math

import numpy as np
import pytest
import torch

from mcdrec.engine.eval import evaluate_scores

KS = (1, 3, 5, 10, 20, 50)


class ToyDataset:
    """The Dataset members evaluation uses, built from explicit (user, item) pairs per split."""

    def __init__(self, n_users, n_items, splits):
        self.n_users, self.n_items = n_users, n_items
        self._pairs = {s: (np.asarray(u, dtype=np.int64), np.asarray(i, dtype=np.int64))
                       for s, (u, i) in splits.items()}

    def pairs(self, split):
        return self._pairs.get(split, (np.zeros(0, np.int64), np.zeros(0, np.int64)))

    def split_csr(self, split):
        users, items = self.pairs(split)
        order = np.lexsort((items, users))
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(users, minlength=self.n_users), out=indptr[1:])
        return indptr, items[order]

    @property
    def train_csr(self):
        return self.split_csr("train")

    def eval_users(self, split):
        return np.unique(self.pairs(split)[0])

    @property
    def train_items(self):
        return np.unique(self.pairs("train")[1])


def random_dataset(rng, n_users=70, n_items=120):
    """Disjoint train/valid/test per user, with awkward users: no test items, one test item,
    more test items than the largest K, train covering most items."""
    splits = {s: ([], []) for s in ("train", "valid", "test")}
    for u in range(n_users):
        kind = u % 5
        perm = rng.permutation(n_items)
        if kind == 0:  # more test items than max(KS)
            n_tr, n_va, n_te = 5, 3, 60
        elif kind == 1:  # one test item
            n_tr, n_va, n_te = int(rng.integers(1, 10)), 1, 1
        elif kind == 2:  # train covers most items
            n_tr, n_va, n_te = 100, 2, int(rng.integers(1, 15))
        elif kind == 3:  # not evaluated at test time
            n_tr, n_va, n_te = int(rng.integers(1, 20)), 2, 0
        else:
            n_tr, n_va, n_te = (int(x) for x in rng.integers(1, 20, size=3))
        bounds = np.cumsum([0, n_tr, n_va, n_te])
        for s, (a, b) in zip(("train", "valid", "test"), zip(bounds[:-1], bounds[1:])):
            splits[s][0].extend([u] * (b - a))
            splits[s][1].extend(perm[a:b].tolist())
    return ToyDataset(n_users, n_items, splits)


def brute_force(scores, ds, split, ks):
    """MMRec metrics with plain loops; scores: float64 numpy [n_users, n_items]."""
    tr_ptr, tr_idx = ds.train_csr
    gt_ptr, gt_idx = ds.split_csr(split)
    users = [u for u in range(ds.n_users) if gt_ptr[u + 1] > gt_ptr[u]]
    total = {f"{m}@{k}": 0.0 for m in ("recall", "ndcg", "precision", "map") for k in ks}
    for u in users:
        s = [float(x) for x in scores[u]]
        for i in tr_idx[tr_ptr[u]:tr_ptr[u + 1]]:
            s[i] = -math.inf
        ranked = sorted(range(ds.n_items), key=lambda i: -s[i])
        truth = set(gt_idx[gt_ptr[u]:gt_ptr[u + 1]].tolist())
        for k in ks:
            rel = [1 if i in truth else 0 for i in ranked[:k]]
            hits = sum(rel)
            dcg = sum(r / math.log2(pos + 2) for pos, r in enumerate(rel))
            idcg = sum(1 / math.log2(pos + 2) for pos in range(min(len(truth), k)))
            ap = sum(sum(rel[:pos + 1]) / (pos + 1) * r for pos, r in enumerate(rel))
            total[f"recall@{k}"] += hits / len(truth)
            total[f"precision@{k}"] += hits / k
            total[f"ndcg@{k}"] += dcg / idcg
            total[f"map@{k}"] += ap / min(len(truth), k)
    out = {key: v / len(users) for key, v in total.items()}
    out["n_users"] = len(users)
    return out


def assert_metrics_close(got, want, tol=1e-9):
    assert set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=tol, rel=0), key


@pytest.mark.parametrize("split", ["test", "valid"])
@pytest.mark.parametrize("batch_size", [7, 2048])
def test_matches_brute_force(rng, device, split, batch_size):
    ds = random_dataset(rng)
    scores = rng.random((ds.n_users, ds.n_items))  # float64: no ties
    got = evaluate_scores(torch.from_numpy(scores).to(device), ds, split, ks=KS, batch_size=batch_size)
    assert_metrics_close(got, brute_force(scores, ds, split, KS))


def test_callable_equals_dense(rng, device):
    ds = random_dataset(rng, n_users=53)
    dense = torch.from_numpy(rng.random((ds.n_users, ds.n_items))).to(device)
    seen = []

    def score_fn(users):  # users: int64 [b] on `device`
        seen.append(users.shape[0])
        return dense[users].clone()

    want = evaluate_scores(dense, ds, ks=KS)
    got = evaluate_scores(score_fn, ds, ks=KS, batch_size=10, device=device)
    assert_metrics_close(got, want, tol=1e-12)  # batching changes only the summation order
    assert max(seen) == 10 and sum(seen) == want["n_users"]


def test_dense_scores_are_not_modified(rng):
    ds = random_dataset(rng, n_users=20)
    dense = torch.from_numpy(rng.random((ds.n_users, ds.n_items)))
    before = dense.clone()
    evaluate_scores(dense, ds, ks=(5,))
    assert torch.equal(dense, before)


def hand_dataset():
    # user 0: train {0}, test {1, 3}
    # user 1: train {2, 3}, valid {4}, test {5}
    # user 2: train {1}, valid {0}, no test items -> not evaluated at test time
    # user 3: train {5}, test {0}
    train = ([0, 1, 1, 2, 3], [0, 2, 3, 1, 5])
    valid = ([1, 2], [4, 0])
    test = ([0, 0, 1, 3], [1, 3, 5, 0])
    ds = ToyDataset(4, 6, {"train": train, "valid": valid, "test": test})
    scores = torch.tensor([
        [9.0, 0.5, 0.8, 0.7, 0.1, 0.2],    # ranking 2, 3, 1, 5, 4 (0 masked): rel 0 1 1 0 0
        [0.3, 0.1, 0.95, 0.99, 0.9, 0.6],  # ranking 4, 5, 0, 1 (2, 3 masked): rel 0 1 0 0
        [0.1, 0.9, 0.2, 0.3, 0.4, 0.5],
        [0.9, 0.1, 0.2, 0.3, 0.4, 0.95],   # ranking 0, 4, 3, 2, 1 (5 masked): rel 1 0 0 0 0
    ], dtype=torch.float64)
    return ds, scores


def test_hand_computed():
    ds, scores = hand_dataset()
    got = evaluate_scores(scores, ds, "test", ks=(1, 3))
    inv_l3 = 1 / math.log2(3)
    assert got["n_users"] == 3
    # @1: only user 3 hits at rank 1 -> each metric (0 + 0 + 1) / 3.
    for m in ("recall", "precision", "ndcg", "map"):
        assert got[f"{m}@1"] == pytest.approx(1 / 3, abs=1e-12)
    # recall@3: user 0 2/2, user 1 1/1, user 3 1/1 -> 3/3.
    assert got["recall@3"] == pytest.approx(1.0, abs=1e-12)
    # precision@3: (2/3 + 1/3 + 1/3) / 3 = 4/9.
    assert got["precision@3"] == pytest.approx(4 / 9, abs=1e-12)
    # ndcg@3: user 0 hits at ranks 2, 3: (1/log2 3 + 1/log2 4) / (1 + 1/log2 3);
    #         user 1 hit at rank 2, one item: (1/log2 3) / 1;  user 3: 1.
    ndcg_u0 = (inv_l3 + 1 / 2) / (1 + inv_l3)
    assert got["ndcg@3"] == pytest.approx((ndcg_u0 + inv_l3 + 1) / 3, abs=1e-12)
    # map@3: user 0 (P@2 + P@3) / min(2, 3) = (1/2 + 2/3) / 2 = 7/12;
    #        user 1 P@2 / 1 = 1/2;  user 3 P@1 / 1 = 1 -> (7/12 + 6/12 + 12/12) / 3 = 25/36.
    assert got["map@3"] == pytest.approx(25 / 36, abs=1e-12)


def test_hand_computed_valid():
    ds, scores = hand_dataset()
    got = evaluate_scores(scores, ds, "valid", ks=(1, 2))
    # Valid users 1 and 2. User 1: item 4 at rank 1 (train 2, 3 masked) -> hit at 1.
    # User 2: train {1} masked; ranking 5, 4, 3, 2, 0 -> item 0 at rank 5 -> no hit within 2.
    assert got["n_users"] == 2
    assert got["recall@1"] == pytest.approx(1 / 2, abs=1e-12)
    assert got["precision@2"] == pytest.approx((1 / 2 + 0) / 2, abs=1e-12)
    assert got["map@2"] == pytest.approx(1 / 2, abs=1e-12)


def test_valid_items_rankable_train_items_masked():
    # One user: train {0}, valid {1}, test {2}; scores 0 > 1 > 2 > 3.
    ds = ToyDataset(1, 4, {"train": ([0], [0]), "valid": ([0], [1]), "test": ([0], [2])})
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    got = evaluate_scores(scores, ds, "test", ks=(1, 2))
    # Train item 0 is masked; valid item 1 stays and takes rank 1, test item 2 is at rank 2.
    assert got["recall@1"] == 0.0
    assert got["recall@2"] == 1.0
    assert got["ndcg@2"] == pytest.approx(1 / math.log2(3), abs=1e-12)


def test_k_larger_than_n_items():
    ds, scores = hand_dataset()
    got = evaluate_scores(scores, ds, "test", ks=(3, 10))
    # Beyond the 6 items every rank is a miss: recall unchanged, precision divides by 10.
    assert got["recall@10"] == pytest.approx(got["recall@3"], abs=1e-12)
    assert got["precision@10"] == pytest.approx((2 + 1 + 1) / 10 / 3, abs=1e-12)


def test_bad_inputs():
    ds, scores = hand_dataset()
    with pytest.raises(ValueError, match="shape"):
        evaluate_scores(scores[:, :5], ds)
    with pytest.raises(ValueError, match="ks"):
        evaluate_scores(scores, ds, ks=(0, 5))
    with pytest.raises(TypeError):
        evaluate_scores(scores.numpy(), ds)
