"""The online softmax normalizer: a line's max and sum of exp(x - max) in one read.

When the running max grows from m to v, the sum so far is rescaled by
exp(m - v), so one pass gives both (instead of a max pass, then a sum pass).
Each thread folds its share of the line with ``push``; ``max_sum`` merges the
threads' pairs in shared memory and hands the line's pair to all of them.
Shared by the row kernels (``rows``), the column kernels (``columns``) and
the kernels that cut a long line into pieces across blocks (``pieces``),
which keep each piece's pair (``line_pair``) and ``merge`` them later.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
from numba import cuda


@cuda.jit(device=True)
def _softmax_times(v, m, inv_s):
    return math.exp(v - m) * inv_s


@cuda.jit(device=True)
def _softmax_over(v, m, s):
    return math.exp(v - m) / s


@cuda.jit(device=True)
def _as_is(s):
    return s


@cuda.jit(device=True)
def _log_softmax_value(v, m, log_s):
    return (v - m) - log_s


@functools.cache
def normalizer(dtype: np.dtype, fold) -> SimpleNamespace:
    """``max_sum`` for lines read by the layout's ``fold`` (``_lines.ROWS.fold`` or ``COLUMNS.fold``),
    and ``forms``: for softmax and log_softmax, ``(value, prepare)`` such that each element
    becomes value(v, max, prepare(sum))."""
    zero, one = dtype.type(0), dtype.type(1)
    inf, nan = dtype.type(np.inf), dtype.type(np.nan)

    @cuda.jit(device=True)
    def push(m, s, v, _):
        """The running (max, sum of exp(x - max)) after one more value v."""
        if v > m:  # rescale the sum to the new max; m = -inf rescales by exp(-inf) = 0
            return v, s * math.exp(m - v) + one
        if v == m:  # exp(0); also keeps -inf == -inf from giving exp(nan)
            return m, s + one
        if v != v:  # NaN: the line's max and sum are NaN from here on (log(NaN) is defined)
            return v, nan
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

    fold_push = fold(push)

    @cuda.jit(device=True)
    def merge_parts(m, s, lane, lanes, part, parts, maxes, sums):
        """The pairs of the ``parts`` threads sharing a line merged, returned to each of them.

        A block holds ``lanes`` lines side by side, so thread ``part * lanes + lane``
        owns the slot of that index in ``maxes`` and ``sums``. ``parts`` is a power
        of two; every thread of the block must call this.
        """
        tid = part * lanes + lane
        maxes[tid] = m
        sums[tid] = s
        cuda.syncthreads()
        step = parts // 2
        while step > 0:
            if part < step:
                j = tid + step * lanes
                maxes[tid], sums[tid] = merge(maxes[tid], sums[tid], maxes[j], sums[j])
            cuda.syncthreads()
            step //= 2
        m, s = maxes[lane], sums[lane]
        cuda.syncthreads()
        return m, s

    @cuda.jit(device=True)
    def line_pair(x, a, b, start, stop, lane, lanes, part, parts, maxes, sums):
        """The running (max, sum) of elements start..stop-1 of line (a, b), split over
        ``parts`` threads (part p folds start + p, start + p + parts, ...) and merged."""
        m, s = fold_push(x, a, b, start + part, parts, stop, -inf, zero, zero)
        return merge_parts(m, s, lane, lanes, part, parts, maxes, sums)

    @cuda.jit(device=True)
    def finished(m):
        # +inf or NaN anywhere, or only -inf: the whole line is NaN (exp(x - NaN) is NaN).
        return m if abs(m) < inf else nan

    @cuda.jit(device=True)
    def max_sum(x, a, b, n, lane, lanes, part, parts, maxes, sums):
        """The (max, sum of exp(x - max)) of line (a, b), returned to each of the ``parts``
        threads that share it (see ``line_pair`` and ``merge_parts``); a non-finite max comes back NaN."""
        m, s = line_pair(x, a, b, 0, n, lane, lanes, part, parts, maxes, sums)
        return finished(m), s

    # s >= 1 on any line with elements; s = 0 only for a thread holding no line (past a
    # block's last column), whose result is never written: left as is, not log(0) or 1/0.
    @cuda.jit(device=True)
    def reciprocal(s):
        return one / s if s > zero else s

    @cuda.jit(device=True)
    def log_sum(s):
        return math.log(s) if s > zero else s

    # Which form of softmax compiles without spills at the kernels' register caps (CUDA 13.5's
    # ptxas, sm_90; the compile test checks): in float32 a product by 1/s, as the CPU kernels
    # do, where an IEEE division per element spilled; in float64 the division, where the
    # reciprocal's spilled 24-56 bytes.
    softmax = (_softmax_times, reciprocal) if dtype.itemsize == 4 else (_softmax_over, _as_is)
    forms = {"softmax": softmax, "log_softmax": (_log_softmax_value, log_sum)}
    return SimpleNamespace(
        max_sum=max_sum, line_pair=line_pair, merge=merge, merge_parts=merge_parts, finished=finished, forms=forms
    )
