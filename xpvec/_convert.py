"""Explicit data movement between array types (API.md: no silent copies)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import HOST, array_kind, read_host
from ._registry import get_instance
from ._selection import _INFERRED_NAME, _named
from .backends._base import Backend
from .backends._host import refuse_lossy


def _read_host(x: Any, op: str) -> np.ndarray:
    refuse_lossy(x)  # what np.asarray would mangle: masked arrays (the mask) and sparse matrices
    return read_host(x, op)


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array in host memory (a device or lazy array is copied/computed)."""
    kind = array_kind(x)
    if kind == HOST:
        return _read_host(x, "to_numpy")
    return get_instance(_INFERRED_NAME[kind]).to_numpy(x)


def to_device(x: Any, backend: str | Backend) -> Any:
    """``x`` as the array type ``backend`` computes on (a copy only when it must move)."""
    b = _named(backend)
    if array_kind(x) == HOST:
        x = _read_host(x, "to_device")
    if array_kind(x) in b.accepts:
        return b.asarray(x)
    return b.from_numpy(to_numpy(x))


def warmup(backend: str | Backend) -> None:
    """Compile a backend's kernels ahead (float32 and float64) so that its first calls are fast.

    numba and cupy compile their own (or load them from the disk cache); dask compiles those
    its NumPy chunks run on, in this process; the other backends have nothing to compile.
    Raises BackendUnavailableError for a backend that cannot run here.
    """
    _named(backend).warmup()
