"""mcdrec.engine.models"""
