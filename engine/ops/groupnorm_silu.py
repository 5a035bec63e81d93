"""groupnorm_silu: swish(GroupNorm(x + temb)), the elementwise chain of the denoiser's residual blocks."""
from __future__ import annotations

import torch

from . import _reference
from ._dispatch import register, select

register("groupnorm_silu", "torch", _reference.groupnorm_silu)


def groupnorm_silu(x: torch.Tensor, num_groups: int, weight: torch.Tensor, bias: torch.Tensor,
                   temb: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """x: [N, C, H, W]; weight, bias: [C]; temb: [N, C] or None -> [N, C, H, W]."""
    if x.shape[1] % num_groups:
        raise ValueError(f"groupnorm_silu: {x.shape[1]} channels not divisible by num_groups={num_groups}")
    _, fn = select("groupnorm_silu", x.device)
    return fn(x, num_groups, weight, bias, temb, eps)
