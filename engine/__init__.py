"""mcdrec.engine: models, diffusion, graph building, data, trainer, evaluator."""
import warnings

# The adjacency is a torch sparse CSR tensor by design; torch's beta notice adds nothing for users.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
