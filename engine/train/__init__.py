"""mcdrec.engine.train"""
