"""One check for a CUDA machine: (a) the kernel and op tests natively on CUDA, (b) every Triton kernel timed
against torch eager (and torch.compile where it applies), (c) one mcdrec-bm3 training epoch on tiktok and on
a synthetic Baby-shaped dataset, Triton path (MCDREC_BACKEND unset) vs torch path (MCDREC_BACKEND=torch),
with per-phase times, peak CUDA memory and the loss of both paths. Each part reports its own errors and
the rest still runs; parts that would overrun the time budget are skipped and say so. Prints its tables
last and writes JSON.

    python benchmarks/gpu_check.py [--out gpu_check.json] [--budget 440]
    python benchmarks/gpu_check.py --smoke   # no GPU: tiny shapes through the Triton interpreter
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

BABY = "synthetic:19445x7050x160792:d=4096,384"  # Baby's users, items, interactions and feature widths
SMOKE_DATA = "synthetic:48x30x300:d=32,16"


class Clock:
    def __init__(self, budget_s: float):
        self.start, self.budget = time.monotonic(), budget_s

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.start)


def _error(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0][:200] if msg else ''}"


# ---------------------------------------------------------------- (a) tests
def run_tests(clock: Clock, timeout_s: float) -> dict:
    env = {**os.environ, "TRITON_INTERPRET": "0"}  # tests/conftest.py only sets it when absent
    env.pop("MCDREC_BACKEND", None)
    paths = [p for p in ("tests/kernels", "tests/ops") if (ROOT / p).is_dir()]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:logging", *paths]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"status": f"timed out after {timeout_s:.0f} s", "paths": paths}
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    summary = next((ln for ln in reversed(lines) if " passed" in ln or " failed" in ln or " error" in ln),
                   lines[-1] if lines else proc.stderr.strip()[-300:])
    failures = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    return {"status": "ok" if proc.returncode == 0 else f"exit {proc.returncode}", "summary": summary.strip("= "),
            "failures": failures[:30], "wall_s": time.monotonic() - t0, "paths": paths}


# ---------------------------------------------------------------- (b) kernels
def _bipartite_adjacency(n_users, n_items, n_edges, device):
    """Random user-item graph, normalised symmetric adjacency as sparse CSR [(U+I), (U+I)] float32."""
    import torch

    gen = torch.Generator().manual_seed(0)
    pairs = torch.unique(torch.randint(0, n_users, (n_edges,), generator=gen) * n_items
                         + torch.randint(0, n_items, (n_edges,), generator=gen))
    u, i = pairs // n_items, pairs % n_items + n_users
    rows, cols = torch.cat([u, i]), torch.cat([i, u])
    n = n_users + n_items
    deg = torch.zeros(n, dtype=torch.float64).index_add_(0, rows, torch.ones(rows.numel(), dtype=torch.float64))
    vals = (deg[rows] * deg[cols]).rsqrt().float()
    adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n)).coalesce().to_sparse_csr()
    return adj.to(device), u, i - n_users


def bench_graph_ops(device, smoke: bool) -> list[dict]:
    import torch

    from _gpu_common import bench_rows
    from mcdrec.engine.ops import _reference as R
    from mcdrec.kernels import edge_cosine as KE
    from mcdrec.kernels import propagate as KP

    n_users, n_items, n_edges, d = (40, 25, 200, 16) if smoke else (19445, 7050, 128634, 64)
    adj, eu, ei = _bipartite_adjacency(n_users, n_items, n_edges, device)
    n = n_users + n_items
    x = torch.randn(n, d, device=device, requires_grad=True)  # [U+I, d]
    g = torch.randn(n, d, device=device)
    shape = f"{n}x{d} nnz={adj.values().numel()}"
    rows = []
    for layers in (1, 2):
        rows += bench_rows(f"propagate L={layers} fwd", shape, {
            "torch.sparse.mm": lambda: R.propagate(adj, x.detach(), layers),
            "triton": lambda: KP.propagate(adj, x.detach(), layers)}, device, target=1.0)
        rows += bench_rows(f"propagate L={layers} fwd+bwd", shape, {
            "torch.sparse.mm": lambda: torch.autograd.grad(R.propagate(adj, x, layers), x, g),
            "triton": lambda: torch.autograd.grad(KP.propagate(adj, x, layers), x, g)}, device, target=2.0)
    users = torch.randn(n_users, d, device=device)  # [U, d]
    items = torch.randn(n_items, d, device=device)  # [I, d]
    eu, ei = eu.to(device), ei.to(device)
    rows += bench_rows("edge_cosine (DGD)", f"E={eu.numel()} d={d}", {
        "torch eager": lambda: R.edge_cosine(users, items, eu, ei),
        "triton": lambda: KE.edge_cosine(users, items, eu, ei)}, device)
    return rows


def run_benchmarks(device, smoke: bool, clock: Clock, log) -> tuple[list[dict], dict]:
    import bench_groupnorm_silu
    import bench_p_sample_step
    import bench_q_sample

    cuda = device.type == "cuda"
    parts = {
        "q_sample / x0_mse": lambda: bench_q_sample.run(device, *((33, 8) if smoke else (7050, 64)), compile_ref=cuda),
        "p_sample_step / chains": lambda: bench_p_sample_step.run(device, *((12, 16) if smoke else (7050, 64)),
                                                                   compile_ref=cuda, with_model=cuda),
        "groupnorm_silu": lambda: bench_groupnorm_silu.run(device, 5 if smoke else 7050, compile_ref=cuda,
                                                           shapes=[(8, 2), (16, 1)] if smoke else
                                                           bench_groupnorm_silu.SHAPES),
        "propagate / edge_cosine": lambda: bench_graph_ops(device, smoke),
    }
    rows, errors = [], {}
    for name, fn in parts.items():
        if clock.left() < 60:
            errors[name] = f"skipped: {clock.left():.0f} s left of the budget"
            continue
        t0 = time.monotonic()
        try:
            rows += fn()
            log(f"(b) {name}: {time.monotonic() - t0:.1f} s")
        except Exception as exc:  # noqa: BLE001 (reported; the other parts still run)
            errors[name] = _error(exc)
            log(f"(b) {name}: FAILED {errors[name]}\n{traceback.format_exc(limit=4)}")
    return rows, errors


# ---------------------------------------------------------------- (c) training epochs
def one_epoch(dataset, mode: str, device, out_dir: Path) -> dict:
    import torch

    import mcdrec
    from _gpu_common import backend

    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.monotonic()
    with backend(mode):
        res = mcdrec.train("mcdrec-bm3", dataset=dataset, epochs=1, device=str(device), out=out_dir, progress=False,
                           save_checkpoint=False, log=lambda *a, **k: None)
    rec = res.history[0]
    return {"loss": float(rec["loss"]), "times": rec.get("times", {}), "wall_s": time.monotonic() - t0,
            "peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None}


def run_epochs(device, smoke: bool, clock: Clock, log) -> list[dict]:
    import mcdrec

    specs = [("tiktok", "tiktok"), ("baby-shaped", BABY)] if not smoke else [("smoke", SMOKE_DATA)]
    modes = ("auto", "torch") if device.type == "cuda" else ("triton", "torch")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec in specs:
            try:
                t0 = time.monotonic()
                ds = mcdrec.load_dataset(spec)
                log(f"(c) loaded {label} in {time.monotonic() - t0:.1f} s")
            except Exception as exc:  # noqa: BLE001
                rows.append({"dataset": label, "path": "-", "error": f"load: {_error(exc)}"})
                continue
            for mode in modes:
                row = {"dataset": label, "path": "triton" if mode != "torch" else "torch"}
                if clock.left() < 45:
                    row["error"] = f"skipped: {clock.left():.0f} s left of the budget"
                    rows.append(row)
                    continue
                try:
                    row.update(one_epoch(ds, mode, device, Path(tmp) / f"{label}-{mode}"))
                    log(f"(c) {label} {row['path']}: loss {row['loss']:.6f}, {row['wall_s']:.1f} s")
                except Exception as exc:  # noqa: BLE001
                    row["error"] = _error(exc)
                    log(f"(c) {label} {row['path']}: FAILED {row['error']}\n{traceback.format_exc(limit=6)}")
                rows.append(row)
            pair = [r for r in rows if r["dataset"] == label and "loss" in r]
            if len(pair) == 2:
                tri, ref = pair
                tri["loss_rel_diff"] = abs(tri["loss"] - ref["loss"]) / max(abs(ref["loss"]), 1e-12)
                tr, rr = tri["times"].get("train"), ref["times"].get("train")
                if tr and rr:
                    tri["train_speedup"] = rr / tr
    return rows


def epoch_table(rows: list[dict], targets: bool) -> str:
    from _gpu_common import table

    flat = []
    for r in rows:
        t = r.get("times", {})
        flat.append({**r, **{f"t_{k}": v for k, v in t.items()},
                     "same_loss": None if "loss_rel_diff" not in r else
                     f"{r['loss_rel_diff']:.1e} " + ("ok" if r["loss_rel_diff"] < 1e-3 else "MISSED"),
                     "speed": None if "train_speedup" not in r else f"{r['train_speedup']:.2f}x"
                     + ((" ok" if r["train_speedup"] >= 3 else " (target 3x)") if targets else "")})
    cols = [("dataset", "dataset", ""), ("path", "path", ""), ("loss", "loss", ".6f"), ("t_pre_epoch", "pre_epoch s", ".2f"),
            ("t_train", "train s", ".2f"), ("t_post_epoch", "post_epoch s", ".2f"), ("t_eval", "eval s", ".2f"),
            ("peak_mib", "peak MiB", ".0f"), ("speed", "train vs torch", ""), ("same_loss", "loss rel diff", ""),
            ("error", "error", "")]
    return table(flat, cols)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_check.json", help="JSON report path")
    p.add_argument("--budget", type=float, default=440.0, help="seconds; parts that would overrun are skipped")
    p.add_argument("--smoke", action="store_true", help="without CUDA: run (b) and (c) tiny on the CPU "
                   "through the Triton interpreter, to check the script itself (times mean nothing)")
    p.add_argument("--skip", default="", help="comma list of parts to skip: tests,bench,epochs")
    args = p.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    clock = Clock(args.budget)

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and args.smoke:
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before anything imports triton
    device = torch.device("cuda" if cuda else "cpu")
    from _gpu_common import MEASURE_DEFAULTS, OP_COLUMNS, device_name, table, versions, write_json

    if not cuda:
        MEASURE_DEFAULTS.update(warmup=1, reps=3)

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - clock.start:6.1f} s] {msg}", flush=True)

    report: dict = {"budget_s": args.budget, "smoke": args.smoke}
    log(f"device: {device_name(device)}; versions: {versions()}")
    if "tests" in skip:
        report["tests"] = {"status": "skipped (--skip)"}
    elif not cuda:
        report["tests"] = {"status": "skipped: no CUDA device (CPU CI runs them through the interpreter: pytest tests)"}
    else:
        report["tests"] = run_tests(clock, timeout_s=max(60.0, min(150.0, clock.left() - 240)))
        log(f"(a) tests: {report['tests'].get('summary', report['tests']['status'])}")

    rows: list[dict] = []
    if "bench" in skip:
        report["bench_errors"] = {"all": "skipped (--skip)"}
    elif cuda or args.smoke:
        rows, report["bench_errors"] = run_benchmarks(device, args.smoke, clock, log)
    else:
        report["bench_errors"] = {"all": "skipped: no CUDA device (--smoke runs tiny interpreter cases)"}
    report["kernels"] = rows

    epochs: list[dict] = []
    if "epochs" in skip:
        report["epochs_status"] = "skipped (--skip)"
    elif cuda or args.smoke:
        try:
            epochs = run_epochs(device, args.smoke, clock, log)
            report["epochs_status"] = "ran"
        except Exception as exc:  # noqa: BLE001
            report["epochs_status"] = _error(exc)
    else:
        report["epochs_status"] = "skipped: no CUDA device (--smoke runs a tiny synthetic epoch)"
    report["epochs"] = epochs
    report["wall_s"] = time.monotonic() - clock.start
    write_json(args.out, report, device)

    print("\n== gpu_check:", device_name(device), "==")
    print(f"(a) tests: {report['tests'].get('summary', report['tests']['status'])}")
    for line in report["tests"].get("failures", []):
        print("    " + line)
    print(f"(b) kernels (x vs eager = torch eager median / provider median):")
    for name, err in report["bench_errors"].items():
        print(f"    {name}: {err}")
    if rows:
        print(table(rows, OP_COLUMNS + [("error", "error", "")]))
    print(f"(c) mcdrec-bm3, one epoch: {report['epochs_status']}")
    if epochs:
        print(epoch_table(epochs, targets=cuda))
    print(f"total {report['wall_s']:.1f} s; JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
