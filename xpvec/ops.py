"""The public operations: thin front doors that pick a backend and call it.

Each op resolves its backend (``_selection.resolve``) and calls the backend's
method of the same name, which validates input and runs the kernel. Keep
these bodies to that one line: the dispatch overhead budget is 0.3 us a call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from ._arrays import HOST, array_kind, array_taking_plain_data
from ._selection import _check_accepts, pair_error, resolve, use_backend
from .backends._base import Backend

# (op, first operand, second operand), as a mixed-pair error names them.
_L1 = ("l1_loss", "yhat", "y")
_L2 = ("l2_loss", "yhat", "y")


# Paragraphs several ops' docstrings share, appended where each op is defined.
_BACKEND_DOC = """
    ``backend``: a backend name or a ``Backend`` object; it overrides every other choice. An
    unknown or unusable name raises BackendUnavailableError; a backend that cannot take
    {whose} array type raises TypeError.
"""
_AXIS_DOC = """
    Raises ValueError when a reduced axis is empty or an axis is repeated; AxisError (a
    ValueError and IndexError) for an axis out of range, the default axis=-1 of a 0-d input
    included (pass axis=None); TypeError for an axis that is not an int, a tuple of ints or None.
"""


def _documented(whose: str = "x's", *more: str) -> Callable[[Callable], Callable]:
    """Append the shared paragraphs (``more``, then ``backend=``'s) to an op's docstring."""

    def append(op: Callable) -> Callable:
        if op.__doc__ is not None:  # None under python -OO
            op.__doc__ = "".join([op.__doc__.rstrip(" "), *more, _BACKEND_DOC.format(whose=whose)])
        return op  # the function itself: no wrapper on the call path

    return append


def _resolve_pair(backend, a, b, names=("dot", "a", "b")) -> Backend:
    # Infer from the operand that is not a host array, so dot(list, cupy_array)
    # picks cupy; then the other operand must be acceptable too.
    try:
        if type(a) is type(b):  # one kind: a's backend takes b too (dispatch budget: 0.3 us)
            return resolve(backend, a)
        if array_kind(b) != HOST:
            return _check_accepts(resolve(backend, b), a)
        return _check_accepts(resolve(backend, a), b)
    except TypeError:
        # Off the hot path. Python scalars and lists belong to no array library: beside an
        # array in host memory, the array's backend takes them (into its library,
        # Backend._real_pair), as np.dot(array, list) does, on backends that refuse NumPy
        # data too (Dask). Beside device memory they are host data, refused as NumPy's is.
        array = array_taking_plain_data(a, b)
        if array is not None:
            with contextlib.suppress(TypeError):
                return resolve(backend, array)
        # Else say which operand is of which kind, and how to move one.
        error = pair_error(backend, a, b, names)
        if error is None:
            raise
        raise error from None


@_documented()
def sigmoid(x: Any, *, backend: str | Backend | None = None) -> Any:
    """Logistic sigmoid 1 / (1 + e^-x), elementwise; stable for any input, no warnings.

    sigmoid(+inf) = 1, sigmoid(-inf) = 0, NaN stays NaN, subnormal results are kept.
    Returns an array of x's kind and shape in x's float dtype (float16 stays float16, ints and
    bools give float64; see ``help(xpvec)``); a Python or NumPy scalar gives a 0-d NumPy array.
    """
    return resolve(backend, x).sigmoid(x)


@_documented()
def sigmoid_grad(x: Any, *, backend: str | Backend | None = None) -> Any:
    """Derivative of the sigmoid, sigmoid(x) * sigmoid(-x), elementwise (no cancellation).

    Returns an array of x's kind and shape in x's float dtype (float16 stays float16, ints and
    bools give float64; see ``help(xpvec)``); a Python or NumPy scalar gives a 0-d NumPy array.
    """
    return resolve(backend, x).sigmoid_grad(x)


@_documented()
def log_sigmoid(x: Any, *, backend: str | Backend | None = None) -> Any:
    """log(sigmoid(x)) = -log(1 + e^-x), elementwise, without overflow or log(0).

    Returns an array of x's kind and shape in x's float dtype (float16 stays float16, ints and
    bools give float64; see ``help(xpvec)``); a Python or NumPy scalar gives a 0-d NumPy array.
    """
    return resolve(backend, x).log_sigmoid(x)


@_documented("x's", _AXIS_DOC)
def softmax(x: Any, axis: int | tuple[int, ...] | None = -1, *, backend: str | Backend | None = None) -> Any:
    """exp(x) / sum(exp(x)) over ``axis`` (int, negative int, tuple, or None for all elements).

    Max-shifted so it never overflows. A slice holding +inf or NaN, or only
    -inf, gives NaN; -inf entries beside finite ones give 0.
    Returns an array of x's kind and shape in x's float dtype (see ``help(xpvec)``).
    """
    return resolve(backend, x).softmax(x, axis)


@_documented("x's", _AXIS_DOC)
def log_softmax(x: Any, axis: int | tuple[int, ...] | None = -1, *, backend: str | Backend | None = None) -> Any:
    """log(softmax(x)) over ``axis`` (int, negative int, tuple, or None for all elements).

    Computed as x - max - log(sum(exp(x - max))), so it never overflows. A slice holding +inf
    or NaN, or only -inf, gives NaN; -inf entries beside finite ones give -inf.
    Returns an array of x's kind and shape in x's float dtype (see ``help(xpvec)``).
    """
    return resolve(backend, x).log_softmax(x, axis)


@_documented("an operand's")
def dot(a: Any, b: Any, *, backend: str | Backend | None = None) -> Any:
    """Dot product with NumPy ``dot`` semantics for 1-D and 2-D operands.

    1-D . 1-D gives a scalar, 2-D . 1-D and 1-D . 2-D a vector, 2-D . 2-D a matrix.
    The scalar is a NumPy scalar for host data (NumPy arrays, Python scalars and lists) and
    otherwise a 0-d array of the operands' library (a lazy one on Dask).
    The result follows xpvec's float dtype rules: float32 gives float32, float64 float64,
    ints and bools float64, float16 float16; operands of two dtypes give the wider result.

    Raises ValueError for an operand that is not 1-D or 2-D, or for inner sizes that differ;
    TypeError for operands of two kinds of array (NumPy and Dask, say), naming the one to move.
    """
    return _resolve_pair(backend, a, b).dot(a, b)


@_documented("the image's")
def image2vector(image: Any, *, backend: str | Backend | None = None) -> Any:
    """An (height, width, channels) image as an (height*width*channels, 1) column (a copy).

    Returns an array of the image's kind in its float dtype (see ``help(xpvec)``); raises
    ValueError for an image that is not 3-D.
    """
    return resolve(backend, image).image2vector(image)


@_documented()
def normalize_rows(x: Any, *, backend: str | Backend | None = None) -> Any:
    """Each row of a 2-D array divided by its L2 norm; an all-zero row stays zero.

    A row whose plain sum of squares would overflow or lose digits to underflow is scaled
    by its max |x| first, so rows of huge or tiny values normalize correctly. A row holding
    inf or NaN gives NaN.
    Returns an array of x's kind and shape in x's float dtype (see ``help(xpvec)``); raises
    ValueError for an array that is not 2-D.
    """
    return resolve(backend, x).normalize_rows(x)


@_documented("an operand's")
def l1_loss(yhat: Any, y: Any, *, backend: str | Backend | None = None) -> Any:
    """sum(|yhat - y|), a scalar. ``yhat`` and ``y`` must have the same shape.

    Returns a NumPy scalar for host data (NumPy arrays, Python scalars and lists) and otherwise
    a 0-d array of the inputs' library (a lazy one on Dask), in their float dtype (see ``help(xpvec)``).
    Raises ValueError when the shapes differ (no broadcasting); TypeError for operands of two
    kinds of array (NumPy and Dask, say), naming the one to move.
    """
    return _resolve_pair(backend, yhat, y, _L1).l1_loss(yhat, y)


@_documented("an operand's")
def l2_loss(yhat: Any, y: Any, *, backend: str | Backend | None = None) -> Any:
    """sum((yhat - y)**2), a scalar. ``yhat`` and ``y`` must have the same shape.

    Returns a NumPy scalar for host data (NumPy arrays, Python scalars and lists) and otherwise
    a 0-d array of the inputs' library (a lazy one on Dask), in their float dtype (see ``help(xpvec)``).
    Raises ValueError when the shapes differ (no broadcasting); TypeError for operands of two
    kinds of array (NumPy and Dask, say), naming the one to move.
    """
    return _resolve_pair(backend, yhat, y, _L2).l2_loss(yhat, y)


@_documented()
def check_grad(
    f: Callable[[Any], Any],
    grad: Callable[[Any], Any],
    x: Any,
    *,
    eps: float | None = None,
    backend: str | Backend | None = None,
) -> float:
    """Relative error ||g - g_num|| / (||g|| + ||g_num||) of ``grad(x)`` against central
    differences of the scalar function ``f`` at ``x``, in float64.

    Around 1e-8 or below means the gradient is right; above 1e-4 means it is
    wrong. ``f`` and ``grad`` run with the backend in force (``use_backend``),
    so xpvec calls inside them are checked on that backend.

    Every call of ``f`` and ``grad`` gets a fresh float64 array of x's shape, in x's array
    library, which it may keep or modify. ``f`` must return a scalar (a number or a 0-d
    array); ``grad`` an array of x's shape. ``eps`` is the relative step: coordinate i moves
    by eps * max(1, |x_i|); None gives the cube root of float64's machine epsilon (about 6e-6).

    Returns a Python float: 0.0 for an empty x or two zero gradients, NaN when f or grad gives
    a value that is not finite. Raises TypeError when f returns no scalar or eps is no number,
    ValueError when grad(x) has the wrong shape or eps is not a positive finite step (or too
    small to move some x_i).
    """
    b = resolve(backend, x)
    with use_backend(b):
        return b.check_grad(f, grad, x, eps=eps)
