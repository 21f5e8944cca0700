"""Block-wide reductions in shared memory: a tree over the block's threads.

Each takes the calling thread's partial value, returns the block's total to
every thread, and leaves the scratch array free for reuse (a barrier after the
last read). ``threads`` must be a power of two.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda


@functools.cache
def reducers(dtype: np.dtype, threads: int) -> tuple:
    """``(block_sum, block_max)`` device functions for blocks of ``threads``."""
    @cuda.jit(device=True)
    def block_sum(scratch, value):
        tid = cuda.threadIdx.x
        scratch[tid] = value
        cuda.syncthreads()
        step = threads // 2
        while step > 0:
            if tid < step:
                scratch[tid] += scratch[tid + step]
            cuda.syncthreads()
            step //= 2
        total = scratch[0]
        cuda.syncthreads()
        return total

    @cuda.jit(device=True)
    def block_max(scratch, value):
        """The largest value, NaN if any thread holds NaN (as NumPy's max)."""
        tid = cuda.threadIdx.x
        scratch[tid] = value
        cuda.syncthreads()
        step = threads // 2
        while step > 0:
            if tid < step:
                other = scratch[tid + step]
                if other > scratch[tid] or other != other:
                    scratch[tid] = other
            cuda.syncthreads()
            step //= 2
        total = scratch[0]
        cuda.syncthreads()
        return total

    return block_sum, block_max
