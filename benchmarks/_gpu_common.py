"""Timing, table and JSON helpers for the GPU benchmarks (bench_q_sample.py, bench_p_sample_step.py,
bench_groupnorm_silu.py, gpu_check.py). CUDA times come from CUDA events around `reps` calls after a
warm-up; CPU times (interpreter smoke runs) from perf_counter."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


def versions() -> dict:
    out = {"torch": torch.__version__, "python": platform.python_version()}
    try:
        import triton

        out["triton"] = triton.__version__
    except ImportError:
        out["triton"] = None
    if torch.cuda.is_available():
        out["cuda"] = torch.version.cuda
    return out


@contextlib.contextmanager
def backend(name: str):
    """MCDREC_BACKEND=name for the block ("auto" clears it: Triton on CUDA)."""
    old = os.environ.get("MCDREC_BACKEND")
    if name == "auto":
        os.environ.pop("MCDREC_BACKEND", None)
    else:
        os.environ["MCDREC_BACKEND"] = name
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MCDREC_BACKEND", None)
        else:
            os.environ["MCDREC_BACKEND"] = old


MEASURE_DEFAULTS = {"warmup": 5, "reps": 30}  # a smoke run lowers these


def measure(fn, device: torch.device, warmup: int | None = None, reps: int | None = None, inner: int = 1) -> dict:
    """Run fn() warmup times, then time `reps` samples of `inner` calls each (defaults: MEASURE_DEFAULTS).
    Returns median / p20 / p80 milliseconds per call and the peak memory of the timed calls (MiB)."""
    cuda = device.type == "cuda"
    warmup = MEASURE_DEFAULTS["warmup"] if warmup is None else min(warmup, MEASURE_DEFAULTS["warmup"])
    reps = MEASURE_DEFAULTS["reps"] if reps is None else min(reps, MEASURE_DEFAULTS["reps"])
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    samples = []
    for _ in range(reps):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / inner)
        else:
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples.append((time.perf_counter() - t0) * 1e3 / inner)
    ordered = sorted(samples)
    p20, p80 = ordered[int(0.2 * (len(ordered) - 1))], ordered[int(round(0.8 * (len(ordered) - 1)))]
    peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20 if cuda else float("nan")
    return {"median_ms": statistics.median(samples), "p20_ms": p20, "p80_ms": p80, "peak_mib": peak}


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """rows: dicts; columns: (key, header, format spec) -> aligned text table."""
    cells = [[h for _, h, _ in columns]]
    for r in rows:
        line = []
        for key, _, fmt in columns:
            v = r.get(key)
            line.append("-" if v is None else (format(v, fmt) if fmt and isinstance(v, (int, float)) else str(v)))
        cells.append(line)
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    out = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))) for line in cells]
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)


OP_COLUMNS = [("op", "op", ""), ("shape", "shape", ""), ("provider", "provider", ""),
              ("median_ms", "median ms", ".4f"), ("p20_ms", "p20", ".4f"), ("p80_ms", "p80", ".4f"),
              ("speedup", "x vs eager", ".2f"), ("target", "target", "")]


def bench_rows(op: str, shape: str, providers: dict, device: torch.device, target: float | None = None,
               **measure_kw) -> list[dict]:
    """Time each provider (name -> zero-argument callable); the first one, torch eager, is the baseline
    of the speedup column. A provider that raises is reported with its error instead of a time."""
    rows = []
    for name, fn in providers.items():
        row = {"op": op, "shape": shape, "provider": name}
        try:
            row.update(measure(fn, device, **measure_kw))
        except Exception as exc:  # noqa: BLE001 (reported, the other providers still run)
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        rows.append(row)
    if device.type != "cuda":
        target = None  # interpreter smoke runs: times say nothing about the kernels
    base = rows[0].get("median_ms")
    for r in rows:
        if base and r.get("median_ms"):
            r["speedup"] = base / r["median_ms"]
        if target is not None and r["provider"] == "triton":
            r["target"] = f">= {target:g}x " + ("ok" if r.get("speedup", 0) >= target else "MISSED")
    return rows


def write_json(path, payload: dict, device: torch.device) -> None:
    payload = {"device": device_name(device), "versions": versions(), **payload}
    Path(path).write_text(json.dumps(payload, indent=1, default=str))


def kernel_backend(device: torch.device) -> str:
    """The MCDREC_BACKEND value that runs the Triton path: automatic on CUDA, forced under the interpreter."""
    return "auto" if device.type == "cuda" else "triton"


def maybe_compile(fn):
    """torch.compile(fn) or None where inductor cannot run (no compiler, CPU smoke runs)."""
    try:
        return torch.compile(fn)
    except Exception:  # noqa: BLE001
        return None
