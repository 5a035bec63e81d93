"""mcdrec.engine: models, diffusion, graph building, data, trainer, evaluator."""
import os
import sys
import warnings

# numba's default OpenMP threading layer leaves its worker threads competing with torch's OpenMP pool: every
# torch CPU op after the first parallel numba call (negative sampling, metrics) ran 5-10x slower. The
# workqueue layer has no such pool. A user's own NUMBA_THREADING_LAYER is respected.
if "NUMBA_THREADING_LAYER" not in os.environ:
    os.environ["NUMBA_THREADING_LAYER"] = "workqueue"
    if "numba" in sys.modules:
        sys.modules["numba"].config.THREADING_LAYER = "workqueue"

# The adjacency is a torch sparse CSR tensor by design; torch's beta notice adds nothing for users.
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
