"""Full-ranking evaluation with MMRec's protocol (SPEC section 2).

Every user with at least one item in the evaluated split is ranked against all items; the user's
TRAIN items are masked with -inf (at test time the valid items stay rankable), the top max(K) items
are taken with torch.topk on the scores' device (ties broken by torch.topk, as MMRec does), and the
metrics are computed from those lists in float64 and averaged over the evaluated users.
"""
from typing import Callable, Dict, Sequence, Union

import numpy as np
import torch

from .topk_metrics import METRICS, topk_user_metrics

ScoreSource = Union[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]


def _train_mask_positions(indptr, indices, users):
    """(row, column) positions of the batch users' train items.

    indptr:  int64 [n_users+1] train CSR on the scores' device
    indices: int64 [nnz]
    users:   int64 [b]         batch users, same device
    returns  (int64 [m], int64 [m]) row in the batch and item id
    """
    starts = indptr[users]
    counts = indptr[users + 1] - starts
    rows = torch.repeat_interleave(torch.arange(users.shape[0], device=users.device), counts)
    # Position of each entry inside its row, shifted to the row's start in `indices`.
    row_first = torch.cumsum(counts, 0) - counts
    offsets = torch.arange(rows.shape[0], device=users.device) - row_first[rows] + starts[rows]
    return rows, indices[offsets]


def evaluate_scores(
    scores: ScoreSource,
    dataset,
    split: str = "test",
    ks: Sequence[int] = (5, 10, 20, 50),
    batch_size: int = 2048,
    device: Union[str, torch.device, None] = None,
) -> Dict[str, float]:
    """MMRec full-ranking metrics of `scores` on `split`.

    scores:  float tensor [n_users, n_items] on any device, or a callable taking user ids
             (int64 [b] on `device`) and returning a fresh float tensor [b, n_items] on any device.
             The returned tensor is overwritten in place by the train mask.
    dataset: provides n_users, n_items, train_csr, split_csr(split), eval_users(split).
    device:  where user ids are passed to a callable (default cpu); ignored for a dense tensor.
    returns  {"recall@K", "ndcg@K", "precision@K", "map@K" for K in ks, "n_users"}; the metrics
             are means over the users with >= 1 item in `split` (NaN when there are none).
    """
    ks_arr = np.asarray(sorted(set(int(k) for k in ks)), dtype=np.int64)
    if ks_arr.size == 0 or ks_arr[0] < 1:
        raise ValueError(f"ks must be a non-empty list of cut-offs >= 1, got {list(ks)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n_users, n_items = int(dataset.n_users), int(dataset.n_items)
    dense = isinstance(scores, torch.Tensor)
    if dense:
        if tuple(scores.shape) != (n_users, n_items):
            raise ValueError(
                f"dense scores must have shape [n_users, n_items] = [{n_users}, {n_items}], "
                f"got {list(scores.shape)}")
        user_device = scores.device
    elif callable(scores):
        user_device = torch.device(device if device is not None else "cpu")
    else:
        raise TypeError(f"scores must be a torch.Tensor or a callable, got {type(scores).__name__}")

    gt_indptr, gt_indices = (np.ascontiguousarray(a, dtype=np.int64) for a in dataset.split_csr(split))
    users_all = np.ascontiguousarray(dataset.eval_users(split), dtype=np.int64)
    tr_indptr, tr_indices = dataset.train_csr
    kmax = min(int(ks_arr[-1]), n_items)
    mask_csr = {}  # train CSR per device, copied once

    sums = np.zeros((len(METRICS), ks_arr.size), dtype=np.float64)
    with torch.no_grad():
        for start in range(0, users_all.size, batch_size):
            users_np = users_all[start:start + batch_size]
            users = torch.from_numpy(users_np).to(user_device)
            batch = scores[users] if dense else scores(users)
            if tuple(batch.shape) != (users_np.size, n_items):
                raise ValueError(
                    f"scores for {users_np.size} users must have shape [{users_np.size}, {n_items}], "
                    f"got {list(batch.shape)}")
            dev = batch.device
            if dev not in mask_csr:
                mask_csr[dev] = (torch.as_tensor(tr_indptr, dtype=torch.int64, device=dev),
                                 torch.as_tensor(tr_indices, dtype=torch.int64, device=dev))
            rows, cols = _train_mask_positions(*mask_csr[dev], users.to(dev))
            batch[rows, cols] = float("-inf")
            topk = torch.topk(batch, kmax, dim=1).indices
            topk_np = np.ascontiguousarray(topk.cpu().numpy(), dtype=np.int64)
            per_user = topk_user_metrics(topk_np, gt_indptr, gt_indices, users_np, ks_arr)
            sums += per_user.sum(axis=0)

    n_eval = int(users_all.size)
    result: Dict[str, float] = {}
    for m, name in enumerate(METRICS):
        for c, k in enumerate(ks_arr):
            result[f"{name}@{int(k)}"] = float(sums[m, c] / n_eval) if n_eval else float("nan")
    result["n_users"] = n_eval
    return result
