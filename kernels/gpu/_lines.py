"""Strided passes over one line of an array: the loop the row and column kernels share.

A line is n elements of x: ``x[a, k]`` for row a of a 2-D array (``ROWS``);
``x[a + k * b]`` for a column of a flat C-ordered (outer, n, inner) array
(``COLUMNS``: a is the column's first element, b = inner its stride; flat
indexing needs fewer registers than a 3-D array's shape and strides). A pass visits
k = start, start + stride, ... < n, so the threads of a block that start at
consecutive k (rows) or consecutive b (columns) make each warp load
coalesced. Each pass issues four independent loads before it uses the first:
one load in flight per thread cannot stream HBM (see ``elementwise``).
"""

from __future__ import annotations

from types import SimpleNamespace

from numba import cuda


def _passes(at, put) -> SimpleNamespace:
    """``fold`` and ``emit`` factories for the line layout read by ``at`` and written by ``put``.

    ``fold(step)(x, a, b, k, stride, n, acc, c, p)`` folds the line's elements
    k, k + stride, ... < n into the pair (acc, c) with ``step(acc, c, v, p) ->
    (acc, c)``; ``emit(f)(x, out, a, b, k, stride, n, p, q)`` writes
    f(v, p, q) in place of each of them.
    """

    def fold(step):
        @cuda.jit(device=True)
        def run(x, a, b, k, stride, n, acc, c, p):
            while k + 3 * stride < n:
                v0, v1 = at(x, a, b, k), at(x, a, b, k + stride)
                v2, v3 = at(x, a, b, k + 2 * stride), at(x, a, b, k + 3 * stride)
                acc, c = step(acc, c, v0, p)
                acc, c = step(acc, c, v1, p)
                acc, c = step(acc, c, v2, p)
                acc, c = step(acc, c, v3, p)
                k += 4 * stride
            while k < n:
                acc, c = step(acc, c, at(x, a, b, k), p)
                k += stride
            return acc, c

        return run

    def emit(f):
        @cuda.jit(device=True)
        def run(x, out, a, b, k, stride, n, p, q):
            while k + 3 * stride < n:
                v0, v1 = at(x, a, b, k), at(x, a, b, k + stride)
                v2, v3 = at(x, a, b, k + 2 * stride), at(x, a, b, k + 3 * stride)
                put(out, a, b, k, f(v0, p, q))
                put(out, a, b, k + stride, f(v1, p, q))
                put(out, a, b, k + 2 * stride, f(v2, p, q))
                put(out, a, b, k + 3 * stride, f(v3, p, q))
                k += 4 * stride
            while k < n:
                put(out, a, b, k, f(at(x, a, b, k), p, q))
                k += stride

        return run

    return SimpleNamespace(fold=fold, emit=emit)


@cuda.jit(device=True)
def _row_at(x, a, b, k):
    return x[a, k]


@cuda.jit(device=True)
def _row_put(out, a, b, k, v):
    out[a, k] = v


@cuda.jit(device=True)
def _column_at(x, a, b, k):
    return x[a + k * b]


@cuda.jit(device=True)
def _column_put(out, a, b, k, v):
    out[a + k * b] = v


ROWS = _passes(_row_at, _row_put)
COLUMNS = _passes(_column_at, _column_put)
