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

UNROLL = 4  # loads in flight per thread: the loop bodies here, in reduce, _lines and logistic spell out four


def _map(name: str, f):
    """A kernel ``name`` writing out[i] = f(x[i]) over flat x and out, four loads in flight per thread."""

    def kernel(x, out):
        n = x.size
        step = cuda.gridsize(1)
        i = cuda.grid(1)
        while i + 3 * step < n:
            a, b, c, d = x[i], x[i + step], x[i + 2 * step], x[i + 3 * step]
            out[i] = f(a)
            out[i + step] = f(b)
            out[i + 2 * step] = f(c)
            out[i + 3 * step] = f(d)
            i += 4 * step
        while i < n:
            out[i] = f(x[i])
            i += step

    kernel.__name__ = kernel.__qualname__ = name  # what profilers and compile errors show
    return cuda.jit(kernel)


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
