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

Every pass over a row is ``fold`` or ``emit``: each thread issues four
independent loads before it uses the first (see ``elementwise``: one load in
flight per thread cannot stream HBM). Launch bounds of ``BLOCKS_PER_SM``
blocks cap registers at 64 per thread, so several rows are in progress on
each SM while one block waits at a barrier.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numba
import numpy as np
from numba import cuda

from ._block import reducers
from ._jit import bounded_jit

BLOCKS_PER_SM = 4  # resident blocks of ``threads`` the compiler must fit: <= 64 registers at 256 threads


def _passes(threads: int):
    """``(fold, emit)`` device functions walking one row r of x with a block of ``threads``.

    ``fold(step)(x, r, a, c, p)`` folds this thread's elements of the row into
    its pair (a, c) with ``step(a, c, v, p) -> (a, c)``; ``emit(f)(x, out, r, p, q)``
    writes out[r, j] = f(x[r, j], p, q). Both stride by ``threads`` (a warp reads
    consecutive elements) with four loads in flight.
    """

    def fold(step):
        @cuda.jit(device=True)
        def run(x, r, a, c, p):
            j = cuda.threadIdx.x
            n = x.shape[1]
            while j + 3 * threads < n:
                v0, v1, v2, v3 = x[r, j], x[r, j + threads], x[r, j + 2 * threads], x[r, j + 3 * threads]
                a, c = step(a, c, v0, p)
                a, c = step(a, c, v1, p)
                a, c = step(a, c, v2, p)
                a, c = step(a, c, v3, p)
                j += 4 * threads
            while j < n:
                a, c = step(a, c, x[r, j], p)
                j += threads
            return a, c

        return run

    def emit(f):
        @cuda.jit(device=True)
        def run(x, out, r, p, q):
            j = cuda.threadIdx.x
            n = x.shape[1]
            while j + 3 * threads < n:
                v0, v1, v2, v3 = x[r, j], x[r, j + threads], x[r, j + 2 * threads], x[r, j + 3 * threads]
                out[r, j] = f(v0, p, q)
                out[r, j + threads] = f(v1, p, q)
                out[r, j + 2 * threads] = f(v2, p, q)
                out[r, j + 3 * threads] = f(v3, p, q)
                j += 4 * threads
            while j < n:
                out[r, j] = f(x[r, j], p, q)
                j += threads

        return run

    return fold, emit


@functools.cache
def kernels(dtype: np.dtype, threads: int) -> SimpleNamespace:
    zero, one = dtype.type(0), dtype.type(1)
    inf, nan = dtype.type(np.inf), dtype.type(np.nan)
    nbtype = numba.from_dtype(dtype)
    # Device functions are bound to plain names: numba can call a closure's
    # dispatcher, not an attribute of a Python object.
    block_sum, block_max = reducers(dtype, threads)
    fold, emit = _passes(threads)
    jit_kernel = bounded_jit(threads, BLOCKS_PER_SM)

    @cuda.jit(device=True)
    def push(m, s, v, _):
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

    fold_max_sum = fold(push)

    @cuda.jit(device=True)
    def row_max_sum(x, r, maxes, sums):
        """The row's (max, sum of exp(x - max)) in every thread; a non-finite max comes back NaN."""
        tid = cuda.threadIdx.x
        m, s = fold_max_sum(x, r, -inf, zero, zero)
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
        # +inf or NaN anywhere, or only -inf: the whole row is NaN (exp(x - NaN) is NaN).
        return (m if abs(m) < inf else nan), s

    @cuda.jit(device=True)
    def softmax_value(v, m, s):
        return math.exp(v - m) / s

    @cuda.jit(device=True)
    def log_softmax_value(v, m, log_s):
        return (v - m) - log_s

    emit_softmax = emit(softmax_value)
    emit_log_softmax = emit(log_softmax_value)

    @jit_kernel
    def softmax(x, out):
        """exp(x - max) / sum per row; 2 (row in L2) to 3 * itemsize bytes per element."""
        maxes = cuda.shared.array(threads, dtype=nbtype)
        sums = cuda.shared.array(threads, dtype=nbtype)
        for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
            m, s = row_max_sum(x, r, maxes, sums)
            emit_softmax(x, out, r, m, s)

    @jit_kernel
    def log_softmax(x, out):
        """(x - max) - log(sum) per row; 2 (row in L2) to 3 * itemsize bytes per element."""
        maxes = cuda.shared.array(threads, dtype=nbtype)
        sums = cuda.shared.array(threads, dtype=nbtype)
        for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
            m, s = row_max_sum(x, r, maxes, sums)
            emit_log_softmax(x, out, r, m, math.log(s))

    @cuda.jit(device=True)
    def max_abs(m, unused, v, _):
        a = abs(v)
        return (a if (a > m or a != a) else m), unused

    @cuda.jit(device=True)
    def add_scaled_square(acc, unused, v, scale):
        y = v / scale
        return acc + y * y, unused

    @cuda.jit(device=True)
    def scaled(v, scale, norm):
        return v / scale / norm

    fold_max_abs = fold(max_abs)
    fold_squares = fold(add_scaled_square)
    emit_scaled = emit(scaled)

    @jit_kernel
    def normalize_rows(x, out):
        """(x / scale) / ||x / scale||, scale = max |x| of the row; 2 to 4 * itemsize bytes per element."""
        scratch = cuda.shared.array(threads, dtype=nbtype)
        for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
            m, _ = fold_max_abs(x, r, zero, zero, zero)
            m = block_max(scratch, m)
            # A non-finite max scales by NaN: the row becomes NaN; an all-zero row stays zero.
            scale = (m if m > zero else one) if m < inf else nan
            acc, _ = fold_squares(x, r, zero, zero, scale)
            norm = math.sqrt(block_sum(scratch, acc))
            if not norm > zero:
                norm = one
            emit_scaled(x, out, r, scale, norm)

    return SimpleNamespace(softmax=softmax, log_softmax=log_softmax, normalize_rows=normalize_rows)
