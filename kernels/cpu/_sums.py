"""Reassociated sums: the building block of every reduction kernel.

Without permission to reassociate, LLVM must add floats in source order, one
dependent add at a time, and cannot vectorize the loop. ``fastmath`` here is
only ``reassoc`` (plus FMA ``contract``): lanes hold partial sums, NaN and inf
still propagate. These helpers contain no exp, so reassociation cannot disturb
the range reduction of ``exp.py``.
"""

from __future__ import annotations

from numba import njit

from ._typed import like, wide_vectors

_REDUCE = {"nogil": True, "error_model": "numpy", "fastmath": {"reassoc", "contract"}}

# Reduction kinds of ``pair_sum``.
DOT, L1, L2 = 0, 1, 2


@njit(**_REDUCE)
def prefix_sum(buf, n):
    """buf[0] + ... + buf[n-1]."""
    wide_vectors()
    s = like(0.0, buf)
    for i in range(n):
        s += buf[i]
    return s


@njit(**_REDUCE)
def pair_sum(a, b, lo, hi, kind):
    """Sum over i in [lo, hi) of a[i]*b[i] (DOT), |a[i]-b[i]| (L1) or (a[i]-b[i])**2 (L2)."""
    wide_vectors()
    # Slice first: a loop from 0 proves the index non-negative, which spares
    # numba's wraparound select on every access (measured 15-20% here).
    x, y = a[lo:hi], b[lo:hi]
    s = like(0.0, a)
    if kind == DOT:
        for i in range(x.size):
            s += x[i] * y[i]
    elif kind == L1:
        for i in range(x.size):
            s += abs(x[i] - y[i])
    else:
        for i in range(x.size):
            d = x[i] - y[i]
            s += d * d
    return s


@njit(**_REDUCE)
def scaled_square_sum(row, m):
    """Sum of (row[i] / m)**2: the squared L2 norm of the row scaled by m."""
    wide_vectors()
    s = like(0.0, m)
    for i in range(row.size):
        y = row[i] / m
        s += y * y
    return s


@njit(nogil=True)
def chunk_bounds(c, n_chunks, n):
    """The c-th of n_chunks near-equal contiguous pieces of range(n)."""
    return c * n // n_chunks, (c + 1) * n // n_chunks


@njit(nogil=True)
def row_chunks(n_rows):
    """How many row chunks to hand out: many per thread, taken dynamically (``SizedKernel``).

    A constant, not a function of ``numba.get_num_threads()``, which would make
    the kernel uncacheable (it reads a runtime global).
    """
    return min(n_rows, 256)
