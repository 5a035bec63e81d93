"""Elementwise diffusion steps: q_sample (forward noising), p_sample_step (one reverse step), x0_mse."""
from __future__ import annotations

import torch

from . import _reference
from ._dispatch import register, select

register("q_sample", "torch", _reference.q_sample)
register("p_sample_step", "torch", _reference.p_sample_step)
register("x0_mse", "torch", _reference.x0_mse)


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule) -> torch.Tensor:
    """x0, noise: [n, d]; t: [n] int64; schedule: DiffusionSchedule (engine/diffusion/schedule.py)."""
    _, fn = select("q_sample", x0.device)
    return fn(x0, t, noise, schedule.sqrt_alphas_cumprod, schedule.sqrt_one_minus_alphas_cumprod)


def p_sample_step(x_t: torch.Tensor, x0_hat: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule,
                  last: bool) -> torch.Tensor:
    """x_t, x0_hat, noise: [n, d]; t: [n] int64 -> x_{t-1} [n, d]; `last` drops the noise term."""
    _, fn = select("p_sample_step", x_t.device)
    return fn(x_t, x0_hat, t, noise, schedule.posterior_mean_coef1, schedule.posterior_mean_coef2,
              schedule.posterior_log_variance_clipped, last)


def x0_mse(x0_hat: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the x0 prediction. x0_hat, x0: [n, d] -> scalar."""
    _, fn = select("x0_mse", x0.device)
    return fn(x0_hat, x0)
