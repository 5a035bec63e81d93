"""mcdrec.kernels: Triton GPU kernels with their launchers, each a torch.library custom op (namespace
`mcdrec_triton`) registered as the "triton" backend of its op in mcdrec.engine.ops. Importing this
package needs triton; mcdrec.engine.ops imports it when available."""
from . import diffusion_steps, edge_cosine, groupnorm_silu, propagate  # noqa: F401 (registers the backends)
