"""Small helpers shared by the Triton launchers."""
from __future__ import annotations

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def check_float(name: str, *tensors: torch.Tensor) -> None:
    """The kernels compute in float32 and store in the input dtype; float64 stays on the torch path."""
    for x in tensors:
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name}: triton kernels take float16/bfloat16/float32 tensors, got {x.dtype}")


def next_pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def cdiv(a: int, b: int) -> int:
    return (a + b - 1) // b
