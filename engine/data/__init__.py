"""mcdrec.engine.data"""
