"""How the GPU kernels are compiled: ``cuda.jit`` with launch bounds where numba-cuda takes them, no LTO.

Launch bounds tell the compiler how many threads a block has and how many
blocks should fit on one multiprocessor at once, which caps the registers a
thread may use (65536 per SM / (threads * blocks)). Without them the row and
logistic kernels took 76 to 148 registers per thread, leaving room for only
one to three blocks per SM, too few loads in flight for a memory-bound pass.
numba-cuda's simulator and older releases take no ``launch_bounds``; the
bounds only guide register allocation, so there the plain decorator is used.

LTO is off: each kernel is one module (its device functions inlined), so
link-time optimization has nothing to add, and with it numba-cuda's own
launch (``XPVEC_CUDA_LAUNCH=numba``) would run other machine code than the
backend's default launch, which links the PTX that ``cuda.compile_ptx``
makes and that CI checks (``launch``).
"""

from __future__ import annotations

import inspect

from numba import cuda

_TAKES = inspect.signature(cuda.jit).parameters
_NO_LTO = {"lto": False} if "lto" in _TAKES else {}


def kernel_jit(threads: int | None = None, blocks_per_sm: int | None = None):
    """The decorator for a kernel; with ``threads`` and ``blocks_per_sm``, launch bounds for
    ``threads`` per block and ``blocks_per_sm`` resident per SM."""
    options = dict(_NO_LTO)
    if threads is not None and "launch_bounds" in _TAKES:
        options["launch_bounds"] = (threads, blocks_per_sm)
    # cuda.jit(func, ...), not cuda.jit(...)(func): numba-cuda's decorator factory drops lto.
    return lambda func: cuda.jit(func, **options)
