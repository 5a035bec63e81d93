import pytest

from mcdrec.engine.config import ConfigError, parse_set_args, resolve_config


def test_layers_apply_in_order(tmp_path):
    f = tmp_path / "my.yaml"
    f.write_text("learning_rate: 0.01\nepochs: 7\n")
    cfg = resolve_config("lightgcn", "tiktok", config_file=f, overrides={"epochs": 3}).single()
    assert cfg["learning_rate"] == 0.01  # config file beats the package default
    assert cfg["epochs"] == 3  # --set beats the config file
    assert cfg["n_layers"] == 1 and cfg["reg_weight"] == 0.01  # first grid values
    assert cfg["model"] == "lightgcn" and cfg["dataset"] == "tiktok"


def test_grid_combinations_in_order():
    rc = resolve_config("lightgcn", "baby", overrides={"n_layers": [1, 2], "reg_weight": [0.1, 0.2, 0.3]})
    combos = rc.combinations()
    assert [(c["n_layers"], c["reg_weight"]) for c in combos] == [
        (1, 0.1), (1, 0.2), (1, 0.3), (2, 0.1), (2, 0.2), (2, 0.3)]
    assert rc.single()["n_layers"] == 1


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'n_layer' \(from overrides\)"):
        resolve_config("lightgcn", "tiktok", overrides={"n_layer": 2})
    f = tmp_path / "bad.yaml"
    f.write_text("lerning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'lerning_rate' \(from .*bad.yaml\)"):
        resolve_config("lightgcn", "tiktok", config_file=f)


@pytest.mark.parametrize("key,value,expected", [
    ("epochs", "ten", "expected an integer"),
    ("epochs", 2.5, "expected an integer"),
    ("learning_rate", "fast", "expected a number"),
    ("save_checkpoint", 1, "expected true/false"),
    ("topk", 20, "expected a list"),
])
def test_wrong_type_is_named(key, value, expected):
    with pytest.raises(ConfigError, match=rf"{key} \(from overrides\): {expected}"):
        resolve_config("lightgcn", "tiktok", overrides={key: value})


def test_set_args_parse_yaml_values():
    got = parse_set_args(["epochs=5", "learning_rate=1e-4", "n_layers=[1, 2]", "device=cpu"])
    assert got == {"epochs": 5, "learning_rate": "1e-4", "n_layers": [1, 2], "device": "cpu"}
    cfg = resolve_config("lightgcn", "tiktok", overrides=got).values
    assert cfg["learning_rate"] == pytest.approx(1e-4) and cfg["n_layers"] == [1, 2]
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_set_args(["epochs"])


def test_unknown_model_and_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="no configuration for model nosuch"):
        resolve_config("nosuch", "tiktok")
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        resolve_config("lightgcn", "tiktok", config_file=f)


@pytest.mark.parametrize("overrides,message", [
    ({"valid_metric": "foo"}, "valid_metric .*expected <recall|ndcg|precision|map>@K"),
    ({"topk": [10]}, r"valid_metric .*K in topk \[10\]"),
    ({"topk": [5, 0]}, "topk .*cut-offs >= 1"),
    ({"eval_step": 0}, "eval_step .*>= 1"),
    ({"time_limit": -1}, r"time_limit .*seconds >= 0"),
    ({"selection": "best"}, "selection .*'valid'"),
    ({"learner": "sgd"}, "learner .*only 'adam'"),
    ({"device": "gpu"}, "device .*expected cpu, cuda"),
])
def test_values_are_checked_before_training(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config("lightgcn", "tiktok", overrides=overrides)


def test_cuda_without_gpu_is_a_config_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ConfigError, match="CUDA was asked for"):
        resolve_config("lightgcn", "tiktok", overrides={"device": "cuda"})


def test_grid_override_applies_whatever_the_order():
    a = resolve_config("lightgcn", "tiktok", overrides={"n_layers": [1, 2], "hyper_parameters": ["n_layers"]})
    b = resolve_config("lightgcn", "tiktok", overrides={"hyper_parameters": ["n_layers"], "n_layers": [1, 2]})
    assert a.values == b.values and [c["n_layers"] for c in a.combinations()] == [1, 2]
    assert a.values["reg_weight"] == 0.01  # no longer a grid axis: its first value
    none = resolve_config("lightgcn", "tiktok", overrides={"hyper_parameters": []})
    assert none.values["n_layers"] == 1 and len(none.combinations()) == 1
