"""mcdrec.engine.eval"""
