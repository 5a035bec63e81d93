"""The user-item bipartite graph of a train split, built once and shared by every model and op.

Node numbering of the square adjacency: users 0..U-1, then items U..U+I-1. Edges are kept in user-major
CSR order (rows = users, columns ascending); `iu_perm` maps the item-major (transposed) order back to it,
so per-edge values computed once can be laid out for either direction without another sort.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from mcdrec import _C


def _as_int64(x, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.ascontiguousarray(x, dtype=np.int64)
    if x.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D array of ids, got shape {x.shape}")
    return x


def bipartite_adjacency(n_users: int, n_items: int, edge_user, edge_item, values, device="cpu") -> torch.Tensor:
    """Symmetric [(U+I), (U+I)] sparse CSR tensor with `values[e]` at (u_e, U+i_e) and (U+i_e, u_e).

    edge_user, edge_item: [E] int64 (numpy or torch, any order); values: [E] (numpy or torch; a torch tensor
    keeps its dtype, device and autograd history). Rows and columns of the result are sorted; indices int64.
    """
    eu = _as_int64(edge_user, "edge_user")
    ei = _as_int64(edge_item, "edge_item")
    n_edges = eu.shape[0]
    if ei.shape[0] != n_edges:
        raise ValueError(f"edge_item: expected shape ({n_edges},) like edge_user, got {ei.shape}")
    if not isinstance(values, torch.Tensor):
        values = torch.from_numpy(np.ascontiguousarray(values))
    if values.shape != (n_edges,):
        raise ValueError(f"values: expected shape ({n_edges},), got {tuple(values.shape)}")
    ui_indptr, ui_indices, ui_perm = _C.build_csr(eu, ei, n_users, n_items)
    iu_indptr, iu_indices, iu_perm = _C.build_csr(ei, eu, n_items, n_users)
    return _symmetric_csr(n_users, ui_indptr, ui_indices, iu_indptr, iu_indices, values, ui_perm, iu_perm, device)


def _symmetric_csr(n_users, ui_indptr, ui_indices, iu_indptr, iu_indices, values, ui_perm, iu_perm, device):
    """Stack the user->item CSR (columns offset by U) over the item->user CSR: no sort needed.

    ui_*: [U+1], [E]; iu_*: [I+1], [E]; values: [E] torch; ui_perm / iu_perm: [E] CSR slot -> index into
    values (None = identity). Columns stay sorted: item rows hold users (< U), user rows hold U + item.
    """
    n_edges = ui_indices.shape[0]
    n = ui_indptr.shape[0] - 1 + iu_indptr.shape[0] - 1
    indptr = np.concatenate([ui_indptr, iu_indptr[1:] + n_edges])  # [n+1]
    indices = np.concatenate([ui_indices + n_users, iu_indices])  # [2E]
    perm = np.concatenate([np.arange(n_edges, dtype=np.int64) if ui_perm is None else ui_perm, iu_perm])
    device = torch.device(device)
    vals = values[torch.from_numpy(perm).to(values.device)].to(device)  # [2E] in CSR order
    with warnings.catch_warnings():  # torch flags sparse CSR as beta on every construction
        warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta.*")
        return torch.sparse_csr_tensor(torch.from_numpy(indptr).to(device), torch.from_numpy(indices).to(device),
                                       vals, size=(n, n), check_invariants=False)


class BipartiteGraph:
    """User-item graph of train pairs: CSR both ways, degrees and the symmetric normalised adjacency."""

    def __init__(self, n_users: int, n_items: int, users, items):
        """users, items: [E] int64 train pairs (any order, no duplicates)."""
        u = _as_int64(users, "users")
        i = _as_int64(items, "items")
        if u.shape != i.shape:
            raise ValueError(f"items: expected shape {u.shape} like users, got {i.shape}")
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.ui_indptr, self.ui_indices, _ = _C.build_csr(u, i, self.n_users, self.n_items)  # [U+1], [E]
        counts = np.diff(self.ui_indptr)  # [U]
        self.edge_user = np.repeat(np.arange(self.n_users, dtype=np.int64), counts)  # [E]
        self.edge_item = self.ui_indices  # [E]
        dup = (self.edge_item[1:] == self.edge_item[:-1]) & (self.edge_user[1:] == self.edge_user[:-1])
        if dup.any():
            k = int(np.argmax(dup))
            raise ValueError(f"duplicate edge (user {self.edge_user[k]}, item {self.edge_item[k]}); "
                             f"expected each train pair once")
        # [I+1], [E], [E]: item-major transpose; iu_perm[k] = user-major edge id of transposed slot k
        self.iu_indptr, self.iu_indices, self.iu_perm = _C.build_csr(self.edge_item, self.edge_user,
                                                                     self.n_items, self.n_users)
        self.user_deg = counts.astype(np.float64)  # [U]
        self.item_deg = np.diff(self.iu_indptr).astype(np.float64)  # [I]
        self._norm_adj: dict[str, torch.Tensor] = {}

    @property
    def n_edges(self) -> int:
        return int(self.edge_item.shape[0])

    def norm_values(self) -> np.ndarray:
        """float32 [E]: 1/sqrt(d_u d_i) per edge, user-major order."""
        d = self.user_deg[self.edge_user] * self.item_deg[self.edge_item]
        return (1.0 / np.sqrt(d)).astype(np.float32)

    def norm_adj(self, device="cpu") -> torch.Tensor:
        """Symmetric normalised adjacency D^-1/2 A D^-1/2, sparse CSR [(U+I), (U+I)], cached per device."""
        key = str(torch.device(device))
        if key not in self._norm_adj:
            vals = torch.from_numpy(self.norm_values())  # [E] user-major order
            self._norm_adj[key] = _symmetric_csr(self.n_users, self.ui_indptr, self.ui_indices, self.iu_indptr,
                                                 self.iu_indices, vals, None, self.iu_perm, device)
        return self._norm_adj[key]

    def __repr__(self) -> str:
        return f"BipartiteGraph(n_users={self.n_users}, n_items={self.n_items}, n_edges={self.n_edges})"
