import json

from mcdrec.cli import main


def test_train_cli_prints_table_and_writes_results(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--model", "lightgcn", "--dataset", "synthetic:100x60x1000", "--set", "epochs=2",
               "--set", "train_batch_size=512", "--out", str(out), "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "recall@20" in text and "ndcg@10" in text and "test" in text
    assert json.loads((out / "results.json").read_text())["status"] == "finished"
    assert main(["evaluate", "--run", str(out)]) == 0
    assert "recall@20" in capsys.readouterr().out


def test_bad_key_is_an_error_naming_it(tmp_path, capsys):
    rc = main(["train", "--model", "lightgcn", "--dataset", "synthetic:100x60x1000", "--set", "n_layer=2",
               "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "unknown key 'n_layer'" in capsys.readouterr().err


def test_datasets_lists_builtin(capsys):
    assert main(["datasets"]) == 0
    text = capsys.readouterr().out
    assert "tiktok" in text and "baby" in text and "sports" in text
