"""groupnorm_silu (swish(GroupNorm(x + temb))) with the Triton backend against the float64 reference:
forward and all four gradients with random cotangents, the denoiser's shapes down to 1x1 maps and
one sample, with and without the time embedding, non-contiguous inputs."""
import pytest
import torch

import mcdrec.ops as ops
from mcdrec.engine.ops import _reference as R
from mcdrec.engine.ops._dispatch import select

SHAPES = [(3, 16, 4, 4), (5, 8, 1, 1), (1, 8, 3, 3), (6, 16, 8, 8), (2, 16, 2, 2), (3, 32, 1, 1)]


def _inputs(shape, device, with_temb, noncontig):
    n, c, h, w = shape
    if noncontig:  # channels-last storage seen through an NCHW view
        x = torch.randn(n, h, w, c, device=device).permute(0, 3, 1, 2)
    else:
        x = torch.randn(n, c, h, w, device=device)
    weight = 1 + 0.5 * torch.randn(c, device=device)
    bias = 0.5 * torch.randn(c, device=device)
    temb = torch.randn(n, 2 * c, device=device)[:, ::2] if noncontig else torch.randn(n, c, device=device)
    temb = temb if with_temb else None
    return [t.requires_grad_() if t is not None else None for t in (x, weight, bias, temb)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_temb", [True, False])
@pytest.mark.parametrize("noncontig", [False, True])
def test_groupnorm_silu(tdev, assert_close, shape, with_temb, noncontig):
    assert select("groupnorm_silu", tdev)[0] == "triton"
    x, weight, bias, temb = _inputs(shape, tdev, with_temb, noncontig)
    out = ops.groupnorm_silu(x, 8, weight, bias, temb, eps=1e-6)
    ins = [t for t in (x, weight, bias, temb) if t is not None]
    ins64 = [t.detach().double().requires_grad_() for t in ins]
    x64, w64, b64 = ins64[:3]
    ref = R.groupnorm_silu(x64, 8, w64, b64, ins64[3] if with_temb else None, eps=1e-6)
    assert_close(out, ref, rtol=1e-5, what="forward")
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, ins, g)
    want = torch.autograd.grad(ref, ins64, g.double())
    for a, b, name in zip(got, want, ("x", "weight", "bias", "temb")):
        assert_close(a, b, rtol=1e-4, what=f"grad {name}")


def test_groupnorm_silu_without_grad(tdev, assert_close):
    """Forward under no_grad (the sampling chain) and a group count other than 8."""
    x, weight, bias, temb = (t.detach() for t in _inputs((4, 12, 3, 3), tdev, True, False))
    with torch.no_grad():
        out = ops.groupnorm_silu(x, 4, weight, bias, temb)
    ref = R.groupnorm_silu(x.double(), 4, weight.double(), bias.double(), temb.double())
    assert_close(out, ref, rtol=1e-5, what="forward")


def test_groupnorm_silu_rejects_bad_groups(tdev):
    x, weight, bias, _ = _inputs((2, 12, 2, 2), tdev, False, False)
    with pytest.raises(ValueError, match="num_groups"):
        ops.groupnorm_silu(x, 8, weight, bias)
