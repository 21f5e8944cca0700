"""Which backends exist, which can run here, and one instance of each.

Design requirements:
- Nothing optional is imported until a backend is asked for by name or its
  availability is asked for (``available_backends``/``backend_report``).
- Each backend is instantiated once and reused; asking again is a dict lookup.
- Why a backend cannot run is a one-line reason that says what to install or
  fix, and the same text reaches users through ``backend_report()`` and
  ``BackendUnavailableError``.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from dataclasses import dataclass

from .errors import BackendUnavailableError


@dataclass(frozen=True)
class BackendSpec:
    name: str
    module: str  # module under xpvec.backends holding the class
    cls: str
    summary: str  # what runs, for the report table
    #: Modules under xpvec.backends holding environment settings the backend reads, each with
    #: ``setting_problem() -> str | None``. A bad setting makes the backend unusable with that
    #: reason, so it fails on its first call and ``backend_report`` shows it, not first on
    #: the data that happens to reach the setting (numba: outputs large enough to pool).
    settings: tuple[str, ...] = ()


# The order is the order of ``available_backends()`` and of the report table.
SPECS: dict[str, BackendSpec] = {
    s.name: s
    for s in (
        BackendSpec("numpy", "numpy_backend", "NumpyBackend", "vectorized NumPy"),
        BackendSpec("python", "python_backend", "PythonBackend", "plain Python loops (baseline)"),
        BackendSpec("numba", "numba_backend", "NumbaBackend", "fused numba CPU kernels", ("_output_pool",)),
        BackendSpec("cupy", "cupy_backend", "CupyBackend", "fused CuPy GPU kernels"),
        # Dask's NumPy chunks run numba's kernels: its setting is theirs too, refused up front
        # rather than chunks falling back to NumPy in silence.
        BackendSpec("dask", "dask_backend", "DaskBackend", "Dask arrays, chunk kernels per block", ("_output_pool",)),
        BackendSpec("array_api", "array_api_backend", "ArrayApiBackend", "any array-API namespace"),
    )
}

_instances: dict[str, object] = {}
_reasons: dict[str, str | None] = {}
# Creating a backend can take seconds (numba compiles or loads its kernels, cupy probes the
# device): two threads asking first for one name must not each create one, and a thread
# asking for another name need not wait. Reentrant, as a backend's constructor may itself
# ask for another backend.
_creating = {name: threading.RLock() for name in SPECS}


def _load_class(spec: BackendSpec):
    module = importlib.import_module(f"xpvec.backends.{spec.module}")
    return getattr(module, spec.cls)


def unusable_reason(name: str) -> str | None:
    """None if backend ``name`` can run here, else a one-line reason with the fix."""
    if name in _reasons:
        return _reasons[name]
    if name not in SPECS:
        return _unknown_name_message(name)
    spec = SPECS[name]
    try:
        reason = _load_class(spec).probe()
    except ImportError as exc:  # a backend module whose requirements are missing
        reason = f"cannot import {exc.name or 'a dependency'} ({exc})"
    for module in spec.settings:
        if reason is None:
            reason = importlib.import_module(f"xpvec.backends.{module}").setting_problem()
    _reasons[name] = reason
    return reason


def _unknown_name_message(name: object) -> str:
    msg = f"unknown backend {name!r}; choose one of: {', '.join(SPECS)}"
    close = difflib.get_close_matches(str(name).lower(), SPECS, n=1)  # "NUMPY" -> 'numpy'
    if close:
        msg += f" (did you mean {close[0]!r}?)"
    return msg


def get_instance(name: str, *, source: str = ""):
    """The backend called ``name``, created on first use.

    ``source`` says where the name came from (for example the environment
    variable), so the error can point at it.
    """
    backend = _instances.get(name)
    if backend is not None:
        return backend
    where = f" ({source})" if source else ""
    if name not in SPECS:
        raise BackendUnavailableError(_unknown_name_message(name) + where)
    with _creating[name]:
        backend = _instances.get(name)  # another thread may have created it meanwhile
        if backend is not None:
            return backend
        reason = unusable_reason(name)
        if reason is not None:
            raise BackendUnavailableError(f"backend {name!r} is unavailable{where}: {reason}")
        backend = _instances[name] = _load_class(SPECS[name])()
    return backend


def is_registered(backend: object) -> bool:
    """Whether ``backend`` is the instance ``get_instance`` hands out for its name (and not
    another object of a backend class, made by a user)."""
    return _instances.get(getattr(backend, "name", None)) is backend


def available_backends() -> tuple[str, ...]:
    """Names of the backends usable here, e.g. ``('numpy', 'python', 'numba')``."""
    return tuple(name for name in SPECS if unusable_reason(name) is None)


def backend_report() -> dict[str, str]:
    """``{name: "ok" or a one-line reason it is unusable, with the fix}``."""
    return {name: unusable_reason(name) or "ok" for name in SPECS}
