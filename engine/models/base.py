"""The model contract every recommender implements; one trainer drives them all.

Per epoch the trainer calls: model.train(); pre_epoch(epoch, gen); for each batch loss(users, pos, neg)
-> backward -> optimiser step; post_epoch(epoch, gen); then model.eval(); prepare_eval(); scores(users)
for blocks of users; diagnostics() after each evaluation. Graphs come from the data/graph layer (dataset.graph), not built here.
"""
from __future__ import annotations

import torch
from torch import nn


class Recommender(nn.Module):
    """Base class. Subclasses set `needs_features` when they cannot run id-only."""

    needs_features = False

    def __init__(self, dataset, config: dict):
        super().__init__()
        if self.needs_features and not dataset.features:
            raise ValueError(f"model {config.get('model')!r} needs item features, but dataset "
                             f"{dataset.name!r} has none (supply a features folder, see `mcdrec datasets`)")
        self.n_users = dataset.n_users
        self.n_items = dataset.n_items
        self.config = dict(config)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def pre_epoch(self, epoch: int, generator: torch.Generator) -> None:
        """Before each training epoch (graph denoising / pruning). `generator` is a CPU generator (graph
        sampling draws its randomness on the CPU). Default: nothing."""

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        """users, pos, neg: [b] int64 -> (scalar loss, {part name: detached 0-d tensor or float}).
        Parts stay on the device: the trainer sums them and syncs once per epoch."""
        raise NotImplementedError

    def post_epoch(self, epoch: int, generator: torch.Generator) -> None:
        """After each training epoch, before evaluation (e.g. the diffusion sampling chain). `generator`
        lives on the model's device."""

    @torch.no_grad()
    def prepare_eval(self) -> None:
        """Compute and cache whatever scores() needs (full-graph outputs). Called in eval mode."""

    @torch.no_grad()
    def scores(self, users: torch.Tensor) -> torch.Tensor:
        """users: [b] int64 -> [b, n_items] ranking scores (after prepare_eval)."""
        raise NotImplementedError

    @torch.no_grad()
    def diagnostics(self) -> dict:
        """Cheap per-epoch health numbers ({name: float}) the trainer records after each evaluation
        (after prepare_eval). Default: none."""
        return {}


class CachedTowers(Recommender):
    """A model scored as user vector . item vector over full-graph outputs: `eval_tables()` computes both
    tables once per evaluation (cached until the next train()), `scores` and `diagnostics` read them.
    Subclasses implement eval_tables() -> (users [U, d], items [I, d]) and eval_item_input() -> [I, d]."""

    def __init__(self, dataset, config: dict):
        super().__init__(dataset, config)
        self._eval_cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def train(self, mode: bool = True):
        self._eval_cache = None  # parameters are about to change
        return super().train(mode)

    def eval_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def eval_item_input(self) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def prepare_eval(self) -> None:
        self._eval_cache = self.eval_tables()

    def _tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._eval_cache is None:
            self.prepare_eval()
        return self._eval_cache

    @torch.no_grad()
    def scores(self, users: torch.Tensor) -> torch.Tensor:
        """users: [b] -> [b, I] = user vector . item vector."""
        u_all, i_all = self._tables()
        return u_all[users] @ i_all.T

    @torch.no_grad()
    def diagnostics(self) -> dict:
        """item_health of the scored item vectors and the item node input."""
        return item_health(self._tables()[1], self.eval_item_input())


def item_health(items: torch.Tensor, item_input: torch.Tensor) -> dict:
    """items: [I, d] scored item representations; item_input: [I, d] item node input. item_cosine near 1
    means every item points the same way and the ranking degenerates (the collapse of docs/results.md);
    item_input_norm is the input's mean row norm (e, or MCDRec's fusion MLP output)."""
    return {"item_cosine": mean_pairwise_cosine(items), "item_input_norm": float(item_input.norm(dim=1).mean())}


def mean_pairwise_cosine(x: torch.Tensor) -> float:
    """x: [n, d] -> mean over all ordered pairs (self-pairs included) of cos(x_i, x_j) = |mean of unit rows|^2;
    1.0 when every row points the same way."""
    z = torch.nn.functional.normalize(x.double(), dim=1)
    return float(z.mean(dim=0).square().sum())
