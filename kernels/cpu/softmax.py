"""softmax and log_softmax over the rows of a 2-D C-contiguous array.

A row of at most ``BLOCK`` elements (16 KiB of float64) stays in L1 while it
is worked on, so it is read from memory once and written once (2 * itemsize
bytes moved per element): its max, then exp(x - max) written to the output
and summed, then the output scaled by 1/sum in place (or, for log_softmax,
overwritten with (x - max) - log(sum)). One exp per element.

A longer row takes two passes over memory (two reads, one write, 3 *
itemsize bytes per element; the block scratch stays in L1):

1. online max-and-sum: for each block of ``BLOCK`` elements, the block max
   bm, then exp(x - bm) into a scratch buffer and its (vectorized) sum bs;
   the running (m, s) absorbs (bm, bs) by rescaling the smaller-max side
   with exp(difference), so the row is read once whatever its length;
2. emit: softmax = exp(x - m) * (1/s), log_softmax = (x - m) - log(s).

A row holding +inf or NaN, or only -inf, has no finite max and gives NaN
(m is set to NaN, which the emit pass spreads); -inf beside finite values
gives exp(-inf) = 0. Rows are independent: the ``_parallel`` kernel hands
chunks of rows to threads, each with its own scratch buffer.

``softmax_columns`` normalizes down the columns instead (the reduced axes
lead, as for axis=0 of a C-ordered matrix), so such inputs need no transposed
copy: per block of ``COLUMNS`` columns, three passes over the rows (max, sum
of exp, emit; 3 reads and 1 write per element), each vectorized across the
columns; blocks go to threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._launch import SizedKernel
from ._sums import chunk_bounds, prefix_sum, row_chunks
from ._typed import like, nan_max, wide_vectors
from .exp import exp

BLOCK = 2048

_JIT = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": {"contract"}}


@njit(error_model="numpy", fastmath={"contract"})
def _max_and_sum(row, buf):
    """(m, s) with m the row's max and s = sum(exp(row - m)); m is NaN for a NaN row."""
    wide_vectors()
    nan = like(math.nan, buf)
    m = like(-math.inf, buf)
    s = like(0.0, buf)
    for lo in range(0, row.size, BLOCK):
        block = row[lo : lo + BLOCK]  # loops from 0: no wraparound checks (see _sums.pair_sum)
        bm = like(-math.inf, buf)
        for j in range(block.size):
            bm = nan_max(bm, block[j])
        if not bm < math.inf:  # +inf or NaN in the block
            return nan, s
        if bm == -math.inf:  # all -inf: contributes 0
            continue
        for j in range(block.size):
            buf[j] = exp(block[j] - bm)
        bs = prefix_sum(buf, block.size)
        if bm > m:
            s = s * exp(m - bm) + bs
            m = bm
        else:
            s += bs * exp(bm - m)
    if m == -math.inf:
        return nan, s
    return m, s


@njit(error_model="numpy", fastmath={"contract"})
def _emit_log(row, dst, m, s):
    """log_softmax from the row's max m and sum s of exp(x - m): (x - m) - log(s)."""
    lse = like(math.log(s), m)
    for j in range(row.size):
        dst[j] = (row[j] - m) - lse


@njit(error_model="numpy", fastmath={"contract"})
def _short_row(row, dst, log):
    """softmax of a row of at most BLOCK elements, using ``dst`` as the scratch."""
    wide_vectors()
    m = like(-math.inf, row)
    for j in range(row.size):
        m = nan_max(m, row[j])
    if not (-math.inf < m < math.inf):  # +inf or NaN present, or all -inf
        dst[:] = like(math.nan, row)
        return
    for j in range(row.size):
        dst[j] = exp(row[j] - m)
    s = prefix_sum(dst, row.size)
    if log:
        _emit_log(row, dst, m, s)
    else:
        inv = like(1.0, m) / s
        for j in range(row.size):
            dst[j] *= inv


@njit(error_model="numpy", fastmath={"contract"})
def _rows(x, out, lo, hi, buf, log):
    wide_vectors()
    for r in range(lo, hi):
        row, dst = x[r], out[r]
        if row.size <= BLOCK:
            _short_row(row, dst, log)
            continue
        m, s = _max_and_sum(row, buf)
        if log:
            _emit_log(row, dst, m, s)
        else:
            inv = like(1.0, m) / s
            for j in range(row.size):
                dst[j] = exp(row[j] - m) * inv


@njit(**_JIT)
def softmax_rows_serial(x, out, log):
    _rows(x, out, 0, x.shape[0], np.empty(BLOCK, x.dtype), log)


@njit(parallel=True, **_JIT)
def softmax_rows_parallel(x, out, log):
    n_chunks = row_chunks(x.shape[0])
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(c, n_chunks, x.shape[0])
        _rows(x, out, lo, hi, np.empty(BLOCK, x.dtype), log)


softmax_rows = SizedKernel(softmax_rows_serial, softmax_rows_parallel)



# Columns per block of the column kernels: a block's running max and sum stay
# in L1 (2 x 4 KiB of float64) while the rows stream past.
COLUMNS = 512


@njit(error_model="numpy", fastmath={"contract"})
def _column_block(x, out, c0, c1, log):
    """softmax down columns c0..c1 of x (reduced axis first), vectorized across the columns."""
    wide_vectors()
    m = np.full(c1 - c0, -math.inf, x.dtype)
    s = np.zeros(c1 - c0, x.dtype)
    for r in range(x.shape[0]):
        seg = x[r, c0:c1]
        for j in range(seg.size):
            m[j] = nan_max(m[j], seg[j])
    for j in range(m.size):
        m[j] = m[j] if -math.inf < m[j] < math.inf else like(math.nan, m)
    for r in range(x.shape[0]):
        seg = x[r, c0:c1]
        for j in range(seg.size):
            s[j] += exp(seg[j] - m[j])
    for j in range(s.size):
        s[j] = like(math.log(s[j]), s) if log else like(1.0, s) / s[j]
    for r in range(x.shape[0]):
        seg, dst = x[r, c0:c1], out[r, c0:c1]
        if log:
            for j in range(seg.size):
                dst[j] = (seg[j] - m[j]) - s[j]
        else:
            for j in range(seg.size):
                dst[j] = exp(seg[j] - m[j]) * s[j]


@njit(**_JIT)
def softmax_columns_serial(x, out, log):
    for c0 in range(0, x.shape[1], COLUMNS):
        _column_block(x, out, c0, min(c0 + COLUMNS, x.shape[1]), log)


@njit(parallel=True, **_JIT)
def softmax_columns_parallel(x, out, log):
    n_blocks = (x.shape[1] + COLUMNS - 1) // COLUMNS
    for b in prange(n_blocks):
        c0 = b * COLUMNS
        _column_block(x, out, c0, min(c0 + COLUMNS, x.shape[1]), log)


softmax_columns = SizedKernel(softmax_columns_serial, softmax_columns_parallel)

__all__ = ["softmax_columns", "softmax_rows"]
