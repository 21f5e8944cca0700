"""Column kernels: softmax and log_softmax over the middle axis of an (outer, n, inner) array.

This is softmax over any run of adjacent axes that are not the trailing ones,
e.g. the channel axis of an (N, C, H, W) batch, without moving them last: the
host views a C-ordered x as (outer, n, inner) and the output comes back
C-ordered too, where the row kernels would need a transposed copy in and
give a transposed view out.

A line is the column x[o, :, i], read from x flat. The outer * inner
columns are numbered o * inner + i; a block holds ``lanes`` consecutive ones
(neighbouring i, so a warp's loads are coalesced; a tile may span two outer
slices, so small inner wastes no threads) and splits each column's n
elements over ``parts = threads // lanes`` threads, whose online (max, sum)
pairs merge in shared memory (``_online``); the blocks stride over the
tiles. The host picks ``lanes`` (``host.column_lanes``): many parts for long
columns, so few columns still fill the device; few for short ones, so a
thread does not merge more often than it loads. DRAM traffic is that of the row kernels:
2 * itemsize bytes per element when a tile's columns stay in L2 between the
two reads, 3 * itemsize otherwise.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numba
import numpy as np
from numba import cuda

from ._jit import kernel_jit
from ._lines import COLUMNS
from ._online import normalizer

# Resident blocks per SM the compiler must fit, by itemsize: 64 registers per thread in
# float32; float64 spills at 64 (its values and 64-bit addresses take two registers each).
BLOCKS_PER_SM = {4: 4, 8: 3}


@cuda.jit(device=True)
def tile(t, n, inner, columns, lanes):
    """This thread's column in tile t: its first element's flat index, the length this
    thread reads along it (0 past the last column) and the thread's (lane, part)."""
    lane = cuda.threadIdx.x % lanes
    g = t * lanes + lane  # columns are numbered across the outer slices: no tile is cut short
    first = (g // inner) * n * inner + g % inner
    return first, (n if g < columns else 0), lane, cuda.threadIdx.x // lanes


@functools.cache
def kernels(dtype: np.dtype, threads: int) -> SimpleNamespace:
    nbtype = numba.from_dtype(dtype)
    online = normalizer(dtype, COLUMNS.fold)
    max_sum = online.max_sum
    jit_kernel = kernel_jit(threads, BLOCKS_PER_SM[dtype.itemsize])

    def column_kernel(name, value, prepare):
        """softmax or log_softmax down each of the ``columns`` columns of x, flat (outer, n, inner) in C order."""
        emit_value = COLUMNS.emit(value)

        def kernel(x, out, n, inner, columns, lanes):
            maxes = cuda.shared.array(threads, dtype=nbtype)
            sums = cuda.shared.array(threads, dtype=nbtype)
            parts = threads // lanes
            for t in range(cuda.blockIdx.x, (columns + lanes - 1) // lanes, cuda.gridDim.x):
                first, length, lane, part = tile(t, n, inner, columns, lanes)
                m, s = max_sum(x, first, inner, length, lane, lanes, part, parts, maxes, sums)
                emit_value(x, out, first, inner, part, parts, length, m, prepare(s))

        kernel.__name__ = kernel.__qualname__ = f"{name}_columns"  # what profilers and compile errors show
        return jit_kernel(kernel)

    return SimpleNamespace(**{f"{name}_columns": column_kernel(name, *form) for name, form in online.forms.items()})
