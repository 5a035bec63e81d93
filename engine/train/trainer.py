"""One trainer for every model: Adam, per-epoch evaluation, MMRec early stopping, crash-safe run folder.

Run folder: config.yaml (resolved), results.json (rewritten after every epoch: status, best-valid-epoch
metrics, per-epoch history, per-phase timings, versions, device), best.pt (best-valid checkpoint, written
to a temporary file and renamed, so an exception anywhere leaves the last best checkpoint intact).
"""
from __future__ import annotations

import math
import random
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mcdrec.engine.eval import evaluate_scores

from .checkpoint import save_checkpoint, write_json, write_yaml
from .run_info import dataset_fingerprint, device_info, op_backends, versions
from .sampling import TrainBatches

PHASES = ("pre_epoch", "train", "post_epoch", "eval")
TABLE_KEYS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "precision@20", "map@20")


@dataclass
class RunResult:
    """Outcome of one training run. `metrics` are the TEST metrics at the best-valid epoch."""
    metrics: dict
    valid_metrics: dict
    best_epoch: int
    history: list
    run_dir: Path
    config: dict
    timings: dict = field(default_factory=dict)
    stopped_early: bool = False
    stop_reason: str = "epochs"  # epochs | early_stopping | time_limit

    def table(self) -> str:
        return metrics_table({"valid": self.valid_metrics, "test": self.metrics})


def metrics_table(rows: dict, keys=TABLE_KEYS) -> str:
    head = f"{'split':<8}" + "".join(f"{k:>14}" for k in keys)
    lines = [head, "-" * len(head)]
    for name, m in rows.items():
        lines.append(f"{name:<8}" + "".join(f"{m.get(k, float('nan')):>14.4f}" for k in keys))
    return "\n".join(lines)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy, torch and numba's own generator."""
    from numba import njit

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)

    @njit(cache=False)
    def _seed_numba(s):
        np.random.seed(s)

    _seed_numba(seed % 2**32)


def set_threads(n: int) -> None:
    if n > 0:
        import numba

        torch.set_num_threads(n)
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Trainer:
    def __init__(self, model, dataset, config: dict, run_dir: Path, progress: bool = True, log=None):
        self.model, self.dataset, self.config = model, dataset, config
        self.run_dir = Path(run_dir)
        self.device = torch.device(config["device"])
        self.progress = progress
        self.log = log or (lambda msg: tqdm.write(msg))
        self.ks = tuple(int(k) for k in config["topk"])
        self.optimizer = torch.optim.Adam(model.parameters(), lr=float(config["learning_rate"]),
                                          weight_decay=float(config["weight_decay"]))
        self.history: list[dict] = []
        self.best = {"epoch": -1, "valid": {}, "test": {}}
        self.fingerprint = dataset_fingerprint(dataset)
        self._diagnostics: dict = {}

    # ------------------------------------------------------------------ one epoch
    def _train_epoch(self, epoch: int) -> dict:
        model, cfg = self.model, self.config
        batches = TrainBatches(self.dataset, int(cfg["train_batch_size"]), int(cfg["seed"]), epoch, self.device)
        sums: dict = {}
        total = torch.zeros((), device=self.device)
        bar = tqdm(batches, total=len(batches), desc=f"epoch {epoch}", leave=False, disable=not self.progress)
        for users, pos, neg in bar:
            self.optimizer.zero_grad(set_to_none=True)
            loss, parts = model.loss(users, pos, neg)
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
        n = max(len(batches), 1)
        out = {"loss": float(total) / n}
        out.update({k: float(v) / n for k, v in sums.items()})
        if not math.isfinite(out["loss"]):
            raise FloatingPointError(f"training loss is {out['loss']} at epoch {epoch} (parts: {out})")
        return out

    def _evaluate(self) -> tuple[dict, dict]:
        self.model.eval()
        with torch.no_grad():
            self.model.prepare_eval()
            bs = int(self.config["eval_batch_size"])
            valid = evaluate_scores(self.model.scores, self.dataset, "valid", self.ks, batch_size=bs,
                                    device=self.device)
            test = evaluate_scores(self.model.scores, self.dataset, "test", self.ks, batch_size=bs,
                                   device=self.device)
            self._diagnostics = self.model.diagnostics()
        return valid, test

    # ------------------------------------------------------------------ the loop
    def fit(self) -> RunResult:
        cfg, model = self.config, self.model
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if len(self.dataset.eval_users("valid")) == 0:
            raise ValueError(f"dataset {self.dataset.name!r} has no user with a valid item: nothing to select "
                             f"the best epoch by")
        (self.run_dir / "best.pt").unlink(missing_ok=True)  # never leave an older run's weights beside this config
        write_yaml(self.run_dir / "config.yaml", cfg)
        gen_cpu = torch.Generator().manual_seed(int(cfg["seed"]))
        gen_dev = gen_cpu if self.device.type == "cpu" else torch.Generator(self.device).manual_seed(int(cfg["seed"]))
        metric, patience, stop_after = cfg["valid_metric"], 0, int(cfg["stopping_step"])
        phase_totals = dict.fromkeys(PHASES, 0.0)
        stopped_early, stop_reason = False, "epochs"
        time_limit, t_start = float(cfg.get("time_limit", 0) or 0), time.perf_counter()
        self._write_results("running", phase_totals)
        bar = tqdm(range(int(cfg["epochs"])), desc=f"{cfg['model']} on {cfg['dataset']}", unit="epoch",
                   disable=not self.progress)
        try:
            for epoch in bar:
                times = {}
                model.train()
                t0 = time.perf_counter()
                model.pre_epoch(epoch, gen_cpu)
                _sync(self.device)
                times["pre_epoch"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                losses = self._train_epoch(epoch)
                _sync(self.device)
                times["train"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                model.post_epoch(epoch, gen_dev)
                _sync(self.device)
                times["post_epoch"] = time.perf_counter() - t0
                record = {"epoch": epoch, **losses}
                out_of_time = time_limit > 0 and time.perf_counter() - t_start >= time_limit
                if (epoch + 1) % int(cfg["eval_step"]) == 0 or epoch + 1 == int(cfg["epochs"]) or out_of_time:
                    t0 = time.perf_counter()
                    valid, test = self._evaluate()
                    times["eval"] = time.perf_counter() - t0
                    record.update(valid={k: v for k, v in valid.items()}, test=test)
                    if self._diagnostics:
                        record["diagnostics"] = self._diagnostics
                    if valid[metric] > self.best["valid"].get(metric, -math.inf):
                        self.best = {"epoch": epoch, "valid": valid, "test": test}
                        patience = 0
                        if cfg.get("save_checkpoint", True):
                            save_checkpoint(self.run_dir / "best.pt", model, epoch, valid)
                    else:
                        patience += 1
                else:
                    times["eval"] = 0.0
                record["times"] = times
                for k in PHASES:
                    phase_totals[k] += times[k]
                self.history.append(record)
                self._write_results("running", phase_totals)
                bv = self.best["valid"].get(metric, float("nan"))
                bar.set_postfix(loss=f"{losses['loss']:.4f}", best=f"{bv:.4f}@{self.best['epoch']}",
                                train_s=f"{times['train']:.1f}", eval_s=f"{times['eval']:.1f}")
                v = record.get("valid", {}).get(metric, float("nan"))
                self.log(f"epoch {epoch:3d} loss {losses['loss']:.5f} valid {metric} {v:.4f} | "
                         + " ".join(f"{k} {times[k]:.2f}s" for k in PHASES))
                if patience > stop_after:  # MMRec: stop after stopping_step+1 evaluations without improvement
                    stopped_early, stop_reason = True, "early_stopping"
                    self.log(f"early stop at epoch {epoch}: best valid {metric} {bv:.4f} at epoch {self.best['epoch']}")
                    break
                if out_of_time:
                    stop_reason = "time_limit"
                    self.log(f"time limit of {time_limit:g} s reached after epoch {epoch}: best valid {metric} "
                             f"{bv:.4f} at epoch {self.best['epoch']}")
                    break
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            self._write_results(status, phase_totals, error="".join(traceback.format_exception_only(exc)).strip())
            raise
        finally:
            bar.close()
        self._write_results("finished", phase_totals, stopped_early=stopped_early, stop_reason=stop_reason)
        return RunResult(metrics=self.best["test"], valid_metrics=self.best["valid"], best_epoch=self.best["epoch"],
                         history=self.history, run_dir=self.run_dir, config=cfg,
                         timings=self._timings(phase_totals), stopped_early=stopped_early, stop_reason=stop_reason)

    def _timings(self, totals: dict) -> dict:
        n = max(len(self.history), 1)
        n_eval = max(sum(1 for r in self.history if "valid" in r), 1)
        return {"total_s": dict(totals), "per_epoch_s": {k: totals[k] / (n_eval if k == "eval" else n) for k in totals},
                "epochs": len(self.history)}

    def _write_results(self, status: str, totals: dict, **extra) -> None:
        write_json(self.run_dir / "results.json", {
            "status": status, "model": self.config["model"], "dataset": self.config["dataset"],
            "best_epoch": self.best["epoch"], "valid_metric": self.config["valid_metric"],
            "metrics": {"valid": self.best["valid"], "test": self.best["test"]},
            "timings": self._timings(totals), "history": self.history, "config": self.config,
            "versions": versions(), "device": device_info(self.device), "dataset_fingerprint": self.fingerprint, "backends": op_backends(self.device), **extra,
        })
