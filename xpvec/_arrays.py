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

import inspect
import sys
from typing import Any

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


def device_of(x) -> Any:
    """The device ``x`` lives on, read as array-api-compat's ``device(x)`` reads it: the
    standard's ``x.device`` (older jax has it as a method); None where ``x`` names none."""
    device = getattr(x, "device", None)
    return device() if inspect.ismethod(device) else device


def on_device_of(xp, x) -> dict:
    """Keyword arguments for a creation function of namespace ``xp`` (``zeros``,
    ``asarray``, ...) that put the new array on ``x``'s device: ``{"device": ...}``,
    or ``{}`` where ``x`` names no device or ``xp`` does not take the standard's
    ``device=`` (a namespace without ``__array_api_version__``, and the cupy module,
    whose creation functions place on its current device instead).
    Every array the models and ``check_grad`` create beside data goes through here:
    the ops need none, as they only derive arrays from their inputs (``zeros_like``)."""
    device = device_of(x)
    if device is None or getattr(xp, "__array_api_version__", None) is None or getattr(xp, "__name__", "") == "cupy":
        return {}
    return {"device": device}
