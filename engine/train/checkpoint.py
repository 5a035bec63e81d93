"""Crash-safe files of a run: written to a temporary file in the same folder, then atomically renamed."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
import yaml


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; run files get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: dict) -> None:
    _atomic_write(path, lambda f: f.write(json.dumps(data, indent=2, default=_jsonable).encode()))


def write_yaml(path: Path, data: dict) -> None:
    _atomic_write(path, lambda f: f.write(yaml.safe_dump(data, sort_keys=True).encode()))


def _jsonable(x):
    if hasattr(x, "item"):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def save_checkpoint(path: Path, model: torch.nn.Module, epoch: int, metrics: dict) -> None:
    state = {"model": model.state_dict(), "epoch": int(epoch), "valid": dict(metrics)}
    _atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint written by save_checkpoint (tensors and plain Python values only)."""
    return torch.load(path, map_location=map_location, weights_only=True)
