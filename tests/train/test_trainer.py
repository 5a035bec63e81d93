import json
import time

import numpy as np
import pytest
import torch

import mcdrec
from mcdrec.engine.models.lightgcn import LightGCN
from mcdrec.engine.train.checkpoint import load_checkpoint

SYN = "synthetic:120x80x1500"


@pytest.fixture(scope="module")
def ds():
    return mcdrec.load_dataset(SYN)


def test_train_writes_run_folder_and_best_checkpoint(ds, tmp_path):
    res = mcdrec.train(model="lightgcn", dataset=ds, out=tmp_path / "run", epochs=4, progress=False,
                       train_batch_size=256, learning_rate=0.01)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["status"] == "finished"
    assert len(saved["history"]) == 4 and len(res.history) == 4
    assert saved["best_epoch"] == res.best_epoch
    best = max(range(4), key=lambda e: (saved["history"][e]["valid"]["recall@20"], -e))
    assert res.best_epoch == best
    assert saved["metrics"]["test"] == pytest.approx(saved["history"][best]["test"])
    assert set(saved["timings"]["per_epoch_s"]) == {"pre_epoch", "train", "post_epoch", "eval"}
    assert saved["versions"]["torch"] == torch.__version__
    assert (tmp_path / "run" / "config.yaml").exists()
    state = load_checkpoint(tmp_path / "run" / "best.pt")
    assert state["epoch"] == res.best_epoch
    # The checkpoint reproduces the best epoch's metrics exactly.
    again = mcdrec.evaluate(tmp_path / "run")
    assert again["valid"] == pytest.approx(res.valid_metrics, rel=1e-12)
    assert again["test"] == pytest.approx(res.metrics, rel=1e-12)


def test_training_improves_over_random(ds, tmp_path):
    res = mcdrec.train(model="lightgcn", dataset=ds, out=tmp_path / "r", epochs=15, progress=False,
                       train_batch_size=128, learning_rate=0.01)
    first = res.history[0]["valid"]["recall@20"]
    assert res.valid_metrics["recall@20"] > first
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_early_stopping_follows_mmrec_rule(ds, tmp_path):
    # lr 0: the model never changes, so valid Recall@20 never strictly improves after epoch 0;
    # MMRec stops after stopping_step + 1 evaluations without improvement.
    res = mcdrec.train(model="bpr", dataset=ds, out=tmp_path / "r", epochs=50, stopping_step=2,
                       learning_rate=0.0, progress=False)
    assert res.stopped_early and res.best_epoch == 0
    assert len(res.history) == 4


def test_time_limit_stops_cleanly_after_an_evaluated_epoch(ds, tmp_path):
    # eval_step 1000: only the epoch that reaches the limit (or the last one) is evaluated
    t0 = time.perf_counter()
    res = mcdrec.train(model="lightgcn", dataset=ds, out=tmp_path / "r", epochs=100000, stopping_step=100000,
                       eval_step=1000, time_limit=0.5, progress=False)
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    assert res.stop_reason == saved["stop_reason"] == "time_limit" and not res.stopped_early
    assert saved["status"] == "finished" and 1 <= len(res.history) < 100000
    assert "valid" in res.history[-1] and res.best_epoch == len(res.history) - 1
    assert time.perf_counter() - t0 >= 0.5
    assert (tmp_path / "r" / "best.pt").exists()


def test_models_with_diagnostics_record_them_per_evaluated_epoch(tmp_path):
    ds = mcdrec.load_dataset("synthetic:60x40x500:d=16")
    res = mcdrec.train(model="bm3", dataset=ds, out=tmp_path / "r", epochs=2, progress=False)
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    for rec in saved["history"]:
        assert set(rec["diagnostics"]) == {"item_cosine", "item_input_norm"}
        assert 0.0 <= rec["diagnostics"]["item_cosine"] <= 1.0 + 1e-9
    lg = mcdrec.train(model="lightgcn", dataset=ds, out=tmp_path / "l", epochs=1, progress=False)
    assert "diagnostics" not in lg.history[0] and res.history[0]["diagnostics"]


def test_same_seed_same_history(ds, tmp_path):
    kw = dict(model="lightgcn", dataset=ds, epochs=2, progress=False, train_batch_size=256)
    a = mcdrec.train(out=tmp_path / "a", **kw)
    b = mcdrec.train(out=tmp_path / "b", **kw)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]


class _Exploding(LightGCN):
    def post_epoch(self, epoch, generator):
        if epoch == 2:
            raise RuntimeError("sampler exploded")


def test_exception_keeps_last_best_checkpoint(ds, tmp_path, monkeypatch):
    import mcdrec.engine.models as models

    monkeypatch.setitem(models.MODELS, "lightgcn", "tests_exploding:_Exploding")
    import sys
    import types
    mod = types.ModuleType("tests_exploding")
    mod._Exploding = _Exploding
    monkeypatch.setitem(sys.modules, "tests_exploding", mod)
    with pytest.raises(RuntimeError, match="sampler exploded"):
        mcdrec.train(model="lightgcn", dataset=ds, out=tmp_path / "r", epochs=5, progress=False)
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    assert saved["status"] == "failed" and "sampler exploded" in saved["error"]
    assert len(saved["history"]) == 2
    state = load_checkpoint(tmp_path / "r" / "best.pt")
    assert state["epoch"] == saved["best_epoch"] in (0, 1)
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.startswith(".")]  # no temp files left


def test_grid_selects_by_valid_and_says_so(ds, tmp_path):
    best = mcdrec.train(model="lightgcn", dataset=ds, out=tmp_path / "g", grid=True, epochs=2, progress=False,
                        n_layers=[1, 2], reg_weight=0.001)
    saved = json.loads((tmp_path / "g" / "results.json").read_text())
    assert saved["selection"] == "valid" and len(saved["runs"]) == 2
    vals = [r["valid"]["recall@20"] for r in saved["runs"]]
    assert best.valid_metrics["recall@20"] == max(vals)
    test_rule = mcdrec.train(model="lightgcn", dataset=ds, out=tmp_path / "t", grid=True, epochs=2,
                             progress=False, n_layers=[1, 2], reg_weight=0.001, selection="test")
    saved = json.loads((tmp_path / "t" / "results.json").read_text())
    assert saved["selection"] == "test" and "leaks the test set" in saved["selected_by"]
    assert test_rule.metrics["recall@20"] == max(r["test"]["recall@20"] for r in saved["runs"])


def test_recommend_excludes_train_items(ds, tmp_path):
    mcdrec.train(model="bpr", dataset=ds, out=tmp_path / "r", epochs=1, progress=False)
    top = mcdrec.recommend(tmp_path / "r", [0, 5], k=10)
    indptr, indices = ds.train_csr
    for row, u in enumerate([0, 5]):
        assert not set(top[row].tolist()) & set(indices[indptr[u]:indptr[u + 1]].tolist())
    assert len(set(top[0].tolist())) == 10


def test_rerun_into_same_folder_never_keeps_old_weights(ds, tmp_path):
    mcdrec.train(model="lightgcn", dataset=ds, out=tmp_path / "r", epochs=2, progress=False)
    assert (tmp_path / "r" / "best.pt").exists()
    mcdrec.train(model="lightgcn", dataset=ds, out=tmp_path / "r", epochs=1, progress=False, save_checkpoint=False)
    assert not (tmp_path / "r" / "best.pt").exists()


def test_run_folder_refuses_a_different_dataset(tmp_path):
    other = mcdrec.load_dataset(SYN, seed=5)  # same name, other seed: other pairs
    mcdrec.train(model="bpr", dataset=other, out=tmp_path / "r", epochs=1, progress=False)
    with pytest.raises(ValueError, match="reloads differently"):
        mcdrec.evaluate(tmp_path / "r")


def test_last_epoch_is_always_evaluated(ds, tmp_path):
    res = mcdrec.train(model="bpr", dataset=ds, out=tmp_path / "r", epochs=3, eval_step=2, progress=False)
    assert [("valid" in h) for h in res.history] == [False, True, True]
