"""softmax and log_softmax over the rows of a 2-D C-contiguous array.

A row of at most ``CACHED_ROW_BYTES`` (1 MiB, a core's L2 on current x86
servers) stays in cache while it is worked on, so it is read from memory once
and written once (2 * itemsize bytes moved per element): its max, then
exp(x - max) written to the output and summed block by block, then the output
scaled by 1/sum in place (or, for log_softmax, overwritten with
(x - max) - log(sum)). One exp per element: softmax rows of 4096 to 1e5
elements took 0.59-0.68x the time of the online passes below, which compute
every exp twice, and log_softmax rows 0.78-1.0x (float32 and float64, 1 to
64 rows, both kernels timed in turn in one process on a 2-core VM).

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
chunks of rows to threads, each with its own scratch buffer. Rows too few to
keep the threads busy (one long vector) are cut into pieces instead
(``row_pieces``): the threads find each piece's (max, sum) pair, the pairs
merge per row as the columns' partials do, and the threads emit the pieces.

``softmax_columns`` normalizes down the columns instead: it takes a 3-D
array (slabs, reduced, kept) and normalizes over the middle axis of each
slab, so reduced axes that lead (axis=0 of a matrix) or sit in the middle
(the channel axis of an NCHW batch) need no transposed copy. Every loop
vectorizes across columns and reads rows in memory order:

1. statistics: tiles of ``TILE_ROWS`` rows by ``TILE_COLUMNS`` columns, each
   read from memory once for its column maxima and again from L2 for its
   sums of exp, folded into running per-column (max, sum) with the same
   rescaling as the rows' online pass;
2. emit.

Short columns (fewer than ``4 * TILE_ROWS`` rows): threads take whole
(slab, column tile) pieces, and the emit re-reads a piece from cache (one
read and one write per element when the piece fits L2). Long columns: per
slab, threads take (row chunk, column tile) pieces, each with its own partial
(max, sum), folded afterwards, then emit rows in parallel (two reads, one
write).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._config import JIT
from ._launch import SizedKernel
from ._sums import chunk_bounds, prefix_sum, row_chunks, row_pieces
from ._typed import like, nan_max, wide_vectors
from .exp import exp
from .log1p import log_normal

BLOCK = 2048
CACHED_ROW_BYTES = 1 << 20



@njit(error_model="numpy", fastmath={"contract"})
def _max_and_sum(row, buf):
    """(m, s) with m the row's max and s = sum(exp(row - m)); m is NaN for a row holding
    NaN or +inf, or only -inf."""
    m, s = _running_pair(row, buf)
    return (like(math.nan, m) if m == -math.inf else m), s


@njit(error_model="numpy", fastmath={"contract"})
def _running_pair(row, buf):
    """The online (max, sum of exp(x - max)) of a row or a piece of one: NaN for NaN or +inf
    (a NaN row whatever else), (-inf, 0) when it holds only -inf (nothing to add)."""
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
    return m, s


@njit(error_model="numpy", fastmath={"contract"})
def _scale(s, log):
    """What the emit applies for a line whose sum of exp(x - max) is s: log(s), or 1/s.

    s >= 1 where the max is finite (the max contributes exp(0)); elsewhere the line is NaN anyway."""
    return log_normal(s) if log else like(1.0, s) / s


@njit(error_model="numpy", fastmath={"contract"})
def _emit(row, dst, m, scale, log):
    """softmax = exp(x - m) * scale, log_softmax = (x - m) - scale, of (a piece of) a row."""
    wide_vectors()
    if log:
        for j in range(row.size):
            dst[j] = (row[j] - m) - scale
    else:
        for j in range(row.size):
            dst[j] = exp(row[j] - m) * scale


@njit(error_model="numpy", fastmath={"contract"})
def _cached_row(row, dst, log):
    """softmax of a row that fits in cache, using ``dst`` as the scratch."""
    wide_vectors()
    m = like(-math.inf, row)
    for j in range(row.size):
        m = nan_max(m, row[j])
    if not (-math.inf < m < math.inf):  # +inf or NaN present, or all -inf
        dst[:] = like(math.nan, row)
        return
    # Summed per block while the block is in L1, and the blocks' sums added: the
    # rounding error grows with BLOCK / vector lanes + size / BLOCK terms, not with size.
    s = like(0.0, m)
    for lo in range(0, row.size, BLOCK):
        block, exps = row[lo : lo + BLOCK], dst[lo : lo + BLOCK]
        for j in range(block.size):
            exps[j] = exp(block[j] - m)
        s += prefix_sum(exps, exps.size)
    if log:
        _emit(row, dst, m, _scale(s, True), True)
    else:
        inv = like(1.0, m) / s
        for j in range(row.size):
            dst[j] *= inv


@njit(error_model="numpy", fastmath={"contract"})
def _rows(x, out, lo, hi, buf, log):
    for r in range(lo, hi):
        row, dst = x[r], out[r]
        if row.size * row.itemsize <= CACHED_ROW_BYTES:
            _cached_row(row, dst, log)
            continue
        m, s = _max_and_sum(row, buf)
        _emit(row, dst, m, _scale(s, log), log)


@njit(**JIT)
def softmax_rows_serial(x, out, log):
    _rows(x, out, 0, x.shape[0], np.empty(BLOCK, x.dtype), log)


@njit(parallel=True, **JIT)
def softmax_rows_parallel(x, out, log):
    n_rows, n = x.shape
    n_pieces = row_pieces(n_rows, n)
    if n_pieces > 1:
        _rows_in_pieces(x, out, n_pieces, log)
        return
    n_chunks = row_chunks(n_rows)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(c, n_chunks, n_rows)
        _rows(x, out, lo, hi, np.empty(BLOCK, x.dtype), log)


@njit(parallel=True, **JIT)
def _rows_in_pieces(x, out, n_pieces, log):
    """Few long rows, each cut into ``n_pieces`` pieces shared among the threads: the pieces'
    (max, sum) pairs, merged per row, then each piece emitted (two reads, one write)."""
    n_rows, n = x.shape
    # Piece p's pairs in row p, the rows' side by side: merged as the columns' partials are.
    m, s = np.empty((n_pieces, n_rows), x.dtype), np.empty((n_pieces, n_rows), x.dtype)
    for item in prange(n_rows * n_pieces):
        r, p = item // n_pieces, item % n_pieces
        lo, hi = chunk_bounds(p, n_pieces, n)
        m[p, r], s[p, r] = _running_pair(x[r, lo:hi], np.empty(BLOCK, x.dtype))
    for p in range(1, n_pieces):
        _merge(m[0], s[0], m[p], s[p])
    _finish_columns(m[0], s[0], log)  # NaN where a row has no finite max; s becomes the scale
    for item in prange(n_rows * n_pieces):
        r, p = item // n_pieces, item % n_pieces
        lo, hi = chunk_bounds(p, n_pieces, n)
        _emit(x[r, lo:hi], out[r, lo:hi], m[0, r], s[0, r], log)


softmax_rows = SizedKernel(softmax_rows_serial, softmax_rows_parallel)



# Column kernels work on tiles of TILE_ROWS x TILE_COLUMNS elements (256 KiB
# of float64): a tile stays in L2 between taking its column maxima and
# summing its exps, so the statistics cost one read of memory, and its
# per-column running values (4 x 1 KiB) stay in L1. Measured on (10000, 1000)
# float64 against tiles of 16x1024 (36% slower), 64x512, 128x128, 512x32,
# and against the earlier three-pass kernel (max, sum, emit; 3 reads): par
# for softmax, 5% behind for log_softmax, within this machine's noise.
TILE_ROWS, TILE_COLUMNS = 256, 128


@njit(error_model="numpy", fastmath={"contract"})
def _finite_or_zero(v):
    return v if -math.inf < v < math.inf else like(0.0, v)


@njit(error_model="numpy", fastmath={"contract"})
def _merge(m, s, bm, bs):
    """Fold per-column partials (bm, bs) into the running (m, s), s being sums of exp(x - m).

    Both sides are rescaled to the larger max, branch-free so the loop
    vectorizes (its exps are a 1/TILE_ROWS fraction of the work; scalar ones
    cost as much as the rest of the statistics). A side whose max is -inf
    has a zero sum and a zero factor; when both are -inf the reference is 0
    (not -inf - -inf = NaN). NaN or +inf leave m non-finite, which
    ``_finish_columns`` turns into a NaN column.
    """
    wide_vectors()
    for j in range(m.size):
        top = nan_max(m[j], bm[j])
        ref = _finite_or_zero(top)
        s[j] = s[j] * exp(m[j] - ref) + bs[j] * exp(bm[j] - ref)
        m[j] = top


@njit(error_model="numpy", fastmath={"contract"})
def _column_stats(x, r0, r1, c0, c1, m, s, bm, bs):
    """Fold rows r0..r1 of columns c0..c1 into (m, s) (indexed from c0), tile by tile."""
    wide_vectors()
    for t0 in range(r0, r1, TILE_ROWS):
        t1 = min(t0 + TILE_ROWS, r1)
        for k0 in range(c0, c1, TILE_COLUMNS):
            w = min(TILE_COLUMNS, c1 - k0)
            tile_m, tile_s = bm[:w], bs[:w]
            tile_m[:] = -math.inf
            for r in range(t0, t1):
                seg = x[r, k0 : k0 + w]
                for j in range(w):
                    tile_m[j] = nan_max(tile_m[j], seg[j])
            tile_s[:] = 0.0
            for r in range(t0, t1):  # the tile again, now from L2
                seg = x[r, k0 : k0 + w]
                for j in range(w):
                    # Relative to a non-finite max, sum from 0: an all -inf column adds exactly 0.
                    tile_s[j] += exp(seg[j] - _finite_or_zero(tile_m[j]))
            _merge(m[k0 - c0 : k0 - c0 + w], s[k0 - c0 : k0 - c0 + w], tile_m, tile_s)


@njit(error_model="numpy", fastmath={"contract"})
def _finish_columns(m, s, log):
    """m: NaN where a column held NaN or +inf or only -inf; s: what the emit pass applies."""
    for j in range(m.size):
        if not (-math.inf < m[j] < math.inf):
            m[j] = like(math.nan, m)
        s[j] = _scale(s[j], log)


@njit(error_model="numpy", fastmath={"contract"})
def _emit_columns(x, out, r0, r1, c0, c1, m, scale, log):
    """softmax = exp(x - m) * (1/s), log_softmax = (x - m) - log(s), on rows r0..r1, columns c0..c1."""
    wide_vectors()
    for r in range(r0, r1):
        seg, dst = x[r, c0:c1], out[r, c0:c1]
        if log:
            for j in range(seg.size):
                dst[j] = (seg[j] - m[j]) - scale[j]
        else:
            for j in range(seg.size):
                dst[j] = exp(seg[j] - m[j]) * scale[j]


@njit(error_model="numpy", fastmath={"contract"})
def _column_pieces(x, out, lo, hi, n_ct, log):
    """Pieces lo..hi of (slab, column tile), each done whole: statistics, then emit from cache."""
    m, s = np.empty(TILE_COLUMNS, x.dtype), np.empty(TILE_COLUMNS, x.dtype)
    scratch_m, scratch_s = np.empty(TILE_COLUMNS, x.dtype), np.empty(TILE_COLUMNS, x.dtype)
    for item in range(lo, hi):
        slab = item // n_ct
        c0 = (item - slab * n_ct) * TILE_COLUMNS
        c1 = min(c0 + TILE_COLUMNS, x.shape[2])
        tile_m, tile_s = m[: c1 - c0], s[: c1 - c0]
        tile_m[:] = -math.inf
        tile_s[:] = 0.0
        _column_stats(x[slab], 0, x.shape[1], c0, c1, tile_m, tile_s, scratch_m, scratch_s)
        _finish_columns(tile_m, tile_s, log)
        _emit_columns(x[slab], out[slab], 0, x.shape[1], c0, c1, tile_m, tile_s, log)


@njit(**JIT)
def softmax_columns_serial(x, out, log):
    n_ct = (x.shape[2] + TILE_COLUMNS - 1) // TILE_COLUMNS
    _column_pieces(x, out, 0, x.shape[0] * n_ct, n_ct, log)


@njit(nogil=True)
def column_row_chunks(n_rows):
    """Row chunks of the column statistics, each with its own partial (m, s) rows."""
    return max(1, min(32, n_rows // (4 * TILE_ROWS)))


@njit(parallel=True, **JIT)
def softmax_columns_parallel(x, out, log):
    n_slabs, n, k = x.shape
    n_rc = column_row_chunks(n)
    n_ct = (k + TILE_COLUMNS - 1) // TILE_COLUMNS
    if n_rc == 1:
        # Short columns: threads take (slab, column tile) pieces, each done whole.
        n_items = n_slabs * n_ct
        n_batches = min(n_items, 256)
        for b in prange(n_batches):
            lo, hi = chunk_bounds(b, n_batches, n_items)
            _column_pieces(x, out, lo, hi, n_ct, log)
        return
    m = np.empty((n_rc, k), x.dtype)
    s = np.empty((n_rc, k), x.dtype)
    for slab in range(n_slabs):
        xs, outs = x[slab], out[slab]
        m[:] = -math.inf
        s[:] = 0.0
        # 1. partial statistics per (row chunk, column tile), each writing its own slice
        for item in prange(n_rc * n_ct):
            rc = item // n_ct
            r0, r1 = chunk_bounds(rc, n_rc, n)
            c0 = (item - rc * n_ct) * TILE_COLUMNS
            c1 = min(c0 + TILE_COLUMNS, k)
            scratch_m, scratch_s = np.empty(TILE_COLUMNS, x.dtype), np.empty(TILE_COLUMNS, x.dtype)
            _column_stats(xs, r0, r1, c0, c1, m[rc, c0:c1], s[rc, c0:c1], scratch_m, scratch_s)
        # 2. fold the row chunks' partials into row 0, per column tile
        for ct in prange(n_ct):
            c0 = ct * TILE_COLUMNS
            c1 = min(c0 + TILE_COLUMNS, k)
            for rc in range(1, n_rc):
                _merge(m[0, c0:c1], s[0, c0:c1], m[rc, c0:c1], s[rc, c0:c1])
            _finish_columns(m[0, c0:c1], s[0, c0:c1], log)
        # 3. emit, rows in parallel
        n_chunks = row_chunks(n)
        for c in prange(n_chunks):
            lo, hi = chunk_bounds(c, n_chunks, n)
            _emit_columns(xs, outs, lo, hi, 0, k, m[0], s[0], log)


softmax_columns = SizedKernel(softmax_columns_serial, softmax_columns_parallel)

__all__ = ["softmax_columns", "softmax_rows"]
