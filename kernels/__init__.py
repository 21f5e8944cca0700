"""Hand-written kernels, shipped as ``xpvec.kernels``.

Importing this package imports nothing heavy; each submodule imports the
compiler it needs (numba) itself, and only the backend that uses it imports it.
"""
