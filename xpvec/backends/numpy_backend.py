"""The ``numpy`` backend: vectorized NumPy, numerically stable (the default).

The generic kernels of ``Backend`` already run on NumPy; this class overrides
the elementwise ones, softmax, log_softmax, normalize_rows and the losses to
reuse ``out=`` buffers: each generic expression allocates a temporary per
operation, these allocate one or two.

The elementwise ops take several NumPy passes each (sigmoid: |x|, negation,
exp, 1 + e, the sign mask, the numerator, the division). Over a large array
every pass would stream the whole array through memory; contiguous arrays of
more than ``BLOCK`` elements are therefore worked on a block at a time, each
block's passes on temporaries that stay in the L2 cache, so memory sees about
one read of x and one write of the result (numexpr's trick). Same ufuncs on
the same values: the same bits as the whole-array passes. Measured in the
``xpvec bench`` sweep on the 2-core EPYC VM, float64 sigmoid: 1e6 elements
3.13 -> 2.54 ms, 1e7 51.6 -> 32.2 ms (NumPy's ``1/(1+exp(-x))``: 3.96 and
41.0 ms); below that the passes stay in cache anyway, and nothing changes.

``_logistic_loss_grad`` reads X twice, the fewest BLAS allows: one gemv/gemm
for the logits, one for X^T R. Between them it works in place on the
n- (or n*K-) sized logits, so an evaluation allocates O(n K), never O(n d).
"""

from __future__ import annotations

import numpy as np

from ._host import HostBackend

BLOCK = 1 << 15  # elements per block: 256 KiB of float64 per temporary, within L2

# Per compute dtype, the range in which a row's sum of squares, taken as it comes, is
# as good as a scaled one (``_normalize_rows``): (the floor per element of a row, the
# smallest normal float; the largest float).
_SQUARES_RANGE = {t: (float(np.finfo(t).tiny), float(np.finfo(t).max)) for t in (np.float32, np.float64)}

# Reductions are called as methods (x.sum()): np.sum's Python layer costs ~1 us a call, a
# tenth of a small softmax.

# Elementwise kernels, ``kernel(x, out, scratch)``: write the op of x into ``out`` (x's shape
# and dtype), using ``out`` and ``scratch`` (as large, x's dtype) as temporaries.


def _exp_neg_abs(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """exp(-|x|) into ``out``: in (0, 1], never overflows, NaN stays NaN."""
    np.abs(x, out=out)
    np.negative(out, out=out)
    return np.exp(out, out=out)


def _sigmoid(x, out, scratch):
    e = _exp_neg_abs(x, out)
    d = np.add(e, 1.0, out=scratch)
    # Numerator 1 where x >= 0, else e: max(e, x >= 0) since e <= 1. Branch-free
    # (a masked copyto is 5x slower on random signs); NaN propagates through max.
    np.maximum(e, x >= 0, out=e)
    np.divide(e, d, out=out)


def _sigmoid_grad(x, out, scratch):
    e = _exp_neg_abs(x, out)
    d = np.add(e, 1.0, out=scratch)
    np.multiply(d, d, out=d)
    np.divide(e, d, out=out)


def _log_sigmoid(x, out, scratch):
    e = _exp_neg_abs(x, out)
    np.log1p(e, out=e)
    np.subtract(np.minimum(x, 0.0, out=scratch), e, out=out)


def _elementwise(kernel, x: np.ndarray) -> np.ndarray:
    """``kernel`` over x: at once, or a block at a time when x is large and contiguous."""
    out = np.empty_like(x)  # out= everywhere keeps 0-d inputs as arrays
    if x.size <= BLOCK or not (x.flags.c_contiguous or x.flags.f_contiguous):
        kernel(x, out, np.empty_like(x))
        return out
    # Both in memory order (empty_like keeps x's): flat views, element i of one is i of the other.
    flat, flat_out = x.ravel(order="K"), out.ravel(order="K")
    scratch = np.empty(BLOCK, x.dtype)
    for lo in range(0, flat.size, BLOCK):
        hi = min(lo + BLOCK, flat.size)
        kernel(flat[lo:hi], flat_out[lo:hi], scratch[: hi - lo])
    return out


def _one_or_all(axes: tuple[int, ...]):
    return axes[0] if len(axes) == 1 else axes


class NumpyBackend(HostBackend):
    name = "numpy"

    def _sigmoid(self, xp, x):
        return _elementwise(_sigmoid, x)

    def _sigmoid_grad(self, xp, x):
        return _elementwise(_sigmoid_grad, x)

    def _log_sigmoid(self, xp, x):
        return _elementwise(_log_sigmoid, x)

    # softmax and log_softmax: the generic kernels' formulas with one temporary each
    # (x - max, worked on in place) instead of one per operation. One reduced axis is
    # passed as an int: a tuple costs NumPy's reductions ~0.9 us more a call.
    def _shifted(self, xp, x, axes):
        # The generic kernel's, with the max as a method (np.max's Python layer costs ~1 us),
        # into a new array to work on in place (out= keeps 0-d as arrays).
        return np.subtract(x, x.max(axis=axes, keepdims=True), out=np.empty_like(x))

    def _softmax(self, xp, x, axes):
        axes = _one_or_all(axes)
        z = self._shifted(xp, x, axes)
        np.exp(z, out=z)
        return np.divide(z, z.sum(axis=axes, keepdims=True), out=z)

    def _log_softmax(self, xp, x, axes):
        axes = _one_or_all(axes)
        z = self._shifted(xp, x, axes)
        s = np.log(np.exp(z).sum(axis=axes, keepdims=True))
        return np.subtract(z, s, out=z)

    def _normalize_rows(self, xp, x):
        # Two passes: the rows' sums of squares straight from x (einsum, no temporary; float32
        # rows of 4M elements: norms within 5e-7 relative), then x / norm. That is exact
        # enough wherever the sum neither overflowed nor lost to underflow anything that
        # counts: each square is off by at most half the least subnormal, tiny * eps / 2, so
        # a row's d of them by d * tiny * eps / 2, within eps / 2 of any sum from d * tiny
        # on. Against scaling every row (five passes): (1, 1000) 17.7 -> 6 us, (1000, 1000)
        # 1.8 -> 0.9 ms here.
        squares = np.einsum("ij,ij->i", x, x)
        floor, ceiling = _SQUARES_RANGE[x.dtype.type]
        floor *= x.shape[1]
        if squares.size and floor <= squares.min() and squares.max() <= ceiling:  # NaN fails both
            return np.divide(x, np.sqrt(squares, out=squares)[:, None])
        # Rows outside the range: rows of zeros, which divided by 1 stay zero (padding, say:
        # they may be many), and rows of inf or NaN, or of magnitudes near overflow (a norm
        # over 1.3e154 in float64) or underflow (under 1.5e-154 sqrt(d)): scaled again, all
        # rows at once when these are many.
        bad = ~((squares >= floor) & (squares <= ceiling))
        redo = np.flatnonzero(bad)
        redo = redo[x[redo].any(axis=1)]
        if redo.size * 8 > x.shape[0]:
            return self._scaled_normalize_rows(x)
        squares[bad] = 1.0
        out = np.divide(x, np.sqrt(squares, out=squares)[:, None])
        if redo.size:
            out[redo] = self._scaled_normalize_rows(x[redo])
        return out

    def _scaled_normalize_rows(self, x):
        # The generic kernel's scaling (rows divided by their max |x| first, so the sum of
        # squares neither overflows nor underflows; a non-finite max makes the row NaN) in
        # one n x d buffer: |x|, then x / scale, then the result.
        y = np.abs(x, out=np.empty_like(x))
        np.divide(x, self._row_scale(np, y.max(axis=1, keepdims=True)), out=y)
        n = np.sqrt(np.einsum("ij,ij->i", y, y))[:, None]
        return np.divide(y, np.where(n > 0, n, 1.0), out=y)

    def _dot(self, xp, a, b):
        return np.dot(a, b)

    # Losses: one temporary for the difference, reduced in place by NumPy's pairwise sum, or
    # in float64 by BLAS (vdot, ~20% faster). BLAS sdot adds float32 in float32 along long
    # runs: 3e-5 relative error at 1e7 elements against the pairwise sum's 1e-8.
    def _l1_loss(self, xp, yhat, y):
        d = np.subtract(yhat, y, out=np.empty_like(yhat))  # out= keeps 0-d as arrays
        return np.abs(d, out=d).sum()

    def _l2_loss(self, xp, yhat, y):
        d = np.subtract(yhat, y, out=np.empty_like(yhat))
        if d.dtype == np.float64:
            return np.vdot(d, d)
        return np.square(d, out=d).sum()

    def _logistic_loss_grad(self, xp, X, Y, W, b, sample_weight):
        return logistic_loss_grad(X, Y, W, b, sample_weight)


def logistic_loss_grad(X, Y, W, b, sample_weight):
    """The numpy backend's loss+gradient; X a NumPy array or a scipy.sparse matrix (every
    host backend trains on sparse X through here: scipy's products, no kernel of its own)."""
    if W.ndim > 1:
        return _multinomial_loss_grad(X, Y, W, b, sample_weight)
    z = X @ W  # pass 1 over X
    z += b
    e = _exp_neg_abs(z, np.empty_like(z))
    losses = np.maximum(z, 0.0)
    losses -= Y * z
    losses += np.log1p(e)  # log(1 + e^z) - y z
    d = np.add(e, 1.0)
    np.maximum(e, z >= 0, out=e)  # sigmoid's numerator, as in _sigmoid
    r = np.divide(e, d, out=e)
    r -= Y
    if sample_weight is not None:
        losses *= sample_weight  # then a pairwise sum, not BLAS sdot (see _l1_loss and _l2_loss)
        r *= sample_weight
    loss = losses.sum(dtype=np.float64)
    return loss, X.T @ r, r.sum(keepdims=True)  # pass 2 over X


def _multinomial_loss_grad(X, Y, W, b, sample_weight):
    # The logits are formed as (K, n), W^T X^T, not (n, K): OpenBLAS runs that
    # gemm (and R^T X after it) about 1.3x faster for a small K than the
    # tall-skinny X W, and the softmax then reduces over the short axis 0
    # with long contiguous rows.
    dense = type(X) is np.ndarray
    Zt = np.dot(W.T, X.T) if dense else np.ascontiguousarray((X @ W).T)  # pass 1 over X
    Zt += b[:, None]
    Zt -= Zt.max(axis=0)
    losses = np.einsum("kn,kn->n", Y.T, Zt)
    np.exp(Zt, out=Zt)
    s = Zt.sum(axis=0)
    np.subtract(np.log(s), losses, out=losses)  # logsumexp(z) - z . y
    Zt /= s
    Zt -= Y.T
    if sample_weight is not None:
        losses *= sample_weight
        Zt *= sample_weight
    loss = losses.sum(dtype=np.float64)
    return loss, (np.dot(Zt, X).T if dense else X.T @ Zt.T), Zt.sum(axis=1)  # pass 2 over X
