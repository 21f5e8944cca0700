"""The ``numba`` backend: fused, parallel CPU kernels from ``xpvec.kernels.cpu``.

Design requirements:
- numba is imported only when this backend is probed (``available_backends``,
  ``backend_report``) or instantiated, never by ``import xpvec``.
- Kernels take flat (1-D) or row-major (2-D) contiguous arrays. Elementwise
  ops read C- or Fortran-ordered input in place and write an output of the
  same order; any other layout (strided, negative strides, broadcast) is
  copied once to contiguous first.
- softmax/log_softmax on any axes: trailing reduced axes of a C-ordered
  array are rows; a block of reduced axes followed by kept ones (axis=0 of a
  matrix, the channel axis of NCHW) is columns of a (slabs, reduced, kept)
  view; both are read in place. Other axes (and middle blocks followed by
  fewer than ``_MIN_COLUMNS`` kept elements) are laid out as rows by ``to_rows``,
  which makes a transposed copy; the result is then handed back as a view in
  the input's shape.
- Inputs reach the kernels as read-only views: inputs are never modified,
  and numba compiles one specialization per dtype, not one more per
  writeable flag (warmup then covers every call).
- Outputs of 4 MiB and more come from ``_output_pool``: memory freed by an
  earlier result is reused, so a repeated call does not pay the OS for
  zeroing fresh pages (as much time as the fused kernel itself), and the
  output starts at its input's offset within a page (``like=``), which keeps
  the kernel's loads from waiting on its stores (10-15% of a sigmoid).
- dot of two vectors is a numba reduction (``_dot`` says why not BLAS);
  products involving a matrix call BLAS through ``np.dot``, which no
  hand-written kernel beats.
- ``logistic_loss_grad`` is one fused pass over X (``kernels.cpu.logistic``),
  which reads X in C order: other layouts are copied to C order once per
  evaluation (the estimator already hands it C-ordered data).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator

import numpy as np

from .._axes import to_rows
from . import _output_pool
from ._host import HostBackend

# Below 8 kept elements per reduced one (a 512-bit vector of float64), the
# column kernel's vectors run mostly empty and its per-piece overhead shows:
# middle axes then go through a transposed copy. Measured, softmax over axis
# 1, float32: (1e5, 10, 2) columns 21.9 ms, transposed 6.0; (1e5, 10, 8) 34
# and 34; (2e4, 10, 16) 4.6 and 9.6; (32, 10, 128, 128) 5.9 and 15.7.
_MIN_COLUMNS = 8


# Stateless, so one instance serves every call and thread.
_NO_GUARD = contextlib.nullcontext()


def _readonly(x: np.ndarray) -> np.ndarray:
    view = x.view()
    view.flags.writeable = False
    return view


class _OneBlasThread:
    """Process-wide: the BLAS libraries loaded in this process (NumPy's OpenBLAS) run on one
    thread while any fit is inside; numba's own OpenMP threads are left alone.

    threadpoolctl's limit saves the thread count it finds and restores it on exit: two fits
    overlapping in threads, each limiting on its own, would have the second save the first's
    1 and restore that, for good. So the first fit in limits, and the last one out restores.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._limiter = None
        self._controller = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._inside == 0:
                if self._controller is None:  # ~0.3 ms: it inspects the loaded libraries, once
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    self._limiter.restore_original_limits()
                    self._limiter = None


_blas_limited_to_one_thread = _OneBlasThread()


def _memory_order(*arrays: np.ndarray) -> str:
    """'F' when every array is Fortran-contiguous (and not C), so raveling is free; else 'C'."""
    return "F" if all(a.flags.f_contiguous and not a.flags.c_contiguous for a in arrays) else "C"


class NumbaBackend(HostBackend):
    name = "numba"

    @classmethod
    def probe(cls) -> str | None:
        try:
            import numba  # noqa: F401
        except ImportError as exc:
            return f"numba is not importable ({exc}): pip install numba"
        return None

    def __init__(self) -> None:
        from ..kernels import cpu

        self._k = cpu

    def training(self):
        # Between the fused kernel's calls, the solver takes its own small products on
        # NumPy arrays (L-BFGS's pairs: a few hundred to a few thousand parameters), which
        # NumPy hands to OpenBLAS. Its threads then spin on the cores the next kernel's
        # threads need (README, "Beside NumPy's BLAS"), and a kernel waits a scheduler
        # tick for its thread now and then: a digits fit took 24 ms on 2 cores, 10.9 ms
        # with BLAS on one thread. Products that small gain nothing from BLAS threads.
        return _blas_limited_to_one_thread()

    def kernel_guard(self, compute, out):
        # The kernels are not NumPy ufuncs and leave NumPy's FP flags alone; the layout
        # steps around them only move data. What can raise a flag is NumPy's cast of the
        # result to a narrower output dtype (float16). np.errstate costs ~1 us to enter
        # and leave: a quarter of a call on a small array.
        return _NO_GUARD if compute == out else self.fp_guard()

    def warmup(self) -> None:
        """Compile (or load from the disk cache) every kernel for float32 and float64."""
        k = self._k
        for dtype in (np.float32, np.float64):
            flat, out = _readonly(np.zeros(4, dtype)), np.empty(4, dtype)
            rows, out_rows = _readonly(np.zeros((2, 2), dtype)), np.empty((2, 2), dtype)
            for op in (k.elementwise.sigmoid, k.elementwise.sigmoid_grad, k.elementwise.log_sigmoid):
                op.compile_for(flat, out)
            k.softmax.softmax_rows.compile_for(rows, out_rows, False)
            k.softmax.softmax_columns.compile_for(rows[None], out_rows[None], False)
            k.normalize.normalize_rows.compile_for(rows, out_rows)
            k.reductions.pair_reduce.compile_for(flat, flat, k.reductions.DOT)
            pair = _readonly(np.zeros(2, dtype))
            for weights in (pair, pair[:0]):  # weighted, unweighted
                # binary: Y (n,), W^T (1, d); multinomial: Y (n, K), W^T (K, d)
                k.logistic.loss_grad.compile_for(rows, pair, rows[:1], pair[:1], weights)
                k.logistic.loss_grad.compile_for(rows, rows, rows, pair, weights)

    def _map(self, kernel, x: np.ndarray) -> np.ndarray:
        if x.ndim == 1 and x.flags.c_contiguous:
            # The common case, without the raveling below: ~1 us of a call on small inputs.
            out = _output_pool.empty(x.shape, x.dtype, like=x)
            kernel(x.size, _readonly(x), out)
            return out
        order = _memory_order(x)
        flat = np.ravel(x, order)
        out = _output_pool.empty(x.shape, x.dtype, order, like=flat)
        kernel(x.size, _readonly(flat), np.ravel(out, order))
        return out

    def _sigmoid(self, xp, x):
        return self._map(self._k.elementwise.sigmoid, x)

    def _sigmoid_grad(self, xp, x):
        return self._map(self._k.elementwise.sigmoid_grad, x)

    def _log_sigmoid(self, xp, x):
        return self._map(self._k.elementwise.log_sigmoid, x)

    def _softmax_rows(self, x: np.ndarray, axes: tuple[int, ...], log: bool) -> np.ndarray:
        first, stop = (axes[0], axes[-1] + 1) if axes else (0, 0)  # 0-d: no axes
        n_kept = math.prod(x.shape[stop:])
        columns_pay = n_kept >= _MIN_COLUMNS or (first == 0 and n_kept > 1)  # leading axes: always
        if axes == tuple(range(first, stop)) and columns_pay and x.flags.c_contiguous:
            # A block of axes followed by kept ones: columns of (slabs, reduced, kept), read in place.
            slabs = (math.prod(x.shape[:first]), math.prod(x.shape[first:stop]), n_kept)
            out = _output_pool.empty(x.shape, x.dtype, like=x)
            self._k.softmax.softmax_columns(x.size, _readonly(x.reshape(slabs)), out.reshape(slabs), log)
            return out
        rows, restore = to_rows(x, axes)
        rows = np.ascontiguousarray(rows)
        out = _output_pool.empty(rows.shape, rows.dtype, like=rows)
        self._k.softmax.softmax_rows(rows.size, _readonly(rows), out, log)
        return restore(out)

    def _softmax(self, xp, x, axes):
        return self._softmax_rows(x, axes, False)

    def _log_softmax(self, xp, x, axes):
        return self._softmax_rows(x, axes, True)

    def _normalize_rows(self, xp, x):
        x = np.ascontiguousarray(x)
        out = _output_pool.empty(x.shape, x.dtype, like=x)
        self._k.normalize.normalize_rows(x.size, _readonly(x), out)
        return out

    def _pair_reduce(self, a: np.ndarray, b: np.ndarray, kind: int):
        if not (a.ndim == 1 and a.flags.c_contiguous and b.flags.c_contiguous):
            # Raveled in the order both share (free when they do); 1-D vectors skip it (~1 us).
            order = _memory_order(a, b)
            a, b = np.ravel(a, order), np.ravel(b, order)
        return self._k.reductions.pair_reduce(a.size, _readonly(a), _readonly(b), kind)

    def _dot(self, xp, a, b):
        # Two vectors: the kernel, even in float64, where BLAS ddot alone is faster from cache
        # (2**18 elements: 23 against 44 us). ddot gets there on OpenBLAS's threads, which
        # keep spinning after the call and hold the cores numba's next parallel kernel
        # needs: a 1e5- or 1e6-element dot alternated with a 1e6-element sigmoid took 2.0x
        # the sum of the two alone with ddot, 1.2x with the kernel (2 cores). float32 also
        # sums in short chunks, without sdot's error growing along the run (a sum of 1e7
        # squares: sdot 3e-5 relative, the chunks 5e-8).
        if a.ndim == 1 and b.ndim == 1:
            return self._pair_reduce(a, b, self._k.reductions.DOT)
        return np.dot(a, b)

    def _l1_loss(self, xp, yhat, y):
        return self._pair_reduce(yhat, y, self._k.reductions.L1)

    def _l2_loss(self, xp, yhat, y):
        return self._pair_reduce(yhat, y, self._k.reductions.L2)

    def _logistic_loss_grad(self, xp, X, Y, W, b, sample_weight):
        dtype = X.dtype
        weights = np.empty(0, dtype) if sample_weight is None else np.ascontiguousarray(sample_weight)
        Wt = np.ascontiguousarray(W.reshape(W.shape[0], -1).T)
        loss, G = self._k.logistic.loss_grad(
            self._k.logistic.work(X, Wt),
            _readonly(np.ascontiguousarray(X)),
            _readonly(np.ascontiguousarray(Y)),
            _readonly(Wt),
            _readonly(np.ascontiguousarray(b)),
            _readonly(weights),
        )
        grad_W = G[0, :-1].copy() if W.ndim == 1 else np.ascontiguousarray(G[:, :-1].T)
        return np.asarray(loss, np.float64), grad_W, G[:, -1].copy()
