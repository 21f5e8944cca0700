"""Training data on Dask arrays: validated, encoded and kept chunked on the workers.

Design requirements:
- Nothing gathers X (or y) to one place: X keeps its row blocks (its columns
  are joined into one block per row range, which moves no row between
  workers), labels and sample weights are rechunked to X's row blocks.
- X, y and the weights are persisted once, so every evaluation reads chunks
  from worker memory instead of recomputing the graph that made them, and a
  lost chunk is recomputed from that graph (Dask's own retry).
- Every check that reads values (X finite, the classes, the weights) is one
  lazy reduction; they are computed together, once, in a single round trip.
- Predictions stay lazy: a non-finite X raises when they are computed.
- Arithmetic goes through the backend's namespace (``xp.multiply``,
  ``xp.astype``), whose tasks run under the FP guard wherever they run.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import _check_sample_weight

from ..backends._base import Backend
from ..backends.dask_backend import whole_rows
from ._data import (
    COLUMN_VECTOR,
    TrainingData,
    checked_layout,
    class_weights,
    encode_labels,
    host_labels,
    non_finite_error,
    refuse_unusable_weights,
    targets,
    weights_named,
)
from ._warn import warn_caller


def dask_training_data(estimator, backend: Backend, X, y, sample_weight) -> TrainingData:
    import dask
    import dask.array as da

    X = whole_rows(checked_layout(estimator, backend, X, reset=True))
    xp = backend.namespace(X)
    if any(math.isnan(n) for n in X.chunks[0]):
        raise backend._unknown_sizes_error(f"{type(estimator).__name__}.fit", "X", X.shape)
    fit = f"{type(estimator).__name__}.fit"
    y = _beside_rows(backend, fit, X, _labels(y), "y")
    sample_weight = _weights_beside(backend, fit, X, sample_weight)
    X, y, sample_weight = dask.persist(X, y, sample_weight)
    checks = [da.isfinite(X).all(), da.unique(y)]
    if sample_weight is not None:
        checks += [_total(xp, sample_weight), da.isfinite(sample_weight).all(), sample_weight.min(), sample_weight.max()]
    try:
        finite, classes, *weight_checks = dask.compute(*checks)
    except TypeError as exc:
        if y.dtype != object:
            raise
        # np.unique sorts the labels: NaN among strings, or strings among numbers, cannot be.
        raise ValueError(
            f"y holds labels that cannot be compared ({exc}): NaN among the labels, or labels of "
            "mixed types; give every label one type (all numbers or all strings), and none NaN"
        ) from None
    if not finite:
        raise non_finite_error(type(estimator).__name__)
    if sample_weight is not None:
        total, *weight_checks = weight_checks
        _check_weight_values(*weight_checks)
    classes, _ = encode_labels(classes)  # scikit-learn's target checks, on the distinct labels
    n_classes = classes.shape[0]
    what = weights_named(sample_weight, estimator.class_weight)
    if estimator.class_weight is not None:
        codes = y.map_blocks(_codes, classes, dtype=np.intp)
        (counts,) = dask.compute(da.bincount(codes, weights=sample_weight, minlength=n_classes))
        per_class = codes.map_blocks(_take, class_weights(estimator.class_weight, classes, counts))
        sample_weight = (per_class if sample_weight is None else xp.multiply(sample_weight, per_class)).persist()
        (total,) = dask.compute(_total(xp, sample_weight))
    if sample_weight is not None:
        # Checked as given (float64 from the host), then in X's dtype: a float32 cast would
        # turn weights beyond its range into inf before any check could name them.
        refuse_unusable_weights(float(total), np, X.dtype, what)  # Dask arrays hold NumPy dtypes
        sample_weight = xp.astype(sample_weight, X.dtype).persist()
    if n_classes == 2:
        Y = y.map_blocks(_encode, classes, X.dtype, dtype=X.dtype)
    else:
        Y = y.map_blocks(
            _encode, classes, X.dtype, dtype=X.dtype, new_axis=1, chunks=(y.chunks[0], (n_classes,))
        )
    return TrainingData(backend, X, Y.persist(), sample_weight, classes)


def _total(xp, weights):
    """The weights' float64 sum, its tasks guarded (an overflow is refused in words)."""
    return xp.sum(xp.astype(weights, np.float64))


def lazily_checked(estimator, X):
    """X that raises the usual error for non-finite values when (and if) it is computed."""
    return X.map_blocks(_finite_block, non_finite_error(type(estimator).__name__), dtype=X.dtype)


def _finite_block(block, error: Exception):
    if not np.isfinite(block).all():
        raise error
    return block


def _take(codes, values: np.ndarray):
    return values[codes]


def _codes(labels, classes: np.ndarray):
    return np.searchsorted(classes, labels)


def _encode(labels, classes: np.ndarray, dtype):
    return targets(_codes(labels, classes), classes.shape[0]).astype(dtype)


def _labels(y):
    """y as a 1-D Dask array, with scikit-learn's treatment of a column vector."""
    import dask.array as da

    if not isinstance(y, da.Array):
        # Read as on every other backend, in one chunk (Dask cannot size "auto" chunks of
        # object labels: pandas strings or categories), chunked like X's rows by ``_beside_rows``.
        return da.from_array(host_labels(y), chunks=-1)
    if y.ndim == 2 and y.shape[1] == 1:
        warn_caller(COLUMN_VECTOR, DataConversionWarning)
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {y.shape} instead.")
    return y


def _beside_rows(backend: Backend, fit: str, X, v, name: str):
    """The n-sized Dask array v (``name``) chunked like X's rows, after scikit-learn's length check."""
    if any(math.isnan(n) for n in v.chunks[0]):  # its length unknown: no length to check
        raise backend._unknown_sizes_error(fit, name, v.shape)
    if v.shape[0] != X.shape[0]:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: [{X.shape[0]}, {v.shape[0]}]"
        )
    return v if v.chunks[0] == X.chunks[0] else v.rechunk({0: X.chunks[0]})


def _weights_beside(backend: Backend, fit: str, X, sample_weight):
    import dask.array as da

    if sample_weight is None:
        return None
    if not isinstance(sample_weight, da.Array):
        # Host weights: scikit-learn's own checks, then chunked like X's rows.
        n_rows = np.empty((X.shape[0], 0))
        weights = _check_sample_weight(sample_weight, n_rows, ensure_non_negative=True)
        return da.from_array(weights, chunks=(X.chunks[0],))
    if sample_weight.ndim != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar, got {sample_weight.ndim}D")
    if sample_weight.shape[0] != X.shape[0] and not math.isnan(sample_weight.shape[0]):
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected ({X.shape[0]},)!"
        )
    if sample_weight.dtype.kind not in "biuf":
        # Numbers as text or objects, read as float64 as scikit-learn reads host weights (text
        # that is no number fails there too, when the blocks are computed).
        sample_weight = sample_weight.astype(np.float64)
    return _beside_rows(backend, fit, X, sample_weight, "sample_weight")


def _check_weight_values(finite: bool, lowest, highest) -> None:
    # The messages of scikit-learn's _check_sample_weight.
    if not finite:
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if lowest < 0:
        raise ValueError("Negative values in data passed to `sample_weight`.")
    if highest == 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")
