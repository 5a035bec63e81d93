"""Benchmark propagate (LightGCN layer mean) on the Baby / Sports train graphs and a synthetic 10^6 x 10^5
graph with 10^7 edges: mcdrec C++ vs the torch reference (torch.sparse.mm on CSR), torch.sparse.mm on COO
and scipy CSR @ dense; forward, and forward+backward (scipy: forward only).

    python benchmarks/bench_propagate.py [--quick] [--layers 1] [--dim 64] [--json out.json]
"""
from __future__ import annotations

import argparse
import warnings

import scipy.sparse as sp
import torch

from _common import bench_graphs, measure, report

warnings.filterwarnings("ignore", message=".*Sparse.*")


def providers(adj, x, n_layers, backward):
    from mcdrec.engine.ops import _reference
    from mcdrec.ops import propagate

    coo = adj.to_sparse_coo().coalesce()
    csr = sp.csr_matrix((adj.values().numpy(), adj.col_indices().numpy(), adj.crow_indices().numpy()), shape=adj.shape)
    g = torch.randn_like(x)

    def run(f):
        if not backward:
            return lambda: f(x.detach())
        xg = x.detach().requires_grad_()
        return lambda: torch.autograd.grad(f(xg), xg, g)

    def scipy_prop(_):
        h = acc = x.detach().numpy()
        for _ in range(n_layers):
            h = csr @ h
            acc = acc + h
        return acc / (n_layers + 1)

    out = {"mcdrec (C++)": run(lambda t: propagate(adj, t, n_layers)),
           "torch reference (CSR)": run(lambda t: _reference.propagate(adj, t, n_layers)),
           "torch.sparse.mm (COO)": run(lambda t: _reference.propagate(coo, t, n_layers))}
    if not backward:
        out["scipy CSR @ dense"] = lambda: scipy_prop(None)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the 10^6 x 10^5 x 10^7 synthetic graph")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    graphs = bench_graphs(args.quick)
    rows = []
    for name, make in graphs:
        adj = make().norm_adj()
        x = torch.randn(adj.shape[0], args.dim)
        big = adj.values().numel() > 5 * 10**6
        for backward in (False, True):
            case = f"{name} {'fwd+bwd' if backward else 'fwd'}"
            for prov, fn in providers(adj, x, args.layers, backward).items():
                if big and backward and "COO" in prov:
                    continue  # minutes per call on 2 cores; the CSR reference stands for torch
                res = measure(fn, warmup=1 if big else 3, reps=3 if big else args.reps, mem_reps=1 if big else 3)
                rows.append({"case": case, "provider": prov, "graph": name, "n_layers": args.layers,
                             "shape": [adj.shape[0], args.dim], "nnz": adj.values().numel(), **res})
                print(f"{case:<30} {prov:<24} {res['median_ms']:10.3f} ms", flush=True)
    report("propagate", rows, args.json, baseline="mcdrec (C++)")


if __name__ == "__main__":
    main()
