"""MRD: multimodal-conditioned representation diffusion (SPEC section 4).

x0 is the item id embedding e [n_items, d]; the conditions are the projected modality features. Training
noises e at an antithetic per-item step and regresses x0 directly; sampling runs the full reverse chain
from q_sample(e, T-1). The elementwise steps go through `mcdrec.ops` (fused kernels where available).
"""
from __future__ import annotations

import torch
from torch import nn

from .. import ops
from .schedule import DiffusionSchedule
from .unet import Denoiser


def _check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    if generator is not None and generator.device.type != device.type:
        raise ValueError(f"MRD: generator lives on {generator.device} but the embeddings on {device}; "
                         f"pass a torch.Generator(device={device.type!r})")


class MRD(nn.Module):
    """Schedule + denoiser. `loss` for training, `sample` for the post-epoch chain producing S."""

    def __init__(self, d: int, n_cond: int, steps: int = 20, schedule: str = "linear", beta_start: float = 1e-4,
                 beta_end: float = 0.02, dropout: float = 0.1):
        super().__init__()
        self.schedule = DiffusionSchedule(schedule, steps, beta_start, beta_end)
        self.denoiser = Denoiser(d, n_cond, dropout=dropout)

    @property
    def T(self) -> int:
        return self.schedule.T

    def antithetic_steps(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        """[n] int64: t uniform in [0, T) for the first ceil(n/2) items, T-1-t for the rest (pairs i, i+ceil(n/2))."""
        half = (n + 1) // 2
        t = torch.randint(0, self.T, (half,), generator=generator, device=device)
        return torch.cat([t, self.T - 1 - t[: n - half]])

    def loss(self, e: torch.Tensor, conds: list[torch.Tensor], generator: torch.Generator | None = None):
        """e: [n, d] (x0); conds: n_cond tensors [n, d] -> (l_diff scalar, x0_hat [n, d])."""
        _check_generator(generator, e.device)
        t = self.antithetic_steps(e.shape[0], e.device, generator)  # [n]
        noise = torch.randn(e.shape, generator=generator, device=e.device, dtype=e.dtype)  # [n, d]
        x_t = ops.q_sample(e, t, noise, self.schedule)
        x0_hat = self.denoiser(x_t, conds, t)
        return ops.x0_mse(x0_hat, e), x0_hat

    @torch.no_grad()
    def sample(self, e: torch.Tensor, conds: list[torch.Tensor], generator: torch.Generator | None = None,
               train_mode: bool = False) -> torch.Tensor:
        """Reverse chain from q_sample(e, T-1) down to t = 0. e: [n, d]; conds: n_cond [n, d] -> S [n, d].

        Eval mode (dropout off) by default; train_mode=True keeps dropout on, as the reference does.
        Every submodule's training flag is restored afterwards.
        """
        _check_generator(generator, e.device)
        modes = [(m, m.training) for m in self.modules()]
        self.train(train_mode)
        try:
            n = e.shape[0]
            t = torch.full((n,), self.T - 1, dtype=torch.int64, device=e.device)  # [n]
            noise = torch.randn(e.shape, generator=generator, device=e.device, dtype=e.dtype)
            x = ops.q_sample(e, t, noise, self.schedule)
            for step in range(self.T - 1, -1, -1):
                t = torch.full((n,), step, dtype=torch.int64, device=e.device)
                x0_hat = self.denoiser(x, conds, t)
                noise = torch.randn(e.shape, generator=generator, device=e.device, dtype=e.dtype)
                x = ops.p_sample_step(x, x0_hat, t, noise, self.schedule, last=(step == 0))
            return x
        finally:
            for m, mode in modes:
                m.training = mode
