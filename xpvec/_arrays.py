"""What kind of array is this? Cheap answers, cached per type.

Design requirements:
- Never import an optional library (cupy, dask, torch, ...) to answer: a
  CuPy array can only exist if ``cupy`` is already in ``sys.modules``, so look
  there before any ``isinstance`` on an optional type.
- The answer depends only on ``type(x)``, so it is computed once per type and
  kept in a dict; the hot path is one dict lookup.

Kinds:
- ``"host"``: NumPy arrays and scalars, Python scalars, lists, anything
  ``numpy.asarray`` takes.
- ``"cupy"``: ``cupy.ndarray``.
- ``"dask"``: ``dask.array.Array``.
- ``"array_api"``: any other object with ``__array_namespace__`` (array-api-strict,
  jax, ...), and torch tensors, whose standard namespace array-api-compat provides.
"""

from __future__ import annotations

import sys

import numpy as np

HOST = "host"
CUPY = "cupy"
DASK = "dask"
ARRAY_API = "array_api"

_KIND_OF_TYPE: dict[type, str] = {
    np.ndarray: HOST,
    float: HOST,
    int: HOST,
    bool: HOST,
    list: HOST,
    tuple: HOST,
}


def is_cupy_array(x: object) -> bool:
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def is_dask_array(x: object) -> bool:
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


def is_torch_tensor(x: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _classify(tp: type, x: object) -> str:
    if issubclass(tp, (np.ndarray, np.generic)):
        return HOST
    if is_cupy_array(x):
        return CUPY
    if is_dask_array(x):
        return DASK
    if hasattr(x, "__array_namespace__") or is_torch_tensor(x):
        return ARRAY_API
    return HOST


def array_kind(x: object) -> str:
    """The kind of ``x`` (see the module docstring)."""
    tp = type(x)
    kind = _KIND_OF_TYPE.get(tp)
    if kind is None:
        kind = _KIND_OF_TYPE[tp] = _classify(tp, x)
    return kind


def describe(x: object) -> str:
    """A short name for the array type of ``x``, for error messages."""
    tp = type(x)
    return f"{tp.__module__.split('.')[0]}.{tp.__qualname__}"
