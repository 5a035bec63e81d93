"""Layered configuration: package defaults -> dataset -> model -> config file -> --set / keyword overrides.

The package layers (engine/configs/base.yaml, datasets/<name>.yaml, models/<name>.yaml) declare every key
and its type; a user layer may only set declared keys, with a value of the declared type. A key listed in
`hyper_parameters` whose value is a list is a grid axis; a single run takes the first value.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A configuration key or value is not acceptable; the message names it and its source."""


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value at the top level, got {type(data).__name__}")
    return data


def dataset_config_name(dataset_name: str) -> str:
    """The dataset layer used for a dataset name: synthetic:* -> synthetic, a folder path -> its basename."""
    if dataset_name == "synthetic" or dataset_name.startswith("synthetic:"):
        return "synthetic"
    return Path(dataset_name.rstrip("/")).name


def _type_name(value: Any) -> str:
    return type(value).__name__


def _coerce(key: str, value: Any, default: Any, source: str, grid: bool) -> Any:
    """Check `value` against the declared default's type; returns the (possibly converted) value."""
    if grid and isinstance(value, list):
        if not value:
            raise ConfigError(f"{key} (from {source}): a grid list must not be empty")
        ref = default[0] if isinstance(default, list) else default
        return [_coerce(key, v, ref, source, grid=False) for v in value]
    if isinstance(default, list) and not grid:
        if not isinstance(value, list):
            raise ConfigError(f"{key} (from {source}): expected a list, got {_type_name(value)} {value!r}")
        ref = default[0] if default else value[0] if value else None
        return [_coerce(key, v, ref, source, grid=False) for v in value] if ref is not None else value
    if isinstance(default, list):  # grid key set to a scalar
        default = default[0]
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} (from {source}): expected true/false, got {_type_name(value)} {value!r}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key} (from {source}): expected an integer, got {_type_name(value)} {value!r}")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} (from {source}): expected a number, got {_type_name(value)} {value!r}")
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key} (from {source}): expected a string, got {_type_name(value)} {value!r}")
    return value


def parse_set_args(items: list[str]) -> dict:
    """['lr=0.01', 'n_layers=[1,2]'] -> {'lr': 0.01, 'n_layers': [1, 2]} (values parsed as YAML)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[key] = raw
    return out


@dataclass
class ResolvedConfig:
    values: dict
    grid_keys: list = field(default_factory=list)
    sources: dict = field(default_factory=dict)

    def combinations(self) -> list[dict]:
        """Every grid combination (in order, the first values first), each a flat dict of scalars."""
        axes = [k for k in self.grid_keys if isinstance(self.values.get(k), list)]
        if not axes:
            return [dict(self.values)]
        combos = []
        for point in itertools.product(*(self.values[k] for k in axes)):
            c = dict(self.values)
            c.update(zip(axes, point))
            combos.append(c)
        return combos

    def single(self) -> dict:
        return self.combinations()[0]


def resolve_config(model: str, dataset_name: str, config_file: str | Path | None = None,
                   overrides: dict | None = None) -> ResolvedConfig:
    """Merge the five layers for `model` on `dataset_name`; raises ConfigError naming any bad key or value."""
    values: dict = {}
    sources: dict = {}
    layers = [("package defaults", CONFIG_DIR / "base.yaml", True),
              (f"dataset {dataset_config_name(dataset_name)}",
               CONFIG_DIR / "datasets" / f"{dataset_config_name(dataset_name)}.yaml", False),
              (f"model {model}", CONFIG_DIR / "models" / f"{model}.yaml", False)]
    for label, path, required in layers:
        if not path.exists():
            if required or label.startswith("model"):
                raise ConfigError(f"no configuration for {label} (expected {path.name})")
            continue
        for key, value in _read_yaml(path).items():
            values[key] = value
            sources[key] = label
    grid_keys = list(values.get("hyper_parameters") or [])
    user_layers = []
    if config_file is not None:
        user_layers.append((str(config_file), _read_yaml(Path(config_file))))
    if overrides:
        user_layers.append(("overrides", dict(overrides)))
    for label, layer in user_layers:  # a grid override decides how the other keys' lists are read
        if "hyper_parameters" in layer:
            value = layer["hyper_parameters"]
            if not isinstance(value, list) or any(k not in values for k in value):
                raise ConfigError(f"hyper_parameters (from {label}): expected a list of known keys, got {value!r}")
            grid_keys = list(value)
    for label, layer in user_layers:
        for key, value in layer.items():
            if key not in values:
                known = ", ".join(sorted(values))
                raise ConfigError(f"unknown key {key!r} (from {label}); known keys for model {model}: {known}")
            if key != "hyper_parameters":
                values[key] = _coerce(key, value, values[key], label, grid=key in grid_keys)
            sources[key] = label
    for key, value in values.items():  # a list left on a key that is no longer a grid axis: its first value
        if key not in grid_keys and isinstance(value, list) and value and key in _package_grid_keys(model, dataset_name):
            values[key] = value[0]
    values["model"] = model
    values["dataset"] = dataset_name
    values["hyper_parameters"] = grid_keys
    _check_values(values, sources)
    return ResolvedConfig(values=values, grid_keys=grid_keys, sources=sources)


def _package_grid_keys(model: str, dataset_name: str) -> set:
    keys: set = set()
    for path in (CONFIG_DIR / "base.yaml", CONFIG_DIR / "datasets" / f"{dataset_config_name(dataset_name)}.yaml",
                 CONFIG_DIR / "models" / f"{model}.yaml"):
        if path.exists():
            keys.update(_read_yaml(path).get("hyper_parameters") or [])
    return keys


_METRICS = ("recall", "ndcg", "precision", "map")


def _check_values(values: dict, sources: dict) -> None:
    """Checks that need more than a type: raised before any training starts."""
    def bad(key, msg):
        raise ConfigError(f"{key} (from {sources.get(key, 'defaults')}): {msg}, got {values[key]!r}")

    topk = values["topk"]
    if not topk or any(k < 1 for k in topk):
        bad("topk", "expected a non-empty list of cut-offs >= 1")
    name, _, k = str(values["valid_metric"]).partition("@")
    if name not in _METRICS or not k.isdigit() or int(k) not in topk:
        bad("valid_metric", f"expected <{'|'.join(_METRICS)}>@K with K in topk {topk}")
    for key in ("eval_step", "epochs", "train_batch_size", "eval_batch_size"):
        if values[key] < 1:
            bad(key, "expected an integer >= 1")
    if values["stopping_step"] < 0:
        bad("stopping_step", "expected an integer >= 0")
    if values["time_limit"] < 0:
        bad("time_limit", "expected seconds >= 0 (0: no limit)")
    if values["selection"] not in ("valid", "test"):
        bad("selection", "expected 'valid' (valid Recall@20) or 'test' (MMRec's rule)")
    if values["learner"] != "adam":
        bad("learner", "only 'adam' is implemented")
    try:
        import torch

        dev = torch.device(values["device"])
    except (RuntimeError, TypeError):
        bad("device", "expected cpu, cuda or cuda:N")
    if dev.type not in ("cpu", "cuda"):
        bad("device", "expected cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        bad("device", "CUDA was asked for but torch.cuda.is_available() is False on this machine")
