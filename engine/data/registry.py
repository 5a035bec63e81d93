"""Dataset names -> Datasets: shipped sets, MMRec folders, and seeded synthetic sets.

    load_dataset("tiktok")                      shipped: interactions + image and audio features (128-d)
    load_dataset("baby") / ("sports")           shipped MMRec splits; features from features_dir or
                                                $MCDREC_FEATURES_DIR/<name>/ when present, else id-only
    load_dataset("/data/clothing")              any MMRec folder: clothing.inter(.gz) + *_feat.npy
    load_dataset("synthetic:1000x500x20000")    see mcdrec.engine.data.synthetic for the full syntax
"""
from __future__ import annotations

import os
from pathlib import Path

from .dataset import Dataset
from .errors import DatasetError
from .loader import find_features, find_inter, load_folder, load_mmrec
from .synthetic import SYNTAX, make_synthetic

FEATURES_ENV = "MCDREC_FEATURES_DIR"
SHIPPED = {
    # name: (default modalities, where features come from)
    "tiktok": (("image", "audio"), "shipped"),
    "baby": (None, "user"),
    "sports": (None, "user"),
}


def _shipped_root() -> Path:
    import mcdrec

    return Path(mcdrec.__file__).resolve().parent / "datasets"


def _user_features_dir(name: str, features_dir) -> Path | None:
    """features_dir itself, or its <name>/ subfolder when that exists; else $MCDREC_FEATURES_DIR/<name>/."""
    if features_dir is not None:
        d = Path(features_dir)
        if not d.is_dir():
            raise DatasetError(f"{d}: features_dir is not a folder; expected a folder holding "
                               f"<modality>_feat.npy files")
        return d / name if (d / name).is_dir() else d
    env = os.environ.get(FEATURES_ENV)
    if env and (Path(env) / name).is_dir():
        return Path(env) / name
    return None


def _load_shipped(name: str, features_dir, modalities) -> Dataset:
    folder = _shipped_root() / name
    inter = find_inter(folder, name)
    default_mods, source = SHIPPED[name]
    if source == "shipped" and features_dir is None:
        feats = find_features(folder, modalities if modalities is not None else default_mods)
    else:
        fdir = _user_features_dir(name, features_dir)
        if fdir is None and modalities:
            raise DatasetError(f"{name}: modalities {list(modalities)} requested but no feature folder; "
                               f"expected features_dir=... or ${FEATURES_ENV}/{name}/ holding "
                               f"{', '.join(f'{m}_feat.npy' for m in modalities)}")
        feats = find_features(fdir, modalities) if fdir is not None else {}
    return load_mmrec(inter, feats, name=name)


def _unknown(name) -> DatasetError:
    return DatasetError(f"unknown dataset {name!r}; expected one of {', '.join(SHIPPED)}, a folder path in "
                        f"MMRec format (<folder>/<folder name>.inter plus *_feat.npy), or {SYNTAX}")


def load_dataset(name_or_path, features_dir=None, modalities=None, seed: int = 0) -> Dataset:
    """Load a dataset by name, folder path or synthetic spec.

    features_dir: folder of `<modality>_feat.npy` overriding the default location.
    modalities: names to load (each must exist); None = the dataset's default (every file found).
    seed: generator seed, synthetic datasets only.
    """
    if isinstance(name_or_path, Path):
        name_or_path = str(name_or_path)
    if not isinstance(name_or_path, str) or not name_or_path:
        raise _unknown(name_or_path)
    modalities = list(modalities) if modalities is not None else None
    if name_or_path == "synthetic" or name_or_path.startswith("synthetic:"):
        if features_dir is not None or modalities is not None:
            raise DatasetError(f"{name_or_path!r}: synthetic datasets take feature widths from the name "
                               f"(:d=...), not features_dir/modalities")
        return make_synthetic(name_or_path, seed=seed)
    key = name_or_path.lower()
    if key in SHIPPED:
        return _load_shipped(key, features_dir, modalities)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return load_folder(path, features_dir=features_dir, modalities=modalities)
    if path.is_file() and path.name.endswith((".inter", ".inter.gz")):
        name = path.name.split(".inter")[0]
        feats = find_features(Path(features_dir) if features_dir is not None else path.parent, modalities)
        return load_mmrec(path, feats, name=name)
    if path.suffix or os.sep in name_or_path:
        raise DatasetError(f"{path}: no such dataset folder; expected a folder holding {path.name}.inter")
    raise _unknown(name_or_path)


def list_datasets() -> list[dict]:
    """Statistics of the shipped datasets (loaded now; nothing is cached on disk)."""
    return [load_dataset(name).stats() for name in SHIPPED]
