"""Large host output arrays whose memory is reused once nothing refers to it.

Why: a fused kernel reads its input once and writes its output once, but a
freshly allocated output of more than a few tens of MiB is fresh memory from
the operating system (glibc serves allocations over 32 MiB with mmap and
returns them with munmap on free). The kernel's first write to each page
faults and the OS zeroes the page first: a hidden extra write pass that costs
as much as the kernel itself. Measured on the 2-core benchmark machine, 1e7
float64: np.copyto into an existing array 9-13 ms, np.copy 16-20 ms; the
numba sigmoid kernel alone 8.8-12 ms, with a fresh output 17-20 ms. Code that
calls an op repeatedly on same-sized data (a training loop, a pipeline over
batches, a benchmark) frees one output and allocates the next: handing the
freed memory back out makes the steady state cost the kernel's alone.

Safety: ``empty`` returns an ndarray whose memory belongs to a ``_Lease``
object (exposed through ``__array_interface__``, so the array's ``base`` is
the lease). Every view, slice, reshape, memoryview or ctypes handle of the
result keeps a reference chain to that lease, so the lease dies only when the
last object that can reach the memory dies; a weakref finalizer then puts the
block back. Memory anything can still reach is never handed out again. (As
with any NumPy array, a raw pointer taken from ``.ctypes.data`` is only valid
while the array lives.)

Bounds: only outputs of at least ``MIN_BYTES`` are pooled (below that the
allocator reuses memory itself). Idle blocks are kept up to
``XPVEC_HOST_POOL_MB`` MiB in total (default 512; ``0`` turns pooling off);
the most recently freed blocks are kept, older ones are released to the OS.
The limit counts idle memory only: blocks in use are the caller's arrays.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections import OrderedDict

import numpy as np

ENV_VAR = "XPVEC_HOST_POOL_MB"
DEFAULT_LIMIT_MB = 512
MIN_BYTES = 4 << 20  # NumPy's own threshold for a "large" allocation (huge pages)
GRAIN = 2 << 20  # sizes are rounded up to 2 MiB, so near sizes share blocks
ALIGN = 64  # a cache line, and a whole 512-bit vector


def _limit_from_env() -> int:
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_LIMIT_MB << 20
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"{ENV_VAR}={raw!r} is not a number of MiB; set it to e.g. 512, or 0 to turn pooling off") from None
    if not math.isfinite(mb) or mb < 0:
        raise ValueError(f"{ENV_VAR}={raw!r} must be a finite number of MiB >= 0 (0 turns pooling off)")
    return int(mb * (1 << 20))


class _Lease:
    """Owns one pooled block while any array made from it is alive."""

    __slots__ = ("__array_interface__", "__weakref__", "block")


class OutputPool:
    """Idle blocks by rounded size, least recently freed first."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._lock = threading.Lock()
        self._idle: OrderedDict[int, list[np.ndarray]] = OrderedDict()
        self.idle_bytes = 0

    def empty(self, shape: tuple[int, ...], dtype, order: str = "C") -> np.ndarray:
        """An uninitialized array like ``np.empty``, on a pooled block when it is large."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < MIN_BYTES or self.limit_bytes == 0:
            return np.empty(shape, dtype, order=order)
        size = -(-nbytes // GRAIN) * GRAIN
        block = self._take(size)
        if block is None:
            block = np.empty(size + ALIGN, np.uint8)
        lease = _Lease()
        lease.block = block
        address = block.ctypes.data
        address += -address % ALIGN
        strides = None if order == "C" else _fortran_strides(shape, dtype.itemsize)
        lease.__array_interface__ = {
            "shape": tuple(shape),
            "typestr": dtype.str,
            "data": (address, False),
            "strides": strides,
            "version": 3,
        }
        finalizer = weakref.finalize(lease, self._give_back, size, block)
        finalizer.atexit = False
        return np.asarray(lease)

    def _take(self, size: int) -> np.ndarray | None:
        with self._lock:
            blocks = self._idle.get(size)
            if not blocks:
                return None
            block = blocks.pop()
            if not blocks:
                del self._idle[size]
            self.idle_bytes -= size
            return block

    def _give_back(self, size: int, block: np.ndarray) -> None:
        with self._lock:
            if size > self.limit_bytes:
                return
            # Make room by releasing the blocks freed longest ago.
            while self.idle_bytes + size > self.limit_bytes:
                old_size, blocks = next(iter(self._idle.items()))
                blocks.pop(0)
                if not blocks:
                    del self._idle[old_size]
                self.idle_bytes -= old_size
            self._idle.setdefault(size, []).append(block)
            self._idle.move_to_end(size)
            self.idle_bytes += size

    def clear(self) -> None:
        """Release every idle block to the OS."""
        with self._lock:
            self._idle.clear()
            self.idle_bytes = 0

    def _after_fork(self) -> None:
        # A lock held by another thread at fork time would never be released in the child.
        self._lock = threading.Lock()
        self.clear()


def _fortran_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for n in shape:
        strides.append(step)
        step *= n
    return tuple(strides)


_pool: OutputPool | None = None
_pool_lock = threading.Lock()


def pool() -> OutputPool:
    """The process's pool, created (and ``XPVEC_HOST_POOL_MB`` read) on first use."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                created = OutputPool(_limit_from_env())
                if hasattr(os, "register_at_fork"):
                    os.register_at_fork(after_in_child=created._after_fork)
                _pool = created
    return _pool


def empty(shape: tuple[int, ...], dtype: np.dtype, order: str = "C") -> np.ndarray:
    if math.prod(shape) * dtype.itemsize < MIN_BYTES:  # small: skip the pool's bookkeeping
        return np.empty(shape, dtype, order=order)
    return pool().empty(shape, dtype, order)
