"""mcdrec.engine.diffusion: MRD, the multimodal-conditioned representation diffusion (SPEC section 4)."""
from .mrd import MRD
from .schedule import DiffusionSchedule, make_betas
from .unet import Denoiser

__all__ = ["DiffusionSchedule", "Denoiser", "MRD", "make_betas"]
