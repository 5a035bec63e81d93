"""make_betas / DiffusionSchedule against closed forms computed here in float64, and the two diffusion
steps (q_sample, one p_sample_step) against hand computation on a tiny example."""
import math

import pytest
import torch

from mcdrec import ops
from mcdrec.engine.diffusion import DiffusionSchedule, make_betas

KINDS = ("linear", "cosine", "exp", "sqrt")


def closed_form_betas(kind, T, lo=1e-4, hi=0.02):
    frac = [i / (T - 1) for i in range(T)]
    if kind == "linear":
        return [lo + f * (hi - lo) for f in frac]
    if kind == "sqrt":
        return [(math.sqrt(lo) + f * (math.sqrt(hi) - math.sqrt(lo))) ** 2 for f in frac]
    if kind == "exp":
        return [lo * (hi / lo) ** f for f in frac]
    ab = [math.cos((i / T + 0.008) / 1.008 * math.pi / 2) ** 2 for i in range(T + 1)]
    return [min(1 - ab[i + 1] / ab[i], 0.999) for i in range(T)]


def closed_form_schedule(betas):
    ab, prod = [], 1.0
    for b in betas:
        prod *= 1 - b
        ab.append(prod)
    ab_prev = [1.0] + ab[:-1]
    var = [b * (1 - p) / (1 - a) for b, a, p in zip(betas, ab, ab_prev)]
    return {
        "betas": betas,
        "alphas_cumprod": ab,
        "alphas_cumprod_prev": ab_prev,
        "sqrt_alphas_cumprod": [math.sqrt(a) for a in ab],
        "sqrt_one_minus_alphas_cumprod": [math.sqrt(1 - a) for a in ab],
        "posterior_variance": var,
        "posterior_log_variance_clipped": [math.log(var[1])] + [math.log(v) for v in var[1:]],
        "posterior_mean_coef1": [b * math.sqrt(p) / (1 - a) for b, a, p in zip(betas, ab, ab_prev)],
        "posterior_mean_coef2": [(1 - p) * math.sqrt(1 - b) / (1 - a) for b, a, p in zip(betas, ab, ab_prev)],
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T", [2, 20, 50])
def test_schedule_matches_closed_form(kind, T):
    betas = make_betas(kind, T)
    assert betas.dtype == torch.float64 and betas.shape == (T,)
    expected = closed_form_schedule(closed_form_betas(kind, T))
    torch.testing.assert_close(betas, torch.tensor(expected["betas"], dtype=torch.float64), rtol=1e-12, atol=0)
    sched = DiffusionSchedule(kind, T)
    assert sched.T == T
    for name, values in expected.items():
        buf = getattr(sched, name)
        assert buf.dtype == torch.float32 and buf.shape == (T,), name
        torch.testing.assert_close(buf.double(), torch.tensor(values, dtype=torch.float64), rtol=2e-6, atol=0,
                                   msg=lambda m, name=name: f"{kind} T={T} {name}: {m}")


@pytest.mark.parametrize("kind", KINDS)
def test_schedule_monotone_and_in_range(kind):
    s = DiffusionSchedule(kind, 20)
    assert torch.all(s.betas > 0) and torch.all(s.betas < 1)
    assert torch.all(s.betas[1:] > s.betas[:-1])
    assert torch.all(s.alphas_cumprod[1:] < s.alphas_cumprod[:-1])
    assert torch.all((s.alphas_cumprod > 0) & (s.alphas_cumprod < 1))
    assert s.alphas_cumprod_prev[0] == 1
    assert s.posterior_variance[0] == 0 and torch.all(s.posterior_variance[1:] > 0)
    assert torch.all(s.posterior_variance[1:] <= s.betas[1:] * (1 + 1e-6))
    assert s.posterior_log_variance_clipped[0] == s.posterior_log_variance_clipped[1]
    assert torch.all(torch.isfinite(s.posterior_log_variance_clipped))
    torch.testing.assert_close(s.sqrt_alphas_cumprod ** 2 + s.sqrt_one_minus_alphas_cumprod ** 2,
                               torch.ones(20))


def test_default_is_the_reference_linear_schedule():
    s = DiffusionSchedule()
    assert s.T == 20 and s.kind == "linear"
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)


def test_buffers_follow_the_module():
    s = DiffusionSchedule("linear", 5).to(torch.float64)
    assert {n for n, _ in s.named_buffers()} >= {"betas", "posterior_mean_coef1", "posterior_mean_coef2",
                                                 "posterior_log_variance_clipped"}
    assert s.betas.dtype == torch.float64


@pytest.mark.parametrize("args, match", [(("quad", 10), "unknown schedule"), (("linear", 0), "positive integer"),
                                         (("linear", 10, 0.02, 1e-4), "beta_start <= beta_end")])
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        make_betas(*args)


def test_q_sample_by_hand(device):
    sched = DiffusionSchedule("linear", 3, 0.1, 0.3).to(device)  # betas 0.1, 0.2, 0.3
    ab = [0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.7]
    x0 = torch.tensor([[1.0, -2.0], [0.5, 3.0]], device=device)
    noise = torch.tensor([[0.3, 0.1], [-1.0, 2.0]], device=device)
    t = torch.tensor([0, 2], device=device)
    got = ops.q_sample(x0, t, noise, sched)
    want = torch.tensor([[math.sqrt(ab[0]) * x + math.sqrt(1 - ab[0]) * z for x, z in zip([1.0, -2.0], [0.3, 0.1])],
                         [math.sqrt(ab[2]) * x + math.sqrt(1 - ab[2]) * z for x, z in zip([0.5, 3.0], [-1.0, 2.0])]])
    torch.testing.assert_close(got.cpu(), want)


@pytest.mark.parametrize("last", [False, True])
def test_p_sample_step_by_hand(device, last):
    sched = DiffusionSchedule("linear", 3, 0.1, 0.3).to(device)
    betas, ab = [0.1, 0.2, 0.3], [0.9, 0.72, 0.504]
    x_t = torch.tensor([[0.7, -1.2], [2.0, 0.1]], device=device)
    x0_hat = torch.tensor([[0.5, -1.0], [1.5, 0.3]], device=device)
    noise = torch.tensor([[-0.4, 1.1], [0.2, -0.9]], device=device)
    t = torch.tensor([2, 1], device=device)
    got = ops.p_sample_step(x_t, x0_hat, t, noise, sched, last=last)
    want = []
    for i, step in enumerate([2, 1]):
        b, a, a_prev = betas[step], ab[step], ab[step - 1]
        c1 = b * math.sqrt(a_prev) / (1 - a)
        c2 = (1 - a_prev) * math.sqrt(1 - b) / (1 - a)
        sd = math.sqrt(b * (1 - a_prev) / (1 - a))
        want.append([c1 * x0_hat[i, j].item() + c2 * x_t[i, j].item() + (0.0 if last else sd * noise[i, j].item())
                     for j in range(2)])
    torch.testing.assert_close(got.cpu(), torch.tensor(want))
