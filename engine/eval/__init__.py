"""mcdrec.engine.eval: full-ranking evaluation (MMRec protocol)."""
from .metrics import evaluate_scores

__all__ = ["evaluate_scores"]
