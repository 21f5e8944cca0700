"""Row kernels: softmax, log_softmax and normalize_rows over the rows of a 2-D array.

One block per row (a grid-stride loop over rows); the block's threads stride
along the row and combine their partials in shared memory. The backend brings
any reduced axes to the end and views the array as (rows, row length).

softmax / log_softmax: one read of the row for the running max and the sum
of exp(x - max) together (the online normalizer: when the max grows from m to
v the sum so far is rescaled by exp(m - v)), then one read and one write to
emit exp(x - max) / sum or (x - max) - log(sum). DRAM traffic is 2 * itemsize
bytes per element when the row is still in L2 for the second read (rows of
up to a few MB), 3 * itemsize otherwise. A non-finite row max (+inf or NaN
anywhere, or only -inf) gives a NaN row; -inf beside finite values gives 0.

normalize_rows: three reads (max |x|; the sum of squares of x / max; the
emit) and one write, as the generic formulation: the row is scaled by its
largest magnitude first so the sum of squares neither overflows nor
underflows. 2 * itemsize bytes per element from DRAM when the row stays in
L2, 4 * itemsize otherwise.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numba
import numpy as np
from numba import cuda

from ._block import reducers


@functools.cache
def kernels(dtype: np.dtype, threads: int) -> SimpleNamespace:
    zero, one = dtype.type(0), dtype.type(1)
    inf, nan = dtype.type(np.inf), dtype.type(np.nan)
    nbtype = numba.from_dtype(dtype)
    # Device functions are bound to plain names: numba can call a closure's
    # dispatcher, not an attribute of a Python object.
    block_sum, block_max = reducers(dtype, threads)

    @cuda.jit(device=True)
    def push(m, s, v):
        """The running (max, sum of exp(x - max)) after one more value v."""
        if v > m:  # rescale the sum to the new max; m = -inf rescales by exp(-inf) = 0
            return v, s * math.exp(m - v) + one
        if v == m:  # exp(0); also keeps -inf == -inf from giving exp(nan)
            return m, s + one
        if v != v:  # NaN: the row max is NaN from here on
            return v, s
        return m, s + math.exp(v - m)

    @cuda.jit(device=True)
    def merge(m1, s1, m2, s2):
        """Two running (max, sum) pairs as one; NaN in either max makes the max NaN."""
        if m1 != m1 or m2 != m2:
            return nan, nan
        if m1 < m2:
            m1, s1, m2, s2 = m2, s2, m1, s1
        if m2 == -inf:  # nothing (or only -inf) on that side: it adds no mass
            return m1, s1
        return m1, s1 + s2 * math.exp(m2 - m1)

    @cuda.jit(device=True)
    def row_max_sum(x, r, maxes, sums):
        tid = cuda.threadIdx.x
        m, s = -inf, zero
        for j in range(tid, x.shape[1], threads):
            m, s = push(m, s, x[r, j])
        maxes[tid] = m
        sums[tid] = s
        cuda.syncthreads()
        step = threads // 2
        while step > 0:
            if tid < step:
                maxes[tid], sums[tid] = merge(maxes[tid], sums[tid], maxes[tid + step], sums[tid + step])
            cuda.syncthreads()
            step //= 2
        m, s = maxes[0], sums[0]
        cuda.syncthreads()
        return m, s

    @cuda.jit
    def softmax(x, out):
        """exp(x - max) / sum per row; 2 (row in L2) to 3 * itemsize bytes per element."""
        maxes = cuda.shared.array(threads, dtype=nbtype)
        sums = cuda.shared.array(threads, dtype=nbtype)
        for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
            m, s = row_max_sum(x, r, maxes, sums)
            finite = abs(m) < inf
            for j in range(cuda.threadIdx.x, x.shape[1], threads):
                out[r, j] = math.exp(x[r, j] - m) / s if finite else nan

    @cuda.jit
    def log_softmax(x, out):
        """(x - max) - log(sum) per row; 2 (row in L2) to 3 * itemsize bytes per element."""
        maxes = cuda.shared.array(threads, dtype=nbtype)
        sums = cuda.shared.array(threads, dtype=nbtype)
        for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
            m, s = row_max_sum(x, r, maxes, sums)
            finite = abs(m) < inf
            log_s = math.log(s) if finite else nan
            for j in range(cuda.threadIdx.x, x.shape[1], threads):
                out[r, j] = (x[r, j] - m) - log_s if finite else nan

    @cuda.jit
    def normalize_rows(x, out):
        """(x / scale) / ||x / scale||, scale = max |x| of the row; 2 to 4 * itemsize bytes per element."""
        scratch = cuda.shared.array(threads, dtype=nbtype)
        tid = cuda.threadIdx.x
        for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
            m = zero
            for j in range(tid, x.shape[1], threads):
                a = abs(x[r, j])
                if a > m or a != a:
                    m = a
            m = block_max(scratch, m)
            # A non-finite max scales by NaN: the row becomes NaN; an all-zero row stays zero.
            scale = (m if m > zero else one) if m < inf else nan
            acc = zero
            for j in range(tid, x.shape[1], threads):
                y = x[r, j] / scale
                acc += y * y
            norm = math.sqrt(block_sum(scratch, acc))
            if not norm > zero:
                norm = one
            for j in range(tid, x.shape[1], threads):
                out[r, j] = x[r, j] / scale / norm

    return SimpleNamespace(softmax=softmax, log_softmax=log_softmax, normalize_rows=normalize_rows)
