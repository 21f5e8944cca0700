"""The ``cupy`` backend: CuPy arrays in, CuPy arrays out, fused GPU kernels.

Design requirements:
- ``import xpvec`` never imports cupy or touches CUDA; ``probe`` does, only
  when a report or this backend is asked for, and says exactly why the
  backend cannot run (cupy not installed; installed but no usable driver; no
  device; numba-cuda missing) with the fix.
- Each elementwise op is one launch of a numba-cuda kernel
  (``xpvec.kernels.gpu``) on CuPy's memory, on CuPy's current stream, with no
  stream synchronization on the way in. numba-cuda compiles the kernels and
  CuPy launches them (``xpvec.kernels.gpu.launch``): numba-cuda's own launch
  wraps every CuPy array on every call, host time longer than the kernels
  take up to millions of elements. ``XPVEC_CUDA_LAUNCH=numba`` launches
  through numba-cuda instead (``__cuda_array_interface__``), for comparison.
  softmax / log_softmax / normalize_rows are one kernel over rows (or, for
  softmax over a middle axis, over columns), the losses
  and the logistic loss+gradient a partials kernel and a column sum; dot is
  cuBLAS (``cupy.dot``).
- Nothing is copied between host and device behind the user's back: NumPy
  input is refused (``accepts``), results stay on the device, reductions
  return 0-d device arrays. Training stays on the device: the solvers work on
  CuPy vectors and read back only the scalars they test.
"""

from __future__ import annotations

import importlib.util
import os

from .._arrays import CUPY
from ._base import Backend

INSTALL = "pip install 'xpvec[cuda12]' (CUDA 12 driver) or 'xpvec[cuda13]' (CUDA 13 driver)"
MIN_CUPY = 14  # the first CuPy with NumPy 2's API
THREADS = 256  # per block: a power of two (the tree reductions halve it)
BLOCKS_PER_SM = 8  # grid-stride kernels launch at most this many blocks per SM
LAUNCHERS = ("cupy", "numba")  # XPVEC_CUDA_LAUNCH: who launches the numba-cuda kernels


def _launcher_choice() -> str:
    return os.environ.get("XPVEC_CUDA_LAUNCH", "").strip().lower() or LAUNCHERS[0]


def _launcher_problem() -> str | None:
    if _launcher_choice() not in LAUNCHERS:
        return (
            f"XPVEC_CUDA_LAUNCH={os.environ['XPVEC_CUDA_LAUNCH']!r} is not one of {', '.join(LAUNCHERS)}; "
            "unset it for the default (cupy)"
        )
    return None


def _version_problem(cupy) -> str | None:
    """CuPy 13 follows NumPy 1.26's API (and does not promise NumPy 2, which xpvec needs)."""
    version = getattr(cupy, "__version__", "0")
    major = version.split(".")[0]
    if major.isdigit() and int(major) < MIN_CUPY:
        return f"cupy {version} is installed, and the cupy backend needs CuPy {MIN_CUPY} or newer: {INSTALL}"
    return None


def _cuda_problem(cupy) -> str | None:
    """Why CuPy cannot reach a device, or None. Asks the runtime only: returns at once."""
    runtime = cupy.cuda.runtime
    try:
        if runtime.driverGetVersion() == 0:
            return "cupy is installed but no NVIDIA driver was found (libcuda); install the GPU driver"
        count = runtime.getDeviceCount()
    except runtime.CUDARuntimeError as exc:
        text = str(exc)
        if "InsufficientDriver" in text:
            return (
                f"cupy is installed but the NVIDIA driver is too old for its CUDA "
                f"{runtime.runtimeGetVersion() // 1000} runtime ({text}); update the driver or "
                "install the cupy matching it: " + INSTALL
            )
        if "NoDevice" in text:
            return "cupy is installed but no CUDA device is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)"
        return f"cupy is installed but CUDA cannot start: {text}"
    except Exception as exc:  # a CUDA library cupy needs is missing or broken
        return f"cupy is installed but CUDA cannot start ({type(exc).__name__}: {exc}); reinstall: {INSTALL}"
    if count == 0:
        return "cupy is installed but no CUDA device is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)"
    return None


def _quiet_small_grids(cuda) -> None:
    """Turn off numba-cuda's warning for grids under 128 blocks, unless the user set it.

    The launcher sizes grids to the work: a loss on 1000 elements is one block
    on purpose. numba-cuda would warn at every such launch, and under
    ``warnings.simplefilter("error")`` raise. The setting is numba-cuda's, for
    the process; ``NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS=1`` keeps the warning on.
    """
    if "NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS" not in os.environ:
        cuda.config.CUDA_LOW_OCCUPANCY_WARNINGS = 0


def _numba_cuda_problem() -> str | None:
    if importlib.util.find_spec("numba_cuda") is None:
        return f"numba-cuda (the backend's kernel compiler) is not installed: {INSTALL}"
    from numba import cuda
    from numba.cuda.cudadrv import nvvm

    if cuda.config.ENABLE_CUDASIM:
        return "NUMBA_ENABLE_CUDASIM=1 is set: numba-cuda is simulating and cannot launch on CuPy arrays"
    if not nvvm.is_available():  # else the first op would fail compiling its kernel
        return f"numba-cuda cannot find NVVM, the CUDA compiler library its kernels need: {INSTALL}"
    if not cuda.is_available():
        return "numba-cuda cannot use the CUDA driver: run numba -s for details"
    return None


class _CupyNamespace:
    """The cupy module as the namespace the generic kernels and solvers use, with
    the standard names it lacks or may lack (``vecdot``, ``linalg.vector_norm``,
    ``concat``, ``isdtype``, ``astype``)."""

    __name__ = "cupy"

    def __init__(self, cupy):
        self._cp = cupy
        self.linalg = _Linalg(cupy)

    def __getattr__(self, name):
        return getattr(self._cp, name)

    def concat(self, arrays, /, *, axis=0):  # the standard's name; older CuPy has concatenate only
        return self._cp.concatenate(arrays, axis=axis)

    @staticmethod
    def isdtype(dtype, kind):  # CuPy's dtypes are NumPy's; older CuPy lacks isdtype
        import numpy

        return numpy.isdtype(dtype, kind)

    @staticmethod
    def astype(x, dtype, /, *, copy=True):  # NumPy 2's function; CuPy before it has the method only
        return x.astype(dtype, copy=copy)

    def vecdot(self, x1, x2, /, *, axis=-1):
        if x1.ndim == x2.ndim == 1:
            return self._cp.dot(x1, x2)  # cuBLAS, a 0-d device array
        return self._cp.sum(x1 * x2, axis=axis)


class _Linalg:
    def __init__(self, cupy):
        self._cp = cupy

    def __getattr__(self, name):
        return getattr(self._cp.linalg, name)

    def vector_norm(self, x):
        return self._cp.linalg.norm(self._cp.ravel(x))


class CupyBackend(Backend):
    name = "cupy"
    accepts = frozenset({CUPY})

    @classmethod
    def probe(cls) -> str | None:
        if importlib.util.find_spec("cupy") is None:
            return f"cupy is not installed: {INSTALL}"
        try:
            import cupy
        except Exception as exc:  # a broken install fails here, not at first use
            return f"cupy is installed but cannot be imported ({type(exc).__name__}: {exc}); reinstall: {INSTALL}"
        return _version_problem(cupy) or _cuda_problem(cupy) or _numba_cuda_problem() or _launcher_problem()

    def __init__(self, launch: str | None = None):
        """``launch``: who launches the kernels, "cupy" or "numba" (default: ``XPVEC_CUDA_LAUNCH``, else cupy)."""
        import cupy
        from numba import cuda

        from xpvec.kernels.gpu.host import Launcher
        from xpvec.kernels.gpu.launch import CupyStart, NumbaDispatch

        self._cp, self._cuda = cupy, cuda
        self._ns = _CupyNamespace(cupy)
        self._streams: dict[int, object] = {}
        launch = launch or _launcher_choice()
        if launch not in LAUNCHERS:
            raise ValueError(f"launch={launch!r} is not one of {', '.join(LAUNCHERS)}")
        self._launch = launch
        if launch == "numba":
            _quiet_small_grids(cuda)
            start = NumbaDispatch(self._kernel_arg, self._stream)
        else:
            start = CupyStart(cupy)
        sms = cupy.cuda.Device().attributes["MultiProcessorCount"]
        self._gpu = Launcher(cupy, THREADS, sms * BLOCKS_PER_SM, start)

    def init_args(self) -> tuple:
        return (self._launch,)

    # ----------------------------------------------------------- plumbing
    def namespace(self, x):
        return self._ns

    def asarray(self, x):
        # The ops check this before they get here; a direct call on the backend must not
        # hand host memory to a kernel either.
        if not isinstance(x, self._cp.ndarray):
            self._refuse_foreign(x)
        return x

    def to_numpy(self, x):
        return x.get()

    def from_numpy(self, x):
        return self._cp.asarray(x)

    def synchronize(self) -> None:
        self._cp.cuda.Device().synchronize()

    def warmup(self) -> None:
        import numpy as np

        for dtype in (np.float32, np.float64):
            x = self._cp.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
            for op in ("sigmoid", "sigmoid_grad", "log_sigmoid", "softmax", "log_softmax", "normalize_rows"):
                getattr(self, op)(x)
            self.l1_loss(x, x)
            self.l2_loss(x, x)
            for k in (1, 3):
                W = self._cp.zeros((4, k) if k > 1 else 4, dtype=dtype)
                Y = self._cp.zeros((3, k) if k > 1 else 3, dtype=dtype)
                b = self._cp.zeros(k, dtype=dtype)
                self.logistic_loss_grad(x, Y, W, b, None)
                self.logistic_loss_grad(x, Y, W, b, self._cp.ones(3, dtype=dtype))
        self.synchronize()

    # ----------------------------------------------------------- launching through numba-cuda
    def _stream(self):
        """CuPy's current stream as a numba stream: kernels queue behind CuPy's work."""
        ptr = self._cp.cuda.get_current_stream().ptr
        stream = self._streams.get(ptr)
        if stream is None:
            cuda = self._cuda
            # Handle 0 is the legacy default stream, CuPy's null stream.
            stream = cuda.legacy_default_stream() if ptr == 0 else cuda.external_stream(ptr)
            self._streams[ptr] = stream
        return stream

    def _kernel_arg(self, a):
        # sync=False: a CuPy array names its stream, and numba would otherwise
        # synchronize that stream at every launch; the kernel runs on it anyway.
        return self._cuda.as_cuda_array(a, sync=False)

    # ----------------------------------------------------------- kernels
    def _sigmoid(self, xp, x):
        return self._gpu.elementwise("sigmoid", x)

    def _sigmoid_grad(self, xp, x):
        return self._gpu.elementwise("sigmoid_grad", x)

    def _log_sigmoid(self, xp, x):
        return self._gpu.elementwise("log_sigmoid", x)

    def _softmax(self, xp, x, axes):
        return self._gpu.rows("softmax", x, axes)

    def _log_softmax(self, xp, x, axes):
        return self._gpu.rows("log_softmax", x, axes)

    def _normalize_rows(self, xp, x):
        return self._gpu.rows("normalize_rows", x, (1,))

    def _dot(self, xp, a, b):
        return self._cp.dot(a, b)  # cuBLAS

    def _l1_loss(self, xp, yhat, y):
        return self._gpu.loss_sum("l1_partials", yhat, y)

    def _l2_loss(self, xp, yhat, y):
        return self._gpu.loss_sum("l2_partials", yhat, y)

    def _logistic_loss_grad(self, xp, X, Y, W, b, sample_weight):
        fused = self._gpu.logistic_loss_grad(X, Y, W, b, sample_weight)
        if fused is None:  # a very wide or Fortran-ordered X: two cuBLAS passes
            return super()._logistic_loss_grad(xp, X, Y, W, b, sample_weight)
        return fused
