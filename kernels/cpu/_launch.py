"""Run a kernel serially or in parallel by input size (see ``_config``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numba

from . import _config
from ._config import PARALLEL_LOCK, PARALLEL_MIN_SIZE


class SizedKernel(NamedTuple):
    """A kernel compiled twice: a serial loop and a ``prange`` one, same arguments.

    ``grab`` is how many ``prange`` iterations a thread takes at a time. Threads
    take them dynamically rather than one static share each, so a core that is
    busy with another process slows the call down by its share only, instead of
    every other thread waiting for it. (Set from Python, around the call: set
    inside a kernel it would make the kernel uncacheable.)
    """

    serial: Callable[..., Any]
    parallel: Callable[..., Any]
    grab: int = 1
    #: The size from which the parallel variant runs, in the units the caller passes as
    #: ``size`` (elements, unless the kernel's own threshold says otherwise).
    min_size: int = PARALLEL_MIN_SIZE

    def __call__(self, size: int, *args: Any) -> Any:
        """The serial kernel below ``min_size`` (or in a child forked after GNU OpenMP
        ran, ``_config.SERIAL_ONLY``), else the parallel one."""
        if size < self.min_size or _config.SERIAL_ONLY:
            return self.serial(*args)
        if PARALLEL_LOCK is None:
            return self._parallel(args)
        with PARALLEL_LOCK:
            return self._parallel(args)

    def _parallel(self, args: tuple) -> Any:
        previous = numba.set_parallel_chunksize(self.grab)
        try:
            return self.parallel(*args)
        finally:
            numba.set_parallel_chunksize(previous)

    def compile_for(self, *args: Any) -> None:
        """Compile (or load from the disk cache) both variants for these argument types."""
        self.serial(*args)
        self(self.min_size, *args)
