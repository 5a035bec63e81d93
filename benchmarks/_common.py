"""Timing, memory, table and JSON helpers shared by the benchmarks (CPU or any device).

`measure(fn)` runs fn `warmup` times, then times `reps` calls and returns median / p20 / p80 milliseconds;
a separate pass of a few calls gives the peak resident set size (RSS) and that peak minus the RSS just
before them ("extra", sampled every ~0.5 ms by a thread: the memory the call itself needs). `report(...)` prints
a table with ratios against a baseline provider and writes JSON with op, provider, shape, times, memory,
device name and versions.
"""
from __future__ import annotations

import ctypes
import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import torch

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def _trim():
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap back so "extra" is not hidden by reuse
    except OSError:
        pass


class PeakRss:
    """Context manager: peak RSS (bytes) while the block runs, sampled by a background thread."""

    def __init__(self, interval: float = 5e-4):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        _trim()
        self.start = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def measure(fn, warmup: int = 3, reps: int = 20, min_time: float = 0.0, mem_reps: int = 3) -> dict:
    """Time fn(): warmup calls, then `reps` timed calls (at least, until min_time seconds have passed), then
    `mem_reps` more calls under the RSS sampler. Timing and memory are separate passes: the sampling thread
    takes a core of its own, which on a 2-core machine would stall every two-thread parallel region.
    mem_reps=0 samples memory during the timed calls instead (for calls too long to repeat)."""
    for _ in range(warmup):
        fn()

    def timed():
        times, t_end = [], time.perf_counter() + min_time
        while len(times) < reps or time.perf_counter() < t_end:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return times

    if mem_reps <= 0:
        with PeakRss() as mem:
            times = timed()
    else:
        times = timed()
        with PeakRss() as mem:
            for _ in range(mem_reps):
                fn()
    q = np.percentile(times, [20, 50, 80])
    return {"median_ms": float(statistics.median(times)), "p20_ms": float(q[0]), "p80_ms": float(q[2]),
            "reps": len(times), "peak_rss_mb": mem.peak / 2**20, "extra_rss_mb": (mem.peak - mem.start) / 2**20}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str = "cpu") -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads)"


def versions() -> dict:
    import scipy

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "scipy": scipy.__version__}
    try:
        import mcdrec
        from mcdrec import _C

        out["mcdrec"] = mcdrec.__version__
        out["mcdrec_threads"] = _C.max_threads()
    except ImportError:
        pass
    return out


def report(op: str, rows: list[dict], json_path: str | None = None, baseline: str | None = None,
           device: str = "cpu") -> list[dict]:
    """rows: dicts with case, provider, shape and measure()'s keys. Prints one table per case with the
    ratio provider_time / fastest-or-`baseline` time, and writes everything to json_path."""
    print(f"\n== {op} on {device_name(device)}")
    print(f"{'case':<28} {'provider':<26} {'median ms':>10} {'p20':>9} {'p80':>9} {'peak RSS MB':>12} "
          f"{'extra MB':>9} {'x vs mcdrec':>11}")
    for case in dict.fromkeys(r["case"] for r in rows):
        group = [r for r in rows if r["case"] == case]
        base = next((r for r in group if r["provider"] == baseline), None) or min(group, key=lambda r: r["median_ms"])
        for r in group:
            r["ratio_vs_baseline"] = r["median_ms"] / base["median_ms"]
            print(f"{case:<28} {r['provider']:<26} {r['median_ms']:>10.3f} {r['p20_ms']:>9.3f} {r['p80_ms']:>9.3f} "
                  f"{r['peak_rss_mb']:>12.1f} {r['extra_rss_mb']:>9.1f} {r['ratio_vs_baseline']:>11.2f}")
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        doc = {"op": op, "device": device_name(device), "versions": versions(), "baseline": baseline, "results": rows}
        Path(json_path).write_text(json.dumps(doc, indent=1))
        print(f"wrote {json_path}")
    return rows


def synthetic_graph(n_users, n_items, n_edges, seed=0):
    from mcdrec.engine.graph.bipartite import BipartiteGraph

    rng = np.random.default_rng(seed)
    flat = np.unique(rng.integers(0, n_users * n_items, n_edges, dtype=np.int64))
    return BipartiteGraph(n_users, n_items, flat // n_items, flat % n_items)


def bench_graphs(quick: bool) -> list:
    """(name, builder of the BipartiteGraph) for the Baby and Sports train graphs, plus the synthetic
    10^6 users x 10^5 items x 10^7 edges graph unless `quick`."""
    import mcdrec

    graphs = [(name, lambda name=name: mcdrec.load_dataset(name).graph) for name in ("baby", "sports")]
    if not quick:
        graphs.append(("synthetic 1e6x1e5 1e7", lambda: synthetic_graph(10**6, 10**5, 10**7)))
    return graphs


def with_backend(name: str, fn):
    """fn run with MCDREC_BACKEND=name (restored afterwards)."""
    def run():
        old = os.environ.get("MCDREC_BACKEND")
        os.environ["MCDREC_BACKEND"] = name
        try:
            return fn()
        finally:
            if old is None:
                del os.environ["MCDREC_BACKEND"]
            else:
                os.environ["MCDREC_BACKEND"] = old
    return run
