"""mcdrec.engine.ops"""
