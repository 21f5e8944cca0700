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
  Two operands of different kinds get ``pair_error``'s message instead, which
  names each operand's kind and the ``to_device`` call that moves one; it is
  built only once a call has failed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar

from ._arrays import (
    ARRAY_API,
    CUPY,
    DASK,
    HOST,
    a_or_an,
    array_kind,
    asarray_in_library_of,
    describe,
    passed,
    read_host,
)
from ._registry import SPECS, get_instance, is_registered
from .backends._base import Backend
from .backends._host import is_sparse

ENV_VAR = "XPVEC_BACKEND"

# The backend that runs a call with no explicit choice, per array kind.
_INFERRED_NAME = {"host": "numpy", "cupy": "cupy", "dask": "dask", "array_api": "array_api"}

_context: ContextVar[Backend | None] = ContextVar("xpvec_backend", default=None)

# The set_backend choice (None: infer from the input), and the environment
# variable's name until its backend is first needed (it is created lazily so
# that importing xpvec imports no optional library).
_default: Backend | None = None
_env_name: str | None = os.environ.get(ENV_VAR) or None

# Hot-path caches, filled on first sight of each input type. They hold names and the
# registry's instances only: a Backend object a user made stays theirs to let go of.
_inferred: dict[type, Backend] = {}  # input type -> backend, when nothing is chosen
_accepted: dict[Backend, set[type]] = {}  # backend -> input types it takes
_by_name: dict[object, dict[type, Backend]] = {}  # backend= value -> input type -> backend


class _FromEnv:
    """A previous setting that is still the environment variable's unused name.

    Handed back by ``set_backend`` so that restoring it defers the name's
    check to the first call again, as at import: passing the raw string back
    would check it at once, and an unusable name would raise in the restore.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<the {ENV_VAR}={self.name!r} setting, not yet used>"


def _named(backend: str | Backend | _FromEnv, source: str = "") -> Backend:
    if isinstance(backend, Backend):
        return backend
    if isinstance(backend, _FromEnv):  # set_backend's previous setting, used as a name
        backend, source = backend.name, f"from the environment variable {ENV_VAR}"
    if not isinstance(backend, str):
        raise TypeError(
            f"backend must be a name ({', '.join(map(repr, SPECS))}) or a Backend object, not {passed(backend)}"
        )
    return get_instance(backend, source=source)


def _chosen() -> Backend | None:
    """The backend chosen by context, ``set_backend`` or the environment, if any."""
    global _default, _env_name
    b = _context.get() or _default
    if b is None and _env_name is not None:
        b = _default = _named(_FromEnv(_env_name))
        _env_name = None
    return b


def _what(x: object) -> str:
    """``x``'s kind and type, for error messages: ``a dask array (dask.Array)``."""
    return f"{a_or_an(array_kind(x))} array ({describe(x)})"


def _check_accepts(b: Backend, x: object) -> Backend:
    kind = array_kind(x)
    if kind in b.accepts:
        if is_registered(b):
            _accepted.setdefault(b, set()).add(type(x))
        return b
    if kind == HOST:
        read_host(x, None)  # data NumPy cannot read (None, ragged lists) is refused for that, not for where it is
    if is_sparse(x):
        # to_device would refuse it too: xpvec's ops, and so every backend off the host, take
        # dense arrays; the host backends' models alone train on sparse X as it is.
        raise TypeError(
            f"backend {b.name!r} cannot take {a_or_an(describe(x))} input (scipy.sparse, on the host): "
            f"densify and move it explicitly with xpvec.to_device(x.toarray(), {b.name!r}), or keep it "
            "sparse on a host backend ('numpy', 'numba' or 'python'), where LogisticRegression trains on it as it is"
        )
    raise TypeError(
        f"backend {b.name!r} cannot take {a_or_an(describe(x))} input ({a_or_an(kind)} array) without copying it: "
        f"move the data explicitly with xpvec.to_device(x, {b.name!r}), or choose the "
        f"{_INFERRED_NAME[kind]!r} backend for it"
    )


# Which operand of a mixed pair moves when nothing is chosen: the lower-ranked one, to the
# backend of the other. Dask takes any data (as NumPy chunks) and CuPy any host data; the
# array_api backend would hand a moved Dask array on as NumPy, which its peer refuses.
_RANK = {HOST: 0, ARRAY_API: 1, CUPY: 2, DASK: 3}


def _move(name: str, x: object, target: str, peer_name: str, peer: object) -> str:
    """The call that moves operand ``name`` (``x``) to backend ``target``, beside operand
    ``peer_name`` (``peer``)."""
    # Sparse data moves nowhere as it is (to_device refuses it): densified, it moves.
    data = f"{name}.toarray()" if is_sparse(x) else name
    if target == "array_api" and array_kind(peer) != HOST:
        # to_device(x, 'array_api') gives NumPy for data it must copy, and the array_api
        # backend refuses operands of two libraries: build it in the peer's library.
        host_data = data if array_kind(x) == HOST else f"xpvec.to_numpy({name})"
        return f"{name} = {asarray_in_library_of(peer, peer_name, host_data)}"
    return f"{name} = xpvec.to_device({data}, {target!r})"


def pair_error(backend: object, a: object, b: object, names: tuple[str, str, str]) -> Exception | None:
    """The error for the operands ``a``, ``b`` of op ``names[0]`` (named ``names[1:]``) when the
    backend cannot take them both, or None where the error raised is another one.

    Called only once a pair was refused, so the hot path pays nothing for it.
    """
    op, na, nb = names
    for x in (a, b):
        if array_kind(x) == HOST:  # host data NumPy cannot read is refused for that, not for where it is
            try:
                read_host(x, op)
            except (TypeError, ValueError) as exc:
                return exc
    ka, kb = array_kind(a), array_kind(b)
    if ka == kb:
        return None  # one kind that the chosen backend refuses: _check_accepts said it
    if backend is not None:
        if not isinstance(backend, (str, Backend, _FromEnv)):
            return None  # _named's error stands
        chosen, how = _named(backend), "chosen by backend="
    else:
        chosen = _chosen()
        how = "set by use_backend" if _context.get() is not None else "set by set_backend or XPVEC_BACKEND"
    if chosen is None:  # inferred from the operands
        (mover, x, peer_name, peer), keep = ((na, a, nb, b), kb) if _RANK[ka] < _RANK[kb] else ((nb, b, na, a), ka)
        return TypeError(
            f"xpvec.{op}: the operands are different kinds of array: {na} is {_what(a)}, {nb} {_what(b)}; "
            f"no backend takes both without copying, so move one explicitly, "
            f"e.g. {_move(mover, x, _INFERRED_NAME[keep], peer_name, peer)}"
        )
    ok_a, ok_b = ka in chosen.accepts, kb in chosen.accepts
    if ok_a and ok_b:
        return None
    target = chosen.name
    if ok_a or ok_b:
        (mover, x), (other, peer) = ((nb, b), (na, a)) if ok_a else ((na, a), (nb, b))
        return TypeError(
            f"xpvec.{op}: backend {target!r} ({how}) cannot take {mover}, {_what(x)}, without copying "
            f"it; {other} is {_what(peer)}. Move {mover} explicitly: {_move(mover, x, target, other, peer)}"
        )
    return TypeError(
        f"xpvec.{op}: backend {target!r} ({how}) cannot take {na}, {_what(a)}, nor {nb}, {_what(b)}, "
        f"without copying them: move them explicitly with {_move(na, a, target, nb, b)} "
        f"and {_move(nb, b, target, na, a)}"
    )


def _infer(x: object) -> Backend:
    b = _chosen()  # the environment variable, on the first call after import
    if b is not None:
        return _check_accepts(b, x)
    b = get_instance(_INFERRED_NAME[array_kind(x)], source=f"inferred from {a_or_an(describe(x))} input")
    _inferred[type(x)] = b
    return b


def _resolve_named(backend: str | Backend, x: object) -> Backend:
    b = _check_accepts(_named(backend), x)
    if isinstance(backend, str) or is_registered(backend):
        _by_name.setdefault(backend, {})[type(x)] = b
    return b


def resolve(backend: str | Backend | None, x: object) -> Backend:
    """The backend that runs a call on ``x`` (see the module docstring).

    The common cases are a ContextVar read and dict lookups; anything new goes
    through a slow path once and is cached.
    """
    if backend is None:
        b = _context.get() or _default
        if b is None:
            b = _inferred.get(type(x))
            return b if b is not None else _infer(x)
        ok = _accepted.get(b)
        return b if ok is not None and type(x) in ok else _check_accepts(b, x)
    try:
        by_type = _by_name.get(backend)
    except TypeError:  # unhashable: _named says what backend= takes
        by_type = None
    if by_type is not None:
        b = by_type.get(type(x))
        if b is not None:
            return b
    return _resolve_named(backend, x)


def get_backend() -> Backend:
    """The backend chosen here: the innermost ``use_backend``, else ``set_backend``'s, else the
    one ``XPVEC_BACKEND`` names (read at import), else numpy.

    It ignores inference from an input's array type: with nothing set it reports numpy, while
    an op given a Dask (CuPy, array-API) array still runs on the dask (cupy, array_api) backend.
    Raises BackendUnavailableError when it gets to ``XPVEC_BACKEND`` and that names an unknown or
    unusable backend (the name is checked here or at the first call, whichever comes first).
    """
    return _chosen() or get_instance("numpy")


def set_backend(backend: str | Backend | None) -> Backend | _FromEnv | None:
    """Set the process-wide default backend (a name or a ``Backend`` object); ``None`` restores
    inference by array type. ``use_backend`` blocks and ``backend=`` still take precedence.

    Returns the previous setting, to restore with ``set_backend(previous)``: None (nothing
    set), a Backend, or, while ``XPVEC_BACKEND``'s name has not been used yet, an opaque
    placeholder for that setting, whose only use is to be passed back (``use_backend`` and
    ``backend=`` take it too); restored, its name is checked at the first call again.
    ``get_backend()`` is no substitute, as it reports numpy when nothing is
    set, and setting numpy would refuse the CuPy and Dask arrays that
    inference would have sent to their own backends.

    Raises BackendUnavailableError at once if the backend is unknown or cannot run here,
    TypeError if it is neither a name, a Backend nor None.
    """
    global _default, _env_name
    previous = _default if _env_name is None else _FromEnv(_env_name)
    if isinstance(backend, _FromEnv):
        _default, _env_name = None, backend.name
        # Types inferred meanwhile must meet the environment's choice again on their next call.
        _inferred.clear()
    else:
        _default = None if backend is None else _named(backend)
        _env_name = None
    return previous


@contextlib.contextmanager
def use_backend(backend: str | Backend) -> Iterator[Backend]:
    """Run the enclosed block with ``backend``, a name or a ``Backend`` object (context-local:
    nests, thread and task safe). ``backend=`` on a call still takes precedence.

    Yields the Backend object in force inside the block (``with use_backend("numba") as b``).
    On entering, raises BackendUnavailableError for an unknown or unusable name and TypeError
    for anything that is not a name or a Backend (None included: leave the block out instead).
    """
    token = _context.set(_named(backend))
    try:
        yield _context.get()
    finally:
        _context.reset(token)
