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
        lse = like(math.log(s), m)
        for j in range(row.size):
            dst[j] = (row[j] - m) - lse
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
            lse = like(math.log(s), m)
            for j in range(row.size):
                dst[j] = (row[j] - m) - lse
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

__all__ = ["softmax_rows"]
