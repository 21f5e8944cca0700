"""The ``python`` backend: plain Python loops with ``math.exp``, the "for loop" baseline.

Every kernel walks the elements one at a time in Python floats (float64), the
way the course notes write it before vectorizing. It is slow on purpose of
design, not by neglect: it is the baseline the benchmarks compare against, and
an independent implementation the agreement tests compare with. NumPy is used
only to move data in and out (layout, dtype), never to compute.
"""

from __future__ import annotations

import math

import numpy as np

from .._axes import to_rows
from ._host import HostBackend

_NAN = math.nan


def _sigmoid(v: float) -> float:
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)  # NaN lands here and stays NaN
    return e / (1.0 + e)


def _sigmoid_grad(v: float) -> float:
    e = math.exp(-abs(v))
    d = 1.0 + e
    return e / (d * d)


def _log_sigmoid(v: float) -> float:
    # min(v, 0) written out: Python's min() drops a NaN depending on argument order.
    return (v if v < 0 else 0.0) - math.log1p(math.exp(-abs(v)))


def _row_max(row: list[float]) -> float:
    """The max of a row, NaN if the row holds a NaN."""
    m = -math.inf
    for v in row:
        if v != v:
            return _NAN
        if v > m:
            m = v
    return m


def _softmax_row(row: list[float]) -> list[float]:
    m = _row_max(row)
    if not math.isfinite(m):
        return [_NAN] * len(row)
    exps = [math.exp(v - m) for v in row]
    total = 0.0
    for e in exps:
        total += e
    return [e / total for e in exps]


def _log_softmax_row(row: list[float]) -> list[float]:
    m = _row_max(row)
    if not math.isfinite(m):
        return [_NAN] * len(row)
    total = 0.0
    for v in row:
        total += math.exp(v - m)
    lse = math.log(total)
    return [v - m - lse for v in row]


def _normalize_row(row: list[float]) -> list[float]:
    m = 0.0
    for v in row:
        a = abs(v)
        if a != a:
            m = _NAN
            break
        if a > m:
            m = a
    if not math.isfinite(m):
        return [_NAN] * len(row)
    if m == 0.0:
        return [0.0] * len(row)
    total = 0.0
    for v in row:
        total += (v / m) * (v / m)
    norm = math.sqrt(total)
    return [(v / m) / norm for v in row]


def _vec_dot(a: list[float], b: list[float]) -> float:
    total = 0.0
    for i in range(len(a)):
        total += a[i] * b[i]
    return total


def _binary_loss_grad(rows, ys, weights, w, b):
    """One loop over the rows: z = x.w + b, loss += log(1 + e^z) - y z, grad += (sigmoid(z) - y) x."""
    loss, grad_w, grad_b = 0.0, [0.0] * len(w), 0.0
    for x, y, weight in zip(rows, ys, weights, strict=True):
        z = _vec_dot(x, w) + b
        loss += weight * (-_log_sigmoid(-z) - y * z)  # log(1 + e^z) - y z
        r = weight * (_sigmoid(z) - y)
        for j in range(len(x)):
            grad_w[j] += r * x[j]
        grad_b += r
    return loss, grad_w, [grad_b]


def _multinomial_loss_grad(rows, ys, weights, columns, b):
    """One loop over the rows with a softmax over the K logits of each row."""
    k_range = range(len(columns))
    loss, grad_b = 0.0, [0.0] * len(columns)
    grad_w = [[0.0] * len(columns) for _ in range(len(rows[0]) if rows else 0)]
    for x, y, weight in zip(rows, ys, weights, strict=True):
        z = [_vec_dot(x, columns[k]) + b[k] for k in k_range]
        m = max(z)
        exps = [math.exp(v - m) for v in z]
        total = 0.0
        for e in exps:
            total += e
        loss += weight * (m + math.log(total) - _vec_dot(z, y))
        for k in k_range:
            r = weight * (exps[k] / total - y[k])
            grad_b[k] += r
            for j in range(len(x)):
                grad_w[j][k] += r * x[j]
    return loss, grad_w, grad_b


def _map(fn, x: np.ndarray) -> np.ndarray:
    return np.array([fn(v) for v in x.ravel().tolist()], dtype=x.dtype).reshape(x.shape)


def _map_rows(fn, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    rows, restore = to_rows(x, axes)
    out = np.array([fn(row) for row in rows.tolist()], dtype=x.dtype).reshape(rows.shape)
    return restore(out)


class PythonBackend(HostBackend):
    name = "python"

    def _sigmoid(self, xp, x):
        return _map(_sigmoid, x)

    def _sigmoid_grad(self, xp, x):
        return _map(_sigmoid_grad, x)

    def _log_sigmoid(self, xp, x):
        return _map(_log_sigmoid, x)

    def _softmax(self, xp, x, axes):
        return _map_rows(_softmax_row, x, axes)

    def _log_softmax(self, xp, x, axes):
        return _map_rows(_log_softmax_row, x, axes)

    def _dot(self, xp, a, b):
        al, bl = a.tolist(), b.tolist()
        if a.ndim == 1 and b.ndim == 1:
            return np.array(_vec_dot(al, bl), dtype=a.dtype)
        if a.ndim == 1:  # (k,) . (k, m): columns of b
            out = [_vec_dot(al, [row[j] for row in bl]) for j in range(b.shape[1])]
        elif b.ndim == 1:  # (n, k) . (k,)
            out = [_vec_dot(row, bl) for row in al]
        else:  # (n, k) . (k, m)
            cols = [[row[j] for row in bl] for j in range(b.shape[1])]
            out = [[_vec_dot(row, col) for col in cols] for row in al]
        return np.array(out, dtype=a.dtype).reshape(a.shape[:-1] + b.shape[1:])

    def _normalize_rows(self, xp, x):
        return np.array([_normalize_row(row) for row in x.tolist()], dtype=x.dtype).reshape(x.shape)

    def _l1_loss(self, xp, yhat, y):
        total = 0.0
        for p, t in zip(yhat.ravel().tolist(), y.ravel().tolist(), strict=True):
            total += abs(p - t)
        return total

    def _l2_loss(self, xp, yhat, y):
        total = 0.0
        for p, t in zip(yhat.ravel().tolist(), y.ravel().tolist(), strict=True):
            total += (p - t) * (p - t)
        return total

    def _logistic_loss_grad(self, xp, X, Y, W, b, sample_weight):
        rows = X.tolist()
        weights = [1.0] * len(rows) if sample_weight is None else sample_weight.tolist()
        if W.ndim == 1:
            loss, grad_w, grad_b = _binary_loss_grad(rows, Y.tolist(), weights, W.tolist(), float(b[0]))
        else:
            loss, grad_w, grad_b = _multinomial_loss_grad(rows, Y.tolist(), weights, W.T.tolist(), b.tolist())
        dtype = X.dtype
        return np.asarray(loss, dtype=np.float64), np.array(grad_w, dtype=dtype), np.array(grad_b, dtype=dtype)
