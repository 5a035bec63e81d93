"""Triton kernels for the elementwise diffusion steps: q_sample, p_sample_step and the x0-prediction MSE.

Each step gathers its schedule coefficients by the per-row timestep inside the kernel (no host sync),
so a whole sampling chain is a sequence of asynchronous launches. All three are torch.library custom ops
(namespace `mcdrec_triton`) with fake impls and autograd; their backwards are custom ops too, so
torch.compile traces them.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from mcdrec.engine.ops import _reference
from mcdrec.engine.ops._dispatch import register

from ._launch import FLOAT_DTYPES, cdiv

BLOCK = 1024
MSE_BLOCK = 4096


@triton.jit
def _mix_kernel(out_ptr, a_ptr, b_ptr, c_ptr, t_ptr, ca_ptr, cb_ptr, cc_ptr, n_elem, D,
                HAS_C: tl.constexpr, C_EXP_HALF: tl.constexpr, BLOCK: tl.constexpr):
    """out = ca[t[row]] a + cb[t[row]] b (+ cc'[t[row]] c), cc' = exp(cc / 2) when C_EXP_HALF."""
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elem
    t = tl.load(t_ptr + offs // D, mask=mask, other=0)
    ca = tl.load(ca_ptr + t, mask=mask, other=0.0).to(tl.float32)
    cb = tl.load(cb_ptr + t, mask=mask, other=0.0).to(tl.float32)
    a = tl.load(a_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    out = ca * a + cb * b
    if HAS_C:
        cc = tl.load(cc_ptr + t, mask=mask, other=0.0).to(tl.float32)
        if C_EXP_HALF:
            cc = tl.exp(0.5 * cc)
        c = tl.load(c_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        out += cc * c
    tl.store(out_ptr + offs, out.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _scale_kernel(g_ptr, t_ptr, ca_ptr, cb_ptr, cc_ptr, ga_ptr, gb_ptr, gc_ptr, n_elem, D,
                  HAS_C: tl.constexpr, C_EXP_HALF: tl.constexpr, BLOCK: tl.constexpr):
    """Backward of _mix_kernel: ga = ca[t] g, gb = cb[t] g (, gc = cc'[t] g), one read of g."""
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elem
    t = tl.load(t_ptr + offs // D, mask=mask, other=0)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    ca = tl.load(ca_ptr + t, mask=mask, other=0.0).to(tl.float32)
    cb = tl.load(cb_ptr + t, mask=mask, other=0.0).to(tl.float32)
    tl.store(ga_ptr + offs, (ca * g).to(ga_ptr.dtype.element_ty), mask=mask)
    tl.store(gb_ptr + offs, (cb * g).to(gb_ptr.dtype.element_ty), mask=mask)
    if HAS_C:
        cc = tl.load(cc_ptr + t, mask=mask, other=0.0).to(tl.float32)
        if C_EXP_HALF:
            cc = tl.exp(0.5 * cc)
        tl.store(gc_ptr + offs, (cc * g).to(gc_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _sq_err_partial_kernel(a_ptr, b_ptr, partial_ptr, n_elem, inv_n, BLOCK: tl.constexpr):
    """partial[pid] = sum over this block of (a - b)^2 / n (float32)."""
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elem
    a = tl.load(a_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    d = a - b
    tl.store(partial_ptr + pid, tl.sum(d * d, axis=0) * inv_n)


@triton.jit
def _sq_err_bwd_kernel(a_ptr, b_ptr, g_ptr, ga_ptr, gb_ptr, n_elem, two_inv_n, BLOCK: tl.constexpr):
    """ga = 2 (a - b) / n * g, gb = -ga; g is a 0-d device tensor (read in the kernel, no host sync)."""
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elem
    g = tl.load(g_ptr).to(tl.float32)
    a = tl.load(a_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    ga = (a - b) * (two_inv_n * g)
    tl.store(ga_ptr + offs, ga.to(ga_ptr.dtype.element_ty), mask=mask)
    tl.store(gb_ptr + offs, (-ga).to(gb_ptr.dtype.element_ty), mask=mask)


def _row_width(x: torch.Tensor) -> int:
    return x.numel() // x.shape[0] if x.shape[0] else 1


def _launch_mix(a, b, c, t, ca, cb, cc, c_exp_half: bool) -> torch.Tensor:
    has_c = c is not None
    a, b, t = a.contiguous(), b.contiguous(), t.contiguous()
    c = c.contiguous() if has_c else a
    out = torch.empty_like(a)
    n = a.numel()
    if n:
        _mix_kernel[(cdiv(n, BLOCK),)](out, a, b, c, t, ca.contiguous(), cb.contiguous(),
                                       (cc if cc is not None else ca).contiguous(), n, _row_width(a),
                                       HAS_C=has_c, C_EXP_HALF=c_exp_half, BLOCK=BLOCK)
    return out


def _launch_scale(g, t, ca, cb, cc, n_out: int, c_exp_half: bool):
    g, t = g.contiguous(), t.contiguous()
    outs = [torch.empty_like(g) for _ in range(n_out)]
    n = g.numel()
    if n:
        gc = outs[2] if n_out == 3 else outs[0]
        _scale_kernel[(cdiv(n, BLOCK),)](g, t, ca.contiguous(), cb.contiguous(),
                                         (cc if cc is not None else ca).contiguous(), outs[0], outs[1], gc,
                                         n, _row_width(g), HAS_C=n_out == 3, C_EXP_HALF=c_exp_half, BLOCK=BLOCK)
    return outs


# ---------------------------------------------------------------- q_sample
@torch.library.custom_op("mcdrec_triton::q_sample", mutates_args=())
def _q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, sqrt_ab: torch.Tensor,
              sqrt_1mab: torch.Tensor) -> torch.Tensor:
    """x0, noise: [n, d]; t: [n] int; sqrt_ab, sqrt_1mab: [T] -> x_t [n, d]."""
    return _launch_mix(x0, noise, None, t, sqrt_ab, sqrt_1mab, None, False)


@_q_sample.register_fake
def _(x0, t, noise, sqrt_ab, sqrt_1mab):
    return torch.empty_like(x0, memory_format=torch.contiguous_format)


@torch.library.custom_op("mcdrec_triton::q_sample_bwd", mutates_args=())
def _q_sample_bwd(grad: torch.Tensor, t: torch.Tensor, sqrt_ab: torch.Tensor,
                  sqrt_1mab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """grad: [n, d] -> (grad_x0, grad_noise) [n, d] each."""
    ga, gb = _launch_scale(grad, t, sqrt_ab, sqrt_1mab, None, 2, False)
    return ga, gb


@_q_sample_bwd.register_fake
def _(grad, t, sqrt_ab, sqrt_1mab):
    return (torch.empty_like(grad, memory_format=torch.contiguous_format),
            torch.empty_like(grad, memory_format=torch.contiguous_format))


def _q_sample_setup(ctx, inputs, output):
    _, t, _, sqrt_ab, sqrt_1mab = inputs
    ctx.save_for_backward(t, sqrt_ab, sqrt_1mab)


def _q_sample_backward(ctx, grad):
    t, sqrt_ab, sqrt_1mab = ctx.saved_tensors
    g_x0, g_noise = _q_sample_bwd(grad, t, sqrt_ab, sqrt_1mab)
    return g_x0, None, g_noise, None, None


_q_sample.register_autograd(_q_sample_backward, setup_context=_q_sample_setup)


# ---------------------------------------------------------------- p_sample_step
def _p_sample_step_impl(x_t, x0_hat, t, noise, coef1, coef2, log_var, last):
    if last:
        return _launch_mix(x0_hat, x_t, None, t, coef1, coef2, None, False)
    return _launch_mix(x0_hat, x_t, noise, t, coef1, coef2, log_var, True)


@torch.library.custom_op("mcdrec_triton::p_sample_step", mutates_args=())
def _p_sample_step(x_t: torch.Tensor, x0_hat: torch.Tensor, t: torch.Tensor, noise: torch.Tensor,
                   coef1: torch.Tensor, coef2: torch.Tensor, log_var: torch.Tensor, last: bool) -> torch.Tensor:
    """x_t, x0_hat, noise: [n, d]; t: [n] int; coef1, coef2, log_var: [T] -> x_{t-1} [n, d]."""
    return _p_sample_step_impl(x_t, x0_hat, t, noise, coef1, coef2, log_var, last)


@_p_sample_step.register_fake
def _(x_t, x0_hat, t, noise, coef1, coef2, log_var, last):
    return torch.empty_like(x_t, memory_format=torch.contiguous_format)


def _p_sample_step_bwd_impl(grad, t, coef1, coef2, log_var, last):
    if last:
        g_x0_hat, g_x_t = _launch_scale(grad, t, coef1, coef2, None, 2, False)
        return g_x_t, g_x0_hat, torch.zeros_like(g_x_t)
    g_x0_hat, g_x_t, g_noise = _launch_scale(grad, t, coef1, coef2, log_var, 3, True)
    return g_x_t, g_x0_hat, g_noise


@torch.library.custom_op("mcdrec_triton::p_sample_step_bwd", mutates_args=())
def _p_sample_step_bwd(grad: torch.Tensor, t: torch.Tensor, coef1: torch.Tensor, coef2: torch.Tensor,
                       log_var: torch.Tensor, last: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """grad: [n, d] -> (grad_x_t, grad_x0_hat, grad_noise) [n, d] each; grad_noise is zero when `last`."""
    return _p_sample_step_bwd_impl(grad, t, coef1, coef2, log_var, last)


@_p_sample_step_bwd.register_fake
def _(grad, t, coef1, coef2, log_var, last):
    return tuple(torch.empty_like(grad, memory_format=torch.contiguous_format) for _ in range(3))


def _p_sample_setup(ctx, inputs, output):
    _, _, t, _, coef1, coef2, log_var, last = inputs
    ctx.save_for_backward(t, coef1, coef2, log_var)
    ctx.last = last


def _p_sample_backward(ctx, grad):
    t, coef1, coef2, log_var = ctx.saved_tensors
    g_x_t, g_x0_hat, g_noise = _p_sample_step_bwd(grad, t, coef1, coef2, log_var, ctx.last)
    return g_x_t, g_x0_hat, None, g_noise, None, None, None, None


_p_sample_step.register_autograd(_p_sample_backward, setup_context=_p_sample_setup)


# ---------------------------------------------------------------- x0_mse
def _x0_mse_impl(x0_hat, x0):
    a, b = x0_hat.contiguous(), x0.contiguous()
    n = a.numel()
    if n == 0:
        return torch.full((), float("nan"), dtype=a.dtype, device=a.device)
    n_prog = cdiv(n, MSE_BLOCK)
    partial = torch.empty(n_prog, dtype=torch.float32, device=a.device)  # [n_prog]
    _sq_err_partial_kernel[(n_prog,)](a, b, partial, n, 1.0 / n, BLOCK=MSE_BLOCK)
    return partial.sum().to(a.dtype)


@torch.library.custom_op("mcdrec_triton::x0_mse", mutates_args=())
def _x0_mse(x0_hat: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """x0_hat, x0: [n, d] -> 0-d mean squared error (float32 accumulation, input dtype out)."""
    return _x0_mse_impl(x0_hat, x0)


@_x0_mse.register_fake
def _(x0_hat, x0):
    return x0_hat.new_empty(())


def _x0_mse_bwd_impl(grad, x0_hat, x0):
    a, b = x0_hat.contiguous(), x0.contiguous()
    ga, gb = torch.empty_like(a), torch.empty_like(b)
    n = a.numel()
    if n:
        _sq_err_bwd_kernel[(cdiv(n, BLOCK),)](a, b, grad.contiguous(), ga, gb, n, 2.0 / n, BLOCK=BLOCK)
    return ga, gb


@torch.library.custom_op("mcdrec_triton::x0_mse_bwd", mutates_args=())
def _x0_mse_bwd(grad: torch.Tensor, x0_hat: torch.Tensor, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """grad: 0-d; x0_hat, x0: [n, d] -> (2 (x0_hat - x0) / n * grad, its negation), one kernel."""
    return _x0_mse_bwd_impl(grad, x0_hat, x0)


@_x0_mse_bwd.register_fake
def _(grad, x0_hat, x0):
    return (torch.empty_like(x0_hat, memory_format=torch.contiguous_format),
            torch.empty_like(x0, memory_format=torch.contiguous_format))


def _x0_mse_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _x0_mse_backward(ctx, grad):
    x0_hat, x0 = ctx.saved_tensors
    return _x0_mse_bwd(grad, x0_hat, x0)


_x0_mse.register_autograd(_x0_mse_backward, setup_context=_x0_mse_setup)


# ---------------------------------------------------------------- dispatcher entry points
def _fits(x: torch.Tensor, *others: torch.Tensor) -> bool:
    """Same float dtype (half, bfloat16 or float32), same shape: anything else takes the torch reference."""
    return x.dtype in FLOAT_DTYPES and all(o.dtype == x.dtype and o.shape == x.shape for o in others)


class _QSampleFn(torch.autograd.Function):
    """Eager path: the same launchers without the custom-op dispatch (its Python cost is several kernel
    launches at these sizes); torch.compile traces the custom op instead."""

    @staticmethod
    def forward(ctx, x0, t, noise, sqrt_ab, sqrt_1mab):
        ctx.save_for_backward(t, sqrt_ab, sqrt_1mab)
        return _launch_mix(x0, noise, None, t, sqrt_ab, sqrt_1mab, None, False)

    @staticmethod
    def backward(ctx, grad):
        t, sqrt_ab, sqrt_1mab = ctx.saved_tensors
        g_x0, g_noise = _launch_scale(grad, t, sqrt_ab, sqrt_1mab, None, 2, False)
        return g_x0, None, g_noise, None, None


class _PSampleStepFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_t, x0_hat, t, noise, coef1, coef2, log_var, last):
        ctx.save_for_backward(t, coef1, coef2, log_var)
        ctx.last = last
        return _p_sample_step_impl(x_t, x0_hat, t, noise, coef1, coef2, log_var, last)

    @staticmethod
    def backward(ctx, grad):
        t, coef1, coef2, log_var = ctx.saved_tensors
        g_x_t, g_x0_hat, g_noise = _p_sample_step_bwd_impl(grad, t, coef1, coef2, log_var, ctx.last)
        return g_x_t, g_x0_hat, None, g_noise, None, None, None, None


class _X0MseFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x0_hat, x0):
        ctx.save_for_backward(x0_hat, x0)
        return _x0_mse_impl(x0_hat, x0)

    @staticmethod
    def backward(ctx, grad):
        return _x0_mse_bwd_impl(grad, *ctx.saved_tensors)


def _needs_grad(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(x.requires_grad for x in tensors)


def q_sample(x0, t, noise, sqrt_ab, sqrt_1mab):
    """x0, noise: [n, d]; t: [n] int; sqrt_ab, sqrt_1mab: [T] -> x_t [n, d]."""
    if not _fits(x0, noise):
        return _reference.q_sample(x0, t, noise, sqrt_ab, sqrt_1mab)
    if torch.compiler.is_compiling():
        return _q_sample(x0, t, noise, sqrt_ab, sqrt_1mab)
    if _needs_grad(x0, noise):
        return _QSampleFn.apply(x0, t, noise, sqrt_ab, sqrt_1mab)
    return _launch_mix(x0, noise, None, t, sqrt_ab, sqrt_1mab, None, False)


def p_sample_step(x_t, x0_hat, t, noise, coef1, coef2, log_var, last):
    """x_t, x0_hat, noise: [n, d]; t: [n] int; coef1, coef2, log_var: [T] -> x_{t-1} [n, d]."""
    if not _fits(x_t, x0_hat, noise):
        return _reference.p_sample_step(x_t, x0_hat, t, noise, coef1, coef2, log_var, last)
    if torch.compiler.is_compiling():
        return _p_sample_step(x_t, x0_hat, t, noise, coef1, coef2, log_var, bool(last))
    if _needs_grad(x_t, x0_hat, noise):
        return _PSampleStepFn.apply(x_t, x0_hat, t, noise, coef1, coef2, log_var, bool(last))
    return _p_sample_step_impl(x_t, x0_hat, t, noise, coef1, coef2, log_var, bool(last))


def x0_mse(x0_hat, x0):
    """x0_hat, x0: [n, d] -> 0-d MSE."""
    if not _fits(x0_hat, x0):
        return _reference.x0_mse(x0_hat, x0)
    if torch.compiler.is_compiling():
        return _x0_mse(x0_hat, x0)
    if _needs_grad(x0_hat, x0):
        return _X0MseFn.apply(x0_hat, x0)
    return _x0_mse_impl(x0_hat, x0)


register("q_sample", "triton", q_sample)
register("p_sample_step", "triton", p_sample_step)
register("x0_mse", "triton", x0_mse)
