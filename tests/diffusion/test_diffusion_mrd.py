"""MRD: antithetic step draw, the training loss against its definition, and the sampling chain
(mode handling, determinism, agreement with the chain written out by hand)."""
import pytest
import torch

from mcdrec.engine.diffusion import MRD


def make_inputs(n, d=64, n_cond=2, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(n, d, generator=g).to(device)
    conds = [torch.randn(n, d, generator=g).to(device) for _ in range(n_cond)]
    return e, conds


def gen(device, seed):
    return torch.Generator(device=device).manual_seed(seed)


@pytest.mark.parametrize("n", [1, 2, 9, 10, 101])
def test_antithetic_steps_pair_up(n):
    mrd = MRD(64, 2, steps=20)
    t = mrd.antithetic_steps(n, torch.device("cpu"), gen("cpu", n))
    half = (n + 1) // 2
    assert t.shape == (n,) and t.dtype == torch.int64
    assert int(t.min()) >= 0 and int(t.max()) <= 19
    assert torch.all(t[:n - half] + t[half:] == 19)


def test_antithetic_steps_cover_the_range():
    t = MRD(64, 2, steps=20).antithetic_steps(2000, torch.device("cpu"), gen("cpu", 0))
    assert set(t.tolist()) == set(range(20))


def test_loss_follows_its_definition(device):
    torch.manual_seed(0)
    mrd = MRD(64, 2, steps=20).to(device).eval()
    e, conds = make_inputs(4, device=device)
    l_diff, x0_hat = mrd.loss(e, conds, gen(device, 3))
    g = gen(device, 3)
    t = mrd.antithetic_steps(4, device, g)
    assert torch.all(t[:2] + t[2:] == 19)
    noise = torch.randn(e.shape, generator=g, device=device)
    sch = mrd.schedule
    x_t = sch.sqrt_alphas_cumprod[t][:, None] * e + sch.sqrt_one_minus_alphas_cumprod[t][:, None] * noise
    want = mrd.denoiser(x_t, conds, t)
    torch.testing.assert_close(x0_hat, want)
    torch.testing.assert_close(l_diff, ((want - e) ** 2).mean())
    assert l_diff.dim() == 0


def test_loss_backpropagates_to_denoiser_and_conditions():
    mrd = MRD(64, 2, steps=20)
    e, conds = make_inputs(4)
    e.requires_grad_(True)
    conds = [c.requires_grad_(True) for c in conds]
    l_diff, _ = mrd.loss(e, conds)
    l_diff.backward()
    assert e.grad is not None and all(c.grad is not None for c in conds)
    assert all(p.grad is not None for p in mrd.denoiser.parameters())


@pytest.mark.parametrize("was_training", [True, False])
@pytest.mark.parametrize("train_mode", [True, False])
def test_sample_restores_the_training_flags(was_training, train_mode):
    mrd = MRD(64, 2, steps=3)
    mrd.train(was_training)
    mrd.denoiser.mid_attn.train(not was_training)  # a mixed state must come back as it was
    before = {name: m.training for name, m in mrd.named_modules()}
    e, conds = make_inputs(4)
    s = mrd.sample(e, conds, gen("cpu", 0), train_mode=train_mode)
    assert s.shape == e.shape and not s.requires_grad
    assert {name: m.training for name, m in mrd.named_modules()} == before


def test_sample_is_deterministic_in_eval_mode(device):
    mrd = MRD(64, 2, steps=4).to(device).train()
    e, conds = make_inputs(4, device=device)
    a = mrd.sample(e, conds, gen(device, 11))
    b = mrd.sample(e, conds, gen(device, 11))
    c = mrd.sample(e, conds, gen(device, 12))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_train_mode_sampling_uses_dropout():
    torch.manual_seed(5)
    mrd = MRD(64, 2, steps=4)
    e, conds = make_inputs(4)
    eval_s = mrd.sample(e, conds, gen("cpu", 11))
    train_s = mrd.sample(e, conds, gen("cpu", 11), train_mode=True)
    assert not torch.equal(eval_s, train_s)


def test_sample_matches_the_chain_written_out(device):
    mrd = MRD(64, 2, steps=3, schedule="cosine").to(device)
    e, conds = make_inputs(4, device=device)
    got = mrd.sample(e, conds, gen(device, 7))
    g = gen(device, 7)
    sch, net = mrd.schedule, mrd.denoiser.eval()
    with torch.no_grad():
        x = sch.sqrt_alphas_cumprod[2] * e + sch.sqrt_one_minus_alphas_cumprod[2] * torch.randn(
            e.shape, generator=g, device=device)
        for step in (2, 1, 0):
            t = torch.full((4,), step, device=device)
            x0_hat = net(x, conds, t)
            noise = torch.randn(e.shape, generator=g, device=device)
            x = sch.posterior_mean_coef1[step] * x0_hat + sch.posterior_mean_coef2[step] * x
            if step:
                x = x + torch.exp(0.5 * sch.posterior_log_variance_clipped[step]) * noise
    torch.testing.assert_close(got, x)


def test_single_step_chain():
    mrd = MRD(64, 2, steps=1)
    e, conds = make_inputs(4)
    assert torch.isfinite(mrd.sample(e, conds, gen("cpu", 0))).all()
    l_diff, _ = mrd.loss(e, conds, gen("cpu", 0))
    assert torch.isfinite(l_diff)


def test_schedule_moves_with_the_module():
    mrd = MRD(64, 1, steps=5, schedule="sqrt").double()
    assert mrd.T == 5 and mrd.schedule.betas.dtype == torch.float64
    e, conds = make_inputs(4, n_cond=1)
    s = mrd.sample(e.double(), [c.double() for c in conds], gen("cpu", 0))
    assert s.dtype == torch.float64
