"""Validating inputs and placing them on the backend, without moving X off its device.

NumPy (host) inputs go through scikit-learn's ``validate_data``, so errors and
the ``n_features_in_`` bookkeeping are exactly scikit-learn's. Any other array
(array-API arrays now; CuPy and Dask through the same path) is checked where
it lives with the same rules and messages: 2-D, real (the xpvec dtype policy),
finite, the fitted feature count. Only labels and sample weights, which are
n-sized, are read on the host, once per fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_consistent_length, column_or_1d, validate_data

from .._arrays import ARRAY_API, HOST, array_kind
from .._convert import to_numpy
from .._dtypes import compute_and_output
from .._selection import resolve
from ..backends._base import Backend

_HOST_DTYPES = [np.float64, np.float32]


def is_host(X: Any) -> bool:
    return array_kind(X) == HOST


def validate_host(estimator, *data, reset: bool):
    """scikit-learn's validation of host data (X, or X and y), X as float C-order."""
    return validate_data(estimator, *data, dtype=_HOST_DTYPES, order="C", reset=reset)


def validate_on_device(estimator, backend: Backend, X, *, reset: bool):
    """X validated where it lives, as the backend's array in its compute dtype."""
    name = type(estimator).__name__
    X = backend.asarray(X)
    xp = backend.namespace(X)
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead: reshape your data with "
            "X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample."
        )
    try:
        compute, _ = compute_and_output(xp, X.dtype, name)
    except TypeError as exc:  # scikit-learn reports bad dtypes (complex, ...) as ValueError
        raise ValueError(str(exc)) from None
    if X.dtype != compute:
        X = xp.astype(X, compute)
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"Input X contains NaN or infinity; {name} needs finite values.")
    if reset:
        estimator.n_features_in_ = X.shape[1]
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return X


def _trainable(backend: Backend) -> Backend:
    if backend.cannot_train:
        raise TypeError(backend.cannot_train)
    return backend


def training_data(estimator, X, y) -> tuple[Backend, Any, np.ndarray]:
    """``(backend, X, y)`` for fitting: X validated on its backend, y a 1-D host array."""
    if is_host(X):
        X, y = validate_host(estimator, X, y, reset=True)
        backend = _trainable(resolve(estimator.backend, X))
        return backend, backend.from_numpy(X), y
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None.")
    backend = _trainable(resolve(estimator.backend, X))
    X = validate_on_device(estimator, backend, X, reset=True)
    y = column_or_1d(to_numpy(y), warn=True)
    check_consistent_length(X, y)
    return backend, X, y


def features(estimator, X, *, reset: bool) -> tuple[Backend, Any]:
    """``(backend, X)`` for predicting: X validated and on the backend that runs it."""
    if is_host(X):
        X = validate_host(estimator, X, reset=reset)
        backend = resolve(estimator.backend, X)
        return backend, backend.from_numpy(X)
    backend = resolve(estimator.backend, X)
    return backend, validate_on_device(estimator, backend, X, reset=reset)


def place_like(backend: Backend, X, a: np.ndarray):
    """The host array ``a`` as an array of X's kind: same namespace, device and dtype."""
    # The array_api backend serves many namespaces, so its from_numpy cannot
    # know which one X is in; X itself says.
    if array_kind(X) == ARRAY_API:
        xp = backend.namespace(X)
        return xp.asarray(a, dtype=X.dtype, device=X.device)
    return backend.from_numpy(np.asarray(a, dtype=X.dtype))
