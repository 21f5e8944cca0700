"""How the GPU kernels are compiled: ``cuda.jit`` with launch bounds where numba-cuda takes them.

Launch bounds tell the compiler how many threads a block has and how many
blocks should fit on one multiprocessor at once, which caps the registers a
thread may use (65536 per SM / (threads * blocks)). Without them the row and
logistic kernels took 76 to 148 registers per thread, leaving room for only
one to three blocks per SM, too few loads in flight for a memory-bound pass.
numba-cuda's simulator and older releases take no ``launch_bounds``; the
bounds only guide register allocation, so there the plain decorator is used.
"""

from __future__ import annotations

import inspect

from numba import cuda

_TAKES_BOUNDS = "launch_bounds" in inspect.signature(cuda.jit).parameters


def bounded_jit(threads: int, blocks_per_sm: int):
    """The decorator for a kernel launched with ``threads`` per block, ``blocks_per_sm`` resident per SM."""
    if _TAKES_BOUNDS:
        return cuda.jit(launch_bounds=(threads, blocks_per_sm))
    return cuda.jit
