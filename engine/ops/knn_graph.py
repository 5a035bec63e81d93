"""knn_graph: cosine top-k item-item graph in row blocks (never an n x n matrix), and FREEDOM's normalisation.

C++ backend, in two stages per block of `block_rows` rows:
1. float32 similarity tiles [block_rows, col_block] from torch's matmul (BLAS) on unit rows; C++ keeps each
   row's m = 2k + 8 best candidates (ties to the lower index).
2. C++ rescores the candidates in float64 exactly as the reference does and keeps the best k. A row is
   certified exact when no column outside its candidates can reach the k-th float64 similarity even with
   the worst-case float32 error of stage 1 (tol = (d + 8) 2^-24 / (1 - (d + 8) 2^-24), a bound on the error
   of a float32 dot product of two unit vectors in any summation order, plus the rounding of the inputs).
   Rows that are not certified (near-ties across the candidate boundary, e.g. many duplicate rows) are
   recomputed in float64 against every column.
So the output equals the float64 reference (indices exactly; similarities to float32 rounding of float64
dots that may differ from BLAS in the last double bit). Memory beyond the input: the float32 unit rows when
they fit in `cache_bytes` (else normalised per column block), one tile, and O(n k) candidates.
Non-contiguous or non-float inputs are made contiguous / cast (a copy).
"""
from __future__ import annotations

import torch

from . import _reference
from ._dispatch import register, select

register("knn_graph", "torch", _reference.knn_graph)
register("knn_adjacency", "torch", _reference.knn_adjacency)

_U32 = 2.0 ** -24


def _tolerance(d: int) -> float:
    g = (d + 8) * _U32
    return g / (1.0 - g) if g < 0.5 else float("inf")


def _row_norms(x: torch.Tensor, chunk: int) -> torch.Tensor:
    """float64 [n]: |x_i| clamped at 1e-12, computed in row chunks (no float64 copy of x)."""
    return torch.cat([torch.linalg.vector_norm(x[s:s + chunk].double(), dim=1)
                      for s in range(0, x.shape[0], chunk)]).clamp_min(1e-12)


def _cpp_knn_graph(features: torch.Tensor, k: int, block_rows: int = 1024, col_block: int = 4096,
                   cache_bytes: int = 256 << 20):
    from mcdrec import _C

    n, d = features.shape
    x = features.detach()
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    x = x.contiguous()
    xn_np = x.numpy()
    norms = _row_norms(x, block_rows)  # [n] float64
    inv32 = (1.0 / norms).float()  # [n]
    m = min(n, 2 * k + 8)
    tol = _tolerance(d)
    unit = x.float() * inv32[:, None] if n * d * 4 <= cache_bytes else None  # [n, d] float32 or None

    def unit_rows(s: int, e: int) -> torch.Tensor:
        return unit[s:e] if unit is not None else x[s:e].float() * inv32[s:e, None]

    idx_out = torch.empty(n, k, dtype=torch.int64)
    sim_out = torch.empty(n, k, dtype=torch.float32)
    redo = []
    for r0 in range(0, n, block_rows):
        r1 = min(n, r0 + block_rows)
        a = unit_rows(r0, r1)  # [b, d]
        cand_idx = torch.full((r1 - r0, m), -1, dtype=torch.int64)
        cand_sim = torch.full((r1 - r0, m), -float("inf"), dtype=torch.float32)
        for c0 in range(0, n, col_block):
            tile = a @ unit_rows(c0, min(n, c0 + col_block)).T  # [b, c] float32
            _C.knn_topk_update(tile.numpy(), c0, cand_idx.numpy(), cand_sim.numpy())
        idx, sim, ok = _C.knn_rescore(xn_np, norms.numpy(), r0, cand_idx.numpy(), cand_sim.numpy(), k, tol)
        idx_out[r0:r1] = torch.from_numpy(idx)
        sim_out[r0:r1] = torch.from_numpy(sim)
        redo.extend((r0 + torch.nonzero(torch.from_numpy(~ok)).flatten()).tolist())
    if redo:
        _exact_rows(x, norms, torch.tensor(redo, dtype=torch.int64), k, block_rows, col_block, idx_out, sim_out)
    return idx_out, sim_out


def _exact_rows(x, norms, rows, k, block_rows, col_block, idx_out, sim_out):
    """Full float64 top-k for the given rows (the reference's arithmetic), written into idx_out/sim_out."""
    from mcdrec import _C

    n = x.shape[0]
    for s in range(0, rows.numel(), block_rows):
        rr = rows[s:s + block_rows]
        a = x[rr].double() / norms[rr, None]  # [b, d]
        top_idx = torch.full((rr.numel(), k), -1, dtype=torch.int64)
        top_sim = torch.full((rr.numel(), k), -float("inf"), dtype=torch.float64)
        for c0 in range(0, n, col_block):
            c1 = min(n, c0 + col_block)
            tile = a @ (x[c0:c1].double() / norms[c0:c1, None]).T  # [b, c] float64
            _C.knn_topk_update(tile.numpy(), c0, top_idx.numpy(), top_sim.numpy())
        idx_out[rr] = top_idx
        sim_out[rr] = top_sim.float()


def _cpp_knn_adjacency(indices: torch.Tensor, n: int) -> torch.Tensor:
    from mcdrec import _C

    crow, col, values = _C.knn_adjacency(indices.to(torch.int64).contiguous().numpy(), n)
    return torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(col), torch.from_numpy(values),
                                   size=(n, n), check_invariants=False)  # built and checked in C++


register("knn_graph", "cpp", _cpp_knn_graph)
register("knn_adjacency", "cpp", _cpp_knn_adjacency)


@torch.no_grad()
def knn_graph(features: torch.Tensor, k: int, block_rows: int = 1024):
    """features: [n, d] -> (indices [n, k] int64, similarities [n, k] float32): cosine top-k per row, self
    included (as MMRec does), rows sorted by similarity, ties -> lower index. Memory O(block_rows * n + n k)."""
    if features.dim() != 2:
        raise ValueError(f"knn_graph: features must be 2-d [n, d], got shape {tuple(features.shape)}")
    n = features.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"knn_graph: k={k} must be in [1, n={n}] (features shape {tuple(features.shape)})")
    if block_rows < 1:
        raise ValueError(f"knn_graph: block_rows must be >= 1, got {block_rows}")
    for s in range(0, n, block_rows):  # chunked: a full [n, d] mask could be as large as the input
        finite = torch.isfinite(features[s:s + block_rows]).all(dim=1)
        if not bool(finite.all()):
            bad = s + int(torch.nonzero(~finite)[0, 0])
            raise ValueError(f"knn_graph: features (shape {tuple(features.shape)}, {features.dtype}) has a "
                             f"non-finite value in row {bad}")
    _, fn = select("knn_graph", features.device)
    return fn(features, k, block_rows)


def knn_adjacency(indices: torch.Tensor, n: int) -> torch.Tensor:
    """indices: [n, k] from knn_graph -> sparse CSR [n, n] with values D^-1/2 A D^-1/2 (FREEDOM)."""
    if indices.dim() != 2 or indices.shape[0] != n:
        raise ValueError(f"knn_adjacency: indices must be [n={n}, k], got shape {tuple(indices.shape)}")
    _, fn = select("knn_adjacency", indices.device)
    return fn(indices, n)
