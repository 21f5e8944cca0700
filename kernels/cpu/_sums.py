"""Reassociated sums: the building block of every reduction kernel.

Without permission to reassociate, LLVM must add floats in source order, one
dependent add at a time, and cannot vectorize the loop. ``fastmath`` here is
only ``reassoc`` (plus FMA ``contract``): lanes hold partial sums, NaN and inf
still propagate. These helpers contain no exp, so reassociation cannot disturb
the range reduction of ``exp.py``.
"""

from __future__ import annotations

from numba import njit

from ._config import REASSOC
from ._typed import like, wide_vectors

# Reduction kinds of ``pair_sum``.
DOT, L1, L2 = 0, 1, 2


@njit(**REASSOC)
def prefix_sum(buf, n):
    """buf[0] + ... + buf[n-1]."""
    wide_vectors()
    s = like(0.0, buf)
    for i in range(n):
        s += buf[i]
    return s


@njit(**REASSOC)
def wide_sum(buf, n):
    """buf[0] + ... + buf[n-1] in float64, whatever buf's float type."""
    wide_vectors()
    s = 0.0
    for i in range(n):
        s += buf[i]
    return s


@njit(**REASSOC)
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


SQUARES_BLOCK = 4096  # elements summed into one partial before it joins the total


@njit(**REASSOC)
def scaled_square_sum(row, m):
    """Sum of (row[i] / m)**2: the squared L2 norm of the row scaled by m.

    Summed a block at a time, then the blocks' sums in float64: every term is
    positive, so a running float32 sum over millions of them grows until each
    new term loses bits to it (one 3e7-element row came out 7e-5 off); blocked,
    a term meets at most a block's worth of lane sums. Returns a float64.
    """
    wide_vectors()
    total = 0.0
    for lo in range(0, row.size, SQUARES_BLOCK):
        block = row[lo : lo + SQUARES_BLOCK]  # a loop from 0: no wraparound checks (see pair_sum)
        s = like(0.0, m)
        for i in range(block.size):
            y = block[i] / m
            s += y * y
        total += s
    return total


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


# Rows fewer than ROWS_TO_SHARE (too few to keep every thread busy) are cut into pieces of
# PIECE_MIN elements or more (256 KiB of float32), about ITEMS (row, piece) items in all.
ROWS_TO_SHARE = 64
ITEMS = 256
PIECE_MIN = 1 << 16


@njit(nogil=True)
def row_pieces(n_rows, n):
    """Pieces each row is cut into for the threads: 1 (rows whole) when there are rows enough
    to share out (``ROWS_TO_SHARE``), else up to ``ITEMS`` (row, piece) items in all, each
    piece ``PIECE_MIN`` elements or more. A constant, not the thread count (see row_chunks)."""
    if n_rows >= ROWS_TO_SHARE:
        return 1
    return max(1, min(-(-ITEMS // max(n_rows, 1)), n // PIECE_MIN))
