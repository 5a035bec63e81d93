"""Seeded synthetic datasets with planted structure, for tests, benchmarks and scale runs.

Spec string: ``synthetic:<users>x<items>x<interactions>[:d=<w1>,<w2>,...][:k=<clusters>]``
  - ``d=`` feature widths, one modality each, named image, text, audio, then mod3, mod4, ...
    (default ``d=64,32``: image 64-d, text 32-d; ``d=0`` or ``d=none``: id-only).
  - ``k=`` number of planted clusters (default: about items/200, between 2 and 64).
  Example: ``synthetic:1000000x100000x10000000:d=4096,384``.

Users and items belong to clusters; a user draws most of its items from its own cluster (with popularity
skew), the rest uniformly. An item's features are its cluster centroid plus noise in a small latent space,
projected to each width. Every user has at least one interaction and at least one train row; no (user,
item) pair repeats; each user's rows are split ~80/10/10 into train/valid/test at random.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from .dataset import Dataset
from .errors import DatasetError

SYNTAX = "synthetic:<users>x<items>x<interactions>[:d=<w1>,<w2>,...][:k=<clusters>]"
MODALITY_NAMES = ("image", "text", "audio")
IN_CLUSTER = 0.8  # share of a user's draws taken from its own cluster
LATENT = 16  # latent width of the planted item structure


def parse_spec(spec: str) -> dict:
    """'synthetic:UxIxN[:d=..][:k=..]' -> dict(n_users, n_items, n_inter, widths, clusters)."""
    parts = spec.split(":")
    m = re.fullmatch(r"(\d+)x(\d+)x(\d+)", parts[1] if len(parts) > 1 else "")
    if parts[0] != "synthetic" or m is None:
        raise DatasetError(f"{spec!r}: bad synthetic dataset name; expected {SYNTAX}")
    n_users, n_items, n_inter = (int(g) for g in m.groups())
    out = {"n_users": n_users, "n_items": n_items, "n_inter": n_inter, "widths": [64, 32], "clusters": None}
    for opt in parts[2:]:
        key, _, val = opt.partition("=")
        try:
            if key == "d":
                out["widths"] = [] if val in ("0", "none", "") else [int(w) for w in val.split(",")]
                if any(w <= 0 for w in out["widths"]):
                    raise ValueError(val)
            elif key == "k":
                out["clusters"] = int(val)
                if out["clusters"] < 1:
                    raise ValueError(val)
            else:
                raise ValueError(key)
        except ValueError:
            raise DatasetError(f"{spec!r}: bad option {opt!r}; expected {SYNTAX} with positive "
                               f"integers") from None
    if n_users < 1 or n_items < 1:
        raise DatasetError(f"{spec!r}: expected at least one user and one item")
    if not n_users <= n_inter <= n_users * n_items:
        raise DatasetError(f"{spec!r}: {n_inter} interactions; expected between n_users ({n_users}) and "
                           f"n_users * n_items ({n_users * n_items}) so every user has a row and no pair repeats")
    return out


def _user_counts(rng, n_users: int, n_items: int, n_inter: int) -> np.ndarray:
    """int64 [U]: interactions per user, >= 1, <= n_items, summing to n_inter, long-tailed."""
    w = rng.lognormal(0.0, 1.0, n_users)
    counts = 1 + rng.multinomial(n_inter - n_users, w / w.sum()).astype(np.int64)
    counts = np.minimum(counts, n_items)
    deficit = n_inter - int(counts.sum())
    while deficit > 0:  # hand capped overflow to users with room, a few at a time
        room = np.flatnonzero(counts < n_items)
        take = rng.choice(room, size=min(deficit, room.size), replace=False)
        counts[take] += 1
        deficit -= take.size
    return counts


def _draw_items(rng, users, user_cluster, cl_start, cl_size, n_items: int, in_cluster: float):
    """users: [m] -> items [m]: own cluster with prob in_cluster (popularity-skewed), else uniform."""
    m = users.shape[0]
    c = user_cluster[users]
    size = cl_size[c]
    r = rng.random(m, dtype=np.float32)
    local = np.minimum((size * (r * r)).astype(np.int64), size - 1)  # r^2: lower ranks more popular
    own = cl_start[c] + local
    uniform = rng.integers(0, n_items, m)
    return np.where(rng.random(m, dtype=np.float32) < in_cluster, own, uniform)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """Sorted unique values of int64 [n] (sort-based: faster than np.unique's hash path here)."""
    a = np.sort(a)
    return a[np.concatenate([[True], a[1:] != a[:-1]])] if a.size else a


def _fill_pairs(rng, counts, user_cluster, item_order, cl_start, cl_size, n_items: int):
    """Unique (user, item) keys user*n_items+item, counts[u] per user. Returns sorted int64 [sum(counts)]."""
    n_users = counts.shape[0]
    keys = np.empty(0, dtype=np.int64)
    need = counts.copy()
    for rnd in range(8):
        if not need.any():
            break
        users = np.repeat(np.arange(n_users, dtype=np.int64), need)
        share = IN_CLUSTER if rnd < 4 else 0.0  # later rounds: uniform, so saturated clusters still finish
        pos = _draw_items(rng, users, user_cluster, cl_start, cl_size, n_items, share)
        new = _sorted_unique(users * n_items + item_order[pos])
        new = new[~np.isin(new, keys, assume_unique=True, kind="sort")] if keys.size else new
        # Keep at most need[u] new keys per user (duplicates may leave fewer).
        nu = new // n_items
        new = new[_rank_in_group(nu) < need[nu]]
        keys = np.insert(keys, np.searchsorted(keys, new), new) if keys.size else new  # disjoint, sorted
        need = counts - np.bincount(keys // n_items, minlength=n_users)
    for u in np.flatnonzero(need):  # exact finish for the rare user close to all items
        have = keys[(keys >= u * n_items) & (keys < (u + 1) * n_items)] - u * n_items
        free = np.setdiff1d(np.arange(n_items), have)
        keys = np.sort(np.concatenate([keys, u * n_items + rng.choice(free, size=need[u], replace=False)]))
    return keys


def _rank_in_group(g: np.ndarray) -> np.ndarray:
    """g: [n] sorted group ids -> int64 [n] position of each entry inside its group."""
    idx = np.arange(g.shape[0], dtype=np.int64)
    is_start = np.empty(g.shape[0], dtype=bool)
    is_start[:1] = True
    np.not_equal(g[1:], g[:-1], out=is_start[1:])
    return idx - np.maximum.accumulate(np.where(is_start, idx, 0))


def _split_labels(rng, users, n_users: int) -> np.ndarray:
    """users: [n] sorted. int64 [n] labels, per user ~80/10/10 train/valid/test, >= 1 train row each.

    Each user's rows (ordered by item id, and item ids are random within clusters) are rotated by a random
    offset; the last ~10% become test and the ~10% before them valid, like a per-user temporal split.
    """
    per_user = np.bincount(users, minlength=n_users)  # [U]
    counts = per_user[users]
    offset = (rng.random(n_users) * per_user).astype(np.int64)[users]
    rank = (_rank_in_group(users) + offset) % counts
    n_eval = np.floor(0.1 * counts + 0.5).astype(np.int64)  # rows for valid, and as many for test
    n_train = counts - 2 * n_eval
    return np.where(rank < n_train, 0, np.where(rank < n_train + n_eval, 1, 2))


def _features(rng, item_cluster, n_clusters: int, widths, names) -> dict[str, torch.Tensor]:
    n_items = item_cluster.shape[0]
    centroids = rng.standard_normal((n_clusters, LATENT)).astype(np.float32)
    latent = centroids[item_cluster] + 0.5 * rng.standard_normal((n_items, LATENT), dtype=np.float32)
    out = {}
    for name, w in zip(names, widths):
        # Modality-specific noise lives in the latent space: the projection is the only [I, w] work.
        own = latent + 0.3 * rng.standard_normal((n_items, LATENT), dtype=np.float32)
        proj = rng.standard_normal((LATENT, w), dtype=np.float32) / np.float32(np.sqrt(LATENT))
        out[name] = torch.from_numpy(np.ascontiguousarray(own @ proj, dtype=np.float32))
    return out


def make_synthetic(spec: str, seed: int = 0) -> Dataset:
    """Generate the dataset described by `spec` (see the module doc); deterministic for a seed."""
    p = parse_spec(spec)
    n_users, n_items, n_inter = p["n_users"], p["n_items"], p["n_inter"]
    k = p["clusters"] or int(np.clip(n_items // 200, 2, 64))
    k = min(k, n_items)
    rng = np.random.default_rng(seed)
    item_cluster = rng.integers(0, k, n_items)
    item_cluster[:k] = np.arange(k)  # every cluster owns at least one item
    perm = rng.permutation(n_items)
    item_order = perm[np.argsort(item_cluster[perm], kind="stable")]  # [I] grouped by cluster, random within
    cl_size = np.bincount(item_cluster, minlength=k)  # [k]
    cl_start = np.concatenate([[0], np.cumsum(cl_size)[:-1]])  # [k]
    user_cluster = rng.integers(0, k, n_users)
    counts = _user_counts(rng, n_users, n_items, n_inter)
    keys = _fill_pairs(rng, counts, user_cluster, item_order, cl_start, cl_size, n_items)
    users, items = keys // n_items, keys % n_items
    labels = _split_labels(rng, users, n_users)
    names = list(MODALITY_NAMES[: len(p["widths"])]) + [f"mod{j}" for j in range(3, len(p["widths"]))]
    feats = _features(rng, item_cluster, k, p["widths"], names)
    splits = [(users[labels == s], items[labels == s]) for s in range(3)]
    return Dataset(spec, n_users, n_items, *splits, features=feats)
