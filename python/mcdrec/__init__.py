"""mcdrec: a fast engine for diffusion-based multimodal recommendation (MCDRec, BM3, FREEDOM).

Public API (imported lazily so `import mcdrec` stays cheap):
    load_dataset, DatasetError, evaluate_scores, build_model, train, evaluate, recommend, compare, ops
"""
from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "DatasetError": ("mcdrec.engine.data.errors", "DatasetError"),
    "ConfigError": ("mcdrec.engine.config", "ConfigError"),
    "load_dataset": ("mcdrec.engine.data.registry", "load_dataset"),
    "list_datasets": ("mcdrec.engine.data.registry", "list_datasets"),
    "evaluate_scores": ("mcdrec.engine.eval.metrics", "evaluate_scores"),
    "build_model": ("mcdrec.engine.models", "build_model"),
    "train": ("mcdrec.api", "train"),
    "evaluate": ("mcdrec.api", "evaluate"),
    "recommend": ("mcdrec.api", "recommend"),
    "compare": ("mcdrec.engine.train.compare", "compare"),
    "ops": ("mcdrec.ops", None),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'mcdrec' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value
