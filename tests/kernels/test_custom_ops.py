"""The Triton custom ops are well-formed torch.library ops (schema, fake impls, autograd registration,
AOT dispatch: torch.library.opcheck) and trace under torch.compile(fullgraph=True)."""
import pytest
import torch

import mcdrec.ops as ops
from mcdrec.engine.ops import _reference as R


def _csr_arrays(adj):
    """The op's dense inputs for sparse CSR `adj`: A's CSR arrays then A^T's (A's CSC arrays), as plain
    tensors (views into a sparse tensor cannot be faked)."""
    adj_t = adj.to_sparse_csc()
    return [a.clone() for a in (adj.crow_indices(), adj.col_indices(), adj.values(), adj_t.ccol_indices(),
                                adj_t.row_indices(), adj_t.values())]


def _sample_args(device):
    """One small argument tuple per custom op: (op name, args)."""
    T, n, d = 20, 5, 7
    x = lambda *s: torch.randn(*s, device=device, requires_grad=True)  # noqa: E731
    t = torch.randint(0, T, (n,), device=device)
    coef = lambda: torch.rand(T, device=device)  # noqa: E731
    adj = ((torch.rand(6, 6) < 0.5).float() * torch.rand(6, 6)).to_sparse_csr().to(device)
    eu, ei = torch.randint(0, 4, (9,), device=device), torch.randint(0, 3, (9,), device=device)
    return [
        ("q_sample", (x(n, d), t, x(n, d), coef(), coef())),
        ("q_sample_bwd", (torch.randn(n, d, device=device), t, coef(), coef())),
        ("p_sample_step", (x(n, d), x(n, d), t, x(n, d), coef(), coef(), torch.randn(T, device=device), False)),
        ("p_sample_step", (x(n, d), x(n, d), t, x(n, d), coef(), coef(), torch.randn(T, device=device), True)),
        ("p_sample_step_bwd", (torch.randn(n, d, device=device), t, coef(), coef(), coef(), False)),
        ("x0_mse", (x(n, d), x(n, d))),
        ("x0_mse_bwd", (torch.randn((), device=device), torch.randn(n, d, device=device),
                        torch.randn(n, d, device=device))),
        ("groupnorm_silu", (x(3, 16, 2, 2), 8, x(16), x(16), x(3, 16), 1e-6)),
        ("groupnorm_silu", (x(3, 8, 1, 1), 8, x(8), x(8), None, 1e-6)),
        ("groupnorm_silu_bwd", (torch.randn(3, 16, 2, 2, device=device), torch.randn(3, 16, 2, 2, device=device),
                                8, torch.randn(16, device=device), torch.randn(16, device=device),
                                torch.randn(3, 16, device=device), 1e-6)),
        ("propagate", (*_csr_arrays(adj), x(6, d), 2)),
        ("edge_cosine", (x(4, d), x(3, d), eu, ei, 1e-8)),
        ("edge_cosine_bwd", (torch.randn(9, device=device), torch.randn(4, d, device=device),
                             torch.randn(3, d, device=device), eu, ei, 1e-8)),
    ]


def test_opcheck(tdev):
    for name, args in _sample_args(tdev):
        op = getattr(torch.ops.mcdrec_triton, name).default
        torch.library.opcheck(op, args)


def test_compile_fullgraph(tdev, schedule, assert_close):
    """A diffusion training step (q_sample -> a layer with groupnorm_silu -> x0_mse, backward) and a
    propagate call compile as one graph. CPU uses the aot_eager backend (inductor's C++ build is slow
    and the ops are opaque to it anyway); CUDA uses inductor."""
    torch._dynamo.reset()
    backend = "inductor" if tdev.type == "cuda" else "aot_eager"
    s = schedule(20, tdev)
    n, c, r = 6, 8, 2
    weight = torch.randn(c, device=tdev, requires_grad=True)
    bias = torch.randn(c, device=tdev, requires_grad=True)
    adj = ((torch.rand(n, n) < 0.5).float() * torch.rand(n, n)).to_sparse_csr().to(tdev)

    def step(e, t, noise, temb):
        x_t = ops.q_sample(e, t, noise, s)
        h = ops.groupnorm_silu(x_t.view(n, c, r, r), 8, weight, bias, temb)
        return ops.x0_mse(h.reshape(n, -1), e)

    e = torch.randn(n, c * r * r, device=tdev, requires_grad=True)
    t = torch.randint(0, 20, (n,), device=tdev)
    noise, temb = torch.randn(n, c * r * r, device=tdev), torch.randn(n, c, device=tdev)
    compiled = torch.compile(step, fullgraph=True, backend=backend)
    loss = compiled(e, t, noise, temb)
    (g_compiled,) = torch.autograd.grad(loss, e)
    eager = step(e, t, noise, temb)
    (g_eager,) = torch.autograd.grad(eager, e)
    assert_close(loss, eager.detach(), rtol=1e-6, what="compiled loss")
    assert_close(g_compiled, g_eager, rtol=1e-6, what="compiled grad")

    # dynamo does not take sparse tensors: the op's dense CSR arrays go in
    x = torch.randn(n, 5, device=tdev, requires_grad=True)
    prop = torch.compile(lambda arrays, x: torch.ops.mcdrec_triton.propagate(*arrays, x, 2), fullgraph=True,
                         backend=backend)
    out = prop(_csr_arrays(adj), x)
    assert_close(out, R.propagate(adj, x.detach(), 2), what="compiled propagate")
    (g_x,) = torch.autograd.grad(out.sum(), x)
    assert_close(g_x, ops.propagate(adj.t().to_sparse_csr(), torch.ones_like(x), 2), what="compiled grad")
