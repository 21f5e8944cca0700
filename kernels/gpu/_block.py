"""Block-wide reductions in shared memory: a tree over the block's threads.

Each takes the calling thread's partial value, returns the block's total to
every thread, and leaves the scratch array free for reuse (a barrier after the
last read). ``threads`` must be a power of two.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda


@cuda.jit(device=True)
def _add(a, b):
    return a + b


@cuda.jit(device=True)
def nan_max(a, b):
    """The larger of a and b, NaN if either is NaN (as NumPy's max)."""
    return b if (b > a or b != b) else a


def _tree(threads: int, combine):
    """A block reduction folding the threads' values pairwise with ``combine``."""

    @cuda.jit(device=True)
    def reduce(scratch, value):
        tid = cuda.threadIdx.x
        scratch[tid] = value
        cuda.syncthreads()
        step = threads // 2
        while step > 0:
            if tid < step:
                scratch[tid] = combine(scratch[tid], scratch[tid + step])
            cuda.syncthreads()
            step //= 2
        total = scratch[0]
        cuda.syncthreads()
        return total

    return reduce


@functools.cache
def reducers(dtype: np.dtype, threads: int) -> tuple:
    """``(block_sum, block_max)`` device functions for blocks of ``threads`` (cached per dtype and size)."""
    return _tree(threads, _add), _tree(threads, nan_max)
