"""xpvec: the same vectorized numerical code on NumPy, numba, CuPy and Dask.

Pick a backend with one switch (``backend=``, ``use_backend``, ``set_backend``
or ``XPVEC_BACKEND``), or let the input's array type pick it. Importing xpvec
imports no optional library and touches no GPU.
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
