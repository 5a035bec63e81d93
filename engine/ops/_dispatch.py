"""Backend selection for the hot ops.

Every op has a pure-torch reference (always registered) and may have a C++ (`cpp`, mcdrec._C, CPU tensors)
and a Triton (`triton`, CUDA tensors, or CPU tensors under TRITON_INTERPRET=1) implementation.
Automatic choice: CUDA -> triton, CPU -> cpp, falling back to torch when the preferred one is absent.
MCDREC_BACKEND=torch|cpp|triton forces a backend: if that backend is not installed, or cannot run on the
tensor's device, the call raises; an op that has no implementation in the forced backend uses its
torch reference.
"""
from __future__ import annotations

import os
from typing import Callable

import torch

BACKENDS = ("torch", "cpp", "triton")
_IMPLS: dict[str, dict[str, Callable]] = {}


class BackendUnavailable(RuntimeError):
    """A forced backend cannot run here."""


def register(op: str, backend: str, fn: Callable) -> Callable:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    _IMPLS.setdefault(op, {})[backend] = fn
    return fn


def implementations(op: str) -> dict[str, Callable]:
    return dict(_IMPLS.get(op, {}))


_AVAILABLE: dict[str, bool] = {}  # a plain dict, not lru_cache: torch.compile traces through it cleanly


def _importable(module: str) -> bool:
    if module not in _AVAILABLE:
        try:
            __import__(module)
            _AVAILABLE[module] = True
        except ImportError:
            _AVAILABLE[module] = False
    return _AVAILABLE[module]


def cpp_available() -> bool:
    return _importable("mcdrec._C")


def triton_available() -> bool:
    return _importable("triton")


def triton_interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def forced_backend() -> str | None:
    value = os.environ.get("MCDREC_BACKEND", "").strip().lower()
    if not value or value == "auto":
        return None
    if value not in BACKENDS:
        raise BackendUnavailable(f"MCDREC_BACKEND={value!r}: expected one of auto, {', '.join(BACKENDS)}")
    return value


def _runs_on(backend: str, device: torch.device) -> bool:
    if backend == "torch":
        return True
    if backend == "cpp":
        return device.type == "cpu" and cpp_available()
    if backend == "triton":
        return triton_available() and (device.type == "cuda" or (device.type == "cpu" and triton_interpret()))
    return False


def select(op: str, device: torch.device | str) -> tuple[str, Callable]:
    """Return (backend name, implementation) for `op` on tensors living on `device`."""
    device = torch.device(device)
    impls = _IMPLS.get(op)
    if not impls or "torch" not in impls:
        raise KeyError(f"op {op!r} has no registered torch reference")
    forced = forced_backend()
    if forced is not None:
        if not _runs_on(forced, device):
            why = {
                "cpp": "mcdrec._C is not importable or the tensor is not on the CPU",
                "triton": "triton is not installed, or the tensor is on the CPU without TRITON_INTERPRET=1",
            }.get(forced, "")
            raise BackendUnavailable(f"{op}: MCDREC_BACKEND={forced} cannot run on {device}: {why}")
        return (forced, impls[forced]) if forced in impls else ("torch", impls["torch"])
    preferred = "triton" if device.type == "cuda" else "cpp"
    if preferred in impls and _runs_on(preferred, device):
        return preferred, impls[preferred]
    return "torch", impls["torch"]
