"""Plumbing shared by the backends that compute on NumPy arrays in host memory."""

from __future__ import annotations

import sys

import numpy as np

from .._arrays import HOST, array_kind
from ._base import Backend


def is_sparse(x) -> bool:
    """Whether ``x`` is a scipy.sparse matrix or array (never imports scipy)."""
    if type(x) is np.ndarray:
        return False
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(x)


def refuse_lossy(x, *, chunks_of_dask: bool = False) -> None:
    """TypeError for NumPy-like input that ``np.asarray`` would mangle: a masked array (the mask
    would be dropped) or a scipy.sparse matrix (it would become a 0-d object array).

    ``chunks_of_dask``: ``x`` is the ``_meta`` of a Dask array, whose fix differs.
    """
    if isinstance(x, np.ma.MaskedArray):
        fix = "dask.array.ma.filled(x, value)" if chunks_of_dask else "x.filled(value)"
        what = "Dask arrays of masked chunks" if chunks_of_dask else "masked arrays (numpy.ma.MaskedArray)"
        raise TypeError(
            f"xpvec does not take {what}: the mask would be lost; "
            f"pass {fix} to choose what the masked entries become"
        )
    if is_sparse(x):
        if chunks_of_dask:
            raise TypeError(
                "xpvec takes dense arrays, not a Dask array of scipy.sparse chunks; "
                "pass x.map_blocks(lambda block: block.toarray(), dtype=x.dtype) for dense chunks"
            )
        raise TypeError(
            f"xpvec's ops take dense arrays, not a scipy.sparse {type(x).__name__} "
            f"(shape {x.shape}, {x.nnz} stored entries); pass x.toarray() for a dense copy "
            "(LogisticRegression trains and predicts on sparse X as it is)"
        )


class HostBackend(Backend):
    """NumPy arrays in, NumPy arrays out; lists and Python scalars are accepted."""

    accepts = frozenset({HOST})

    def namespace(self, x):
        return np

    def asarray(self, x):
        if type(x) is np.ndarray:
            return x
        if array_kind(x) != HOST:
            self._refuse_foreign(x)  # np.asarray would compute a Dask array, copy a device one
        refuse_lossy(x)
        return np.asarray(x)

    def to_numpy(self, x):
        return np.asarray(x)

    def from_numpy(self, x):
        return np.asarray(x)

    # A model's sparse X (scipy.sparse, CSR) trains and predicts through scipy's sparse
    # products on every host backend: no kernel here reads a sparse matrix.
    def logistic_loss_grad(self, X, Y, W, b, sample_weight=None):
        if is_sparse(X):
            from .numpy_backend import logistic_loss_grad

            with self.fp_guard():
                return logistic_loss_grad(X, Y, W, b, sample_weight)
        return super().logistic_loss_grad(X, Y, W, b, sample_weight)

    def decision(self, X, W, b):
        if is_sparse(X):
            with self.fp_guard():
                return X @ W + b
        return super().decision(X, W, b)

    def fp_guard(self):
        # Every FP flag our formulations can raise is benign by design: underflow
        # to subnormals or zero in exp(-|x|), overflow to +-inf when the true
        # result is out of range, inf - inf -> NaN propagating a non-finite input.
        # Silencing them here also protects users who set np.seterr(all="raise").
        return np.errstate(all="ignore")

    def output(self, xp, r, dtype):
        # NumPy ufuncs return scalars for 0-d input; hand back 0-d arrays.
        r = r.astype(dtype, copy=False) if r.dtype != dtype else r
        return r if type(r) is np.ndarray else np.asarray(r)

    def output_scalar(self, xp, r, dtype):
        return dtype.type(r)
