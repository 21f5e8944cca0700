"""xpvec: the same vectorized numerical code on NumPy, numba, CuPy and Dask.

Backends (``available_backends()`` lists those usable here, ``backend_report()`` says why
the others are not):

- ``numpy``: vectorized NumPy, the default.
- ``python``: plain Python loops over the elements, the "for loop" baseline.
- ``numba``: fused, JIT-compiled CPU kernels (needs numba).
- ``cupy``: CuPy arrays on an NVIDIA GPU (needs cupy and a usable CUDA device).
- ``dask``: Dask arrays, chunk by chunk, locally or on a ``dask.distributed`` cluster (needs dask).
- ``array_api``: any array with ``__array_namespace__`` (array-api-strict, jax, ...), through the standard.

Which backend runs a call, first match wins: the op's ``backend=`` argument > the
innermost ``use_backend`` block > ``set_backend`` > the ``XPVEC_BACKEND`` environment
variable (read at import) > the input's array type (a CuPy array picks cupy, a Dask array
dask, another array-API array array_api) > numpy. An unknown or unusable name raises
``BackendUnavailableError`` (a RuntimeError) saying why and how to fix it; a chosen backend that
cannot take the input's array type raises TypeError: nothing is copied between host and
device behind your back (``to_device`` and ``to_numpy`` move data explicitly).

Array in, same kind of array out: NumPy gives NumPy, CuPy gives CuPy, Dask gives a lazy
Dask array; Python scalars and lists on their own give NumPy results. Inputs are never modified.
Dtypes: float32 in gives float32 out, float64 gives float64; integer and bool inputs
compute in float64; float16 computes in float32 and returns float16; complex, object and
string inputs raise TypeError.

``OPS`` is the tuple of the op names (``"sigmoid"``, ..., ``"check_grad"``): each is a
function of this package and a method of the same name on every ``Backend``.

``warmup(backend)`` compiles kernels ahead of the first call: numba and cupy compile
theirs; dask warms the backend its NumPy chunks run on; the others have nothing to compile.

``LogisticRegression`` is a scikit-learn classifier that trains on any backend, where the
data lives (imported on first use).

The numba backend writes results of 4 MiB or more (elementwise, softmax, log_softmax and
normalize_rows, in float32 or float64) into memory reused from a pool, so such an array
does not own its data (it cannot be resized in place). ``XPVEC_HOST_POOL_MB`` caps the
freed memory the pool keeps for reuse, in MiB (default 512; 0 turns pooling off); a value
that is not a number >= 0 makes the numba backend unavailable, saying why.

Importing xpvec imports no optional library and touches no GPU.
"""

from ._convert import to_device, to_numpy, warmup
from ._registry import available_backends, backend_report
from ._selection import get_backend, set_backend, use_backend
from .backends._base import OPS, Backend
from .errors import BackendUnavailableError
from .ops import (
    check_grad,
    dot,
    image2vector,
    l1_loss,
    l2_loss,
    log_sigmoid,
    log_softmax,
    normalize_rows,
    sigmoid,
    sigmoid_grad,
    softmax,
)

__version__ = "0.1.0"


def __getattr__(name: str):
    # The models import scikit-learn (about half a second); load them on first use
    # so that ``import xpvec`` stays light for users of the ops.
    if name == "LogisticRegression":
        from .models import LogisticRegression

        return LogisticRegression
    raise AttributeError(f"module 'xpvec' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The lazy names (LogisticRegression) are not globals until first use: without this,
    # dir() and the tab completion built on it would not offer them.
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "OPS",
    "Backend",
    "BackendUnavailableError",
    "LogisticRegression",
    "available_backends",
    "backend_report",
    "check_grad",
    "dot",
    "get_backend",
    "image2vector",
    "l1_loss",
    "l2_loss",
    "log_sigmoid",
    "log_softmax",
    "normalize_rows",
    "set_backend",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "to_device",
    "to_numpy",
    "use_backend",
    "warmup",
]
