"""Reductions: the losses' per-block partial sums, and column sums that finish partials.

A reduction is two launches: each block folds a grid-stride slice into one
partial (per-thread accumulators, then a shared-memory tree), and
``sum_columns`` adds the blocks' partials (a few hundred values per column).
No atomics, so a result does not depend on which block finishes first.
The partials kernels keep ``elementwise.UNROLL`` elements of each input in flight per
thread, as the elementwise kernels do, and the launcher sizes their grid the
same way.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numba
import numpy as np
from numba import cuda

from ._block import reducers
from ._jit import kernel_jit

BLOCKS_PER_SM = 8  # the partials kernels: <= 32 registers at 256 threads, full occupancy


@functools.cache
def kernels(dtype: np.dtype, threads: int) -> SimpleNamespace:
    zero = dtype.type(0)
    nbtype = numba.from_dtype(dtype)
    # Device functions are bound to plain names: numba can call a closure's
    # dispatcher, not an attribute of a Python object.
    block_sum, _ = reducers(dtype, threads)
    jit_kernel = kernel_jit(threads, BLOCKS_PER_SM)

    def partials_of(name: str, term):
        """A kernel ``name`` writing partials[block] = sum term(a, b) over the block's grid-stride
        slice, eight loads (four of each input) in flight per thread."""

        def kernel(a, b, partials):
            scratch = cuda.shared.array(threads, dtype=nbtype)
            acc = zero
            n = a.size
            step = cuda.gridsize(1)
            i = cuda.grid(1)
            while i + 3 * step < n:
                a0, a1, a2, a3 = a[i], a[i + step], a[i + 2 * step], a[i + 3 * step]
                b0, b1, b2, b3 = b[i], b[i + step], b[i + 2 * step], b[i + 3 * step]
                acc += term(a0, b0)
                acc += term(a1, b1)
                acc += term(a2, b2)
                acc += term(a3, b3)
                i += 4 * step
            while i < n:
                acc += term(a[i], b[i])
                i += step
            total = block_sum(scratch, acc)
            if cuda.threadIdx.x == 0:
                partials[cuda.blockIdx.x] = total

        kernel.__name__ = kernel.__qualname__ = name  # what profilers and compile errors show
        return jit_kernel(kernel)

    @cuda.jit(device=True)
    def abs_difference(u, v):
        return abs(u - v)

    @cuda.jit(device=True)
    def squared_difference(u, v):
        d = u - v
        return d * d

    @kernel_jit()
    def sum_columns(partials, out, wide, wide_out):
        """out[c] = sum over rows of partials[:, c]: one block per column (grid-stride). Unless
        ``wide`` is empty, one more block adds it up into wide_out[0]: float64 per-block
        values (a loss's), summed in float64 in the same launch."""
        scratch = cuda.shared.array(threads, dtype=nbtype)
        wide_scratch = cuda.shared.array(threads, dtype=numba.float64)
        m = partials.shape[1]
        for c in range(cuda.blockIdx.x, m + (1 if wide.size else 0), cuda.gridDim.x):
            if c < m:
                acc = zero
                for r in range(cuda.threadIdx.x, partials.shape[0], threads):
                    acc += partials[r, c]
                total = block_sum(scratch, acc)
                if cuda.threadIdx.x == 0:
                    out[c] = total
            else:
                acc_wide = numba.float64(0)
                for r in range(cuda.threadIdx.x, wide.size, threads):
                    acc_wide += wide[r]
                total_wide = block_sum(wide_scratch, acc_wide)
                if cuda.threadIdx.x == 0:
                    wide_out[0] = total_wide

    return SimpleNamespace(
        l1_partials=partials_of("l1_partials", abs_difference),
        l2_partials=partials_of("l2_partials", squared_difference),
        sum_columns=sum_columns,
    )
