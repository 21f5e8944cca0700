"""Explicit data movement between array types (API.md: no silent copies)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import HOST, array_kind
from ._registry import get_instance
from ._selection import _INFERRED_NAME
from .backends._base import Backend


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array in host memory (a device or lazy array is copied/computed)."""
    kind = array_kind(x)
    if kind == HOST:  # the numpy backend's reading refuses what np.asarray would mangle
        return get_instance("numpy").asarray(x)
    return get_instance(_INFERRED_NAME[kind]).to_numpy(x)


def to_device(x: Any, backend: str | Backend) -> Any:
    """``x`` as the array type ``backend`` computes on (a copy only when it must move)."""
    b = backend if isinstance(backend, Backend) else get_instance(backend)
    if array_kind(x) in b.accepts:
        return b.asarray(x)
    return b.from_numpy(to_numpy(x))


def warmup(backend: str | Backend) -> None:
    """Compile a JIT backend's kernels ahead (float32 and float64); a no-op for the others."""
    b = backend if isinstance(backend, Backend) else get_instance(backend)
    b.warmup()
