"""mcdrec.kernels"""
