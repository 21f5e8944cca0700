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

Safety: ``empty`` returns an ndarray whose memory's owner is a ``_Lease`` object that
exposes the block through ``__array_interface__`` and holds nothing else.
Every view, slice, reshape, memoryview or ctypes handle of the result keeps a
reference chain to that lease (result -> an array on the lease -> lease), so the lease dies only when the last object
that can reach the memory dies; a weakref finalizer, which alone holds the
block, then puts it back. A lease cannot be copied or pickled (a copy would
point at the memory without keeping it). Memory anything can still reach is
never handed out again. (As with any NumPy array, a raw pointer taken from
``.ctypes.data`` is only valid while the array lives.) Such a result does not
own its data: like any view, it cannot be resized in place.

Finalizers run wherever the garbage collector runs, including inside this
module's own bookkeeping on the same thread, so nothing here ever waits for
the lock: a returned block is queued (``deque.append`` is atomic), and
whoever gets the lock files the queue; a caller that cannot get it at once
allocates fresh memory instead.

Bounds: only outputs of at least ``MIN_BYTES`` are pooled (below that the
allocator reuses memory itself). Idle blocks are kept up to
``XPVEC_HOST_POOL_MB`` MiB in total (default 512; ``0`` turns pooling off);
the blocks freed longest ago are released to the OS first. The limit counts
idle memory only: blocks in use are the caller's arrays.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections import deque

import numpy as np

ENV_VAR = "XPVEC_HOST_POOL_MB"
DEFAULT_LIMIT_MB = 512
MIN_BYTES = 4 << 20  # NumPy's own threshold for a "large" allocation (huge pages)
GRAIN = 2 << 20  # sizes are rounded up to 2 MiB, so near sizes share blocks
PAGE = 4096


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
    """The base of a pooled array: its ``__array_interface__`` and nothing else."""

    __slots__ = ("__array_interface__", "__weakref__")

    def __reduce__(self):
        raise TypeError("a pooled array's memory owner cannot be copied or pickled; copy or pickle the array")


class OutputPool:
    """Idle blocks, least recently freed first."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._lock = threading.Lock()
        self._idle: deque[tuple[int, np.ndarray]] = deque()  # guarded by _lock
        self._returned: deque[tuple[int, np.ndarray]] = deque()  # filled by finalizers, lock-free
        self.idle_bytes = 0

    def empty(self, shape: tuple[int, ...], dtype, order: str = "C", like: np.ndarray | None = None) -> np.ndarray:
        """An uninitialized array like ``np.empty``, on a pooled block when it is large, and
        then placed at the same offset within a page as ``like``, the array a kernel will
        read while it writes this one (see ``empty``)."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        size = -(-nbytes // GRAIN) * GRAIN
        if nbytes < MIN_BYTES or size > self.limit_bytes:
            return np.empty(shape, dtype, order=order)
        block = self._take(size)
        if block is None:
            block = np.empty(size + PAGE, np.uint8)
        address = block.ctypes.data
        target = 0 if like is None else like.__array_interface__["data"][0]
        target -= target % dtype.alignment  # an unaligned input gets an aligned output
        address += (target - address) % PAGE
        lease = _Lease()
        lease.__array_interface__ = {
            "shape": tuple(shape),
            "typestr": dtype.str,
            "data": (address, False),
            "strides": None if order == "C" else _fortran_strides(shape, dtype.itemsize),
            "version": 3,
        }
        finalizer = weakref.finalize(lease, self._give_back, size, block)
        finalizer.atexit = False
        # A view of the lease's array, not that array itself: NumPy lets an array be made
        # writeable again (after flags.writeable = False) only if some array on its base
        # chain is writeable or its final base exports a writable buffer, which a Python
        # object cannot do before 3.12. Views of the result still end their base chain at
        # the lease (NumPy stops collapsing bases at a non-array).
        return np.asarray(lease).view()

    def _take(self, size: int) -> np.ndarray | None:
        """The most recently freed idle block of ``size`` bytes, if the lock is free and there is one."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            self._file_returned()
            for i in range(len(self._idle) - 1, -1, -1):
                if self._idle[i][0] == size:
                    _, block = self._idle[i]
                    del self._idle[i]
                    self.idle_bytes -= size
                    return block
            return None
        finally:
            self._lock.release()
            self._settle()

    def _give_back(self, size: int, block: np.ndarray) -> None:
        # A finalizer: queue, then file the queue only if the lock is free right now.
        self._returned.append((size, block))
        self._settle()

    def _settle(self) -> None:
        """File queued blocks unless someone holds the lock (the holder files them before it lets go)."""
        while self._returned:
            if not self._lock.acquire(blocking=False):
                return
            try:
                self._file_returned()
            finally:
                self._lock.release()

    def _file_returned(self) -> None:
        """Move queued blocks to the idle list, releasing the oldest idle ones past the limit (lock held)."""
        while self._returned:
            size, block = self._returned.popleft()
            self._idle.append((size, block))
            self.idle_bytes += size
            while self.idle_bytes > self.limit_bytes:
                old_size, _ = self._idle.popleft()
                self.idle_bytes -= old_size

    def clear(self) -> None:
        """Release every idle block to the OS."""
        with self._lock:
            self._returned.clear()
            self._idle.clear()
            self.idle_bytes = 0
        self._settle()  # blocks a finalizer queued meanwhile

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
    """The process's pool, created (and ``XPVEC_HOST_POOL_MB`` read) on first use.

    Raises ValueError naming the variable while its setting is unusable."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = OutputPool(_limit_from_env())
    return _pool


def _after_fork_in_child() -> None:
    global _pool_lock
    _pool_lock = threading.Lock()
    if _pool is not None:
        _pool._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def setting_problem() -> str | None:
    """Why ``XPVEC_HOST_POOL_MB`` is unusable, or None; the backends that pool their outputs
    report it as their own reason (``_registry``), so ``xpvec info`` shows it up front."""
    try:
        pool()
    except ValueError as exc:
        return str(exc)
    return None


def empty(shape: tuple[int, ...], dtype: np.dtype, order: str = "C", like: np.ndarray | None = None) -> np.ndarray:
    """An uninitialized output array; from 4 MiB on, on a pooled block.

    ``like``: the input a kernel reads as it writes this output. A pooled output starts at
    the same offset within a 4 KiB page as ``like`` does. The CPU takes a load whose
    address matches an earlier, still pending store's in the low 12 bits as depending on
    it; an output a few cache lines past the input's offset makes that the case for
    every load (4K aliasing). Measured, the numba sigmoid of 1e7 float64 (2 cores): 6.7
    ms with the output 48 or 64 bytes past, 6.0 at 128, 5.45 at the same offset or 1 KiB
    or more past. NumPy's large arrays start 16 bytes into a page, and pooled blocks used
    to start 64 bytes in: 48 past.
    """
    # The pool is made (and the variable read) on the first call whatever its size: a bad
    # setting must fail on the first small test input, not first on large production data.
    p = _pool or pool()
    if math.prod(shape) * dtype.itemsize < MIN_BYTES:  # small: skip the pool's bookkeeping
        return np.empty(shape, dtype, order=order)
    return p.empty(shape, dtype, order, like)
