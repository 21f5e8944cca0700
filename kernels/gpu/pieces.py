"""Lines too few to fill the GPU, each cut into pieces across blocks: softmax, log_softmax, normalize_rows.

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

normalize_rows over a few long rows is cut the same way, rows only (it never
takes the column layout), in two launches with the row kernel's steps (``_norm``):

1. ``norm_pieces``: each block takes its piece's max |x| m_j, then reads the
   piece again (from L2) for its sum of squares of x / m_j.
2. ``normalize_rows_pieces``: each block merges its row's pieces: the row's
   max M, and the sum of squares of x / M as the sum of s_j * (m_j / M)^2
   (each factor <= 1, so nothing overflows), then emits its piece as
   x / M / norm. DRAM traffic is 3 * itemsize bytes per element, against 2
   to 4 for one block per row.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numba
import numpy as np
from numba import cuda

from . import _norm
from ._block import reducers
from ._jit import kernel_jit
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
    jit_kernel = kernel_jit(threads, BLOCKS_PER_SM[dtype.itemsize])

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

    block_sum, block_max = reducers(dtype, threads)
    fold_max_abs, fold_squares = COLUMNS.fold(_norm.max_abs), COLUMNS.fold(_norm.add_scaled_square)
    emit_scaled = COLUMNS.emit(_norm.scaled)
    finish = _norm.finishers(dtype)
    scale_for, norm_for = finish.scale_for, finish.norm_for

    # normalize_rows: rows only, so a block's reductions span all its threads and a row's
    # piece is found without the column layout's divisions (which cost float32 24 bytes of spills).
    @jit_kernel
    def norm_pieces(x, maxes_out, sums_out, n, rows, piece, pieces):
        """Each piece's max |x| and its sum of squares scaled by that max, in (pieces, rows) slots."""
        scratch = cuda.shared.array(threads, dtype=nbtype)
        tid = cuda.threadIdx.x
        for w in range(cuda.blockIdx.x, rows * pieces, cuda.gridDim.x):
            r, j = w // pieces, w % pieces
            lo = j * piece
            hi = min(lo + piece, n)
            m, _ = fold_max_abs(x, r * n, 1, lo + tid, threads, hi, zero, zero, zero)
            m = block_max(scratch, m)
            # The piece is read again at once, from L2: its sum of squares scaled by its own max.
            acc, _ = fold_squares(x, r * n, 1, lo + tid, threads, hi, zero, zero, scale_for(m))
            acc = block_sum(scratch, acc)
            if tid == 0:
                maxes_out[j * rows + r] = m
                sums_out[j * rows + r] = acc

    @jit_kernel
    def normalize_rows_pieces(x, out, maxes_in, sums_in, n, rows, piece, pieces):
        """Each piece of each row divided by the row's max |x| and then by the norm of that,
        from the merged (max, scaled sum) of all the row's pieces."""
        scratch = cuda.shared.array(threads, dtype=nbtype)
        tid = cuda.threadIdx.x
        for w in range(cuda.blockIdx.x, rows * pieces, cuda.gridDim.x):
            r, lo = w // pieces, w % pieces * piece
            m = zero
            for j in range(tid, pieces, threads):
                m, _ = _norm.max_abs(m, zero, maxes_in[j * rows + r], zero)
            scale = scale_for(block_max(scratch, m))
            acc = zero
            for j in range(tid, pieces, threads):
                # Piece j summed (x / m_j)^2: rescaled to the row's scale by (m_j / scale)^2 <= 1.
                # An all-zero piece has m_j = 0 and adds 0; a NaN scale makes the row NaN anyway.
                q = maxes_in[j * rows + r] / scale
                acc += sums_in[j * rows + r] * (q * q)
            norm = norm_for(block_sum(scratch, acc))
            emit_scaled(x, out, r * n, 1, lo + tid, threads, min(lo + piece, n), scale, norm)

    return SimpleNamespace(
        line_pieces=line_pieces,
        **{f"{name}_pieces": emit_kernel(name, *form) for name, form in online.forms.items()},
        norm_pieces=norm_pieces,
        normalize_rows_pieces=normalize_rows_pieces,
    )
