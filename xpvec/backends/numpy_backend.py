"""The ``numpy`` backend: vectorized NumPy, numerically stable (the default).

The generic kernels of ``Backend`` already run on NumPy; this class overrides
the elementwise ones to reuse ``out=`` buffers: each generic expression
allocates a temporary per operation, these allocate two arrays in all.

``_logistic_loss_grad`` reads X twice, the fewest BLAS allows: one gemv/gemm
for the logits, one for X^T R. Between them it works in place on the
n- (or n*K-) sized logits, so an evaluation allocates O(n K), never O(n d).
"""

from __future__ import annotations

import numpy as np

from ._host import HostBackend


def _exp_neg_abs(x: np.ndarray) -> np.ndarray:
    """exp(-|x|) in a new array: in (0, 1], never overflows, NaN stays NaN."""
    e = np.abs(x)
    np.negative(e, out=e)
    return np.exp(e, out=e)


class NumpyBackend(HostBackend):
    name = "numpy"

    def _sigmoid(self, xp, x):
        e = _exp_neg_abs(x)
        d = np.add(e, 1.0)
        # Numerator 1 where x >= 0, else e: max(e, x >= 0) since e <= 1. Branch-free
        # (a masked copyto is 5x slower on random signs); NaN propagates through max.
        np.maximum(e, x >= 0, out=e)
        return np.divide(e, d, out=e)

    def _sigmoid_grad(self, xp, x):
        e = _exp_neg_abs(x)
        d = np.add(e, 1.0)
        np.divide(e, d, out=e)
        return np.divide(e, d, out=e)

    def _log_sigmoid(self, xp, x):
        e = _exp_neg_abs(x)
        np.log1p(e, out=e)
        return np.subtract(np.minimum(x, 0.0), e, out=e)

    def _dot(self, xp, a, b):
        return np.dot(a, b)

    def _logistic_loss_grad(self, xp, X, Y, W, b, sample_weight):
        Z = np.dot(X, W)  # pass 1 over X
        Z += b
        if W.ndim == 1:
            e = _exp_neg_abs(Z)
            losses = np.log1p(e)
            losses += np.maximum(Z, 0.0)
            losses -= Y * Z  # log(1 + e^z) - y z
            d = np.add(e, 1.0)
            np.maximum(e, Z >= 0, out=e)  # sigmoid's numerator, as in _sigmoid
            R = np.divide(e, d, out=e)
        else:
            Z -= Z.max(axis=1, keepdims=True)
            losses = np.einsum("ij,ij->i", Y, Z)
            np.exp(Z, out=Z)
            s = Z.sum(axis=1, keepdims=True)
            np.subtract(np.log(s[:, 0]), losses, out=losses)  # logsumexp(z) - z . y
            R = np.divide(Z, s, out=Z)
        R -= Y
        if sample_weight is None:
            loss = losses.sum()
        else:
            loss = np.dot(losses, sample_weight)
            R *= sample_weight if W.ndim == 1 else sample_weight[:, None]
        grad_W = np.dot(X.T, R)  # pass 2 over X
        return loss, grad_W, R.sum(axis=0, keepdims=W.ndim == 1)
