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
    f(v, p, q) in place of each of them. Both are the one four-loads loop, ``passes``,
    with what is done to each value passed in (inlined: the machine code is that of two
    hand-written loops, registers unchanged).
    """

    def passes(visit):
        """The loop itself: elements k, k + stride, ... < n of line (a, b), four loads in
        flight, each value handed to ``visit(out, a, b, k, v, acc, c, p, q) -> (acc, c)``."""

        @cuda.jit(device=True)
        def run(x, out, a, b, k, stride, n, acc, c, p, q):
            while k + 3 * stride < n:
                v0, v1 = at(x, a, b, k), at(x, a, b, k + stride)
                v2, v3 = at(x, a, b, k + 2 * stride), at(x, a, b, k + 3 * stride)
                acc, c = visit(out, a, b, k, v0, acc, c, p, q)
                acc, c = visit(out, a, b, k + stride, v1, acc, c, p, q)
                acc, c = visit(out, a, b, k + 2 * stride, v2, acc, c, p, q)
                acc, c = visit(out, a, b, k + 3 * stride, v3, acc, c, p, q)
                k += 4 * stride
            while k < n:
                acc, c = visit(out, a, b, k, at(x, a, b, k), acc, c, p, q)
                k += stride
            return acc, c

        return run

    def fold(step):
        @cuda.jit(device=True)
        def visit(out, a, b, k, v, acc, c, p, q):
            return step(acc, c, v, p)

        loop = passes(visit)

        @cuda.jit(device=True)
        def run(x, a, b, k, stride, n, acc, c, p):
            return loop(x, x, a, b, k, stride, n, acc, c, p, p)  # nothing written: out is x

        return run

    def emit(f):
        @cuda.jit(device=True)
        def visit(out, a, b, k, v, acc, c, p, q):
            put(out, a, b, k, f(v, p, q))
            return acc, c

        loop = passes(visit)

        @cuda.jit(device=True)
        def run(x, out, a, b, k, stride, n, p, q):
            loop(x, out, a, b, k, stride, n, p, p, p, q)  # no accumulator: p rides along unused

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
