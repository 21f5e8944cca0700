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


def hard_loss_sums(n_outputs: int, dtype, n: int = 64) -> dict:
    """Logistic problems ``{kind: (X, Y, W, b)}`` whose loss (``logistic_loss_grad``) a float32
    sum or an unstable row formula gets visibly wrong. The logits are X's rows (W the identity):

    - ``"sum"``: row 0's loss is 30000 (float32's ulp there is 2e-3), the other rows' 5e-5
      (binary) or 9e-5 each: a float32 sum drops them, a float64 sum keeps them;
    - ``"small"``, binary only: every row well classified (z = 20, y = 1), a loss of 2e-9
      each, which log1p(e^-|z|) + max(z, 0) - y z rounds to 0 in float32. (A multinomial
      row's log(sum_k e^(z_k - m)) rounds a sum of 1 + 4e-9: an error of eps32 per row
      whatever the formula, below what the rounding of its logits costs elsewhere.)
    """
    k = n_outputs
    eye = np.eye(k, dtype=dtype)
    Z = np.zeros((n, k), dtype)
    if k == 1:
        Z[:, 0] = -10.0  # y = 0: log(1 + e^-10) each
        Z[0, 0] = 30000.0
        problems = {"sum": (Z, np.zeros(n, dtype), eye[:, 0].copy(), np.zeros(1, dtype))}
        small = np.full((n, 1), 20.0, dtype)
        problems["small"] = (small, np.ones(n, dtype), eye[:, 0].copy(), np.zeros(1, dtype))
        return problems
    Z[:, 0] = 10.0  # class 0 at logits [10, 0, ...]: log(1 + (k - 1) e^-10) each
    Z[0, 0] = 30000.0
    Y = np.zeros((n, k), dtype)
    Y[:, 0] = 1
    Y[0] = eye[1]  # row 0 is class 1, 30000 below the top logit
    return {"sum": (Z, Y, eye, np.zeros(k, dtype))}


def assert_summed_in_float64(kind: str, problem: tuple, loss) -> None:
    """The checks on a loss of one of ``hard_loss_sums``' problems: a float64, and close to the
    long-double loss. For ``"sum"`` each row's loss is within eps32 of its value (a float32
    sum drops 3e-3); for ``"small"`` the whole loss is within 1e-4 relative (the old row
    formula gave 0)."""
    want = float(logistic_loss_grad(*problem, None)[0])
    assert np.asarray(loss).dtype == np.float64, kind
    tol = len(problem[0]) * np.finfo(np.float32).eps if kind == "sum" else 1e-4 * want
    assert abs(float(loss) - want) <= tol, kind
