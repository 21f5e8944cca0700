"""Validating inputs and placing them on the backend, without moving X off its device.

NumPy (host) inputs go through scikit-learn's ``validate_data``, so errors and
the ``n_features_in_`` bookkeeping are exactly scikit-learn's. Any other array
(array-API arrays, CuPy, Dask) is checked where it lives with the same rules
and messages: 2-D, real (the xpvec dtype policy), finite, the fitted feature
count. Labels and sample weights, which are n-sized, are read on the host
once per fit, except for Dask data (``_dask_data``), where they stay chunked
beside X's rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import assert_all_finite
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    column_or_1d,
    validate_data,
)

from .._arrays import ARRAY_API, DASK, HOST, array_kind, describe, on_device_of
from .._convert import to_numpy
from .._dtypes import compute_and_output, describe_dtype
from .._selection import resolve
from ..backends._base import Backend
from ..backends._host import HostBackend, is_sparse
from ._warn import warn_caller

_HOST_DTYPES = [np.float64, np.float32]


@dataclass
class TrainingData:
    """Everything a fit needs, beside X on its backend."""

    backend: Backend
    X: Any
    #: (n,) of 0/1 for two classes, (n, K) one-hot for more, in X's dtype.
    Y: Any
    sample_weight: Any
    classes: np.ndarray
    #: X's values are not checked yet: the first loss evaluation must prove them finite.
    finite_unchecked: bool = False


def is_host(X: Any) -> bool:
    return array_kind(X) == HOST


#: scikit-learn's warning for y of shape (n, 1), raised where the caller passed it.
COLUMN_VECTOR = (
    "A column-vector y was passed when a 1d array was expected. Please change the "
    "shape of y to (n_samples, ), for example using ravel()."
)


def host_labels(y) -> np.ndarray:
    """Labels that are no Dask array, read as scikit-learn reads host y (``validate_host``):
    pandas' nullable and boolean kinds as float64, a column vector flattened with its warning;
    labels on a device (CuPy) copied to the host first."""
    y = y if is_host(y) else to_numpy(y)
    shape = np.shape(y)
    if len(shape) == 2 and shape[1] == 1:
        warn_caller(COLUMN_VECTOR, DataConversionWarning)
    return column_or_1d(y)


def validate_host(estimator, X, *y, reset: bool, check_finite: bool = True):
    """scikit-learn's validation of host data (X, or X and y), X as float C-order, or as a
    float CSR matrix when it is scipy.sparse (rows contiguous, as C order is for dense X).
    X's dimensions, dtype and values are checked as on every other backend (``host_layout``,
    ``refuse_non_finite``), with the same one-line messages; ``check_finite=False`` leaves
    the values to the caller."""
    X = host_layout(estimator, X)
    validated = validate_data(
        estimator, X, *y, dtype=_HOST_DTYPES, order="C", accept_sparse="csr", reset=reset,
        ensure_all_finite=False,
    )  # fmt: skip
    if check_finite:
        refuse_non_finite(estimator, np, validated[0] if y else validated)
    return validated


def host_layout(estimator, X):
    """Host X with its dimensions and dtype checked before scikit-learn reads its values:
    scikit-learn's messages for these print the whole array. Lists and scalars become
    NumPy arrays here, as scikit-learn's conversion would read them."""
    if not hasattr(X, "shape"):
        X = np.asarray(X)
    if len(X.shape) != 2:
        raise not_2d_error(len(X.shape))
    dtype = getattr(X, "dtype", None)  # a DataFrame has one per column, which scikit-learn reads
    if isinstance(dtype, np.dtype):
        model_dtype(np, dtype, type(estimator).__name__)
    columns = getattr(X, "dtypes", None)
    if dtype == np.float16 or (columns is not None and len(columns) and all(c == np.float16 for c in columns)):
        # float16 trains in float32 as on every other backend (scikit-learn would read float64).
        X = X.astype(np.float32)
    return X


def not_2d_error(ndim: int) -> ValueError:
    # scikit-learn's estimator checks match "Expected 2D array" and "Reshape your data".
    fix = (
        "X.reshape(len(X), -1) for one row per sample (an image per row, say)"
        if ndim > 2
        else "X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample"
    )
    return ValueError(f"Expected 2D array, got {ndim}D array instead. Reshape your data with {fix}.")


def model_dtype(xp, dtype, name: str):
    """The dtype a model computes on X of ``dtype`` in, one rule for every backend: the ops'
    (API.md), except that an object array is read as float64, each element as a number, as
    scikit-learn reads it (its estimator checks require object arrays of numbers to train; an
    element that is no number fails NumPy's conversion with a TypeError, as there). Strings
    are refused as the ops refuse them: numbers stored as text are the caller's to parse.
    Refusals are ValueErrors, as scikit-learn's are, and name complex data in its words."""
    if getattr(dtype, "kind", None) == "O":
        return xp.float64
    try:
        return compute_and_output(xp, dtype, name)[0]
    except TypeError as exc:
        lead = "Complex data not supported: " if xp.isdtype(dtype, "complex floating") else ""
        raise ValueError(f"{lead}{exc}") from None


def _on_backend(backend: Backend, X, given: type):
    """Validated host X as the backend's: sparse X stays scipy's (the host backends train on it).
    ``given``: X's type as passed (validation made sparse X CSR), for the refusal."""
    if not is_sparse(X):
        return backend.from_numpy(X)
    if not isinstance(backend, HostBackend):
        raise TypeError(
            f"the {backend.name} backend takes dense arrays, not a scipy.sparse {given.__name__}: "
            "choose a host backend (backend='numpy', 'numba' or 'python'), which trains on it "
            "as it is, or pass X.toarray()"
        )
    return X


def checked_layout(estimator, backend: Backend, X, *, reset: bool):
    """X as the backend's 2-D array in its compute dtype, with the fitted feature count.
    Reads no values, so it costs nothing on lazy arrays."""
    name = type(estimator).__name__
    X = backend.asarray(X)
    xp = backend.namespace(X)
    if X.ndim != 2:
        raise not_2d_error(X.ndim)
    compute = model_dtype(xp, X.dtype, name)
    if X.dtype != compute:
        X = xp.astype(X, compute)
    for axis, what in ((0, "sample(s)"), (1, "feature(s)")):
        if X.shape[axis] == 0:  # an unknown (NaN) Dask size is no zero: its blocks are checked later
            raise ValueError(
                f"Found array with 0 {what} (shape={tuple(X.shape)}) while a minimum of 1 is required by {name}."
            )
    if reset:
        estimator.n_features_in_ = X.shape[1]
        # Arrays off the host carry no column names: names from an earlier fit no longer apply.
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    elif hasattr(estimator, "feature_names_in_"):  # scikit-learn's warning, word for word
        warn_caller(
            f"X does not have valid feature names, but {name} was fitted with feature names",
            UserWarning,
        )
    return X


def non_finite_error(name: str = "LogisticRegression") -> ValueError:
    """What every check of X's values raises, wherever X lives and whenever it is read."""
    return ValueError(f"Input X contains NaN or infinity; {name} needs finite values.")


def refuse_non_finite(estimator, xp, X) -> None:
    """The check of X's values, wherever X lives (of scipy.sparse X, its stored values).
    scikit-learn's fast path first: the sum is finite when every value is, unless large
    values overflow it (then each value is tested), in one pass and no X-sized temporary."""
    values = X.data if is_sparse(X) else X
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf in the sum is NaN: not finite
        if math.isfinite(float(xp.sum(values))) or bool(xp.all(xp.isfinite(values))):
            return
    raise non_finite_error(type(estimator).__name__)


def validate_on_device(estimator, backend: Backend, X, *, reset: bool):
    """X validated where it lives, as the backend's array in its compute dtype."""
    X = checked_layout(estimator, backend, X, reset=reset)
    refuse_non_finite(estimator, backend.namespace(X), X)
    return X


def trainable(backend: Backend, solver: str) -> Backend:
    reason = backend.unsupported_solvers.get(solver)
    if reason:
        raise ValueError(f"solver={solver!r} does not run on the {backend.name} backend: {reason}")
    return backend


def encode_labels(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, codes)`` from host labels, after scikit-learn's target checks: the sorted
    distinct labels, and each label's index among them."""
    # scikit-learn's target checks cast float labels to int, which a NaN or an inf makes
    # a warning (an error under np.seterr(all="raise")): refuse those first, with
    # scikit-learn's message (its host validation of y checks them so).
    assert_all_finite(y, input_name="y")
    check_classification_targets(y)
    classes, codes = np.unique(y, return_inverse=True)
    if classes.shape[0] < 2:  # y is not empty: X's rows, at least one, were checked against it
        raise ValueError(
            "LogisticRegression needs samples of at least 2 classes in the data, but the "
            f"data contains only one class: {classes[0]!r}"
        )
    return classes, codes


def targets(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """The solver's Y from label codes: the 0/1 codes themselves for two classes, else one-hot."""
    return codes if n_classes == 2 else codes[:, None] == np.arange(n_classes)


def training_data(estimator, X, y, sample_weight) -> TrainingData:
    """X validated on its backend, labels encoded and weights checked, all beside X."""
    # lbfgs starts with a full evaluation at W = 0, b = 0, whose loss is finite
    # exactly when X is: that evaluation checks X for free (a separate check
    # would read X once more, a third of a fused loss+gradient evaluation).
    # Not for sparse X: its stored values are few, and a warm start's first evaluation is
    # not at zero, where the fallback check would take NumPy's isfinite to a sparse matrix.
    defer_finite = estimator.solver == "lbfgs" and not is_sparse(X)
    _refuse_dask_beside(X, y=y, sample_weight=sample_weight)
    if is_host(X):
        given = X  # a backend that refuses it names it as passed (sparse X is CSR after validation)
        X, y = validate_host(estimator, X, y, reset=True, check_finite=not defer_finite)
        backend = trainable(resolve(estimator.backend, given), estimator.solver)
        X = _on_backend(backend, X, type(given))
        finite_unchecked = defer_finite
    else:
        if y is None:
            raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None.")
        backend = trainable(resolve(estimator.backend, X), estimator.solver)
        if array_kind(X) == DASK:
            from ._dask_data import dask_training_data

            return dask_training_data(estimator, backend, X, y, sample_weight)
        X = validate_on_device(estimator, backend, X, reset=True)
        finite_unchecked = False
        y = host_labels(y)
        check_consistent_length(X, y)
    classes, codes = encode_labels(y)
    Y = targets(codes, classes.shape[0])
    if sample_weight is not None:
        # A zero-width stand-in carries X's sample count to scikit-learn's check.
        n_rows = np.empty((X.shape[0], 0))
        if not is_host(sample_weight):  # a device array (CuPy) that NumPy will not convert itself
            sample_weight = to_numpy(sample_weight)
        sample_weight = _check_sample_weight(sample_weight, n_rows, ensure_non_negative=True)
    what = weights_named(sample_weight, estimator.class_weight)
    if estimator.class_weight is not None:
        counts = np.bincount(codes, weights=sample_weight, minlength=classes.shape[0])
        per_class = class_weights(estimator.class_weight, classes, counts)[codes]
        with np.errstate(over="ignore"):  # refused below, in words
            sample_weight = per_class if sample_weight is None else sample_weight * per_class
    if sample_weight is not None:
        with np.errstate(over="ignore"):  # an overflowing total is refused in words
            total = float(np.sum(sample_weight, dtype=np.float64))
        refuse_unusable_weights(total, backend.namespace(X), X.dtype, what)
        sample_weight = place_like(backend, X, sample_weight)
    # Labels and weights are n-sized: checked on the host, placed beside X once.
    return TrainingData(backend, X, place_like(backend, X, Y), sample_weight, classes, finite_unchecked)


def class_weights(class_weight, classes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The weight of each class, scikit-learn's (``compute_class_weight``, which LogisticRegression
    multiplies into the sample weights): a dict's, or for "balanced" the total weight over
    K times the class's, from ``counts``, each class's summed sample weight (its count when
    unweighted). Each class stands once for y, weighted by its count: the same sums, from
    n-sized data counted wherever it lives."""
    with np.errstate(divide="ignore"):
        weights = compute_class_weight(class_weight, classes=classes, y=classes, sample_weight=counts)
    # "balanced" divides by each class's total weight: a class whose samples all weigh 0 gets
    # inf, where it weighs nothing (and inf times their 0 would be NaN).
    return np.where(counts > 0, weights, 0.0)


def weights_named(sample_weight, class_weight) -> str:
    """What the weights that train are made of, as the user passed them."""
    given = [name for name, value in (("sample_weight", sample_weight), ("class_weight", class_weight)) if value is not None]
    return " times ".join(given)


def refuse_unusable_weights(total: float, xp, dtype, what: str) -> None:
    """The weights that train (``what``: ``weights_named``), refused in words where X's dtype
    (of namespace ``xp``) cannot hold their total, which the objective divides by (so each
    weight, too), or none is above 0. ``total`` is their float64 sum, NaN or inf where it
    or their products overflowed."""
    limit = float(xp.finfo(dtype).max)
    if not total <= limit:
        reach = f"sums to {total:.3g}" if math.isfinite(total) else "overflows"
        raise ValueError(
            f"{what} {reach}, beyond {describe_dtype(dtype)}'s range ({limit:.3g}): scale the weights "
            "down (weights w / s with C * s fit the same model)"
        )
    if total == 0:
        raise ValueError(f"{what} is 0 for every sample: give some samples a weight above 0")


def _refuse_dask_beside(X, **n_sized) -> None:
    """Dask labels or weights go with Dask X only: beside other X they would be computed
    to the host behind the user's back (a graph that may read a whole dataset)."""
    if array_kind(X) == DASK:
        return
    for name, a in n_sized.items():
        if a is not None and array_kind(a) == DASK:
            raise TypeError(
                f"{name} is a Dask array but X is {describe(X)}: fit takes X, y and sample_weight "
                f"from the same place; compute {name} first ({name} = {name}.compute()), or "
                "train on Dask with X = xpvec.to_device(X, 'dask')"
            )


def features(estimator, X, *, reset: bool) -> tuple[Backend, Any]:
    """``(backend, X)`` for predicting: X validated and on the backend that runs it."""
    if is_host(X):
        given = X
        X = validate_host(estimator, X, reset=reset)
        backend = resolve(estimator.backend, given)
        return backend, _on_backend(backend, X, type(given))
    backend = resolve(estimator.backend, X)
    if array_kind(X) == DASK:
        from ._dask_data import lazily_checked

        return backend, lazily_checked(estimator, checked_layout(estimator, backend, X, reset=reset))
    return backend, validate_on_device(estimator, backend, X, reset=reset)


def place_like(backend: Backend, X, a: np.ndarray):
    """The host array ``a`` beside X: in X's parameter namespace, on its device, in its dtype."""
    # The array_api backend serves many namespaces, so its from_numpy cannot
    # know which one X is in; X itself says.
    if array_kind(X) == ARRAY_API:
        xp = backend.namespace(X)
        return xp.asarray(a, dtype=X.dtype, **on_device_of(xp, X))
    return backend.parameter_namespace(X).asarray(np.asarray(a, dtype=X.dtype))
