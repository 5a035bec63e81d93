"""What a result file records about the software and hardware that produced it."""
from __future__ import annotations

import platform
import sys

import numpy as np
import torch


def versions() -> dict:
    import numba

    import mcdrec

    out = {"mcdrec": mcdrec.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
           "numpy": np.__version__, "numba": numba.__version__}
    try:
        import triton
        out["triton"] = triton.__version__
    except ImportError:
        out["triton"] = None
    return out


def device_info(device: torch.device) -> dict:
    info = {"device": str(device), "platform": platform.platform(), "processor": platform.processor() or
            platform.machine(), "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def dataset_fingerprint(dataset) -> dict:
    """Sizes and a hash of the split pairs: lets a run folder check that a reloaded dataset is the same."""
    import hashlib

    h = hashlib.sha1()
    out = {"name": dataset.name, "n_users": int(dataset.n_users), "n_items": int(dataset.n_items)}
    for split in ("train", "valid", "test"):
        users, items = dataset.pairs(split)
        out[f"n_{split}"] = int(len(users))
        h.update(np.ascontiguousarray(users, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(items, dtype=np.int64).tobytes())
    out["pairs_sha1"] = h.hexdigest()
    return out


def op_backends(device: torch.device) -> dict:
    """Which implementation each hot op dispatches to for tensors on `device`."""
    from mcdrec.engine.ops import _dispatch

    out = {}
    for op in sorted(_dispatch._IMPLS):
        try:
            out[op] = _dispatch.select(op, device)[0]
        except Exception as exc:  # a forced backend that cannot run: record why
            out[op] = f"unavailable: {exc}"
    return out
