"""Kernel tests run on every device of the conftest device list: CPU through the Triton interpreter
(TRITON_INTERPRET=1, set by tests/conftest.py) and natively on CUDA when present."""
import os
from types import SimpleNamespace

import pytest
import torch

from mcdrec.engine.ops._dispatch import triton_available


@pytest.fixture
def tdev(device, monkeypatch):
    """The device with MCDREC_BACKEND=triton forced, so mcdrec.ops runs the Triton kernels there."""
    if not triton_available():
        pytest.skip("triton is not installed")
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET", "0") != "1":
        pytest.skip("Triton kernels run on CPU tensors only under TRITON_INTERPRET=1")
    monkeypatch.setenv("MCDREC_BACKEND", "triton")
    return device


def _assert_close(actual, expected, rtol=2e-5, what=""):
    """float32 kernel vs float64 reference: max abs error within rtol of the reference's scale (at least 1)."""
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert torch.isfinite(actual).all(), f"{what}: non-finite values"
    err = (actual.double().cpu() - expected.double().cpu()).abs().max().item() if actual.numel() else 0.0
    scale = max(1.0, expected.abs().max().item() if expected.numel() else 0.0)
    assert err <= rtol * scale, f"{what}: max abs error {err:.3e} > {rtol:.1e} * {scale:.3e}"


@pytest.fixture
def assert_close():
    return _assert_close


def make_schedule(T: int, device) -> SimpleNamespace:
    """The attributes mcdrec.ops reads from a diffusion schedule (linear betas), float32 [T] on device."""
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    ab = torch.cumprod(1 - betas, 0)
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
    var = betas * (1 - ab_prev) / (1 - ab)
    log_var = torch.log(torch.cat([var[1:2], var[1:]])) if T > 1 else torch.log(betas)
    f = dict(sqrt_alphas_cumprod=ab.sqrt(), sqrt_one_minus_alphas_cumprod=(1 - ab).sqrt(),
             posterior_mean_coef1=betas * ab_prev.sqrt() / (1 - ab),
             posterior_mean_coef2=(1 - ab_prev) * (1 - betas).sqrt() / (1 - ab),
             posterior_log_variance_clipped=log_var)
    return SimpleNamespace(T=T, **{k: v.float().to(device) for k, v in f.items()})


@pytest.fixture
def schedule():
    return make_schedule
