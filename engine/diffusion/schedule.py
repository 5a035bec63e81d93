"""Noise schedules and the DDPM quantities derived from them (SPEC section 4).

Betas are computed in float64 and stored as float32 buffers, so `.to(device)` moves the schedule with the
model. The buffer names are read by `mcdrec.ops.q_sample` / `p_sample_step`: keep them.
"""
from __future__ import annotations

import math

import torch
from torch import nn

KINDS = ("linear", "cosine", "exp", "sqrt")


def _cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    u = torch.arange(T + 1, dtype=torch.float64) / T  # [T+1]
    alpha_bar = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return torch.clamp(1.0 - alpha_bar[1:] / alpha_bar[:-1], max=max_beta)


def make_betas(kind: str, T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Return betas [T] as a float64 tensor for one schedule kind.

    - "linear": linspace(beta_start, beta_end, T) (DDPM).
    - "cosine": Nichol & Dhariwal: alpha_bar(u) = cos^2(((u + 0.008) / 1.008) * pi / 2),
      beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), 0.999); beta_start / beta_end are unused.
    - "sqrt": linspace(sqrt(beta_start), sqrt(beta_end), T) ** 2 (DDPM's "quad"): slow start, fast end.
    - "exp": geometric interpolation, beta_i = beta_start * (beta_end / beta_start) ** (i / (T-1)),
      i.e. exp(linspace(log(beta_start), log(beta_end), T)).
    Only "linear" (the default) is the MCDRec reference's schedule; the reference's own "cosine" (clipped to
    [1e-4, 0.9999]), "exp" and "sqrt" (Diffusion-LM's) differ from the standard definitions used here.
    For T = 1 the interpolating kinds give [beta_start].
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"make_betas: T must be a positive integer, got {T!r}")
    if kind not in KINDS:
        raise ValueError(f"make_betas: unknown schedule {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "cosine":
        return _cosine_betas(T)
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(f"make_betas: need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, "
                         f"beta_end={beta_end}")
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    if kind == "sqrt":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=torch.float64) ** 2
    return torch.exp(torch.linspace(math.log(beta_start), math.log(beta_end), T, dtype=torch.float64))


class DiffusionSchedule(nn.Module):
    """The DDPM forward-process and posterior coefficients for T steps, as float32 buffers of shape [T].

    Index t (0-based) is step t+1 of the paper; alphas_cumprod_prev[0] = 1.
    posterior_log_variance_clipped replaces the t=0 entry (variance 0) by t=1's, as DDPM does.
    """

    def __init__(self, kind: str = "linear", T: int = 20, beta_start: float = 1e-4, beta_end: float = 0.02):
        super().__init__()
        betas = make_betas(kind, T, beta_start, beta_end)  # [T] float64
        self.kind = kind
        self.T = int(T)
        alphas = 1.0 - betas
        ab = torch.cumprod(alphas, 0)
        ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
        post_var = betas * (1.0 - ab_prev) / (1.0 - ab)
        # post_var[0] is 0; with T = 1 there is no t=1 entry to borrow, so keep beta_0 there.
        clip_src = post_var[1] if T > 1 else betas[0]
        post_log_var = torch.log(torch.cat([clip_src.reshape(1), post_var[1:]]))
        values = {
            "betas": betas,
            "alphas_cumprod": ab,
            "alphas_cumprod_prev": ab_prev,
            "sqrt_alphas_cumprod": torch.sqrt(ab),
            "sqrt_one_minus_alphas_cumprod": torch.sqrt(1.0 - ab),
            "posterior_variance": post_var,
            "posterior_log_variance_clipped": post_log_var,
            "posterior_mean_coef1": betas * torch.sqrt(ab_prev) / (1.0 - ab),
            "posterior_mean_coef2": (1.0 - ab_prev) * torch.sqrt(alphas) / (1.0 - ab),
        }
        for name, v in values.items():
            self.register_buffer(name, v.float())

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, T={self.T}"
