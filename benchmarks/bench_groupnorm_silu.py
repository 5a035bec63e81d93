"""Benchmark groupnorm_silu, swish(GroupNorm(x + temb)), forward and forward+backward at the denoiser's
shapes (N items, C in {8, 16}, H = W in {8, 4, 2, 1}, 8 groups): Triton kernel vs torch eager
GroupNorm + add + SiLU (and torch.compile of it). Prints a table, writes JSON.

    python benchmarks/bench_groupnorm_silu.py [--n 7050] [--out bench_groupnorm_silu.json]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SHAPES = [(8, 8), (16, 8), (16, 4), (16, 2), (16, 1)]  # (C, H=W) of the denoiser's levels


def run(device, n: int = 7050, compile_ref: bool = True, shapes=SHAPES) -> list[dict]:
    import torch

    from _gpu_common import bench_rows, maybe_compile
    from mcdrec.engine.ops import _reference as R
    from mcdrec.kernels import groupnorm_silu as K

    ref_c = maybe_compile(R.groupnorm_silu) if compile_ref else None
    rows = []
    for c, r in shapes:
        x = torch.randn(n, c, r, r, device=device, requires_grad=True)  # [N, C, H, W]
        w = torch.randn(c, device=device, requires_grad=True)  # [C]
        b = torch.randn(c, device=device, requires_grad=True)  # [C]
        temb = torch.randn(n, c, device=device, requires_grad=True)  # [N, C]
        g = torch.randn(n, c, r, r, device=device)

        def fwd(fn):
            return lambda: fn(x.detach(), 8, w.detach(), b.detach(), temb.detach(), 1e-6)

        def fwd_bwd(fn):
            return lambda: torch.autograd.grad(fn(x, 8, w, b, temb, 1e-6), (x, w, b, temb), g)

        for op, wrap, target in (("groupnorm_silu fwd", fwd, None), ("groupnorm_silu fwd+bwd", fwd_bwd, 2.0)):
            providers = {"torch eager": wrap(R.groupnorm_silu)}
            if ref_c is not None:
                providers["torch.compile"] = wrap(ref_c)
            providers["triton"] = wrap(K.groupnorm_silu)
            rows += bench_rows(op, f"{n}x{c}x{r}x{r}", providers, device, target=target)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=7050)
    p.add_argument("--out", default="bench_groupnorm_silu.json")
    args = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
        print("no CUDA device: running a tiny CPU case through the Triton interpreter (times mean nothing)")
        args.n = 5
    from _gpu_common import OP_COLUMNS, table, write_json

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = run(device, args.n, compile_ref=device.type == "cuda")
    print(table(rows, OP_COLUMNS))
    write_json(args.out, {"rows": rows}, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
