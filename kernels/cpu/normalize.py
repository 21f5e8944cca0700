"""normalize_rows: each row of a 2-D C-contiguous array divided by its L2 norm.

Per row: max |x| (m), then n = sqrt(sum((x/m)**2)), then out = (x/m)/n:
three reads of the row (the row is reused from cache after the first) and
one write, 2 * itemsize bytes moved per element from memory. Scaling by m
first keeps the sum of squares from overflowing (|x| > 1e154) or
underflowing (subnormal rows). A zero row stays zero; a row holding inf or
NaN gives NaN. Rows are independent and handed to threads in chunks.
"""

from __future__ import annotations

import math

from numba import njit, prange

from ._launch import SizedKernel
from ._sums import chunk_bounds, row_chunks, scaled_square_sum
from ._typed import like, nan_max, wide_vectors

_JIT = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": {"contract"}}


@njit(error_model="numpy", fastmath={"contract"})
def _rows(x, out, lo, hi):
    wide_vectors()
    for r in range(lo, hi):
        row, dst = x[r], out[r]
        zero = like(0.0, dst)
        m = zero
        for j in range(row.size):
            m = nan_max(m, abs(row[j]))
        if not m < math.inf:
            dst[:] = like(math.nan, m)
        elif m == zero:
            dst[:] = zero
        else:
            n = like(math.sqrt(scaled_square_sum(row, m)), m)
            for j in range(row.size):
                dst[j] = (row[j] / m) / n


@njit(**_JIT)
def normalize_rows_serial(x, out):
    _rows(x, out, 0, x.shape[0])


@njit(parallel=True, **_JIT)
def normalize_rows_parallel(x, out):
    n_chunks = row_chunks(x.shape[0])
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(c, n_chunks, x.shape[0])
        _rows(x, out, lo, hi)


normalize_rows = SizedKernel(normalize_rows_serial, normalize_rows_parallel)

__all__ = ["normalize_rows"]
