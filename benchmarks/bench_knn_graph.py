"""Benchmark knn_graph (cosine top-k, self included): mcdrec C++ (float32 BLAS tiles + C++ selection +
float64 rescoring) vs the torch reference (float64 row blocks, full sort) vs dense torch.topk (the n x n
matrix at once), on random 5,000 x 4,096 features; the memory case is
n x 4,096 float32 with n = --mem-n (default 20,000), where peak memory beyond the input is the point.

    python benchmarks/bench_knn_graph.py [--quick] [--mem-n 20000] [--k 10] [--json out.json]
"""
from __future__ import annotations

import argparse
import warnings

import torch

from _common import measure, report, with_backend

warnings.filterwarnings("ignore", message=".*Sparse.*")


def dense_topk(x, k):
    xn = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return torch.topk(xn @ xn.T, k, dim=1)  # [n, n] at once


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the large memory case")
    ap.add_argument("--mem-n", type=int, default=20000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from mcdrec.ops import knn_graph

    cases = [("random 5000x4096", lambda: torch.randn(5000, 4096))]
    if not args.quick:
        cases.append((f"random {args.mem_n}x4096", lambda: torch.randn(args.mem_n, 4096)))
    rows = []
    for name, make in cases:
        x = make()
        big = x.shape[0] > 10000
        provs = {"mcdrec (C++)": with_backend("cpp", lambda: knn_graph(x, args.k))}
        if not big:
            provs["torch reference (f64 blocks)"] = with_backend("torch", lambda: knn_graph(x, args.k))
            provs["dense torch.topk (f32)"] = lambda: dense_topk(x, args.k)
        for prov, fn in provs.items():
            res = measure(fn, warmup=0 if big else 1, reps=1 if big else 3, mem_reps=0 if big else 1)
            rows.append({"case": name, "provider": prov, "shape": list(x.shape), "k": args.k,
                         "input_mb": x.numel() * 4 / 2**20, **res})
            print(f"{name:<24} {prov:<30} {res['median_ms']:10.1f} ms  extra {res['extra_rss_mb']:.1f} MB", flush=True)
        if not big:
            idx, _ = knn_graph(x, args.k)
            print(f"  indices equal to dense torch.topk: {torch.equal(idx, dense_topk(x.double(), args.k).indices)}")
    report("knn_graph", rows, args.json, baseline="mcdrec (C++)")


if __name__ == "__main__":
    main()
