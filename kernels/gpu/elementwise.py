"""Elementwise GPU kernels: sigmoid, sigmoid_grad, log_sigmoid, one launch each.

Each reads x once and writes the result once: 2 * itemsize bytes per element
(8 for float32, 16 for float64), the same traffic as a copy, so a copy's
bandwidth is their floor. A grid-stride loop over the flattened array; the
formulations are ``Backend``'s (see ``xpvec.backends._base``): e = exp(-|x|)
on both branches, so nothing overflows and NaN propagates.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
from numba import cuda


@functools.cache
def kernels(dtype: np.dtype) -> SimpleNamespace:
    zero, one = dtype.type(0), dtype.type(1)

    @cuda.jit
    def sigmoid(x, out):
        """1 / (1 + e) where x >= 0, else e / (1 + e); 2 * itemsize bytes per element."""
        for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            v = x[i]
            e = math.exp(-abs(v))
            num = one if v >= zero else e
            out[i] = num / (one + e)

    @cuda.jit
    def sigmoid_grad(x, out):
        """e / (1 + e)^2 = sigmoid(x) * sigmoid(-x), no cancellation; 2 * itemsize bytes per element."""
        for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            e = math.exp(-abs(x[i]))
            d = one + e
            out[i] = e / d / d

    @cuda.jit
    def log_sigmoid(x, out):
        """min(x, 0) - log1p(e); 2 * itemsize bytes per element."""
        for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
            v = x[i]
            low = v if v < zero else zero
            out[i] = low - math.log1p(math.exp(-abs(v)))

    return SimpleNamespace(sigmoid=sigmoid, sigmoid_grad=sigmoid_grad, log_sigmoid=log_sigmoid)
