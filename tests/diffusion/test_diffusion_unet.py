"""The denoiser: the reference architecture (checked by its exact parameter count), shapes, gradients,
the time embedding and the d / ch_mult validation."""
import math

import pytest
import torch

from mcdrec.engine.diffusion import Denoiser
from mcdrec.engine.diffusion.unet import timestep_embedding


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_count_is_the_references():
    # d = 64 (8x8), two modalities -> 3 input channels; the reference network has exactly 137,667 parameters.
    assert n_params(Denoiser(64, 2)) == 137_667


def test_output_shape_and_gradients_reach_every_parameter(device):
    torch.manual_seed(0)
    n, d = 4, 64
    net = Denoiser(d, 2).to(device)
    x_t = torch.randn(n, d, device=device)
    conds = [torch.randn(n, d, device=device, requires_grad=True) for _ in range(2)]
    t = torch.randint(0, 20, (n,), device=device)
    out = net(x_t, conds, t)
    assert out.shape == (n, d) and out.dtype == torch.float32
    out.sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert all(c.grad is not None and c.grad.abs().sum() > 0 for c in conds)


@pytest.mark.parametrize("n_cond", [1, 3])
def test_other_condition_counts(n_cond):
    net = Denoiser(64, n_cond).eval()
    x = torch.randn(4, 64)
    out = net(x, [torch.randn(4, 64) for _ in range(n_cond)], torch.tensor([0, 5, 10, 19]))
    assert out.shape == (4, 64) and torch.isfinite(out).all()
    # only conv_in (3x3 kernels from each input channel) and conv_out (one 3x3 output channel) grow
    assert n_params(net) - 137_667 == (n_cond - 2) * (8 * 9 + 8 * 9 + 1)


def test_condition_count_must_match():
    net = Denoiser(64, 2)
    with pytest.raises(ValueError, match="2 conditions, got 1"):
        net(torch.randn(2, 64), [torch.randn(2, 64)], torch.tensor([0, 1]))


@pytest.mark.parametrize("d", [16, 36, 144])
def test_root_that_cannot_be_downsampled_three_times_is_refused(d):
    with pytest.raises(ValueError, match=rf"d={d}\b.*divisible by 8"):
        Denoiser(d, 2)


@pytest.mark.parametrize("d", [0, 15, 63, 65])
def test_non_square_d_is_refused(d):
    with pytest.raises(ValueError, match=rf"d={d} must be a perfect square"):
        Denoiser(d, 2)


@pytest.mark.parametrize("d, ch_mult", [(16, (1, 2, 2)), (256, (1, 2, 2, 2))])
def test_other_sizes_that_fit(d, ch_mult):
    net = Denoiser(d, 2, ch_mult=ch_mult).eval()
    out = net(torch.randn(4, d), [torch.randn(4, d), torch.randn(4, d)], torch.tensor([3, 7, 0, 19]))
    assert out.shape == (4, d)


def test_timestep_embedding_formula():
    t = torch.tensor([0, 1, 7, 19])
    emb = timestep_embedding(t, 8)
    h = 4
    f = [math.exp(-j * math.log(10000) / (h - 1)) for j in range(h)]
    want = torch.tensor([[math.sin(s * fj) for fj in f] + [math.cos(s * fj) for fj in f] for s in t.tolist()])
    torch.testing.assert_close(emb, want)


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout():
    torch.manual_seed(1)
    net = Denoiser(64, 2)
    args = (torch.randn(4, 64), [torch.randn(4, 64), torch.randn(4, 64)], torch.tensor([1, 2, 3, 4]))
    net.eval()
    torch.testing.assert_close(net(*args), net(*args), rtol=0, atol=0)
    net.train()
    assert not torch.equal(net(*args), net(*args))
