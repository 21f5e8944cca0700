"""Independent references in long double, and error bounds to compare against.

The oracle formulas are the textbook ones evaluated in np.longdouble (64-bit
significand on x86-64), at least 11 bits more than float64, so rounding the
oracle to the output dtype is within 0.5 ULP plus a negligible error.
"""

from __future__ import annotations

import numpy as np

LD = np.longdouble


def _ld(x) -> np.ndarray:
    return np.asarray(x).astype(LD)


def sigmoid(x):
    x = _ld(x)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_grad(x):
    s = sigmoid(x)
    return s * sigmoid(-_ld(x))


def log_sigmoid(x):
    x = _ld(x)
    with np.errstate(all="ignore"):
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _shift(x, axes):
    x = _ld(x)
    m = np.max(x, axis=axes, keepdims=True)
    return np.where(np.isfinite(m), x - np.where(np.isfinite(m), m, 0), np.nan)


def softmax(x, axes):
    with np.errstate(all="ignore"):
        e = np.exp(_shift(x, axes))
        return e / np.sum(e, axis=axes, keepdims=True)


def log_softmax(x, axes):
    with np.errstate(all="ignore"):
        z = _shift(x, axes)
        return z - np.log(np.sum(np.exp(z), axis=axes, keepdims=True))


def normalize_rows(x):
    x = _ld(x)
    with np.errstate(all="ignore"):
        n = np.sqrt(np.sum(x * x, axis=1, keepdims=True))
        return np.where(n > 0, x / np.where(n > 0, n, 1), 0)


def ulp_distance(result: np.ndarray, reference: np.ndarray, dtype) -> np.ndarray:
    """|result - reference| in units of the output dtype's spacing at the reference.

    Equal non-finite values (same inf, both NaN) count as 0; a mismatch as inf.
    """
    result = np.asarray(result).astype(LD)
    ref_rounded = np.asarray(reference).astype(dtype)
    with np.errstate(all="ignore"):
        spacing = np.abs(np.spacing(np.abs(ref_rounded).astype(dtype))).astype(LD)
        dist = np.abs(result - reference) / spacing
    both_nan = np.isnan(result) & np.isnan(reference)
    same_inf = np.isinf(result) & (result == reference)
    dist = np.where(both_nan | same_inf, 0, dist)
    return np.where(np.isnan(dist), np.inf, dist)


def gamma(n: int, dtype) -> float:
    """Higham's gamma_n = n u / (1 - n u): the worst-case relative error of an n-term sum."""
    u = float(np.finfo(dtype).eps) / 2
    return n * u / (1 - n * u)


def logistic_loss_grad(X, Y, W, b, sample_weight):
    """``(loss, grad_W, grad_b)`` of the weighted logistic loss (binary for a 1-D W,
    multinomial otherwise), textbook formulas in long double."""
    X, Y, W, b = (_ld(a) for a in (X, Y, W, b))
    w = np.ones(X.shape[0], LD) if sample_weight is None else _ld(sample_weight)
    Z = X @ W + b
    if W.ndim == 1:
        losses = np.logaddexp(0, Z) - Y * Z
        R = 1 / (1 + np.exp(-Z)) - Y
    else:
        lse = np.log(np.sum(np.exp(Z - Z.max(axis=1, keepdims=True)), axis=1)) + Z.max(axis=1)
        losses = lse - np.sum(Y * Z, axis=1)
        R = np.exp(Z - lse[:, None]) - Y
    R = R * (w if W.ndim == 1 else w[:, None])
    return np.sum(w * losses), X.T @ R, np.sum(R, axis=0, keepdims=W.ndim == 1)
