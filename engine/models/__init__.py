"""Models by name. Each name maps to a class and ships a config in engine/configs/models/<name>.yaml."""
from __future__ import annotations

from importlib import import_module

MODELS = {
    "bpr": "mcdrec.engine.models.bpr:BPRMF",
    "lightgcn": "mcdrec.engine.models.lightgcn:LightGCN",
    "bm3": "mcdrec.engine.models.bm3:BM3",
    "freedom": "mcdrec.engine.models.freedom:FREEDOM",
    "mcdrec-bm3": "mcdrec.engine.models.mcdrec_bm3:MCDRecBM3",
    "bm3-mk": "mcdrec.engine.models.mcdrec_bm3:MCDRecBM3",
    "bm3-mrd": "mcdrec.engine.models.mcdrec_bm3:MCDRecBM3",
    "bm3-dgd": "mcdrec.engine.models.mcdrec_bm3:MCDRecBM3",
    "mcdrec-freedom": "mcdrec.engine.models.mcdrec_freedom:MCDRecFREEDOM",
}


def model_class(name: str):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    module, cls = MODELS[name].split(":")
    return getattr(import_module(module), cls)


def build_model(name: str, dataset, config: dict | None = None, **overrides):
    """Build the torch module for `name` on `dataset` (a Dataset or a dataset name).

    The configuration is the package defaults -> dataset -> model layers, then `config` (a resolved dict),
    then `overrides` (MMRec key names). Grid values take their first entry.
    """
    from mcdrec.engine.config import resolve_config
    from mcdrec.engine.data.registry import load_dataset

    if isinstance(dataset, str):
        dataset = load_dataset(dataset)
    if config is None:
        config = resolve_config(name, dataset.name, overrides=overrides).single()
    elif overrides:
        config = {**config, **overrides}
    return model_class(name)(dataset, config)


__all__ = ["MODELS", "build_model", "model_class"]
