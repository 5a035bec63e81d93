"""Side-by-side report of run folders: the paper's ablation format plus the shape of each valid curve.

Reads only `results.json` (written after every epoch), so it also reports runs still in progress or cut
short. Per run: status and why it stopped, epochs run, best valid epoch, test Recall/NDCG at the chosen
cut-offs at that epoch, the improvement over a base run in percent, seconds per epoch by phase, and
"drops": epochs whose valid metric fell below half of the best seen before them (the collapses of an
oscillating run; a smooth run has none).
"""
from __future__ import annotations

import json
from pathlib import Path

DROP_FRACTION = 0.5


def read_run(run_dir) -> dict:
    """results.json of a run folder (a grid folder is refused: compare its grid-NNN runs instead)."""
    path = Path(run_dir) / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; is {run_dir} an mcdrec run folder?")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if "history" not in doc:
        raise ValueError(f"{path}: a grid summary, not a single run; pass its grid-NNN folders")
    return doc


def valid_curve(doc: dict) -> list[tuple[int, float]]:
    """(epoch, valid metric) of every evaluated epoch, in order."""
    key = doc.get("valid_metric", "recall@20")
    return [(r["epoch"], r["valid"][key]) for r in doc["history"] if "valid" in r]


def drops(curve: list[tuple[int, float]], fraction: float = DROP_FRACTION) -> list[int]:
    """Epochs whose value fell below `fraction` of the best value seen before them."""
    out, best = [], None
    for epoch, v in curve:
        if best is not None and v < fraction * best:
            out.append(epoch)
        best = v if best is None else max(best, v)
    return out


def summarize(run_dir, ks=(5, 10, 20)) -> dict:
    doc = read_run(run_dir)
    test = doc["metrics"].get("test", {})
    per = doc.get("timings", {}).get("per_epoch_s", {})
    curve = valid_curve(doc)
    stop = doc.get("stop_reason") or ("running" if doc.get("status") == "running" else doc.get("status", "?"))
    return {
        "run": str(run_dir), "model": doc.get("model", "?"), "dataset": doc.get("dataset", "?"),
        "status": doc.get("status", "?"), "stop": stop, "epochs": len(doc["history"]),
        "best_epoch": doc.get("best_epoch", -1),
        "best_valid": doc["metrics"].get("valid", {}).get(doc.get("valid_metric", "recall@20")),
        "test": {f"{m}@{k}": test.get(f"{m}@{k}") for m in ("recall", "ndcg") for k in ks},
        "s_per_epoch": {k: per.get(k) for k in ("train", "post_epoch", "eval")},
        "drops": drops(curve), "curve": curve,
    }


def compare(run_dirs, base=None, ks=(5, 10, 20)) -> list[dict]:
    """Summaries of `run_dirs`, each with `improvement_pct` of its test metrics over the `base` run."""
    rows = [summarize(r, ks) for r in run_dirs]
    ref = summarize(base, ks) if base is not None else None
    for row in rows:
        row["improvement_pct"] = {
            k: (100.0 * (v / ref["test"][k] - 1.0) if ref and v is not None and ref["test"].get(k) else None)
            for k, v in row["test"].items()}
    return rows


def _fmt(v, spec=".4f") -> str:
    return "-" if v is None else format(v, spec)


def markdown(rows: list[dict], ks=(5, 10, 20), with_curve: bool = False) -> str:
    """The rows as a markdown table (R@K, N@K, % over the base for R@20 / N@20 when given)."""
    metric_cols = [f"R@{k}" for k in ks] + [f"N@{k}" for k in ks]
    head = (["model", "run", "stop", "epochs", "best epoch"] + metric_cols
            + ["R@20 vs base", "N@20 vs base", "s/epoch train+post+eval", "drops"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t, imp, s = r["test"], r["improvement_pct"], r["s_per_epoch"]
        vals = [t[f"recall@{k}"] for k in ks] + [t[f"ndcg@{k}"] for k in ks]
        pct = [imp.get(k) for k in ("recall@20", "ndcg@20")]
        secs = " + ".join(_fmt(s[k], ".1f") for k in ("train", "post_epoch", "eval"))
        cells = ([r["model"], Path(r["run"]).name, r["stop"], str(r["epochs"]), str(r["best_epoch"])]
                 + [_fmt(v) for v in vals] + [("-" if p is None else f"{p:+.1f}%") for p in pct]
                 + [secs, f"{len(r['drops'])}" + (f" ({', '.join(map(str, r['drops']))})" if r["drops"] else "")])
        lines.append("| " + " | ".join(cells) + " |")
    if with_curve:
        for r in rows:
            lines.append(f"\n{Path(r['run']).name} valid curve: " + " ".join(f"{v:.3f}" for _, v in r["curve"]))
    return "\n".join(lines)
