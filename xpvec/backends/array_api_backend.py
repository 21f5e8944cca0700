"""The ``array_api`` backend: the generic kernels on any array-API namespace.

Takes any array with ``__array_namespace__`` (array-api-strict, jax, NumPy,
CuPy) and returns the same array type, using only standard calls. Torch
tensors have no ``__array_namespace__``; array-api-compat supplies their
standard namespace (``pip install array-api-compat``).
"""

from __future__ import annotations

import numpy as np

from .._arrays import ARRAY_API, CUPY, HOST, array_kind, describe
from .._registry import get_instance
from ._base import Backend


class ArrayApiBackend(Backend):
    name = "array_api"
    accepts = frozenset({ARRAY_API, HOST, CUPY})

    def namespace(self, x):
        if hasattr(x, "__array_namespace__"):
            return x.__array_namespace__()
        try:
            from array_api_compat import array_namespace
        except ImportError:
            raise TypeError(
                f"xpvec: {describe(x)} has no __array_namespace__; install array-api-compat "
                "(pip install array-api-compat) to compute on it with the array_api backend"
            ) from None
        return array_namespace(x)

    def asarray(self, x):
        if type(x) is np.ndarray:
            return x
        kind = array_kind(x)
        if kind not in self.accepts:
            self._refuse_foreign(x)  # a Dask array: its graph would run the generic kernels unguarded
        if kind != HOST:
            return x
        # Lists, scalars and ndarray subclasses are read as the numpy backend reads them
        # (NumPy is an array-API namespace): np.matrix becomes an ndarray, whose methods
        # follow the standard; masked and sparse arrays are refused, not silently unmasked.
        return get_instance("numpy").asarray(x)

    def to_numpy(self, x):
        if hasattr(x, "__dlpack__"):
            try:
                return np.from_dlpack(x)
            except (TypeError, RuntimeError, BufferError):
                pass  # on a device NumPy cannot read
        return np.asarray(x)

    def output(self, xp, r, dtype):
        r = super().output(xp, r, dtype)
        # NumPy's ufuncs turn a 0-d result into a scalar (np.float64) where the standard keeps
        # a 0-d array: 0-d NumPy input must come back 0-d, as from the numpy backend (sigmoid,
        # ending in np.where, did; sigmoid_grad and the softmaxes did not). One isinstance
        # test: other namespaces' arrays pass through.
        return np.asarray(r) if isinstance(r, np.generic) else r

    def output_scalar(self, xp, r, dtype):
        # Reductions (losses, 1-D dot) stay as the namespace gives them: a NumPy scalar, as
        # from the numpy backend, or another namespace's 0-d array.
        return super().output(xp, r, dtype)

    def fp_guard(self):
        return np.errstate(all="ignore")  # see HostBackend.fp_guard; harmless elsewhere
