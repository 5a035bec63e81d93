"""An in-memory recommendation dataset: train/valid/test pairs, modality features, CSR views and the graph."""
from __future__ import annotations

import numpy as np
import torch

from mcdrec import _C

SPLITS = ("train", "valid", "test")


class Dataset:
    """Interactions split into train/valid/test plus per-modality item features.

    Attributes: name, n_users, n_items, features (modality -> float32 tensor [n_items, d_m]; may be empty),
    n_dropped_cold (valid/test rows removed because their user has no train row).
    """

    def __init__(self, name: str, n_users: int, n_items: int, train, valid, test, features=None,
                 n_dropped_cold: int = 0):
        """train, valid, test: (users [n], items [n]) int64 pairs, no duplicate pair within the dataset."""
        self.name = name
        self.n_users, self.n_items = int(n_users), int(n_items)
        self._pairs = {}
        for split, (u, i) in zip(SPLITS, (train, valid, test)):
            u = np.ascontiguousarray(u, dtype=np.int64)
            i = np.ascontiguousarray(i, dtype=np.int64)
            if u.shape != i.shape or u.ndim != 1:
                raise ValueError(f"{split}: users {u.shape} and items {i.shape} must be 1-D of equal length")
            self._pairs[split] = (u, i)
        self.features: dict[str, torch.Tensor] = {}
        for m, f in (features or {}).items():
            f = torch.as_tensor(f, dtype=torch.float32)
            if f.ndim != 2 or f.shape[0] != self.n_items:
                raise ValueError(f"features[{m!r}]: expected [{self.n_items}, d], got {tuple(f.shape)}")
            self.features[m] = f
        self.n_dropped_cold = int(n_dropped_cold)
        self._csr: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._graph = None
        self._train_items = None

    @staticmethod
    def _check_split(split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return split

    def pairs(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(users [n], items [n]) int64 of one split, in file order."""
        return self._pairs[self._check_split(split)]

    def split_csr(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(indptr [n_users+1], indices [n]) int64 CSR of one split, items ascending within each user."""
        if self._check_split(split) not in self._csr:
            u, i = self._pairs[split]
            indptr, indices, _ = _C.build_csr(u, i, self.n_users, self.n_items)
            self._csr[split] = (indptr, indices)
        return self._csr[split]

    @property
    def train_csr(self) -> tuple[np.ndarray, np.ndarray]:
        return self.split_csr("train")

    def eval_users(self, split: str) -> np.ndarray:
        """int64 [n_eval]: users with at least one item in `split`, ascending."""
        indptr, _ = self.split_csr(split)
        return np.flatnonzero(np.diff(indptr) > 0).astype(np.int64)

    @property
    def train_items(self) -> np.ndarray:
        """int64 [n_train_items]: sorted unique items of the train split (the negative-sampling pool)."""
        if self._train_items is None:
            seen = np.bincount(self._pairs["train"][1], minlength=self.n_items)  # [n_items], O(n) not a sort
            self._train_items = np.flatnonzero(seen).astype(np.int64)
        return self._train_items

    @property
    def graph(self):
        """BipartiteGraph of the train split, built on first use."""
        if self._graph is None:
            from mcdrec.engine.graph.bipartite import BipartiteGraph

            u, i = self._pairs["train"]
            self._graph = BipartiteGraph(self.n_users, self.n_items, u, i)
        return self._graph

    def stats(self) -> dict:
        """Counts after cold-start filtering; density = all kept interactions / (n_users * n_items)."""
        n = {s: int(self._pairs[s][0].shape[0]) for s in SPLITS}
        total = sum(n.values())
        return {
            "name": self.name,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_train": n["train"],
            "n_valid": n["valid"],
            "n_test": n["test"],
            "density": total / max(1, self.n_users * self.n_items),
            "features": {m: int(f.shape[1]) for m, f in self.features.items()},
        }

    def __repr__(self) -> str:
        s = self.stats()
        return (f"Dataset({s['name']!r}, users={s['n_users']}, items={s['n_items']}, train={s['n_train']}, "
                f"valid={s['n_valid']}, test={s['n_test']}, features={s['features']})")
