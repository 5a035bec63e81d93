"""One epoch of every multimodal model through the trainer (mcdrec.train) on a small synthetic dataset."""
import math

import pytest
import torch

import mcdrec

NAMES = ["bm3", "freedom", "mcdrec-bm3", "bm3-mk", "bm3-mrd", "bm3-dgd", "mcdrec-freedom"]


@pytest.fixture(scope="module")
def ds():
    return mcdrec.load_dataset("synthetic:80x50x700:d=16,8")


@pytest.mark.parametrize("name", NAMES)
def test_one_epoch_through_the_trainer(ds, name, tmp_path):
    extra = {"steps": 3} if name not in ("bm3", "freedom", "bm3-mk") else {}
    result = mcdrec.train(name, ds, out=tmp_path / name, progress=False, log=lambda *_: None, epochs=1,
                          train_batch_size=256, **extra)
    assert result.best_epoch == 0 and len(result.history) == 1
    rec = result.history[0]
    assert math.isfinite(rec["loss"]) and 0.0 <= result.metrics["recall@20"] <= 1.0
    assert (tmp_path / name / "best.pt").exists()
