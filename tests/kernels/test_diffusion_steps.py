"""q_sample, p_sample_step and x0_mse through mcdrec.ops with the Triton backend, against float64
references: forward and gradients with random cotangents, odd shapes, non-contiguous inputs, t at the
ends of the schedule, the last reverse step, and a whole sampling chain."""
import pytest
import torch

import mcdrec.ops as ops
from mcdrec.engine.ops import _reference as R
from mcdrec.engine.ops._dispatch import select

T = 20
SHAPES = [(1, 17), (37, 8), (5, 64)]


def _rand(n, d, device, noncontig=False):
    """[n, d] float32 requiring grad; non-contiguous as every other column of an [n, 2d] tensor."""
    x = torch.randn(n, 2 * d if noncontig else d, device=device)
    x = x[:, ::2] if noncontig else x
    return x.requires_grad_()


def _timesteps(n, device):
    """[n] int64 with both ends of the schedule present."""
    t = torch.randint(0, T, (n,), device=device)
    t[0] = T - 1
    if n > 1:
        t[-1] = 0
    return t


def _f64(*xs):
    return [x.detach().double().requires_grad_(x.requires_grad) for x in xs]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("noncontig", [False, True])
def test_q_sample(tdev, schedule, assert_close, shape, noncontig):
    assert select("q_sample", tdev)[0] == "triton"
    s = schedule(T, tdev)
    x0, noise = _rand(*shape, tdev, noncontig), _rand(*shape, tdev, noncontig)
    t = _timesteps(shape[0], tdev)
    out = ops.q_sample(x0, t, noise, s)
    x0d, noised = _f64(x0, noise)
    ref = R.q_sample(x0d, t, noised, s.sqrt_alphas_cumprod.double(), s.sqrt_one_minus_alphas_cumprod.double())
    assert_close(out, ref, what="q_sample")
    g = torch.randn_like(out)
    for got, want, name in zip(torch.autograd.grad(out, (x0, noise), g),
                               torch.autograd.grad(ref, (x0d, noised), g.double()), ("x0", "noise")):
        assert_close(got, want, what=f"grad {name}")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("noncontig", [False, True])
def test_p_sample_step(tdev, schedule, assert_close, shape, last, noncontig):
    assert select("p_sample_step", tdev)[0] == "triton"
    s = schedule(T, tdev)
    x_t, x0_hat, noise = (_rand(*shape, tdev, noncontig) for _ in range(3))
    t = _timesteps(shape[0], tdev)
    out = ops.p_sample_step(x_t, x0_hat, t, noise, s, last)
    inputs64 = _f64(x_t, x0_hat, noise)
    coefs = [c.double() for c in (s.posterior_mean_coef1, s.posterior_mean_coef2, s.posterior_log_variance_clipped)]
    ref = R.p_sample_step(inputs64[0], inputs64[1], t, inputs64[2], *coefs, last)
    assert_close(out, ref, what="p_sample_step")
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, (x_t, x0_hat, noise), g)
    want = torch.autograd.grad(ref, inputs64, g.double(), allow_unused=True)
    for a, b, name in zip(got, want, ("x_t", "x0_hat", "noise")):
        assert_close(a, torch.zeros_like(a, dtype=torch.float64) if b is None else b, what=f"grad {name}")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("noncontig", [False, True])
def test_x0_mse(tdev, assert_close, shape, noncontig):
    assert select("x0_mse", tdev)[0] == "triton"
    x0_hat, x0 = _rand(*shape, tdev, noncontig), _rand(*shape, tdev, noncontig)
    loss = ops.x0_mse(x0_hat, x0)
    a64, b64 = _f64(x0_hat, x0)
    ref = R.x0_mse(a64, b64)
    assert loss.shape == () and loss.dtype == torch.float32
    assert_close(loss, ref, what="x0_mse")
    g = torch.randn((), device=tdev)
    for got, want, name in zip(torch.autograd.grad(loss, (x0_hat, x0), g),
                               torch.autograd.grad(ref, (a64, b64), g.double()), ("x0_hat", "x0")):
        assert_close(got, want, rtol=1e-6, what=f"grad {name}")


def test_x0_mse_many_blocks(tdev, assert_close):
    """More elements than one reduction block: the partial sums must add up."""
    x0_hat, x0 = _rand(70, 130, tdev), _rand(70, 130, tdev)
    assert_close(ops.x0_mse(x0_hat, x0), R.x0_mse(*_f64(x0_hat, x0)), what="x0_mse")


def _chain(x, steps, s, denoise, noise, step_fn, coefs):
    for k, step in enumerate(steps):
        t = torch.full((x.shape[0],), step, dtype=torch.int64, device=x.device)
        x = step_fn(x, denoise(x), t, noise[k], *coefs, step == 0)
    return x


def test_sampling_chain(tdev, schedule, assert_close):
    """The T-step reverse chain from q_sample(e, T-1) matches the float64 reference; on CUDA it runs with
    synchronising calls turned into errors (no .item() / .cpu() anywhere in it)."""
    s = schedule(T, tdev)
    n, d = 9, 16
    e = torch.randn(n, d, device=tdev)
    noise = torch.randn(T + 1, n, d, device=tdev)
    w = torch.randn(d, d, device=tdev) / d ** 0.5
    steps = list(range(T - 1, -1, -1))

    def run():
        t_last = torch.full((n,), T - 1, dtype=torch.int64, device=tdev)
        x = ops.q_sample(e, t_last, noise[T], s)
        return _chain(x, steps, s, lambda x: torch.tanh(x @ w), noise,
                      lambda x, x0, t, z, sched, last: ops.p_sample_step(x, x0, t, z, sched, last), (s,))

    with torch.no_grad():
        if tdev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            try:
                out = run()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        else:
            out = run()
        c64 = [c.double() for c in (s.posterior_mean_coef1, s.posterior_mean_coef2, s.posterior_log_variance_clipped)]
        t_last = torch.full((n,), T - 1, dtype=torch.int64, device=tdev)
        x = R.q_sample(e.double(), t_last, noise[T].double(), s.sqrt_alphas_cumprod.double(),
                       s.sqrt_one_minus_alphas_cumprod.double())
        ref = _chain(x, steps, s, lambda x: torch.tanh(x @ w.double()), noise.double(), R.p_sample_step, c64)
    assert_close(out, ref, rtol=1e-4, what="20-step chain")
