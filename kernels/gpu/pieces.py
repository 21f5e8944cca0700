"""softmax and log_softmax over lines too few to fill the GPU: each line cut into pieces across blocks.

The row and column kernels give a line (or a tile of ``lanes`` columns) to
one block. Softmax of a single long vector, or over the first axis of a
(10**6, 2) array, is one or two lines: one or two blocks, one or two of the
device's 132 multiprocessors streaming the whole array. Here each line is
cut into pieces of ``piece`` elements, and (tile, piece) pairs are the
blocks' work, in two launches:

1. ``line_pieces``: each block folds its piece of each of its tile's lines
   into the online (max, sum) pair (``_online.line_pair``) and writes it to
   ``maxes[j * columns + g]`` / ``sums[...]`` (piece j of line g, so a tile's
   lanes write consecutive slots).
2. ``softmax_pieces`` / ``log_softmax_pieces``: each block merges the pairs
   of all pieces of its lines (a few per thread, then the shared-memory
   tree), and emits its own piece.

Lines are in the column layout (``_lines.COLUMNS``, x flat in C order): a
row of a (rows, n) array is a column with inner = 1 (lanes = 1, all threads
along the row); a column of an (outer, n, inner) array is as in ``columns``.
DRAM traffic is 3 * itemsize bytes per element (the launch boundary lets the
line leave L2 before its second read), against 2 to 3 for one block per
line: the price of using the whole device. NaN, inf and -inf give the row
kernels' results: pairs merge as the threads' pairs do within a block.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numba
import numpy as np
from numba import cuda

from ._jit import bounded_jit
from ._lines import COLUMNS
from ._online import normalizer
from .columns import BLOCKS_PER_SM, tile  # the same lines and tiles, the same register budget


@cuda.jit(device=True)
def _piece(w, n, inner, columns, lanes, piece, pieces):
    """Work item w as this thread's line and piece: the line's first element, the piece's
    elements lo..hi-1 (none past the last column), the thread's (lane, part), and the
    slot of this line's pair for piece 0 (piece j's is ``slot + j * columns``)."""
    t, j = w // pieces, w % pieces
    first, length, lane, part = tile(t, n, inner, columns, lanes)
    lo = min(j * piece, length)
    return first, lo, min(lo + piece, length), lane, part, t * lanes + lane


@functools.cache
def kernels(dtype: np.dtype, threads: int) -> SimpleNamespace:
    nbtype = numba.from_dtype(dtype)
    zero, inf = dtype.type(0), dtype.type(np.inf)
    online = normalizer(dtype, COLUMNS.fold)
    line_pair, merge, merge_parts, finished = online.line_pair, online.merge, online.merge_parts, online.finished
    jit_kernel = bounded_jit(threads, BLOCKS_PER_SM[dtype.itemsize])

    @jit_kernel
    def line_pieces(x, maxes_out, sums_out, n, inner, columns, lanes, piece, pieces):
        """The (max, sum) pair of every piece of every line, in (pieces, columns) slots."""
        maxes = cuda.shared.array(threads, dtype=nbtype)
        sums = cuda.shared.array(threads, dtype=nbtype)
        parts = threads // lanes
        for w in range(cuda.blockIdx.x, (columns + lanes - 1) // lanes * pieces, cuda.gridDim.x):
            first, lo, hi, lane, part, g = _piece(w, n, inner, columns, lanes, piece, pieces)
            m, s = line_pair(x, first, inner, lo, hi, lane, lanes, part, parts, maxes, sums)
            if part == 0 and g < columns:  # an empty piece writes (-inf, 0), which merges as nothing
                slot = (w % pieces) * columns + g
                maxes_out[slot] = m
                sums_out[slot] = s

    def emit_kernel(name, value, prepare):
        """softmax or log_softmax of each piece, from the merged pairs of all its line's pieces."""
        emit_value = COLUMNS.emit(value)

        def kernel(x, out, maxes_in, sums_in, n, inner, columns, lanes, piece, pieces):
            maxes = cuda.shared.array(threads, dtype=nbtype)
            sums = cuda.shared.array(threads, dtype=nbtype)
            parts = threads // lanes
            for w in range(cuda.blockIdx.x, (columns + lanes - 1) // lanes * pieces, cuda.gridDim.x):
                first, lo, hi, lane, part, g = _piece(w, n, inner, columns, lanes, piece, pieces)
                m, s = -inf, zero
                if g < columns:
                    for j in range(part, pieces, parts):
                        m, s = merge(m, s, maxes_in[j * columns + g], sums_in[j * columns + g])
                m, s = merge_parts(m, s, lane, lanes, part, parts, maxes, sums)
                emit_value(x, out, first, inner, lo + part, parts, hi, finished(m), prepare(s))

        kernel.__name__ = kernel.__qualname__ = f"{name}_pieces"  # what profilers and compile errors show
        return jit_kernel(kernel)

    return SimpleNamespace(
        line_pieces=line_pieces, **{f"{name}_pieces": emit_kernel(name, *form) for name, form in online.forms.items()}
    )
