"""Backend selection: which backend runs a call.

Resolution order for one call (API.md):
    ``backend=`` argument > innermost ``use_backend`` > ``set_backend``
    > ``XPVEC_BACKEND`` (read at import) > the input's array type > numpy.

Design requirements:
- The context-local choice lives in a ContextVar, so ``use_backend`` nests and
  is private to each thread and asyncio task.
- ``resolve`` is on every call's path: a ContextVar read, a dict lookup on
  ``type(x)`` and a set membership test. Backends are instantiated once.
- A chosen backend that cannot take the input's array type raises TypeError
  naming both; nothing is copied between host and device behind the user's back.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar

from ._arrays import _KIND_OF_TYPE, array_kind, describe
from ._registry import get_instance
from .backends._base import Backend

ENV_VAR = "XPVEC_BACKEND"

# The backend that runs a call with no explicit choice, per array kind.
_INFERRED_NAME = {"host": "numpy", "cupy": "cupy", "dask": "dask", "array_api": "array_api"}

_context: ContextVar[Backend | None] = ContextVar("xpvec_backend", default=None)


class _ProcessDefault:
    """The ``set_backend`` choice, or else the environment variable's."""

    backend: Backend | None = None
    env_name: str | None = os.environ.get(ENV_VAR) or None


_default = _ProcessDefault()


def _named(backend: str | Backend, source: str = "") -> Backend:
    if isinstance(backend, Backend):
        return backend
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a name (str) or a Backend, not {type(backend).__name__}")
    return get_instance(backend, source=source)


def _chosen() -> Backend | None:
    """The backend chosen by context, ``set_backend`` or the environment, if any."""
    b = _context.get()
    if b is not None:
        return b
    b = _default.backend
    if b is None and _default.env_name is not None:
        b = _default.backend = _named(_default.env_name, source=f"the environment variable {ENV_VAR}")
    return b


def _check_accepts(b: Backend, x: object) -> Backend:
    kind = _KIND_OF_TYPE.get(type(x)) or array_kind(x)
    if kind in b.accepts:
        return b
    raise TypeError(
        f"backend {b.name!r} cannot take a {describe(x)} input (a {kind} array) without copying it: "
        f"move the data explicitly with xpvec.to_device(x, {b.name!r}), or choose the "
        f"{_INFERRED_NAME[kind]!r} backend for it"
    )


def resolve(backend: str | Backend | None, x: object) -> Backend:
    """The backend that runs a call on ``x`` (see the module docstring)."""
    if backend is not None:
        b = _named(backend)
    else:
        b = _context.get() or _default.backend
        if b is None:
            b = _chosen()
            if b is None:
                return get_instance(_INFERRED_NAME[_KIND_OF_TYPE.get(type(x)) or array_kind(x)])
    return _check_accepts(b, x)


def get_backend() -> Backend:
    """The backend in force here (context, then process default, then numpy)."""
    return _chosen() or get_instance("numpy")


def set_backend(backend: str | Backend | None) -> None:
    """Set the process-wide default backend; ``None`` restores inference by array type.

    Raises BackendUnavailableError at once if the backend cannot run here.
    """
    _default.backend = None if backend is None else _named(backend)
    _default.env_name = None


@contextlib.contextmanager
def use_backend(backend: str | Backend) -> Iterator[Backend]:
    """Run the enclosed block with ``backend`` (context-local: nests, thread and task safe)."""
    token = _context.set(_named(backend))
    try:
        yield _context.get()
    finally:
        _context.reset(token)
