"""Checks that run only under numba-cuda's simulator (see tests/test_gpu_kernels_sim.py)."""
