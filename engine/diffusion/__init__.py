"""mcdrec.engine.diffusion"""
