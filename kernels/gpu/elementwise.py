"""Elementwise GPU kernels: sigmoid, sigmoid_grad, log_sigmoid, one launch each.

Each reads x once and writes the result once: 2 * itemsize bytes per element
(8 for float32, 16 for float64), the same traffic as a copy, so a copy's
bandwidth is their floor. The formulations are ``Backend``'s (see
``xpvec.backends._base``): e = exp(-|x|) on both branches, so nothing
overflows and NaN propagates.

The loop over the flattened array is a grid-stride loop (each of a warp's
loads covers consecutive elements) that issues ``UNROLL`` independent loads
before using the first. A one-load-per-iteration loop keeps one load per
thread in flight, about 8 KB per SM for float32 at full occupancy, short of
what HBM needs to stream (bandwidth x latency, ~10 KB per SM on an H100);
four in flight cover it. The launcher sizes the grid so that every thread
gets ``UNROLL`` elements before it caps the grid (``Launcher.streaming_blocks``).
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
from numba import cuda

from ._jit import kernel_jit
from ._lines import COLUMNS

UNROLL = 4  # loads in flight per thread: the loops in _lines (used here), reduce and logistic spell out four


def _map(name: str, f):
    """A kernel ``name`` writing out[i] = f(x[i]) over flat x and out: the lines' emit pass
    (``_lines``) over x as one line, grid-stride, four loads in flight per thread."""

    @cuda.jit(device=True)
    def value(v, p, q):
        return f(v)

    emit = COLUMNS.emit(value)

    def kernel(x, out):
        emit(x, out, 0, 1, cuda.grid(1), cuda.gridsize(1), x.size, 0, 0)  # element k at 0 + k * 1

    kernel.__name__ = kernel.__qualname__ = name  # what profilers and compile errors show
    return kernel_jit()(kernel)


@functools.cache
def kernels(dtype: np.dtype) -> SimpleNamespace:
    zero, one = dtype.type(0), dtype.type(1)

    @cuda.jit(device=True)
    def sigmoid(v):
        """1 / (1 + e) where v >= 0, else e / (1 + e)."""
        e = math.exp(-abs(v))
        num = one if v >= zero else e
        return num / (one + e)

    @cuda.jit(device=True)
    def sigmoid_grad(v):
        """e / (1 + e)^2 = sigmoid(v) * sigmoid(-v), no cancellation."""
        e = math.exp(-abs(v))
        d = one + e
        return e / d / d

    @cuda.jit(device=True)
    def log_sigmoid(v):
        """min(v, 0) - log1p(e)."""
        low = v if v < zero else zero
        return low - math.log1p(math.exp(-abs(v)))

    return SimpleNamespace(
        sigmoid=_map("sigmoid", sigmoid),
        sigmoid_grad=_map("sigmoid_grad", sigmoid_grad),
        log_sigmoid=_map("log_sigmoid", log_sigmoid),
    )
