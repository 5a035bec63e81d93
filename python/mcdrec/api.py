"""Python API: train(), evaluate(), recommend() over the engine's trainer, models and evaluator."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from mcdrec.engine.config import resolve_config
from mcdrec.engine.data.registry import load_dataset
from mcdrec.engine.eval import evaluate_scores
from mcdrec.engine.models import build_model
from mcdrec.engine.train.checkpoint import load_checkpoint, write_json
from mcdrec.engine.train.trainer import RunResult, Trainer, metrics_table, seed_everything, set_threads


def _default_run_dir(model: str, dataset_name: str) -> Path:
    safe = dataset_name.replace(":", "-").replace("/", "_").strip("._-") or "dataset"
    return Path("runs") / f"{model}-{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


def _dataset_label(dataset) -> str:
    """The name a run folder records: a folder path is made absolute so the run reloads from anywhere."""
    if not isinstance(dataset, (str, Path)):
        return dataset.name
    dataset = str(dataset)
    return str(Path(dataset).resolve()) if Path(dataset).expanduser().exists() else dataset


def train(model: str, dataset="tiktok", config_file=None, out=None, grid: bool = False, progress: bool = True,
          log=None, **overrides) -> RunResult:
    """Train `model` on `dataset` (a name, a folder path, or a loaded Dataset) to early stopping.

    overrides use MMRec key names (epochs=5, learning_rate=1e-3, device="cuda", ...). With grid=True every
    combination of the config's hyper_parameters lists runs in its own sub-folder and the best one (by valid
    Recall@20, or by test Recall@20 when selection="test", MMRec's rule) is returned; results.json at the top
    says which rule chose.
    """
    resolved = resolve_config(model, _dataset_label(dataset), config_file=config_file, overrides=overrides)
    run_dir = Path(out) if out else _default_run_dir(model, _dataset_label(dataset))
    combos = resolved.combinations() if grid else [resolved.single()]
    ds = load_dataset(dataset) if isinstance(dataset, (str, Path)) else dataset
    results = []
    for i, cfg in enumerate(combos):
        sub = run_dir / f"grid-{i:03d}" if grid else run_dir
        set_threads(int(cfg["num_threads"]))
        seed_everything(int(cfg["seed"]))
        net = build_model(model, ds, config=cfg).to(cfg["device"])
        results.append(Trainer(net, ds, cfg, sub, progress=progress, log=log).fit())
    if not grid:
        return results[0]
    rule = resolved.values["selection"]
    key = resolved.values["valid_metric"]
    best = max(results, key=lambda r: (r.valid_metrics if rule == "valid" else r.metrics).get(key, -1.0))
    write_json(run_dir / "results.json", {
        "grid": resolved.grid_keys, "selection": rule,
        "selected_by": f"{'valid' if rule == 'valid' else 'test (MMRec rule, leaks the test set)'} {key}",
        "best_run": str(best.run_dir.name), "best_config": {k: best.config[k] for k in resolved.grid_keys},
        "metrics": {"valid": best.valid_metrics, "test": best.metrics},
        "runs": [{"run": r.run_dir.name, "params": {k: r.config[k] for k in resolved.grid_keys},
                  "best_epoch": r.best_epoch, "valid": r.valid_metrics, "test": r.metrics} for r in results],
    })
    return best


def load_run(run_dir, device: str | None = None):
    """(model, dataset, config) of a finished run folder, the model holding its best checkpoint."""
    import yaml

    run_dir = Path(run_dir)
    cfg_path, ckpt_path = run_dir / "config.yaml", run_dir / "best.pt"
    for p in (cfg_path, ckpt_path):
        if not p.exists():
            raise FileNotFoundError(f"{p}: not found; is {run_dir} a finished mcdrec run folder?")
    cfg = yaml.safe_load(cfg_path.read_text())
    if device:
        cfg["device"] = device
    ds = load_dataset(cfg["dataset"])
    saved = read_results(run_dir) if (run_dir / "results.json").exists() else {}
    want = saved.get("dataset_fingerprint")
    if want is not None:
        from mcdrec.engine.train.run_info import dataset_fingerprint

        got = dataset_fingerprint(ds)
        if got != want:
            raise ValueError(f"{run_dir}: dataset {cfg['dataset']!r} reloads differently from the one trained on "
                             f"(trained {want}, now {got}); was it built in memory or with another seed?")
    model = build_model(cfg["model"], ds, config=cfg)
    state = load_checkpoint(ckpt_path, map_location=cfg["device"])
    if "best_epoch" in saved and state["epoch"] != saved["best_epoch"]:
        raise ValueError(f"{ckpt_path}: checkpoint of epoch {state['epoch']} but results.json names best epoch "
                         f"{saved['best_epoch']}; the folder mixes two runs")
    model.load_state_dict(state["model"])
    return model.to(cfg["device"]).eval(), ds, cfg


def evaluate(run_dir, device: str | None = None, splits=("valid", "test")) -> dict:
    """Re-evaluate the best checkpoint of a run folder: {split: metrics}."""
    model, ds, cfg = load_run(run_dir, device)
    with torch.no_grad():
        model.prepare_eval()
        return {s: evaluate_scores(model.scores, ds, s, tuple(cfg["topk"]), batch_size=int(cfg["eval_batch_size"]),
                                   device=cfg["device"]) for s in splits}


def recommend(run_dir, users, k: int = 20, device: str | None = None) -> torch.Tensor:
    """Top-k item ids [len(users), k] for `users` from a run's best checkpoint, the user's train items excluded."""
    model, ds, cfg = load_run(run_dir, device)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    users = torch.as_tensor(users, dtype=torch.int64, device=cfg["device"])
    if users.numel() and (users.min() < 0 or users.max() >= ds.n_users):
        raise ValueError(f"user ids must lie in [0, {ds.n_users}), got [{int(users.min())}, {int(users.max())}]")
    indptr, indices = ds.train_csr
    with torch.no_grad():
        model.prepare_eval()
        scores = model.scores(users)
        for row, u in enumerate(users.tolist()):
            scores[row, torch.as_tensor(indices[indptr[u]:indptr[u + 1]], device=scores.device)] = -torch.inf
        return torch.topk(scores, min(k, ds.n_items), dim=1).indices.cpu()


def print_results(result: RunResult) -> str:
    return metrics_table({"valid": result.valid_metrics, "test": result.metrics})


def read_results(run_dir) -> dict:
    return json.loads((Path(run_dir) / "results.json").read_text())
