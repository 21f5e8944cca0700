"""LogisticRegression fits on a device against scikit-learn on the host CPU, for the GPU experiment.

Each fit runs on data where the device keeps it (``device.put``) with default
settings (C=1, tol=1e-4, lbfgs) beside scikit-learn's default lbfgs on the
host copy; both objectives are then evaluated the same way, in float64 on the
host, so "the same optimum" is a number, not a claim.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

import xpvec

from .._table import format_count


@dataclass
class Fit:
    n: int
    d: int
    classes: int
    dtype: str
    xpvec_s: float
    sklearn_s: float
    xpvec_iter: int
    sklearn_iter: int
    objective_rel_diff: float  # (xpvec's - scikit-learn's) / scikit-learn's: negative is better

    @property
    def speedup(self) -> float:
        return self.sklearn_s / self.xpvec_s

    def to_json(self) -> dict:
        return {**asdict(self), "speedup": self.speedup}


def _classification(n: int, d: int, classes: int, dtype: str, rng) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((n, d)).astype(dtype)
    W = rng.standard_normal((d, classes)).astype(dtype) * 2 / np.sqrt(d)
    Z = X @ W + rng.gumbel(size=(n, classes)).astype(dtype)  # a softmax model's sampled labels
    return X, Z.argmax(axis=1)


def _objective(model, X: np.ndarray, y: np.ndarray) -> float:
    """scikit-learn's objective C sum_i loss_i + ||W||^2 / 2, in float64, in row chunks."""
    coef, b = model.coef_.astype(np.float64), model.intercept_.astype(np.float64)
    total = 0.0
    for s in range(0, X.shape[0], 500_000):
        Z = X[s : s + 500_000].astype(np.float64) @ coef.T + b
        t = y[s : s + 500_000]
        if Z.shape[1] == 1:
            z, t = Z[:, 0], t == model.classes_[1]
            total += np.sum(np.logaddexp(0.0, z) - t * z)
        else:
            m = Z.max(axis=1)
            lse = m + np.log(np.exp(Z - m[:, None]).sum(axis=1))
            total += np.sum(lse - Z[np.arange(len(t)), np.searchsorted(model.classes_, t)])
    return model.C * total + 0.5 * float(np.sum(coef**2))


def time_fits(device, fits: tuple[tuple[int, int, int, str], ...], progress: Callable[[str], None]) -> list[Fit]:
    """One ``Fit`` per (rows, features, classes, dtype)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    rng = np.random.default_rng(2)
    done = []
    for n, d, classes, dtype in fits:
        X, y = _classification(n, d, classes, dtype, rng)
        Xd, yd = device.put(X), device.put(y)
        progress(f"fit {format_count(n)}x{d} {classes} classes {dtype}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            xpvec.LogisticRegression(max_iter=2).fit(Xd[:1000], yd[:1000])  # compile the kernels
            t0 = time.perf_counter()
            ours = xpvec.LogisticRegression().fit(Xd, yd)  # ends with coef_ on the host: synchronized
            ours_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            ref = SkLogisticRegression().fit(X, y)
            ref_s = time.perf_counter() - t0
        f_ours, f_ref = _objective(ours, X, y), _objective(ref, X, y)
        rel = float((f_ours - f_ref) / abs(f_ref))
        done.append(Fit(n, d, classes, dtype, ours_s, ref_s, int(ours.n_iter_[0]), int(np.max(ref.n_iter_)), rel))
    return done
