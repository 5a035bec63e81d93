"""mcdrec.engine.ops: the hot ops behind one dispatcher (torch reference, C++ on CPU, Triton on CUDA)."""
from ._dispatch import BackendUnavailable, implementations, select
from .denoise_graph import denoise_graph, edge_cosine, prune_graph
from .diffusion_steps import p_sample_step, q_sample, x0_mse
from .groupnorm_silu import groupnorm_silu
from .knn_graph import knn_adjacency, knn_graph
from .propagate import propagate

try:
    import triton  # noqa: F401
except ImportError:  # without triton the torch / C++ backends remain
    triton = None
if triton is not None:  # the Triton backend registers itself on import (errors in it are not hidden)
    import mcdrec.kernels  # noqa: F401
del triton

__all__ = [
    "BackendUnavailable", "denoise_graph", "edge_cosine", "groupnorm_silu", "implementations", "knn_adjacency",
    "knn_graph", "p_sample_step", "propagate", "prune_graph", "q_sample", "select", "x0_mse",
]
