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
from collections.abc import Iterator, Mapping, Set
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


#: Python data, which belongs to no array library: beside an array operand it is read into
#: that array's library (``array_taking_plain_data``, ``Backend._real_pair``), as ``np.dot(array, list)`` reads a list.
PLAIN_DATA = frozenset({int, float, bool, list, tuple})


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
    """A short name for the array type of ``x``, for error messages: ``dask.Array``, ``list``."""
    tp = type(x)
    module = tp.__module__.split(".")[0]
    return tp.__qualname__ if module == "builtins" else f"{module}.{tp.__qualname__}"


def a_or_an(word: str) -> str:
    """``word`` after its indefinite article: ``a dask array``, ``an array_api array``."""
    return f"{'an' if word[:1].lower() in tuple('aeiou') else 'a'} {word}"


def passed(x: object) -> str:
    """What a caller passed, as an error message names it: ``None``, ``a dict``, ``an int``."""
    return "None" if x is None else a_or_an(type(x).__qualname__)


def read_host(x: object, op: str | None) -> np.ndarray:
    """Host data as ``np.asarray`` reads it, refusing what it cannot read as an array or reads
    only as Python objects although it is no array, for what it is (see the errors below).
    ``op``: the xpvec function that reads it, None where there is none yet (backend selection)."""
    try:
        a = np.asarray(x)
    except ValueError as exc:
        raise unreadable_error(x, op, exc) from None
    error = not_numbers_error(x, a, op)
    if error is not None:
        raise error
    return a


def not_numbers_error(x: object, read: Any, op: str | None) -> TypeError | None:
    """The error for input ``x`` that NumPy read (as ``read``) only as an array of Python
    objects although ``x`` is no array: None, a dict, a generator, an int beyond 64 bits.
    The dtype policy would blame "an object array (dtype object)", which the caller never
    made; this names what they passed and what to pass instead. None where ``read`` holds
    no objects or ``x`` has a dtype of its own (an object array: the policy's words fit)."""
    if getattr(read.dtype, "kind", None) != "O" or hasattr(x, "dtype"):
        return None
    what = passed(x)
    if isinstance(x, int):
        what = f"an int of {x.bit_length()} bits, which NumPy holds only as a Python object"
        try:
            float(x)
            fix = "pass float(x) (integers are computed in float64 anyway)"
        except OverflowError:
            fix = "it is beyond float64's range (about 1.8e308), in which integers are computed"
    elif isinstance(x, (list, tuple)):
        what = f"{a_or_an(type(x).__name__)} holding entries NumPy cannot read as numbers"
        fix = (
            "pass numbers only (None, strings or ints beyond 64 bits are no values to compute on; "
            "float('nan') marks a missing one)"
        )
    elif isinstance(x, Iterator):  # a generator, map, zip: NumPy does not iterate them
        fix = "pass list(x), or np.fromiter(x, dtype=float)"
    elif isinstance(x, Mapping):
        fix = "pass its numbers as a list or an array, e.g. list(d.values())"
    elif isinstance(x, Set):
        fix = "pass its numbers in an order, e.g. sorted(s)"
    elif x is None:
        fix = "None holds no values to compute on: pass the data itself"
    else:
        fix = "pass an array, a number or a (nested) list of numbers"
    return TypeError(f"{_xpvec(op)} takes arrays, numbers and (nested) lists of numbers, not {what}; {fix}")


def unreadable_error(x: object, op: str | None, error: ValueError) -> ValueError:
    """``error``, raised by NumPy reading ``x`` as an array (ragged nested lists), with the op's
    name and the fix."""
    fix = "; nested lists must be rectangular (every row the same length)" if isinstance(x, (list, tuple)) else ""
    return ValueError(f"{_xpvec(op)}: NumPy cannot read {passed(x)} as an array ({error}){fix}")


def _xpvec(op: str | None) -> str:
    return "xpvec" if op is None else f"xpvec.{op}"


def device_of(x) -> Any:
    """The device ``x`` lives on, read as array-api-compat's ``device(x)`` reads it: the
    standard's ``x.device`` (older jax has it as a method); None where ``x`` names none."""
    device = getattr(x, "device", None)
    return device() if inspect.ismethod(device) else device


def array_taking_plain_data(a, b):
    """The operand, ``a`` or ``b``, that reads the other into its library: an array beside
    Python data (``PLAIN_DATA``), where it lives in host memory, so that reading the data in
    copies nothing to a device unasked (API.md): not a CuPy array, a Dask array of CuPy
    chunks, or an array-API array on an accelerator (its device named other than a CPU).
    None otherwise (both or neither are Python data, or the array is in device memory)."""
    a_plain, b_plain = type(a) in PLAIN_DATA, type(b) in PLAIN_DATA
    if a_plain == b_plain:
        return None
    array = b if a_plain else a
    kind = array_kind(array)
    if kind == CUPY:
        return None
    if kind == DASK:
        return None if is_cupy_array(getattr(array, "_meta", None)) else array
    device = device_of(array)
    return array if device is None or "cpu" in str(device).lower() else None


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


def asarray_in_library_of(peer: object, peer_name: str, data: str) -> str:
    """The call that builds host data (the expression ``data``) as an array of the library of
    operand ``peer_name`` (``peer``) and on its device, for error messages that advise it:
    ``array_api_strict.asarray(b, device=a.device)``. There is no backend to name instead:
    ``xpvec.to_device(b, 'array_api')`` cannot know which library is meant, and gives NumPy."""
    try:
        xp = peer.__array_namespace__()
        library = xp.__name__
        on_device = bool(on_device_of(xp, peer))
    except (AttributeError, TypeError):  # torch tensors have no __array_namespace__; torch.asarray takes device=
        library = type(peer).__module__.split(".")[0]
        on_device = device_of(peer) is not None
    return f"{library}.asarray({data}{f', device={peer_name}.device' if on_device else ''})"
