import json

import pytest

import mcdrec
from mcdrec.cli import main
from mcdrec.engine.train.compare import compare, drops, markdown, read_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    ds = mcdrec.load_dataset("synthetic:100x60x1200")
    kw = dict(dataset=ds, epochs=3, progress=False, train_batch_size=256)
    mcdrec.train(model="bpr", out=root / "bpr", **kw)
    mcdrec.train(model="lightgcn", out=root / "lgcn", learning_rate=0.01, **kw)
    return root


def test_drops_are_falls_below_half_the_best_so_far():
    curve = list(enumerate([0.02, 0.06, 0.029, 0.031, 0.08, 0.039, 0.07]))
    assert drops(curve) == [2, 5]
    assert drops([(0, 0.0), (1, 0.0)]) == []  # nothing to fall from
    assert drops(list(enumerate([0.05, 0.04, 0.03]))) == []  # slow decay is not a collapse


def test_compare_reads_best_epoch_metrics_and_improvement(runs):
    rows = compare([runs / "bpr", runs / "lgcn"], base=runs / "bpr")
    for row, name in zip(rows, ("bpr", "lgcn")):
        doc = json.loads((runs / name / "results.json").read_text())
        assert row["model"] == doc["model"] and row["epochs"] == 3 and row["stop"] == "epochs"
        assert row["test"]["recall@20"] == doc["metrics"]["test"]["recall@20"]
        assert row["curve"] == [(r["epoch"], r["valid"]["recall@20"]) for r in doc["history"]]
    assert rows[0]["improvement_pct"]["recall@20"] == pytest.approx(0.0)
    lg, bp = rows[1]["test"]["ndcg@10"], rows[0]["test"]["ndcg@10"]
    assert rows[1]["improvement_pct"]["ndcg@10"] == pytest.approx(100 * (lg / bp - 1))
    table = markdown(rows, with_curve=True)
    assert table.count("\n| ") == 2 and "| lightgcn | lgcn | epochs | 3 |" in table and "valid curve" in table


def test_cli_compare_and_errors(runs, tmp_path, capsys):
    assert main(["compare", str(runs / "bpr"), str(runs / "lgcn"), "--base", str(runs / "bpr"), "--ks", "10,20"]) == 0
    out = capsys.readouterr().out
    assert "| model | run | stop | epochs | best epoch | R@10 | R@20 | N@10 | N@20 |" in out and "+0.0%" in out
    assert main(["compare", str(runs / "bpr"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["model"] == "bpr"
    assert main(["compare", str(tmp_path / "nothing")]) == 2
    assert "results.json: not found" in capsys.readouterr().err
    assert main(["compare", str(runs / "bpr"), "--ks", "a,b"]) == 2
    (tmp_path / "grid").mkdir()
    (tmp_path / "grid" / "results.json").write_text(json.dumps({"runs": []}))
    with pytest.raises(ValueError, match="grid summary"):
        read_run(tmp_path / "grid")
