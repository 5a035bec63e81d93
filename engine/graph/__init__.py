"""mcdrec.engine.graph"""
