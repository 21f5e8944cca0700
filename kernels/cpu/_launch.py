"""Run a kernel serially or in parallel by input size (see ``_config``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ._config import PARALLEL_LOCK, PARALLEL_MIN_SIZE


class SizedKernel(NamedTuple):
    """A kernel compiled twice: a serial loop and a ``prange`` one, same arguments."""

    serial: Callable[..., Any]
    parallel: Callable[..., Any]

    def __call__(self, size: int, *args: Any) -> Any:
        """The serial kernel below ``PARALLEL_MIN_SIZE`` elements, else the parallel one."""
        if size < PARALLEL_MIN_SIZE:
            return self.serial(*args)
        if PARALLEL_LOCK is None:
            return self.parallel(*args)
        with PARALLEL_LOCK:
            return self.parallel(*args)

    def compile_for(self, *args: Any) -> None:
        """Compile (or load from the disk cache) both variants for these argument types."""
        self.serial(*args)
        self(PARALLEL_MIN_SIZE, *args)
