"""MCDRec's two additions to a base model (SPEC sections 4-6), shared by MCDRec(BM3) and MCDRec(FREEDOM).

- MRD: a conditional diffusion model over the item id table e, conditioned on the projected features;
  trained every mini-batch over all items; its x0 prediction (training) or its sampling-chain output S
  (evaluation) is fused with e and fed with the features through the fusion MLP as the item node input.
- DGD: before each epoch, keep-sample the train graph and weight kept edges by 1 + tau * cos(user, S_i).

Which parts are on is the variant (SPEC section 6): full | mk (fusion MLP on e, no diffusion) | mrd
(diffusion + fusion, no DGD) | dgd (diffusion trained, S only for DGD, item input = e).
"""
from __future__ import annotations

import torch
from torch import nn

import mcdrec.ops as ops

from ._modality import FusionMLP

VARIANTS = ("full", "mk", "mrd", "dgd")


class MCDRecParts(nn.Module):
    """MRD + fusion MLP + DGD state for a base model with embedding width d and n_modalities features.

    Reads from config: diffusion (variant != mk): steps, noise_schedule, beta_start, beta_end, diff_dropout,
    diff_weight, sample_train_mode; fusion (full, mk, mrd): mlp_dropout, and w (full, mrd);
    fusion_center (optional, default false); DGD (full, dgd): tau, dropout_adj, dgd_multiply_weight.
    """

    def __init__(self, variant: str, n_items: int, d: int, n_modalities: int, config: dict):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown MCDRec variant {variant!r}; expected one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.use_diffusion = variant != "mk"
        self.use_fusion = variant in ("full", "mk", "mrd")
        self.fuse_diffusion = variant in ("full", "mrd")
        self.use_dgd = variant in ("full", "dgd")
        if self.use_diffusion:
            from mcdrec.engine.diffusion import MRD

            self.mrd = MRD(d, n_modalities, steps=int(config["steps"]), schedule=config["noise_schedule"],
                           beta_start=float(config["beta_start"]), beta_end=float(config["beta_end"]),
                           dropout=float(config["diff_dropout"]))
            self.diff_weight = float(config["diff_weight"])
            self.sample_train_mode = bool(config["sample_train_mode"])
        if self.use_fusion:
            self.fusion = FusionMLP((1 + n_modalities) * d, d, float(config["mlp_dropout"]))
            self.fusion_center = bool(config.get("fusion_center", False))
        if self.fuse_diffusion:
            self.w = float(config["w"])
        if self.use_dgd:
            self.tau = float(config["tau"])
            if not 0.0 <= self.tau < 1.0:
                raise ValueError(f"tau must be in [0, 1) so that edge weights 1 + tau * cos stay positive, "
                                 f"got {self.tau}")
            self.keep_ratio = 1.0 - float(config["dropout_adj"])
            self.multiply_weight = bool(config["dgd_multiply_weight"])
        # S of the last sampling chain; persistent so a reloaded model scores like the saved one
        self.register_buffer("sampled", torch.zeros(n_items, d))  # [I, d]
        self.register_buffer("has_sample", torch.zeros((), dtype=torch.bool))

    def train_input(self, e: torch.Tensor, feats: list[torch.Tensor]):
        """e: [I, d] item ids; feats: M tables [I, d] -> (item node input [I, d], weighted L_diff or None)."""
        l_diff, x0_hat = None, None
        if self.use_diffusion:
            l_diff, x0_hat = self.mrd.loss(e, feats)
            l_diff = self.diff_weight * l_diff
        if not self.use_fusion:
            return e, l_diff
        x_fused = self.w * x0_hat + (1.0 - self.w) * e if self.fuse_diffusion else e
        return self._fuse(x_fused, feats), l_diff

    def _fuse(self, x_fused: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """Fusion MLP over all items [I, d]; with fusion_center its mean over items is removed, so the
        output cannot drift into one direction shared by every item (the collapse seen on TikTok)."""
        out = self.fusion(x_fused, feats)
        return out - out.mean(dim=0, keepdim=True) if self.fusion_center else out

    def current_sample(self, e: torch.Tensor) -> torch.Tensor:
        """S of the last chain, or e before any chain ran. e: [I, d] -> [I, d]."""
        return self.sampled if bool(self.has_sample) else e.detach()

    @torch.no_grad()
    def eval_input(self, e: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """Item node input at evaluation: fusion of w * S + (1 - w) * e with the features. e: [I, d]."""
        if not self.use_fusion:
            return e
        x_fused = self.w * self.current_sample(e) + (1.0 - self.w) * e if self.fuse_diffusion else e
        return self._fuse(x_fused, feats)

    @torch.no_grad()
    def run_chain(self, e: torch.Tensor, feats: list[torch.Tensor], generator: torch.Generator | None) -> None:
        """The T-step reverse chain from q_sample(e, T-1), kept as S. e: [I, d]; feats: M tables [I, d]."""
        if not self.use_diffusion:
            return
        s = self.mrd.sample(e.detach(), [f.detach() for f in feats], generator=generator,
                            train_mode=self.sample_train_mode)
        self.sampled.copy_(s)
        self.has_sample.fill_(True)

    @torch.no_grad()
    def dgd_adj(self, graph, user_emb: torch.Tensor, e: torch.Tensor, generator: torch.Generator | None):
        """DGD training adjacency [(U+I), (U+I)] on user_emb's device, or None (train on the full graph) when
        dropout_adj is 0, as the reference does. user_emb: [U, d]; e: [I, d]."""
        if self.keep_ratio >= 1.0:
            return None
        return ops.denoise_graph(graph, user_emb.detach(), self.current_sample(e), keep_ratio=self.keep_ratio,
                                 tau=self.tau, generator=generator, multiply_weight=self.multiply_weight)


class MCDRecHooks:
    """Epoch hooks shared by the MCDRec models (mixed in before the base model's class): the sampling chain
    after each epoch and the fused item input at evaluation. Needs self.parts, self.item_emb, self.modalities."""

    @torch.no_grad()
    def post_epoch(self, epoch: int, generator: torch.Generator) -> None:
        if self.parts.use_diffusion:
            self.parts.run_chain(self.item_emb, self.modalities.project(), generator)

    @torch.no_grad()
    def eval_item_input(self) -> torch.Tensor:
        """[I, d] item node input at evaluation (fused with the sampled S)."""
        return self.parts.eval_input(self.item_emb, self.modalities.project())
