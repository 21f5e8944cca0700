"""Reductions: the losses' per-block partial sums, and column sums that finish partials.

A reduction is two launches: each block folds a grid-stride slice into one
partial (per-thread accumulators, then a shared-memory tree), and
``sum_columns`` adds the blocks' partials (a few hundred values per column).
No atomics, so a result does not depend on which block finishes first.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numba
import numpy as np
from numba import cuda

from ._block import reducers


@functools.cache
def kernels(dtype: np.dtype, threads: int) -> SimpleNamespace:
    zero = dtype.type(0)
    nbtype = numba.from_dtype(dtype)
    # Device functions are bound to plain names: numba can call a closure's
    # dispatcher, not an attribute of a Python object.
    block_sum, _ = reducers(dtype, threads)

    @cuda.jit
    def l1_partials(a, b, partials):
        """partials[block] = sum |a - b| over the block's slice; 2 * itemsize bytes per element."""
        scratch = cuda.shared.array(threads, dtype=nbtype)
        acc = zero
        for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
            acc += abs(a[i] - b[i])
        total = block_sum(scratch, acc)
        if cuda.threadIdx.x == 0:
            partials[cuda.blockIdx.x] = total

    @cuda.jit
    def l2_partials(a, b, partials):
        """partials[block] = sum (a - b)^2 over the block's slice; 2 * itemsize bytes per element."""
        scratch = cuda.shared.array(threads, dtype=nbtype)
        acc = zero
        for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
            d = a[i] - b[i]
            acc += d * d
        total = block_sum(scratch, acc)
        if cuda.threadIdx.x == 0:
            partials[cuda.blockIdx.x] = total

    @cuda.jit
    def sum_columns(partials, out):
        """out[c] = sum over rows of partials[:, c]: one block per column (grid-stride)."""
        scratch = cuda.shared.array(threads, dtype=nbtype)
        for c in range(cuda.blockIdx.x, partials.shape[1], cuda.gridDim.x):
            acc = zero
            for r in range(cuda.threadIdx.x, partials.shape[0], threads):
                acc += partials[r, c]
            total = block_sum(scratch, acc)
            if cuda.threadIdx.x == 0:
                out[c] = total

    return SimpleNamespace(l1_partials=l1_partials, l2_partials=l2_partials, sum_columns=sum_columns)
