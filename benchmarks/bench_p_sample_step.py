"""Benchmark the reverse diffusion step and the sampling chain: p_sample_step alone, the 20-step chain of
steps alone (noise draws included), the whole MRD sampling chain with its denoiser over n items, and one
MRD training step (q_sample -> denoiser -> x0_mse, forward+backward). Triton path vs the torch path
(MCDREC_BACKEND=torch). Prints a table, writes JSON.

    python benchmarks/bench_p_sample_step.py [--n 7050] [--d 64] [--out bench_p_sample_step.json]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def run(device, n: int = 7050, d: int = 64, compile_ref: bool = True, steps: int = 20,
        with_model: bool = True) -> list[dict]:
    import torch

    import mcdrec.ops as ops
    from _gpu_common import backend, bench_rows, kernel_backend, maybe_compile
    from mcdrec.engine.diffusion import MRD, DiffusionSchedule
    from mcdrec.engine.ops import _reference as R
    from mcdrec.kernels import diffusion_steps as K

    s = DiffusionSchedule("linear", steps).to(device)
    coefs = (s.posterior_mean_coef1, s.posterior_mean_coef2, s.posterior_log_variance_clipped)
    x_t, x0_hat, noise = (torch.randn(n, d, device=device) for _ in range(3))  # [n, d] each
    t = torch.randint(0, steps, (n,), device=device)  # [n]
    shape = f"{n}x{d}"
    rows = []
    providers = {"torch eager": lambda: R.p_sample_step(x_t, x0_hat, t, noise, *coefs, False)}
    ref = maybe_compile(R.p_sample_step) if compile_ref else None
    if ref is not None:
        providers["torch.compile"] = lambda: ref(x_t, x0_hat, t, noise, *coefs, False)
    providers["triton"] = lambda: K.p_sample_step(x_t, x0_hat, t, noise, *coefs, False)
    rows += bench_rows("p_sample_step", shape, providers, device, target=3.0)

    def steps_chain(mode):
        def chain():
            with torch.no_grad(), backend(mode):
                x = ops.q_sample(x0_hat, torch.full((n,), steps - 1, device=device), noise, s)
                for step in range(steps - 1, -1, -1):
                    tt = torch.full((n,), step, dtype=torch.int64, device=device)
                    x = ops.p_sample_step(x, x0_hat, tt, torch.randn_like(x), s, last=step == 0)
            return x
        return chain

    rows += bench_rows(f"{steps}-step chain, steps only", shape,
                       {"torch eager": steps_chain("torch"), "triton": steps_chain(kernel_backend(device))},
                       device, target=3.0, reps=10)
    if not with_model:
        return rows
    mrd = MRD(d, n_cond=2, steps=steps).to(device)
    e = torch.randn(n, d, device=device, requires_grad=True)  # [n, d] item embeddings (x0)
    conds = [torch.randn(n, d, device=device) for _ in range(2)]  # projected modality features

    def sample(mode):
        def run_chain():
            with backend(mode):
                return mrd.sample(e.detach(), conds)
        return run_chain

    def train_step(mode):
        def step():
            with backend(mode):
                loss, _ = mrd.loss(e, conds)
                loss.backward()
        return step

    reps = dict(warmup=2, reps=5) if device.type == "cuda" else dict(warmup=0, reps=1)
    rows += bench_rows(f"MRD sample chain ({steps} steps, UNet)", shape,
                       {"torch eager": sample("torch"), "triton": sample(kernel_backend(device))},
                       device, target=3.0, **reps)
    rows += bench_rows("MRD loss fwd+bwd (UNet)", shape,
                       {"torch eager": train_step("torch"), "triton": train_step(kernel_backend(device))},
                       device, **reps)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=7050)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--out", default="bench_p_sample_step.json")
    args = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
        print("no CUDA device: running a tiny CPU case through the Triton interpreter (times mean nothing)")
        args.n = 12
    from _gpu_common import OP_COLUMNS, table, write_json

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = run(device, args.n, args.d, compile_ref=device.type == "cuda", with_model=device.type == "cuda")
    print(table(rows, OP_COLUMNS))
    write_json(args.out, {"rows": rows}, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
