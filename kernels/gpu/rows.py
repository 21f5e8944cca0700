"""Row kernels: softmax, log_softmax and normalize_rows over the rows of a 2-D array.

One block per row (a grid-stride loop over rows); the block's threads stride
along the row and combine their partials in shared memory. The host views
the array as (rows, row length) when the reduced axes are its trailing axes
(or can be moved there without a copy); ``columns`` takes a run of adjacent
axes in the middle, and ``pieces`` rows too few to fill the device.

softmax / log_softmax: one read of the row for the running max and the sum
of exp(x - max) together (``_online``), then one read and one write to
emit exp(x - max) / sum or (x - max) - log(sum). DRAM traffic is 2 * itemsize
bytes per element when the row is still in L2 for the second read (rows of
up to a few MB), 3 * itemsize otherwise. A non-finite row max (+inf or NaN
anywhere, or only -inf) gives a NaN row; -inf beside finite values gives 0.

normalize_rows: three reads (max |x|; the sum of squares of x / max; the
emit) and one write, as the generic formulation: the row is scaled by its
largest magnitude first so the sum of squares neither overflows nor
underflows (the steps are ``_norm``'s). 2 * itemsize bytes per element from DRAM when the row stays in
L2, 4 * itemsize otherwise.

Every pass over a row is a ``_lines.ROWS`` fold or emit: block-stride, four
loads in flight per thread. Launch bounds of ``BLOCKS_PER_SM`` blocks cap
registers at 64 per thread, so several rows are in progress on each SM while
one block waits at a barrier. Softmax over a middle axis is ``columns``.
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
from ._lines import ROWS
from ._online import normalizer

BLOCKS_PER_SM = 4  # resident blocks of ``threads`` the compiler must fit: <= 64 registers at 256 threads


@functools.cache
def kernels(dtype: np.dtype, threads: int) -> SimpleNamespace:
    zero = dtype.type(0)
    nbtype = numba.from_dtype(dtype)
    # Device functions are bound to plain names: numba can call a closure's
    # dispatcher, not an attribute of a Python object.
    block_sum, block_max = reducers(dtype, threads)
    fold, emit = ROWS.fold, ROWS.emit
    online = normalizer(dtype, fold)
    max_sum = online.max_sum
    jit_kernel = kernel_jit(threads, BLOCKS_PER_SM)

    def softmax_kernel(name, value, prepare):
        """softmax or log_softmax per row; 2 (row in L2) to 3 * itemsize bytes per element."""
        emit_value = emit(value)

        def kernel(x, out):
            maxes = cuda.shared.array(threads, dtype=nbtype)
            sums = cuda.shared.array(threads, dtype=nbtype)
            tid, n = cuda.threadIdx.x, x.shape[1]
            for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
                m, s = max_sum(x, r, 0, n, 0, 1, tid, threads, maxes, sums)
                emit_value(x, out, r, 0, tid, threads, n, m, prepare(s))

        kernel.__name__ = kernel.__qualname__ = name  # what profilers and compile errors show
        return jit_kernel(kernel)

    fold_max_abs = fold(_norm.max_abs)
    fold_squares = fold(_norm.add_scaled_square)
    emit_scaled = emit(_norm.scaled)
    finish = _norm.finishers(dtype)
    scale_for, norm_for = finish.scale_for, finish.norm_for

    @jit_kernel
    def normalize_rows(x, out):
        """(x / scale) / ||x / scale||, scale = max |x| of the row; 2 to 4 * itemsize bytes per element."""
        scratch = cuda.shared.array(threads, dtype=nbtype)
        tid, n = cuda.threadIdx.x, x.shape[1]
        for r in range(cuda.blockIdx.x, x.shape[0], cuda.gridDim.x):
            m, _ = fold_max_abs(x, r, 0, tid, threads, n, zero, zero, zero)
            scale = scale_for(block_max(scratch, m))
            acc, _ = fold_squares(x, r, 0, tid, threads, n, zero, zero, scale)
            norm = norm_for(block_sum(scratch, acc))
            emit_scaled(x, out, r, 0, tid, threads, n, scale, norm)

    return SimpleNamespace(
        **{name: softmax_kernel(name, *form) for name, form in online.forms.items()}, normalize_rows=normalize_rows
    )
