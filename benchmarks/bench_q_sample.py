"""Benchmark q_sample (schedule gather + noising) and the fused x0-prediction MSE, forward and forward+backward:
Triton kernel vs the torch eager sequence it replaces (and torch.compile of it). Prints a table, writes JSON.

    python benchmarks/bench_q_sample.py [--n 7050] [--d 64] [--out bench_q_sample.json]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def run(device, n: int = 7050, d: int = 64, compile_ref: bool = True) -> list[dict]:
    import torch

    from _gpu_common import bench_rows, maybe_compile
    from mcdrec.engine.diffusion import DiffusionSchedule
    from mcdrec.engine.ops import _reference as R
    from mcdrec.kernels import diffusion_steps as K

    s = DiffusionSchedule("linear", 20).to(device)
    sab, s1m = s.sqrt_alphas_cumprod, s.sqrt_one_minus_alphas_cumprod
    x0 = torch.randn(n, d, device=device, requires_grad=True)  # [n, d]
    noise = torch.randn(n, d, device=device)  # [n, d]
    x0_hat = torch.randn(n, d, device=device, requires_grad=True)  # [n, d]
    t = torch.randint(0, 20, (n,), device=device)  # [n]
    g = torch.randn(n, d, device=device)
    shape = f"{n}x{d}"
    ref_q = maybe_compile(R.q_sample) if compile_ref else None
    ref_mse = maybe_compile(R.x0_mse) if compile_ref else None

    def fwd(fn):
        return lambda: fn(x0.detach(), t, noise, sab, s1m)

    def fwd_bwd(fn):
        return lambda: torch.autograd.grad(fn(x0, t, noise, sab, s1m), x0, g)

    def mse_fwd_bwd(fn):
        return lambda: torch.autograd.grad(fn(x0_hat, x0), (x0_hat, x0))

    rows = []
    for op, wrap in (("q_sample fwd", fwd), ("q_sample fwd+bwd", fwd_bwd)):
        providers = {"torch eager": wrap(R.q_sample)}
        if ref_q is not None:
            providers["torch.compile"] = wrap(ref_q)
        providers["triton"] = wrap(K.q_sample)
        rows += bench_rows(op, shape, providers, device, target=3.0)
    providers = {"torch eager": mse_fwd_bwd(R.x0_mse)}
    if ref_mse is not None:
        providers["torch.compile"] = mse_fwd_bwd(ref_mse)
    providers["triton"] = mse_fwd_bwd(K.x0_mse)
    rows += bench_rows("x0_mse fwd+bwd", shape, providers, device)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=7050)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--out", default="bench_q_sample.json")
    args = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
        print("no CUDA device: running a tiny CPU case through the Triton interpreter (times mean nothing)")
        args.n, args.d = 33, 8
    from _gpu_common import OP_COLUMNS, table, write_json

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = run(device, args.n, args.d, compile_ref=device.type == "cuda")
    print(table(rows, OP_COLUMNS))
    write_json(args.out, {"rows": rows}, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
