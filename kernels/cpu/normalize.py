"""normalize_rows: each row of a 2-D C-contiguous array divided by its L2 norm.

Per row: max |x| (m), then n = sqrt(sum((x/m)**2)), then out = (x/m)/n:
three reads of the row (the row is reused from cache after the first) and
one write, 2 * itemsize bytes moved per element from memory. Scaling by m
first keeps the sum of squares from overflowing (|x| > 1e154) or
underflowing (subnormal rows). A zero row stays zero; a row holding inf or
NaN gives NaN. Rows are independent and handed to threads in chunks; rows too
few to keep the threads busy (one long vector) are cut into pieces instead
(``_sums.row_pieces``), each pass over them shared among the threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._config import JIT
from ._launch import SizedKernel
from ._sums import chunk_bounds, row_chunks, row_pieces, scaled_square_sum
from ._typed import like, nan_max, wide_vectors


@njit(error_model="numpy", fastmath={"contract"})
def _max_abs(row):
    """max |x| of (a piece of) a row; NaN if it holds NaN."""
    wide_vectors()
    m = like(0.0, row)
    for j in range(row.size):
        m = nan_max(m, abs(row[j]))
    return m


@njit(error_model="numpy", fastmath={"contract"})
def _emit(row, dst, m, n):
    """(x / m) / n for a row of largest magnitude m and scaled norm n: NaN where m is not
    finite, zeros where the row is (m = 0)."""
    wide_vectors()
    if not m < math.inf:
        dst[:] = like(math.nan, m)
    elif m == like(0.0, m):
        dst[:] = m
    else:
        for j in range(row.size):
            dst[j] = (row[j] / m) / n


@njit(error_model="numpy", fastmath={"contract"})
def _rows(x, out, lo, hi):
    for r in range(lo, hi):
        row = x[r]
        m = _max_abs(row)
        n = like(math.sqrt(scaled_square_sum(row, m)), m) if 0 < m < math.inf else m  # else unused
        _emit(row, out[r], m, n)


@njit(**JIT)
def normalize_rows_serial(x, out):
    _rows(x, out, 0, x.shape[0])


@njit(parallel=True, **JIT)
def normalize_rows_parallel(x, out):
    n_rows, n = x.shape
    n_pieces = row_pieces(n_rows, n)
    if n_pieces > 1:
        _rows_in_pieces(x, out, n_pieces)
        return
    n_chunks = row_chunks(n_rows)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(c, n_chunks, n_rows)
        _rows(x, out, lo, hi)


@njit(parallel=True, **JIT)
def _rows_in_pieces(x, out, n_pieces):
    """Few long rows, each cut into ``n_pieces`` pieces shared among the threads: the pieces'
    max |x|, then their sums of squares scaled by the row's max, then the emit (three reads)."""
    n_rows, n = x.shape
    maxima = np.empty((n_rows, n_pieces), x.dtype)
    for item in prange(n_rows * n_pieces):
        r, p = item // n_pieces, item % n_pieces
        lo, hi = chunk_bounds(p, n_pieces, n)
        maxima[r, p] = _max_abs(x[r, lo:hi])
    m = np.empty(n_rows, x.dtype)
    for r in range(n_rows):
        m[r] = _max_abs(maxima[r])  # the pieces' maxima are >= 0: their max |.| is the row's
    squares = np.zeros((n_rows, n_pieces))  # float64, as scaled_square_sum returns them
    for item in prange(n_rows * n_pieces):
        r, p = item // n_pieces, item % n_pieces
        lo, hi = chunk_bounds(p, n_pieces, n)
        if 0 < m[r] < math.inf:
            squares[r, p] = scaled_square_sum(x[r, lo:hi], m[r])
    norms = np.empty(n_rows, x.dtype)
    for r in range(n_rows):
        norms[r] = math.sqrt(np.sum(squares[r]))
    for item in prange(n_rows * n_pieces):
        r, p = item // n_pieces, item % n_pieces
        lo, hi = chunk_bounds(p, n_pieces, n)
        _emit(x[r, lo:hi], out[r, lo:hi], m[r], norms[r])


normalize_rows = SizedKernel(normalize_rows_serial, normalize_rows_parallel)

__all__ = ["normalize_rows"]
