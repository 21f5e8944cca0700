"""Shared fixtures: every registered backend, skipped with its reason where unusable."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

import xpvec

# JIT backends compile on first use: no per-example deadline, and a fixed seed
# database-free profile so CI runs are reproducible.
settings.register_profile("xpvec", deadline=None, max_examples=60, derandomize=True, database=None)
settings.load_profile("xpvec")


def backend_params() -> list:
    """One pytest param per registered backend; unusable ones skip with the reason."""
    return [
        pytest.param(name, id=name, marks=() if status == "ok" else pytest.mark.skip(reason=f"{name}: {status}"))
        for name, status in xpvec.backend_report().items()
    ]


def to_backend(x: np.ndarray, name: str):
    """A host test array as the array type ``name`` computes on.

    For the array_api backend, array-api-strict arrays (when installed) prove
    that only standard calls are used.
    """
    if name == "dask":
        import dask.array as da

        # Two chunks along every axis, so reductions cross chunk boundaries.
        return da.from_array(np.asarray(x), chunks=tuple(max(1, -(-n // 2)) for n in np.shape(x)))
    if name == "array_api":
        try:
            import array_api_strict as xps
        except ImportError:
            return x
        return xps.asarray(np.array(x))
    return xpvec.to_device(x, name)


def supports_dtype(name: str, dtype) -> bool:
    """array-api-strict has no float16 (the standard leaves it out)."""
    return not (name == "array_api" and np.dtype(dtype) == np.float16)


def training_backends() -> list[str]:
    """Usable backends that LogisticRegression trains on with NumPy input."""
    from xpvec._registry import get_instance

    return [
        name
        for name in xpvec.available_backends()
        if "host" in get_instance(name).accepts
    ]
