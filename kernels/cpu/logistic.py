"""Fused logistic loss and gradient, binary and multinomial, in one pass over X.

Bytes moved per evaluation: one read of X (n * d * itemsize), plus Y (and the
sample weights) once; nothing X-sized is written. The rows are cut into
chunks (``_n_chunks``), each thread takes an equal share of them (``loss_grad``), and each
chunk returns its partial loss and writes its partial gradient to a slot of
its own (no shared accumulator, no race); the partials are summed after the
``prange``. The serial variant walks the same chunks, so both give the same
bits. Within a chunk, rows go in blocks of ``BLOCK`` (32 KiB of float64 at
d = 64, within L1; 64 rows measured ~5% faster than 128): the logits of the
block are computed, then its residuals, then the block's residual-weighted
rows are added to the gradient while they are still in cache, which keeps
the second use of each row off the memory bus.

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
accumulated in float32, as BLAS sgemv does, except the loss: the rows' losses
are summed in float64 (see ``Backend.logistic_loss_grad``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._config import INLINE, JIT, REASSOC
from ._launch import SizedKernel
from ._sums import DOT, chunk_bounds, pair_sum, prefix_sum, wide_sum
from ._typed import like, nan_max, wide_vectors
from .exp import exp
from .log1p import log1p_unit

BLOCK = 64



# Four rows at a time: each load of W (logits) or of the gradient (accumulate)
# serves four rows, and the four sums are independent chains.
@njit(**REASSOC)
def _logits(Xb, Wt, b, Z):
    """Z[k, r] = Xb[r] . Wt[k] + b[k] for every row r of the block."""
    wide_vectors()
    m, d = Xb.shape
    quads = m - m % 4
    for r in range(0, quads, 4):
        x0, x1, x2, x3 = Xb[r], Xb[r + 1], Xb[r + 2], Xb[r + 3]
        for k in range(Wt.shape[0]):
            w = Wt[k]
            s0 = s1 = s2 = s3 = like(0.0, Xb)
            for j in range(d):
                s0 += x0[j] * w[j]
                s1 += x1[j] * w[j]
                s2 += x2[j] * w[j]
                s3 += x3[j] * w[j]
            Z[k, r], Z[k, r + 1], Z[k, r + 2], Z[k, r + 3] = s0 + b[k], s1 + b[k], s2 + b[k], s3 + b[k]
    for r in range(quads, m):
        for k in range(Wt.shape[0]):
            Z[k, r] = pair_sum(Xb[r], Wt[k], 0, d, DOT) + b[k]


@njit(**INLINE)
def _accumulate(Xb, Z, G):
    """G[k, :d] += sum_r Z[k, r] Xb[r] and G[k, d] += sum_r Z[k, r]: the block's gradient."""
    wide_vectors()
    m, d = Xb.shape
    quads = m - m % 4
    for r in range(0, quads, 4):
        x0, x1, x2, x3 = Xb[r], Xb[r + 1], Xb[r + 2], Xb[r + 3]
        for k in range(Z.shape[0]):
            g = G[k]
            c0, c1, c2, c3 = Z[k, r], Z[k, r + 1], Z[k, r + 2], Z[k, r + 3]
            for j in range(d):
                g[j] += (c0 * x0[j] + c1 * x1[j]) + (c2 * x2[j] + c3 * x3[j])
            g[d] += (c0 + c1) + (c2 + c3)
    for r in range(quads, m):
        for k in range(Z.shape[0]):
            g, c = G[k], Z[k, r]
            for j in range(d):
                g[j] += c * Xb[r, j]
            g[d] += c


# The terms run across the rows of a block (the logits are stored class-major,
# Z[k, r]), so each loop is over contiguous rows and vectorizes, exp included.
@njit(**INLINE)
def _binary_terms(z, y, sw, m, losses):
    """For r < m: losses[r] = s_r loss_r, and z[r] becomes the residual s_r r_r."""
    wide_vectors()
    weighted = sw.size > 0
    zero, one = like(0.0, z), like(1.0, z)
    for r in range(m):
        v = z[r]
        e = exp(-abs(v))
        # max(z, 0) - y z first: exact for 0/1 labels, so a row's loss keeps its relative
        # precision when small (a well-classified row's, log1p(e) alone).
        loss = ((v if v > zero else zero) - y[r] * v) + log1p_unit(e)
        res = (one if v >= zero else e) / (one + e) - y[r]
        if weighted:
            loss *= sw[r]
            res *= sw[r]
        losses[r] = loss
        z[r] = res


@njit(**INLINE)
def _class_major(Yb, Yt):
    """Yt[k, r] = Yb[r, k]: the block's labels laid out as its logits are."""
    for r in range(Yb.shape[0]):
        for k in range(Yb.shape[1]):
            Yt[k, r] = Yb[r, k]


@njit(**INLINE)
def _softmax_terms(Z, Y, sw, m, losses, peak, total):
    """For r < m: losses[r] = s_r loss_r, and Z[:, r] becomes the residuals s_r r_r.

    ``Y`` is the block's labels class-major, (K, BLOCK) like Z (``_class_major``):
    read across rows in place, they were a gather of stride K in the two loops
    that use them, and those loops took 3.8x longer (10 classes, 64 rows)."""
    wide_vectors()
    K = Z.shape[0]
    weighted = sw.size > 0
    for r in range(m):
        peak[r] = Z[0, r]
        total[r] = like(0.0, Z)
        losses[r] = like(0.0, Z)
    for k in range(1, K):
        for r in range(m):
            peak[r] = nan_max(peak[r], Z[k, r])
    for k in range(K):
        for r in range(m):
            losses[r] -= Z[k, r] * Y[k, r]
            e = exp(Z[k, r] - peak[r])
            Z[k, r] = e
            total[r] += e
    for r in range(m):
        # (m - z . y) first: exact-ish for one-hot labels, so a small loss keeps its precision.
        losses[r] = (losses[r] + peak[r]) + math.log(total[r])  # scalar libm log: once per row
    for k in range(K):
        for r in range(m):
            Z[k, r] = Z[k, r] / total[r] - Y[k, r]
    if weighted:
        for r in range(m):
            losses[r] *= sw[r]
            for k in range(K):
                Z[k, r] *= sw[r]


@njit(**INLINE)
def _chunk(X, Y, Wt, b, sw, lo, hi, G):
    """Loss of rows [lo, hi); their gradient is added to G (K, d + 1), the last column b's."""
    K = Wt.shape[0]
    Z = np.empty((K, BLOCK), X.dtype)
    Yt = np.empty((K if Y.ndim > 1 else 0, BLOCK), X.dtype)
    losses, peak, total = np.empty(BLOCK, X.dtype), np.empty(BLOCK, X.dtype), np.empty(BLOCK, X.dtype)
    loss = 0.0
    weighted = sw.size > 0
    for start in range(lo, hi, BLOCK):
        stop = min(start + BLOCK, hi)
        m = stop - start
        Xb = X[start:stop]
        swb = sw[start:stop] if weighted else sw
        _logits(Xb, Wt, b, Z)
        if Y.ndim == 1:
            _binary_terms(Z[0], Y[start:stop], swb, m, losses)
        else:
            _class_major(Y[start:stop], Yt)
            _softmax_terms(Z, Yt, swb, m, losses, peak, total)
        loss += wide_sum(losses, m)
        _accumulate(Xb, Z, G)
    return loss


@njit(**INLINE)
def _total(losses, parts):
    """The sum of the chunks' partial losses and partial gradients, in chunk order."""
    G = np.zeros(parts.shape[1:], parts.dtype)
    for c in range(parts.shape[0]):
        G += parts[c]
    return prefix_sum(losses, losses.size), G


@njit(nogil=True)
def _n_chunks(n_rows):
    """Up to 256 chunks of at least 512 rows: smaller chunks cost more in per-chunk
    partial gradients than they share out. A function of n alone (not of the thread
    count), so the serial and parallel variants sum the same partials: the same bits."""
    return max(1, min(256, n_rows // 512))


@njit(**JIT)
def loss_grad_serial(X, Y, Wt, b, sw):
    """``(loss, G)`` with G (K, d + 1) = [grad_W^T, grad_b]; X (n, d) C-ordered, Wt = W^T (K, d).

    Y is (n,) (binary, K = 1) or (n, K) one-hot; ``sw`` the sample weights or
    an empty array for none.
    """
    n = X.shape[0]
    n_chunks = _n_chunks(n)
    parts = np.zeros((n_chunks, Wt.shape[0], X.shape[1] + 1), X.dtype)
    losses = np.empty(n_chunks, np.float64)
    for c in range(n_chunks):
        lo, hi = chunk_bounds(c, n_chunks, n)
        losses[c] = _chunk(X, Y, Wt, b, sw, lo, hi, parts[c])
    return _total(losses, parts)


@njit(parallel=True, **JIT)
def loss_grad_parallel(X, Y, Wt, b, sw):
    """``loss_grad_serial`` with the chunks spread over threads."""
    n = X.shape[0]
    n_chunks = _n_chunks(n)
    parts = np.zeros((n_chunks, Wt.shape[0], X.shape[1] + 1), X.dtype)
    losses = np.empty(n_chunks, np.float64)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(c, n_chunks, n)
        losses[c] = _chunk(X, Y, Wt, b, sw, lo, hi, parts[c])
    return _total(losses, parts)


# Each thread takes one static share of the chunks (numba's chunk size 0), unlike the
# other kernels' dynamic hand-outs (``SizedKernel``): here a hand-out measured ~18 us
# (the elementwise kernels' ~0.1 us), so handing out 8 chunks at a time was 10-30% slower
# on multinomial problems and on 2e5 x 64 binary (2 idle cores), equal at 1e6 x 64, and
# no better with one core busy with another process; one at a time was 1.2-3.6x slower.
#
# The threshold counts work, X.size * (K + 1) (``work``), not elements: an element of X
# costs about 2K flops. Within a fit the threads sleep between evaluations (the solver's
# own steps take longer than they spin), so each parallel call pays their wake-up too:
# fits on 2 cores, serial against parallel, binary 1562 x 64 (work 2e5) 1.17 against
# 1.73 ms, 4687 x 64 (6e5) 1.86 against 2.19, 15625 x 64 (2e6) 4.57 against 4.44; digits,
# 1347 x 64 x 10 classes (9.5e5), 21.0 against 16.8 ms.
LOSS_GRAD_MIN_WORK = 3 << 18
loss_grad = SizedKernel(loss_grad_serial, loss_grad_parallel, 0, LOSS_GRAD_MIN_WORK)


def work(X, Wt) -> int:
    """``loss_grad``'s size: X's elements times (classes + 1), roughly its flops over 2."""
    return X.size * (Wt.shape[0] + 1)
