"""Ranking metrics from top-k item lists (numba, float64).

The arithmetic follows MMRec's metrics exactly (SPEC section 2): binary relevance, Recall@K =
hits/|T_u|, Precision@K = hits/K, NDCG@K with IDCG over min(|T_u|, K) ranks and
MAP@K = (1/min(|T_u|, K)) * sum_{r<=K} Precision@r * rel_r.
"""
import numpy as np
from numba import njit, prange

from mcdrec.engine.sorted_search import in_sorted

# Row order of the metric axis in the arrays returned below.
METRICS = ("recall", "ndcg", "precision", "map")


@njit(parallel=True, cache=True)
def topk_user_metrics(topk_items, gt_indptr, gt_indices, users, ks):
    """Per-user metrics at every cut-off.

    topk_items: int64 [b, kmax]    ranked item ids per user, best first (kmax may be < max(ks)
                                   when there are fewer items than K: the missing ranks count as misses)
    gt_indptr:  int64 [n_users+1]  ground-truth CSR of the evaluated split
    gt_indices: int64 [nnz]        sorted columns per row
    users:      int64 [b]          user id of each row; every user must have >= 1 ground-truth item
    ks:         int64 [n_k]        cut-offs, each >= 1
    returns     float64 [b, 4, n_k] metrics in METRICS order
    """
    b, kmax = topk_items.shape
    n_k = ks.shape[0]
    kbig = 0
    for c in range(n_k):
        kbig = max(kbig, ks[c])
    out = np.zeros((b, 4, n_k), dtype=np.float64)
    for j in prange(b):
        u = users[j]
        row = gt_indices[gt_indptr[u]:gt_indptr[u + 1]]
        n_pos = row.shape[0]
        # Running sums over ranks 1..r, recorded whenever r reaches a cut-off.
        hits = 0
        dcg = 0.0
        idcg = 0.0
        ap_sum = 0.0
        for r in range(1, kbig + 1):
            disc = 1.0 / np.log2(r + 1.0)
            if r <= n_pos:
                idcg += disc
            if r <= kmax and in_sorted(row, topk_items[j, r - 1]):
                hits += 1
                dcg += disc
                ap_sum += hits / r
            for c in range(n_k):
                if ks[c] == r:
                    out[j, 0, c] = hits / n_pos
                    out[j, 1, c] = dcg / idcg
                    out[j, 2, c] = hits / r
                    out[j, 3, c] = ap_sum / min(n_pos, r)
    return out
