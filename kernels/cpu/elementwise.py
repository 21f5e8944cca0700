"""Fused elementwise kernels: sigmoid, sigmoid_grad, log_sigmoid.

Each kernel reads x once and writes out once: 2 * itemsize bytes moved per
element (16 for float64, 8 for float32), one pass, no temporaries. Inputs
are 1-D contiguous (the backend lays arrays out flat); ``out`` has x's size
and dtype, and the computation stays in that dtype. The ``_parallel``
variants split the range across threads with ``prange``; each thread's
chunk is a vectorized loop.

Formulation (the rules of ``xpvec.backends._base``), with e = exp(-|x|),
which is in (0, 1] and never overflows:

- sigmoid(x) = 1/(1+e) for x >= 0, e/(1+e) otherwise;
- sigmoid_grad(x) = e/(1+e)**2 (= sigmoid(x)*sigmoid(-x) without cancellation);
- log_sigmoid(x) = min(x, 0) - log1p(e).

NaN propagates through e; +-inf give the limits. No fastmath beyond FMA
contraction, which keeps NaN and inf semantics.
"""

from __future__ import annotations

from numba import njit, prange

from ._config import JIT
from ._launch import SizedKernel
from ._typed import like, wide_vectors
from .exp import exp
from .log1p import log1p_unit


@njit(error_model="numpy", fastmath={"contract"})
def _sigmoid(v):
    e = exp(-abs(v))
    one = like(1.0, v)
    return (one if v >= like(0.0, v) else e) / (one + e)


@njit(error_model="numpy", fastmath={"contract"})
def _sigmoid_grad(v):
    e = exp(-abs(v))
    d = like(1.0, v) + e
    return e / (d * d)  # one division: the vector divider is this loop's bottleneck


@njit(error_model="numpy", fastmath={"contract"})
def _log_sigmoid(v):
    zero = like(0.0, v)
    return (v if v < zero else zero) - log1p_unit(exp(-abs(v)))


@njit(**JIT)
def sigmoid_serial(x, out):
    for i in range(x.size):
        wide_vectors()
        out[i] = _sigmoid(x[i])


@njit(parallel=True, **JIT)
def sigmoid_parallel(x, out):
    for i in prange(x.size):
        wide_vectors()
        out[i] = _sigmoid(x[i])


@njit(**JIT)
def sigmoid_grad_serial(x, out):
    for i in range(x.size):
        wide_vectors()
        out[i] = _sigmoid_grad(x[i])


@njit(parallel=True, **JIT)
def sigmoid_grad_parallel(x, out):
    for i in prange(x.size):
        wide_vectors()
        out[i] = _sigmoid_grad(x[i])


@njit(**JIT)
def log_sigmoid_serial(x, out):
    for i in range(x.size):
        wide_vectors()
        out[i] = _log_sigmoid(x[i])


@njit(parallel=True, **JIT)
def log_sigmoid_parallel(x, out):
    for i in prange(x.size):
        wide_vectors()
        out[i] = _log_sigmoid(x[i])


# Threads take 32k elements (256 KiB of float64) at a time.
_GRAB = 1 << 15
sigmoid = SizedKernel(sigmoid_serial, sigmoid_parallel, _GRAB)
sigmoid_grad = SizedKernel(sigmoid_grad_serial, sigmoid_grad_parallel, _GRAB)
log_sigmoid = SizedKernel(log_sigmoid_serial, log_sigmoid_parallel, _GRAB)

