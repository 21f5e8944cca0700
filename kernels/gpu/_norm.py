"""normalize_rows' steps: a row's largest magnitude, its sum of squares scaled by it, the emit.

The row is divided by its largest magnitude before it is squared, so the sum
of squares neither overflows (float32 values above ~1.8e19) nor underflows
(subnormal rows); the row kernel (``rows``) and the kernels that cut a long
row into pieces across blocks (``pieces``) fold and emit with these same
steps and finish with the same ``scale_for`` and ``norm_for``.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
from numba import cuda

from ._block import nan_max


@cuda.jit(device=True)
def max_abs(m, unused, v, _):
    """The running max |v|; NaN from the first NaN on (as NumPy's max)."""
    return nan_max(m, abs(v)), unused


@cuda.jit(device=True)
def add_scaled_square(acc, unused, v, scale):
    y = v / scale
    return acc + y * y, unused


@cuda.jit(device=True)
def scaled(v, scale, norm):
    return v / scale / norm


@functools.cache
def finishers(dtype: np.dtype) -> SimpleNamespace:
    """``scale_for(max |x|)`` and ``norm_for(sum of scaled squares)`` in ``dtype``'s constants."""
    zero, one = dtype.type(0), dtype.type(1)
    inf, nan = dtype.type(np.inf), dtype.type(np.nan)

    @cuda.jit(device=True)
    def scale_for(m):
        # A non-finite max (inf or NaN in the row) scales by NaN: the row becomes NaN.
        # An all-zero row scales by one, so it stays zero.
        return (m if m > zero else one) if m < inf else nan

    @cuda.jit(device=True)
    def norm_for(sum_of_squares):
        norm = math.sqrt(sum_of_squares)
        return norm if norm > zero else one  # zero row: x / 1 stays zero

    return SimpleNamespace(scale_for=scale_for, norm_for=norm_for)
