"""The host side of the GPU kernels: shapes arrays for them, launches them, finishes partials.

Written against an array module rather than CuPy itself: on a device ``xp`` is
cupy and ``start`` launches through CuPy (``launch.CupyStart``); under
numba-cuda's simulator ``xp`` is numpy and numba-cuda launches the kernels on
NumPy arrays as they are (``launch.NumbaDispatch``). So the CI tests run this
very code, with small blocks and grids, on the simulator.

Every launch is asynchronous, on the current stream; nothing here reads a
result back to the host.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import columns, elementwise, logistic, pieces, reduce, rows
from .launch import NumbaDispatch

PIECE_MIN_PER_THREAD = 64  # elements per thread in a piece of a line cut across blocks: fewer, and merging pairs costs more than reading


def _c_order(xp, a):
    """``a`` C-contiguous: a copy only if it is not (``ascontiguousarray`` would make 0-d 1-d)."""
    return a if a.flags.c_contiguous else xp.ascontiguousarray(a)


def column_lanes(n: int, columns: int, threads: int) -> int:
    """Columns per block for the column kernels, a power of two dividing ``threads``.

    At least a warp's worth of consecutive columns (or all of them, if fewer),
    so each load of a warp is one contiguous run; beyond that, as many threads
    per column (a power of two) as keep 16 or more of its n elements each, so
    long columns are shared out and short ones are not merged for a handful
    of loads.
    """
    warp = min(32, threads, 1 << max(columns - 1, 0).bit_length())  # columns rounded up to a power of two
    parts = min(threads // warp, 1 << max(n // 16, 1).bit_length() - 1)  # n // 16 rounded down
    return threads // parts


@dataclass
class Launcher:
    xp: Any  # cupy on a device, numpy under the simulator
    threads: int  # per block, a power of two
    max_blocks: int  # grid-stride kernels launch at most this many blocks
    # start(kernel, grid, threads, shared bytes, arrays, args): one launch
    start: Callable[..., None] = field(default_factory=NumbaDispatch)
    shared_budget: int = logistic.SHARED_BYTES  # per block, for the fused logistic kernel's tiles

    def launch(self, kernel, blocks: int, *arrays, shared: int = 0, args: tuple = ()) -> None:
        self.start(kernel, max(1, min(blocks, self.max_blocks)), self.threads, shared, arrays, args)

    def blocks_for(self, size: int) -> int:
        return -(-size // self.threads)

    def streaming_blocks(self, size: int) -> int:
        """Blocks for a grid-stride pass over ``size`` elements giving each thread ``UNROLL`` of them."""
        return min(self.blocks_for(-(-size // elementwise.UNROLL)), self.max_blocks)

    def piece_length(self, tiles: int, n: int, parts: int) -> int:
        """The elements of a line each block takes when lines of n elements are cut into
        pieces across blocks (``pieces``), or 0 to keep one block per tile of lines.

        Cut only when the ``tiles`` would occupy a quarter of the grid or less, and into
        pieces that still give each of a tile's ``parts`` threads ``PIECE_MIN_PER_THREAD``
        elements. The length is a multiple of 32, so on a row that starts aligned (one
        vector; rows of a multiple of 32) every piece's warp loads start aligned too.
        """
        count = min(self.max_blocks // max(tiles, 1), n // (parts * PIECE_MIN_PER_THREAD))
        if count < 4:
            return 0
        per_block = -(-n // count)
        return -(-per_block // 32) * 32

    def elementwise(self, name: str, x):
        """One launch of an elementwise kernel over x (copied to C order only if strided)."""
        x = _c_order(self.xp, x)
        out = self.xp.empty_like(x)
        if x.size:
            kernel = getattr(elementwise.kernels(x.dtype), name)
            self.launch(kernel, self.streaming_blocks(x.size), x.reshape(-1), out.reshape(-1))
        return out

    def rows(self, name: str, x, axes: tuple[int, ...]):
        """``name`` (softmax, log_softmax, normalize_rows) reduced over ``axes``, an array of x's shape.

        An F-ordered x is handled as its C-ordered transpose, axes mirrored, and the
        result transposed back: its layout is the input's. Then: reduced axes trailing
        (or movable there without a copy), the row kernel on x viewed as rows; a run of
        adjacent axes in the middle, the column kernel on x viewed as (outer, n, inner),
        C order in and out; other layouts, the reduced axes moved last in a copy and the
        rows' result transposed back (a view). Softmax over rows or columns too few to
        fill the grid (and normalize_rows over too few rows) cuts each into pieces across
        blocks (``piece_length``, ``pieces``).
        """
        xp = self.xp
        if x.ndim > 1 and x.flags.f_contiguous and not x.flags.c_contiguous:
            return self.rows(name, x.T, tuple(sorted(x.ndim - 1 - a for a in axes))).T
        order = [a for a in range(x.ndim) if a not in axes] + list(axes)
        moved = xp.transpose(x, order)
        inner = math.prod(x.shape[axes[-1] + 1 :]) if axes else 1
        middle = bool(axes) and list(axes) == list(range(axes[0], axes[-1] + 1)) and inner > 1
        if middle and not moved.flags.c_contiguous and name != "normalize_rows":
            return self._columns(name, x, axes[0], axes[-1] + 1)
        moved = _c_order(xp, moved)
        flat = moved.reshape(-1, math.prod(x.shape[a] for a in axes))
        out = xp.empty_like(flat)
        count, n = flat.shape
        piece = self.piece_length(count, n, self.threads) if flat.size else 0
        if piece:  # a row is a column with inner = 1, all of a block's threads along it
            self._pieces(name, flat.reshape(-1), out.reshape(-1), n, inner=1, count=count, lanes=1, piece=piece)
        elif flat.size:
            self.launch(getattr(rows.kernels(x.dtype, self.threads), name), count, flat, out)
        return xp.transpose(out.reshape(moved.shape), [order.index(a) for a in range(x.ndim)])

    def _columns(self, name: str, x, first: int, stop: int):
        """softmax / log_softmax over x's axes first..stop-1, with axes of more than one element after them."""
        xp = self.xp
        x = _c_order(xp, x)
        outer, n, inner = (math.prod(x.shape[:first]), math.prod(x.shape[first:stop]), math.prod(x.shape[stop:]))
        out = xp.empty_like(x)
        if x.size:
            count = outer * inner
            lanes = column_lanes(n, count, self.threads)
            tiles = -(-count // lanes)
            flat, flat_out = x.reshape(-1), out.reshape(-1)
            if piece := self.piece_length(tiles, n, self.threads // lanes):
                self._pieces(name, flat, flat_out, n, inner=inner, count=count, lanes=lanes, piece=piece)
            else:
                kernel = getattr(columns.kernels(x.dtype, self.threads), f"{name}_columns")
                self.launch(kernel, tiles, flat, flat_out, args=(n, inner, count, lanes))
        return out

    def _pieces(self, name: str, x, out, n: int, inner: int, count: int, lanes: int, piece: int) -> None:
        """``name`` of x (flat, C order) into out over ``count`` lines of n elements (stride
        ``inner``), each cut into pieces of ``piece`` elements across blocks: two launches, the
        pieces' partials (softmax's (max, sum) pairs; normalize_rows' max |x| and scaled sum of
        squares, rows only), then each piece's values from its line's merged partials."""
        n_pieces = -(-n // piece)
        maxes, sums = (self.xp.empty(n_pieces * count, dtype=x.dtype) for _ in range(2))
        kernels = pieces.kernels(x.dtype, self.threads)
        blocks, args = -(-count // lanes) * n_pieces, (n, inner, count, lanes, piece, n_pieces)
        partials = kernels.line_pieces
        if name == "normalize_rows":
            assert inner == 1 and lanes == 1, "normalize_rows is cut into pieces over rows only"
            partials, args = kernels.norm_pieces, (n, count, piece, n_pieces)
        self.launch(partials, blocks, x, maxes, sums, args=args)
        self.launch(getattr(kernels, f"{name}_pieces"), blocks, x, out, maxes, sums, args=args)

    def column_sums(self, partials, wide=None):
        """The sums of the columns of a (blocks, m) array of per-block partials, (m,); with
        ``wide``, float64 per-block values, also their sum in float64, 0-d, in the same launch:
        ``(sums, wide_sum)``."""
        xp = self.xp
        out = xp.empty(partials.shape[1], dtype=partials.dtype)
        kernel = reduce.kernels(partials.dtype, self.threads).sum_columns
        if wide is None:
            nothing = xp.empty(0, dtype=xp.float64)  # the kernel sums no wide values and writes none
            self.launch(kernel, partials.shape[1], partials, out, nothing, nothing)
            return out
        wide_out = xp.empty(1, dtype=xp.float64)
        self.launch(kernel, partials.shape[1] + 1, partials, out, wide, wide_out)
        return out, wide_out.reshape(())

    def loss_sum(self, name: str, yhat, y):
        """A loss (``l1_partials`` or ``l2_partials``) as a 0-d array: partials, then their sum."""
        xp = self.xp
        if yhat.size == 0:
            return xp.zeros((), dtype=yhat.dtype)
        a, b = (_c_order(xp, v).reshape(-1) for v in (yhat, y))
        blocks = self.streaming_blocks(a.size)
        partials = xp.empty((blocks, 1), dtype=a.dtype)
        self.launch(getattr(reduce.kernels(a.dtype, self.threads), name), blocks, a, b, partials.reshape(-1))
        return self.column_sums(partials).reshape(())

    def logistic_loss_grad(self, X, Y, W, b, sample_weight):
        """``(loss, grad_W, grad_b)`` from the fused kernel, or None where it does not apply
        (X not C-ordered, without rows or columns, or too wide for a tile of ``logistic.MIN_ROWS`` rows)."""
        n, d = X.shape
        k = 1 if W.ndim == 1 else W.shape[1]
        tile = logistic.rows_per_tile(d, k, X.itemsize, self.threads, self.shared_budget)
        # No rows: no blocks, and the one block ``launch`` would still start would write past
        # the end of an empty ``partials``.
        if not tile or n == 0 or d == 0 or not X.flags.c_contiguous:
            return None
        xp = self.xp
        n_grad = d * k + k
        blocks = min(-(-n // tile), self.max_blocks)
        partials = xp.empty((blocks, n_grad), dtype=X.dtype)
        losses = xp.empty(blocks, dtype=xp.float64)
        weighted = sample_weight is not None
        kernels = logistic.kernels(X.dtype, self.threads)
        self.launch(
            kernels.loss_grad_binary if k == 1 else kernels.loss_grad_multinomial, blocks,
            X.reshape(-1), _c_order(xp, Y).reshape(n, k), W.reshape(d, k), b,
            sample_weight if weighted else b,  # a stand-in of the right dtype, never read
            partials, losses,
            shared=logistic.dynamic_bytes(tile, d, k, X.itemsize), args=(weighted, tile),
        )  # fmt: skip
        total, loss = self.column_sums(partials, losses)
        return loss, total[: d * k].reshape(W.shape), total[d * k :]
