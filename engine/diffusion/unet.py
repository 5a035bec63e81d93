"""The MRD denoiser: the reference's small DDPM-style UNet over r x r item "images" (SPEC section 4).

Input per item: channel 0 is x_t, channels 1..n_cond the projected modality features, each reshaped from
[d] to [r, r] with r = sqrt(d). Output: channel 0 of the network's C-channel output, flattened -> x0_hat.
Every GroupNorm followed by swish goes through `mcdrec.ops.groupnorm_silu` (fused on GPU); the attention
block's GroupNorm has no swish and stays a plain group_norm.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import ops

GN_GROUPS = 8
GN_EPS = 1e-6


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding. t: [n] int64 -> [n, dim] float32.

    With h = dim // 2: f_j = exp(-j ln(10000) / (h - 1)), emb = [sin(t f), cos(t f)] (zero-padded if dim is odd).
    """
    half = dim // 2
    scale = math.log(10000.0) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device) * -scale)  # [h]
    args = t.float()[:, None] * freqs[None, :]  # [n, h]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(GN_GROUPS, channels, eps=GN_EPS)


def _gn_silu(norm: nn.GroupNorm, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
    # x: [N, C, H, W]; temb: [N, C] or None (added before the norm)
    return ops.groupnorm_silu(x, norm.num_groups, norm.weight, norm.bias, temb, norm.eps)


class ResnetBlock(nn.Module):
    """GN -> swish -> conv3x3 -> +temb -> GN -> swish -> dropout -> conv3x3, plus a (1x1 conv) skip."""

    def __init__(self, in_ch: int, out_ch: int, temb_ch: int, dropout: float):
        super().__init__()
        self.norm1 = _norm(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.temb_proj = nn.Linear(temb_ch, out_ch)
        self.norm2 = _norm(out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor, temb_act: torch.Tensor) -> torch.Tensor:
        # x: [N, in_ch, H, W]; temb_act: [N, temb_ch], already swish(temb) (shared by all blocks)
        h = self.conv1(_gn_silu(self.norm1, x))
        h = _gn_silu(self.norm2, h, self.temb_proj(temb_act))
        h = self.conv2(self.dropout(h))
        skip = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return skip + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions with a residual connection."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = _norm(ch)
        self.q = nn.Conv2d(ch, ch, 1)
        self.k = nn.Conv2d(ch, ch, 1)
        self.v = nn.Conv2d(ch, ch, 1)
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [N, C, H, W]
        n, c, hh, ww = x.shape
        h = F.group_norm(x, self.norm.num_groups, self.norm.weight, self.norm.bias, self.norm.eps)
        q = self.q(h).reshape(n, c, hh * ww).transpose(1, 2)  # [N, HW, C]
        k = self.k(h).reshape(n, c, hh * ww)  # [N, C, HW]
        v = self.v(h).reshape(n, c, hh * ww)  # [N, C, HW]
        w = torch.softmax(torch.bmm(q, k) * (c ** -0.5), dim=2)  # [N, HW(query), HW(key)]
        out = torch.bmm(v, w.transpose(1, 2)).reshape(n, c, hh, ww)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Pad right/bottom by one, then conv3x3 stride 2: r -> r/2 for even r."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest x2, then conv3x3."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Denoiser(nn.Module):
    """x0 predictor: (x_t [n, d], conds: list of [n, d], t [n] int64) -> x0_hat [n, d].

    d must be r*r with r divisible by 2 ** (len(ch_mult) - 1) (d = 64 -> 8 -> 4 -> 2 -> 1).
    """

    def __init__(self, d: int, n_cond: int, ch: int = 8, ch_mult=(1, 2, 2, 2), num_res_blocks: int = 2,
                 dropout: float = 0.1):
        super().__init__()
        r = math.isqrt(d) if d > 0 else 0
        down = 2 ** (len(ch_mult) - 1)
        if r * r != d or r == 0:
            raise ValueError(f"Denoiser: d={d} must be a perfect square (items are denoised as sqrt(d) x sqrt(d) "
                             f"images), e.g. 64 or 256")
        if r % down:
            raise ValueError(f"Denoiser: d={d} gives a {r}x{r} image, but ch_mult={tuple(ch_mult)} down-samples "
                             f"{len(ch_mult) - 1} times, so sqrt(d) must be divisible by {down}")
        if n_cond < 0:
            raise ValueError(f"Denoiser: n_cond must be >= 0, got {n_cond}")
        self.d, self.r, self.n_cond = d, r, n_cond
        self.in_channels = 1 + n_cond
        self.ch, self.num_res_blocks = ch, num_res_blocks
        temb_ch = 4 * ch
        self.temb_dense0 = nn.Linear(ch, temb_ch)
        self.temb_dense1 = nn.Linear(temb_ch, temb_ch)
        self.conv_in = nn.Conv2d(self.in_channels, ch, 3, padding=1)

        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        skip_chs = [ch]
        block_in = ch
        for level, mult in enumerate(ch_mult):
            blocks = nn.ModuleList()
            block_out = ch * mult
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(block_in, block_out, temb_ch, dropout))
                block_in = block_out
                skip_chs.append(block_in)
            self.down_blocks.append(blocks)
            if level != len(ch_mult) - 1:
                self.downsamples.append(Downsample(block_in))
                skip_chs.append(block_in)

        self.mid_block1 = ResnetBlock(block_in, block_in, temb_ch, dropout)
        self.mid_attn = AttnBlock(block_in)
        self.mid_block2 = ResnetBlock(block_in, block_in, temb_ch, dropout)

        # up path, stored in execution order (deepest level first)
        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for level in reversed(range(len(ch_mult))):
            blocks = nn.ModuleList()
            block_out = ch * ch_mult[level]
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in + skip_chs.pop(), block_out, temb_ch, dropout))
                block_in = block_out
            self.up_blocks.append(blocks)
            if level != 0:
                self.upsamples.append(Upsample(block_in))

        self.norm_out = _norm(block_in)
        self.conv_out = nn.Conv2d(block_in, self.in_channels, 3, padding=1)

    def forward(self, x_t: torch.Tensor, conds: list[torch.Tensor], t: torch.Tensor) -> torch.Tensor:
        # x_t: [n, d]; conds: n_cond tensors [n, d]; t: [n] int64 -> [n, d]
        if len(conds) != self.n_cond:
            raise ValueError(f"Denoiser: built for {self.n_cond} conditions, got {len(conds)}")
        n = x_t.shape[0]
        x = torch.stack([x_t, *conds], dim=1).reshape(n, self.in_channels, self.r, self.r)
        temb = self.temb_dense0(timestep_embedding(t, self.ch).to(x.dtype))
        temb = self.temb_dense1(F.silu(temb))
        temb_act = F.silu(temb)  # every block projects swish(temb)

        hs = [self.conv_in(x)]
        for level, blocks in enumerate(self.down_blocks):
            for block in blocks:
                hs.append(block(hs[-1], temb_act))
            if level < len(self.downsamples):
                hs.append(self.downsamples[level](hs[-1]))

        h = self.mid_block2(self.mid_attn(self.mid_block1(hs[-1], temb_act)), temb_act)

        for i, blocks in enumerate(self.up_blocks):
            for block in blocks:
                h = block(torch.cat([h, hs.pop()], dim=1), temb_act)
            if i < len(self.upsamples):
                h = self.upsamples[i](h)

        h = self.conv_out(_gn_silu(self.norm_out, h))  # [n, C, r, r]
        return h[:, 0].reshape(n, self.d)
