"""Fused logistic loss and gradient, binary and multinomial, in one pass over X.

Bytes moved per evaluation: one read of X (n * d * itemsize), plus Y (and the
sample weights) once; nothing X-sized is written. The rows are cut into
chunks (``_sums.row_chunks``), threads take chunks dynamically, and each
chunk returns its partial loss and writes its partial gradient to a slot of
its own (no shared accumulator, no race); the partials are summed after the
``prange``. The serial variant walks the same chunks, so both give the same
bits. Within a chunk, rows go in blocks of ``BLOCK`` (64 KiB of float64 at
d = 64, well inside L2): the logits of the block are computed, then its
residuals, then the block's residual-weighted rows are added to the gradient
while they are still in cache, which keeps the second use of each row off
the memory bus.

Formulation, with z = x_i . w + b and per-row weight s_i (1 when unweighted):

- binary: loss_i = log1pexp(z) - y_i z, log1pexp(z) = max(z, 0) + log1p(exp(-|z|));
  r_i = sigmoid(z) - y_i (sigmoid by the sign of z, as ``elementwise``);
- multinomial, K logits z_k = x_i . W[:, k] + b_k: with m = max_k z_k,
  loss_i = m + log(sum_k exp(z_k - m)) - z . y_i and r_ik = softmax(z)_k - y_ik;

loss = sum_i s_i loss_i, grad_W = sum_i s_i r_i x_i (outer product in the
multinomial case), grad_b = sum_i s_i r_i. exp(-|z|) lies in (0, 1] and
never overflows; NaN and inf propagate as in the NumPy formulation (no
fastmath beyond FMA contraction where exp is evaluated; the dot products and
row sums are reassociated sums, ``_sums``). float32 input is computed and
accumulated in float32, as BLAS sgemv does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._launch import SizedKernel
from ._sums import chunk_bounds, prefix_sum, row_chunks
from ._typed import like, nan_max, wide_vectors
from .exp import exp
from .log1p import log1p_unit

BLOCK = 128

_JIT = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": {"contract"}}
_MATH = {"nogil": True, "error_model": "numpy", "fastmath": {"contract"}}
# Sums only, no exp: reassociation lets LLVM keep lanes of partial sums (see _sums).
_REDUCE = {"nogil": True, "error_model": "numpy", "fastmath": {"reassoc", "contract"}}


@njit(**_REDUCE)
def _logits(Xb, Wt, b, Z):
    """Z[r, k] = Xb[r] . Wt[k] + b[k] for every row r of the block."""
    wide_vectors()
    for r in range(Xb.shape[0]):
        for k in range(Wt.shape[0]):
            s = like(0.0, Xb)
            for j in range(Xb.shape[1]):
                s += Xb[r, j] * Wt[k, j]
            Z[r, k] = s + b[k]


@njit(**_MATH)
def _accumulate(Xb, R, G):
    """G[k, :d] += sum_r R[r, k] Xb[r] and G[k, d] += sum_r R[r, k]: the block's gradient."""
    wide_vectors()
    d = Xb.shape[1]
    for r in range(Xb.shape[0]):
        for k in range(R.shape[1]):
            c = R[r, k]
            for j in range(d):
                G[k, j] += c * Xb[r, j]
            G[k, d] += c


@njit(**_MATH)
def _binary_terms(Z, y, sw, losses):
    """Per row of the block: losses[r] = s_r loss_r; Z[r, 0] becomes the residual s_r r_r."""
    wide_vectors()
    weighted = sw.size > 0
    zero, one = like(0.0, Z), like(1.0, Z)
    for r in range(y.size):
        v = Z[r, 0]
        e = exp(-abs(v))
        loss = (v if v > zero else zero) + log1p_unit(e) - y[r] * v
        res = (one if v >= zero else e) / (one + e) - y[r]
        if weighted:
            loss *= sw[r]
            res *= sw[r]
        losses[r] = loss
        Z[r, 0] = res


@njit(**_MATH)
def _softmax_terms(Z, Y, sw, losses):
    """Per row of the block: losses[r] = s_r loss_r; Z[r] becomes the residuals s_r r_r."""
    weighted = sw.size > 0
    zero = like(0.0, Z)
    for r in range(Y.shape[0]):
        z = Z[r]
        m = z[0]
        for k in range(1, z.size):
            m = nan_max(m, z[k])
        total, zy = zero, zero
        for k in range(z.size):
            zy += z[k] * Y[r, k]
            e = exp(z[k] - m)
            z[k] = e
            total += e
        loss = m + math.log(total) - zy
        scale = sw[r] if weighted else like(1.0, Z)
        for k in range(z.size):
            z[k] = scale * (z[k] / total - Y[r, k])
        losses[r] = scale * loss


@njit(**_MATH)
def _chunk(X, Y, Wt, b, sw, lo, hi, G):
    """Loss of rows [lo, hi); their gradient is added to G (K, d + 1), the last column b's."""
    K = Wt.shape[0]
    Z = np.empty((BLOCK, K), X.dtype)
    losses = np.empty(BLOCK, X.dtype)
    loss = like(0.0, X)
    weighted = sw.size > 0
    for start in range(lo, hi, BLOCK):
        stop = min(start + BLOCK, hi)
        m = stop - start
        Xb, Zb = X[start:stop], Z[:m]
        swb = sw[start:stop] if weighted else sw
        _logits(Xb, Wt, b, Zb)
        if Y.ndim == 1:
            _binary_terms(Zb, Y[start:stop], swb, losses)
        else:
            _softmax_terms(Zb, Y[start:stop], swb, losses)
        loss += prefix_sum(losses, m)
        _accumulate(Xb, Zb, G)
    return loss


@njit(**_MATH)
def _total(losses, parts):
    """The sum of the chunks' partial losses and partial gradients, in chunk order."""
    G = np.zeros(parts.shape[1:], parts.dtype)
    for c in range(parts.shape[0]):
        G += parts[c]
    return prefix_sum(losses, losses.size), G


@njit(**_JIT)
def loss_grad_serial(X, Y, Wt, b, sw):
    """``(loss, G)`` with G (K, d + 1) = [grad_W^T, grad_b]; X (n, d) C-ordered, Wt = W^T (K, d).

    Y is (n,) (binary, K = 1) or (n, K) one-hot; ``sw`` the sample weights or
    an empty array for none.
    """
    n = X.shape[0]
    n_chunks = row_chunks(n)
    parts = np.zeros((n_chunks, Wt.shape[0], X.shape[1] + 1), X.dtype)
    losses = np.empty(n_chunks, X.dtype)
    for c in range(n_chunks):
        lo, hi = chunk_bounds(c, n_chunks, n)
        losses[c] = _chunk(X, Y, Wt, b, sw, lo, hi, parts[c])
    return _total(losses, parts)


@njit(parallel=True, **_JIT)
def loss_grad_parallel(X, Y, Wt, b, sw):
    """``loss_grad_serial`` with the chunks spread over threads."""
    n = X.shape[0]
    n_chunks = row_chunks(n)
    parts = np.zeros((n_chunks, Wt.shape[0], X.shape[1] + 1), X.dtype)
    losses = np.empty(n_chunks, X.dtype)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(c, n_chunks, n)
        losses[c] = _chunk(X, Y, Wt, b, sw, lo, hi, parts[c])
    return _total(losses, parts)


loss_grad = SizedKernel(loss_grad_serial, loss_grad_parallel)
