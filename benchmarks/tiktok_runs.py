"""End-to-end accuracy runs: train several models at once (one process each, same device) under a wall-clock
limit, then print the paper-format table of `mcdrec compare` and write it as JSON.

Default set: the TikTok rows of docs/results.md that need a GPU to reach early stopping (MCDRec(BM3) with
and without the collapse fix, MCDRec(FREEDOM), the BM3 ablations with diffusion). Each run stops at early
stopping or at --time-limit seconds, whichever comes first (`stop` column), and its folder keeps every
epoch in results.json.

    python benchmarks/tiktok_runs.py --device cuda --time-limit 480 --out runs/tiktok
    python benchmarks/tiktok_runs.py --dataset synthetic:300x200x4000:d=16,16 --time-limit 20 --runs bm3-mk-fixed
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

FIX = ["feature_norm=l2", "fusion_center=true"]  # the collapse fix of docs/results.md
RUNS = {  # name: (model, --set overrides)
    "bm3": ("bm3", []),
    "mcdrec-bm3": ("mcdrec-bm3", []),
    "mcdrec-bm3-fixed": ("mcdrec-bm3", FIX),
    "bm3-mk-fixed": ("bm3-mk", FIX),
    "bm3-mrd-fixed": ("bm3-mrd", FIX),
    "bm3-dgd": ("bm3-dgd", []),
    "freedom": ("freedom", []),
    "mcdrec-freedom": ("mcdrec-freedom", []),
}
DEFAULT = ["mcdrec-bm3-fixed", "mcdrec-bm3", "mcdrec-freedom", "bm3-mrd-fixed", "bm3-dgd"]


def command(name: str, dataset: str, device: str, time_limit: float, out: Path, threads: int) -> list[str]:
    model, sets = RUNS[name]
    cmd = [sys.executable, "-m", "mcdrec", "train", "--model", model, "--dataset", dataset, "--device", device,
           "--no-progress", "--out", str(out / name), "--set", f"time_limit={time_limit}"]
    if threads:
        cmd += ["--set", f"num_threads={threads}"]
    for kv in sets:
        cmd += ["--set", kv]
    return cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default=",".join(DEFAULT), help=f"comma separated, from: {', '.join(RUNS)}")
    ap.add_argument("--dataset", default="tiktok")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--time-limit", type=float, default=480.0, help="wall-clock seconds per run")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads per run (0: library default)")
    ap.add_argument("--base", default=None, help="run name the improvement column is relative to")
    ap.add_argument("--out", default="runs/tiktok_runs")
    ap.add_argument("--json", default=None, help="default: <out>/summary.json")
    args = ap.parse_args()
    names = [n.strip() for n in args.runs.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        ap.error(f"--runs: unknown {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    procs = {}
    for n in names:
        cmd = command(n, args.dataset, args.device, args.time_limit, out, args.threads)
        print("+", " ".join(cmd), flush=True)
        procs[n] = subprocess.Popen(cmd, stdout=open(out / f"{n}.log", "w"), stderr=subprocess.STDOUT)
    t0 = time.perf_counter()
    codes = {n: p.wait() for n, p in procs.items()}
    print(f"all runs ended after {time.perf_counter() - t0:.0f} s; exit codes {codes}")

    from mcdrec.engine.train.compare import compare, markdown

    done = [n for n in names if (out / n / "results.json").exists()]
    rows = compare([out / n for n in done], base=out / args.base if args.base else None)
    print(markdown(rows, with_curve=True))
    path = Path(args.json) if args.json else out / "summary.json"
    path.write_text(json.dumps({"dataset": args.dataset, "device": args.device, "time_limit_s": args.time_limit,
                                "exit_codes": codes, "rows": rows}, indent=1))
    print(f"wrote {path}")
    return 0 if all(c == 0 for c in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
