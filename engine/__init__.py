"""mcdrec.engine: models, diffusion, graph building, data, trainer, evaluator."""
