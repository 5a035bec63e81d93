"""FREEDOM's frozen item-item graph: one cosine kNN graph per modality, normalised and mixed (SPEC section 3)."""
from __future__ import annotations

import torch

import mcdrec.ops as ops


def modality_weights(names: list[str], image_weight: float) -> dict[str, float]:
    """Mixing weights of the per-modality kNN graphs.

    MMRec mixes two graphs as image_weight * image + (1 - image_weight) * text. Generalised: one modality
    -> weight 1; "image" among several -> image_weight, the others share 1 - image_weight equally;
    no "image" -> equal weights.
    """
    if not names:
        raise ValueError("item_knn_adjacency: expected at least one modality")
    if len(names) == 1:
        return {names[0]: 1.0}
    if "image" in names:
        rest = (1.0 - image_weight) / (len(names) - 1)
        return {m: (image_weight if m == "image" else rest) for m in names}
    return {m: 1.0 / len(names) for m in names}


@torch.no_grad()
def item_knn_adjacency(features: dict[str, torch.Tensor], k: int = 10, image_weight: float = 0.1,
                       device: torch.device | str = "cpu") -> torch.Tensor:
    """features: modality -> [n_items, d_m] (raw features) -> sparse CSR [n_items, n_items] float32.

    Per modality: cosine top-k per item (self included; k is capped at n_items), values D^-1/2 A D^-1/2;
    then the weighted sum of the modality graphs (see modality_weights).
    """
    weights = modality_weights(list(features), image_weight)
    n = next(iter(features.values())).shape[0]
    k = min(int(k), n)
    total = None
    for m, f in features.items():  # f: [n_items, d_m]
        if f.shape[0] != n:
            raise ValueError(f"item_knn_adjacency: features[{m!r}] has {f.shape[0]} rows, expected {n}")
        idx, _ = ops.knn_graph(f.float(), k)  # [n, k]
        adj = ops.knn_adjacency(idx, n).to_sparse_coo() * weights[m]
        total = adj if total is None else total + adj
    return total.coalesce().to_sparse_csr().to(device)
