"""Benchmark denoise_graph (DGD) on the Baby / Sports train graphs and a synthetic 10^6 x 10^5 graph with
10^7 edges: mcdrec C++ (edge scores + sampling + CSR assembly) vs the torch reference path on edges, and
the original dense scoring (normalise both tables, full users x items matmul, gather the edge scores).

    python benchmarks/bench_denoise_graph.py [--quick] [--dim 64] [--json out.json]
"""
from __future__ import annotations

import argparse
import warnings

import torch
import torch.nn.functional as F

from _common import bench_graphs, measure, report, with_backend

warnings.filterwarnings("ignore", message=".*Sparse.*")


def dense_scoring(graph, user, item):
    """The reference implementation's way: a users x items score matrix, then the edge scores."""
    from mcdrec.engine.graph.bipartite import bipartite_adjacency
    from mcdrec.engine.ops import _reference
    from mcdrec.engine.ops.denoise_graph import _uniforms

    eu, ei = torch.from_numpy(graph.edge_user), torch.from_numpy(graph.edge_item)
    scores = (F.normalize(user, dim=1) @ F.normalize(item, dim=1).T)[eu, ei]  # [U, I] dense, then [E]
    kept, values = _reference.denoise_graph_values(graph.n_users, graph.n_items, eu, ei,
                                                   torch.from_numpy(graph.norm_values()),
                                                   _uniforms(eu.numel(), torch.Generator().manual_seed(0)),
                                                   scores, 0.9, 0.3)
    return bipartite_adjacency(graph.n_users, graph.n_items, eu[kept].numpy(), ei[kept].numpy(), values.numpy())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the 10^6 x 10^5 x 10^7 synthetic graph")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from mcdrec.ops import denoise_graph

    graphs = bench_graphs(args.quick)
    rows = []
    for name, make in graphs:
        g = make()
        user, item = torch.randn(g.n_users, args.dim), torch.randn(g.n_items, args.dim)
        gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
        provs = {"mcdrec (C++)": with_backend("cpp", lambda: denoise_graph(g, user, item, generator=gen())),
                 "torch reference (edges)": with_backend("torch", lambda: denoise_graph(g, user, item, generator=gen()))}
        if g.n_users * g.n_items * 4 < 8 * 2**30:
            provs["dense users x items scoring"] = lambda: dense_scoring(g, user, item)
        big = g.n_edges > 5 * 10**6
        for prov, fn in provs.items():
            res = measure(fn, warmup=1, reps=3 if big else args.reps, mem_reps=1)
            rows.append({"case": name, "provider": prov, "shape": [g.n_users, g.n_items, g.n_edges, args.dim], **res})
            print(f"{name:<24} {prov:<28} {res['median_ms']:10.3f} ms  extra {res['extra_rss_mb']:.1f} MB", flush=True)
    report("denoise_graph", rows, args.json, baseline="mcdrec (C++)")


if __name__ == "__main__":
    main()
