"""The Backend base class: every op written once against the array API standard.

Design requirements:
- A public method (``sigmoid``, ``dot``, ...) validates its input once (dtype
  policy, shapes, axes), converts to the compute dtype, runs a kernel and
  returns the output dtype. Every backend shares these front doors, and reads
  input in one place (``_real``). Python scalars and lists beside an array
  operand are read into that array's library (``_real_pair``).
- Kernels are the underscored methods (``_sigmoid(xp, x)``, ...). They get
  arrays already in the compute dtype (float32 or float64) and only compute.
  The generic kernels here use standard calls on ``xp`` and so run on any
  array-API namespace; a backend overrides only the kernels it makes faster.
  Which kernels a backend overrides is its capability table (``native_ops``).
- Numerics (DESIGN.md): sigmoid from exp(-|x|) on both branches; sigmoid_grad
  as e/(1+e)^2 with e = exp(-|x|), which is sigmoid(x)*sigmoid(-x) without the
  cancellation of s*(1-s); log_sigmoid as min(x, 0) - log1p(exp(-|x|));
  softmax subtracting the max, with a non-finite max making the row NaN
  (a +inf or NaN anywhere in the row, or a row of all -inf).
- The model layer (``xpvec.models``) reaches a backend through two more
  kernels: ``_logistic_loss_grad`` (loss and gradient together, the one fused
  primitive a backend makes fast) and ``_decision`` (the logits X @ W + b).
  Model parameters live in ``parameter_namespace(X)``: X's own namespace,
  except where X is a collection of chunks (Dask), whose parameters live in
  the chunks' namespace on the client; ``fetch`` brings a lazy result there.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, ClassVar

from .._arrays import (
    HOST,
    array_kind,
    array_taking_plain_data,
    asarray_in_library_of,
    not_numbers_error,
    on_device_of,
    passed,
    unreadable_error,
)
from .._axes import check_reduced_not_empty, normalize_axes
from .._dtypes import compute_and_output

# The ops of API.md, in the order of the docs.
OPS = (
    "sigmoid",
    "sigmoid_grad",
    "log_sigmoid",
    "softmax",
    "log_softmax",
    "dot",
    "image2vector",
    "normalize_rows",
    "l1_loss",
    "l2_loss",
    "check_grad",
)

# The ops that run through a kernel method (``_<op>``), the models' fused
# primitive included; an op is native to a backend when the backend's class
# (not Backend) defines its kernel.
KERNEL_OPS = tuple(op for op in OPS if op != "check_grad") + ("logistic_loss_grad",)
_KERNELS = {op: f"_{op}" for op in KERNEL_OPS}


def _shape(x) -> tuple[int, ...]:
    return tuple(x.shape)


def _known(n) -> bool:
    """Whether a dimension's size is known. Lazy arrays may not know it: the array
    API says None, Dask NaN (after boolean indexing), and NaN != NaN."""
    return n is not None and n == n


class Backend:
    """One way of running the ops: the object ``get_backend`` and ``use_backend`` give, and that
    ``backend=``, ``use_backend`` and ``set_backend`` take in place of a name.

    Each op of ``xpvec.OPS`` is also a method of the same name (``xpvec.<op>`` documents it),
    which runs on this backend directly and refuses arrays it does not accept as
    ``xpvec.<op>(..., backend=b)`` does. Attributes:

    name : the backend's name, as ``backend=`` takes it ("numpy", "python", "numba", "cupy",
        "dask" or "array_api").
    accepts : a frozenset of the kinds of array this backend takes without copying: "host"
        (NumPy arrays and scalars, Python scalars and lists), "cupy", "dask", "array_api"
        (other arrays with ``__array_namespace__``). Choosing it for any other kind raises
        TypeError; ``xpvec.to_device`` moves data explicitly.
    """

    name: ClassVar[str]  # each backend class names itself
    #: The array kinds (see ``xpvec._arrays``) this backend takes without copying.
    accepts: ClassVar[frozenset[str]] = frozenset()
    #: Solvers the models cannot use on this backend, each with the reason.
    unsupported_solvers: ClassVar[dict[str, str]] = {}

    @classmethod
    def probe(cls) -> str | None:
        """None if this backend can run here, else why not and what to install."""
        return None

    @classmethod
    def native_ops(cls) -> tuple[str, ...]:
        """The ops this backend implements with its own kernels (the rest are generic)."""
        return tuple(
            op
            for op, kernel in _KERNELS.items()
            if any(kernel in k.__dict__ for k in cls.__mro__ if k is not Backend)
        )

    def __repr__(self) -> str:
        return f"<xpvec backend {self.name!r}>"

    # A backend is configuration plus modules and compiled kernels, shared by every thread
    # that uses it; a copy would only compile them again. copy and deepcopy (so
    # scikit-learn's clone of a model given a backend object) hand back the same object.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        # Modules and compiled kernels do not pickle. The registry's instance of a name is that
        # name: unpickled, it is the other process's instance, so a model given a backend object
        # pickles like one given the name. Another instance (say, ``CupyBackend(launch="numba")``)
        # is made anew from its constructor's arguments, ``init_args()``.
        from .._registry import get_instance, is_registered

        if is_registered(self):
            return get_instance, (self.name,)
        return type(self), self.init_args()

    def init_args(self) -> tuple:
        """The arguments that make this backend again (pickling); a subclass whose
        constructor takes any returns them."""
        return ()

    # ----------------------------------------------------------- plumbing
    def namespace(self, x) -> Any:
        """The array namespace of ``x`` (as returned by ``asarray``)."""
        return x.__array_namespace__()

    def parameter_namespace(self, X) -> Any:
        """The namespace in which a model's parameters (and solver state) beside data ``X`` live."""
        return self.namespace(X)

    def fetch(self, *results) -> tuple:
        """Results of a model primitive as arrays of ``parameter_namespace``, computed
        together; eager backends already hold them so."""
        return results

    def estimator_output(self, x):
        """What an estimator's predict* methods return for a result ``x`` of this backend:
        a NumPy array, except where the backend's arrays are lazy (they stay lazy)."""
        return self.to_numpy(x)

    def asarray(self, x) -> Any:
        """``x`` as this backend's array type (inputs it accepts only; never a device copy)."""
        return x

    def _refuse_foreign(self, x) -> None:
        """The front door's TypeError for an array of a kind this backend does not take. The
        ops check before they get here; a direct call of a backend's method (``get_backend().
        sigmoid(x)``) is checked by ``asarray``, so that it does not copy across devices either."""
        from .._selection import _check_accepts

        _check_accepts(self, x)

    def to_numpy(self, x):
        """``x``, an array of this backend, as a NumPy array in host memory; see ``xpvec.to_numpy``."""
        import numpy as np

        return np.asarray(x)

    def from_numpy(self, x):
        """A host NumPy array moved to this backend's array type."""
        return x

    def warmup(self) -> None:
        """Compile this backend's kernels ahead of time; nothing to do unless it JIT-compiles."""

    def synchronize(self) -> None:
        """Wait for queued device work (benchmarks time inside it); host backends return at once."""

    def finish(self, result):
        """``result`` with the work behind it done: benchmarks time calls through this."""
        self.synchronize()
        return result

    def fp_guard(self) -> contextlib.AbstractContextManager:
        """Context in which kernels run; host backends silence benign FP flags."""
        return contextlib.nullcontext()

    def training(self) -> contextlib.AbstractContextManager:
        """Context for a model's whole solver loop (evaluations and the solver's own steps)."""
        return contextlib.nullcontext()

    def kernel_guard(self, compute, out) -> contextlib.AbstractContextManager:
        """Context for an op's kernel in dtype ``compute`` and the cast of its result to
        ``out``: ``fp_guard``, unless the backend knows that neither can raise FP flags."""
        return self.fp_guard()

    def output(self, xp, r, dtype):
        """A kernel's array result in the output dtype."""
        return r if r.dtype == dtype else xp.astype(r, dtype)

    def output_scalar(self, xp, r, dtype):
        """A kernel's reduction result (a 0-d array) in the output dtype."""
        return self.output(xp, r, dtype)

    def _real(self, x, op: str, *, cast: bool = True):
        """``(xp, x in its compute dtype, output dtype)`` per the dtype policy (with ``cast=False``,
        x as it came, for an op that converts it itself).

        Every op reads its input here. What NumPy cannot read as an array (ragged lists),
        or reads only as Python objects although it is no array (None, a dict, a generator),
        is refused naming what was passed; the checks run only once reading has failed.
        """
        try:
            a = self.asarray(x)
        except ValueError as exc:
            raise unreadable_error(x, op, exc) from None
        xp = self.namespace(a)
        try:
            compute, out = compute_and_output(xp, a.dtype, op)
        except TypeError:
            error = not_numbers_error(x, a, op)
            if error is None:
                raise
            raise error from None
        if cast and a.dtype != compute:
            a = xp.astype(a, compute)
        return xp, a, out

    def _real_pair(self, a, b, op: str, names: tuple[str, str] = ("a", "b")):
        # Operands of one type (the usual case) pay one comparison for this; beside NumPy
        # data, the backend reads both alike.
        if type(a) is not type(b):
            array = array_taking_plain_data(a, b)
            if array is not None and array_kind(array) != HOST:
                a, b = self._plain_data_joins_the_array(a, b, op, array)
        xp, a, out_a = self._real(a, op)
        xp_b, b, out_b = self._real(b, op)
        if xp_b is not xp:
            raise self._two_libraries_error(op, names, a, xp, b, xp_b)
        if a.dtype == b.dtype and out_a == a.dtype and out_b == a.dtype:
            return xp, a, b, a.dtype  # the usual case, without result_type's ~1 us
        compute = xp.result_type(a.dtype, b.dtype)
        if a.dtype != compute:
            a = xp.astype(a, compute)
        if b.dtype != compute:
            b = xp.astype(b, compute)
        return xp, a, b, xp.result_type(out_a, out_b)

    def _plain_data_joins_the_array(self, a, b, op: str, array) -> tuple:
        """``(a, b)`` with the operand that is Python data (scalars, lists) read into the library
        and onto the device of the other, ``array``: such data belongs to no library, and
        ``np.dot(array, list)`` takes it so. NumPy reads it (its dtype: a list of floats
        is float64, whatever the array's), then the array's namespace builds it."""
        from .._registry import get_instance

        data_is_a = array is b
        _, data, _ = get_instance("numpy")._real(a if data_is_a else b, op)
        xp = self.namespace(self.asarray(array))
        data = xp.asarray(data, **on_device_of(xp, array))
        return (data, b) if data_is_a else (a, data)

    def _two_libraries_error(self, op: str, names: tuple[str, str], a, xp_a, b, xp_b) -> TypeError:
        """The error for operands of two array libraries, with the call that rebuilds one in the
        other's library: the NumPy one, which any library's ``asarray`` reads, else ``b``."""
        (mover, xp_mover), (peer_name, peer) = (
            ((names[0], xp_a), (names[1], b)) if xp_a.__name__ == "numpy" else ((names[1], xp_b), (names[0], a))
        )
        data = mover if xp_mover.__name__ == "numpy" else f"xpvec.to_numpy({mover})"
        return TypeError(
            f"xpvec.{op}: the operands come from different array libraries ({xp_a.__name__} and "
            f"{xp_b.__name__}); build {mover} in {peer_name}'s library: "
            f"{mover} = {asarray_in_library_of(peer, peer_name, data)}"
        )

    def _elementwise(self, kernel: Callable, x, op: str):
        xp, x, out = self._real(x, op)
        with self.kernel_guard(x.dtype, out):
            return self.output(xp, kernel(xp, x), out)

    def _along(self, kernel: Callable, x, axis, op: str):
        xp, x, out = self._real(x, op)
        axes = normalize_axes(axis, x.ndim, op)
        check_reduced_not_empty(_shape(x), axes, op)
        with self.kernel_guard(x.dtype, out):
            return self.output(xp, kernel(xp, x, axes), out)

    def _unknown_sizes_error(self, op: str, name: str, shape) -> ValueError:
        """The error for an operand whose sizes ``op`` needs but a lazy array does not know."""
        return ValueError(
            f"xpvec.{op}: {name} has dimensions of unknown size (shape {shape}) and {op} "
            "needs them; compute the array first"
        )

    def _loss(self, kernel: Callable, yhat, y, op: str):
        xp, yhat, y, out = self._real_pair(yhat, y, op, ("yhat", "y"))
        for name, shape in (("yhat", _shape(yhat)), ("y", _shape(y))):
            if not all(map(_known, shape)):  # the shapes could not be compared
                raise self._unknown_sizes_error(op, name, shape)
        if _shape(yhat) != _shape(y):
            raise ValueError(
                f"xpvec.{op}: yhat and y must have the same shape, got {_shape(yhat)} and "
                f"{_shape(y)}; reshape one of them (broadcasting here usually hides a bug)"
            )
        with self.fp_guard():
            return self.output_scalar(xp, kernel(xp, yhat, y), out)

    # ----------------------------------------------------------- public ops
    def sigmoid(self, x):
        """xpvec.sigmoid(x) on this backend; see ``help(xpvec.sigmoid)``."""
        return self._elementwise(self._sigmoid, x, "sigmoid")

    def sigmoid_grad(self, x):
        """xpvec.sigmoid_grad(x) on this backend; see ``help(xpvec.sigmoid_grad)``."""
        return self._elementwise(self._sigmoid_grad, x, "sigmoid_grad")

    def log_sigmoid(self, x):
        """xpvec.log_sigmoid(x) on this backend; see ``help(xpvec.log_sigmoid)``."""
        return self._elementwise(self._log_sigmoid, x, "log_sigmoid")

    def softmax(self, x, axis=-1):
        """xpvec.softmax(x, axis) on this backend; see ``help(xpvec.softmax)``."""
        return self._along(self._softmax, x, axis, "softmax")

    def log_softmax(self, x, axis=-1):
        """xpvec.log_softmax(x, axis) on this backend; see ``help(xpvec.log_softmax)``."""
        return self._along(self._log_softmax, x, axis, "log_softmax")

    def dot(self, a, b):
        """xpvec.dot(a, b) on this backend; see ``help(xpvec.dot)``."""
        xp, a, b, out = self._real_pair(a, b, "dot")
        sa, sb = _shape(a), _shape(b)
        if not (1 <= len(sa) <= 2 and 1 <= len(sb) <= 2):
            raise ValueError(
                f"xpvec.dot takes 1-D and 2-D operands, got shapes {sa} and {sb}; "
                "for 0-d use multiplication, for stacks of matrices use matmul"
            )
        for name, shape, inner in (("a", sa, sa[-1]), ("b", sb, sb[0])):
            if not _known(inner):  # the outer dimensions may stay unknown
                raise self._unknown_sizes_error("dot", name, shape)
        if sa[-1] != sb[0]:
            raise ValueError(
                f"xpvec.dot: shapes {sa} and {sb} not aligned: {sa[-1]} (dim {len(sa) - 1} of a) "
                f"!= {sb[0]} (dim 0 of b)"
            )
        with self.fp_guard():
            r = self._dot(xp, a, b)
            if len(sa) == len(sb) == 1:
                return self.output_scalar(xp, r, out)
            return self.output(xp, r, out)

    def image2vector(self, image):
        """xpvec.image2vector(image) on this backend; see ``help(xpvec.image2vector)``."""
        xp, image, out = self._real(image, "image2vector", cast=False)
        if image.ndim != 3:
            raise ValueError(
                f"xpvec.image2vector expects an image of shape (height, width, channels), got "
                f"shape {_shape(image)}; for a grayscale (h, w) image pass image[..., None]"
            )
        return self._image2vector(xp, xp.astype(image, out, copy=True))

    def normalize_rows(self, x):
        """xpvec.normalize_rows(x) on this backend; see ``help(xpvec.normalize_rows)``."""
        xp, x, out = self._real(x, "normalize_rows")
        if x.ndim != 2:
            raise ValueError(
                f"xpvec.normalize_rows expects a 2-D array (rows, features), got shape "
                f"{_shape(x)}; for one vector pass x[None, :], for a stack reshape to 2-D"
            )
        if _shape(x)[1] == 0:  # rows without features: nothing to divide, and no max to scale by
            return self.output(xp, xp.zeros_like(x), out)
        with self.kernel_guard(x.dtype, out):
            return self.output(xp, self._normalize_rows(xp, x), out)

    def l1_loss(self, yhat, y):
        """xpvec.l1_loss(yhat, y) on this backend; see ``help(xpvec.l1_loss)``."""
        return self._loss(self._l1_loss, yhat, y, "l1_loss")

    def l2_loss(self, yhat, y):
        """xpvec.l2_loss(yhat, y) on this backend; see ``help(xpvec.l2_loss)``."""
        return self._loss(self._l2_loss, yhat, y, "l2_loss")

    def check_grad(self, f: Callable, grad: Callable, x, *, eps: float | None = None) -> float:
        """Relative error of ``grad`` against central differences of ``f``, in float64.

        ``xpvec.check_grad`` on this backend (see its help), except that ``f`` and ``grad`` run
        with whatever backend is in force rather than this one.

        Each coordinate i is stepped by h_i = eps * max(1, |x_i|) (eps defaults
        to the cube root of float64's machine epsilon, the step that balances
        truncation and rounding error of central differences); the step is
        made exactly representable by reading it back as (x_i + h_i) - x_i.
        """
        xp, x, _ = self._real(x, "check_grad", cast=False)
        eps = _step(eps)
        shape = _shape(x)
        flat = xp.reshape(xp.astype(x, xp.float64, copy=True), (-1,))  # private: nothing else sees it

        # Every call of f and grad gets an array of its own, which it may keep (a cache of
        # its last x, as scipy's MemoizeJac) or write to; with one shared buffer stepped in
        # place, a cached x would change under the cache and a scratch write would shift
        # every later point. A copy costs no more than f reading its input once.
        def own(i: int | None = None, value: float = 0.0):
            v = xp.astype(flat, xp.float64, copy=True)
            if i is not None:
                v[i] = value
            return xp.reshape(v, shape)

        on_device = on_device_of(xp, x)  # g and g_num are created on x's device
        g = xp.asarray(grad(own()), dtype=xp.float64, **on_device)
        if _shape(g) != shape:
            raise ValueError(f"xpvec.check_grad: grad(x) has shape {_shape(g)} but x has shape {shape}")
        numeric = []
        for i in range(flat.shape[0]):
            xi = float(flat[i])
            hi = (xi + eps * max(1.0, abs(xi))) - xi
            if hi == 0.0:  # below half an ULP of x_i: no step at all
                raise ValueError(
                    f"xpvec.check_grad: eps={eps!r} is too small to move x[{i}] = {xi!r} in float64; "
                    "use a larger eps (the default None balances truncation and rounding error)"
                )
            f_plus = _as_float(f(own(i, xi + hi)), "f")
            f_minus = _as_float(f(own(i, xi - hi)), "f")
            numeric.append((f_plus - f_minus) / (2 * hi))
        g_num = xp.asarray(numeric, dtype=xp.float64, **on_device)
        g = xp.reshape(g, (-1,))
        if not numeric:
            return 0.0
        with self.fp_guard():
            # The ratio does not depend on the gradients' scale, but the norms' squares
            # would: divided by the largest magnitude first, gradients of 1e-170 neither
            # underflow to a perfect 0 nor gradients of 1e160 overflow to NaN.
            tops = float(xp.max(xp.abs(g))), float(xp.max(xp.abs(g_num)))
            if not all(map(math.isfinite, tops)):  # an inf or NaN gradient: no error to measure
                return math.nan
            top = max(tops)
            if top == 0.0:
                return 0.0
            g, g_num = g / top, g_num / top
            diff = float(xp.linalg.vector_norm(g - g_num))
            return diff / (float(xp.linalg.vector_norm(g)) + float(xp.linalg.vector_norm(g_num)))

    # ----------------------------------------------------------- model primitives
    def logistic_loss_grad(self, X, Y, W, b, sample_weight=None):
        """Weighted logistic loss and its gradient in one evaluation: ``(loss, grad_W, grad_b)``.

        Binary when ``W`` is 1-D: ``X`` (n, d), ``Y`` (n,) of 0/1, ``W`` (d,), ``b`` (1,);
        loss = sum_i w_i (log(1 + e^z_i) - y_i z_i) with z = X @ W + b.
        Multinomial when ``W`` is (d, K): ``Y`` (n, K) one-hot, ``b`` (K,);
        loss = sum_i w_i (logsumexp(z_i) - z_i . y_i). ``sample_weight`` (n,) or None
        (all ones). The loss is a 0-d float64 array whatever the dtype: the rows' losses
        are computed in the data's dtype (the python backend's in Python floats) and
        summed in float64, so a float32 loss is accurate to about eps32 / sqrt(n)
        relative, not eps32, and the solvers can still see it fall near the optimum
        (``LogisticObjective.rounding`` counts on that). The gradients have the shapes
        of ``W`` and ``b`` and the data's dtype; nothing leaves the backend's array type
        (``fetch`` turns the results into parameter arrays where they are lazy). X, Y and the weights
        must already be arrays of this backend, W and b arrays of its
        ``parameter_namespace(X)``, all in one floating dtype (the estimator prepares them);
        there is no validation here because it sits in the solver's inner loop.
        """
        xp = self.namespace(X)
        with self.fp_guard():
            return self._logistic_loss_grad(xp, X, Y, W, b, sample_weight)

    def decision(self, X, W, b):
        """The logits ``X @ W + b``, (n,) for a 1-D ``W``, (n, K) for a (d, K) one."""
        xp = self.namespace(X)
        with self.fp_guard():
            return self._decision(xp, X, W, b)

    # ----------------------------------------------------------- kernels
    def _sigmoid(self, xp, x):
        e = xp.exp(-xp.abs(x))
        d = 1 + e
        return xp.where(x >= 0, 1 / d, e / d)

    def _sigmoid_grad(self, xp, x):
        e = xp.exp(-xp.abs(x))
        d = 1 + e
        return e / (d * d)

    def _log_sigmoid(self, xp, x):
        return xp.where(x < 0, x, xp.zeros_like(x)) - xp.log1p(xp.exp(-xp.abs(x)))

    def _shifted(self, xp, x, axes):
        """x minus its max along ``axes``. A slice without a finite max needs no test of its
        own: its max is NaN, or +inf (inf - inf is NaN at that entry), or it holds only -inf
        (-inf - -inf is NaN throughout), and the sum of exp spreads NaN over the slice, as
        softmax and log_softmax must give there."""
        return xp.subtract(x, xp.max(x, axis=axes, keepdims=True))

    # The generic kernels call the namespace's functions, not operators, where FP flags
    # can rise: a namespace can then guard them (Dask's tasks run where the caller's
    # errstate does not reach; see dask_backend._DaskNamespace).
    def _softmax(self, xp, x, axes):
        e = xp.exp(self._shifted(xp, x, axes))
        return xp.divide(e, xp.sum(e, axis=axes, keepdims=True))

    def _log_softmax(self, xp, x, axes):
        z = self._shifted(xp, x, axes)
        return xp.subtract(z, xp.log(xp.sum(xp.exp(z), axis=axes, keepdims=True)))

    def _dot(self, xp, a, b):
        return xp.matmul(a, b)

    def _image2vector(self, xp, image):
        # ``image`` is already a private copy (see image2vector): a view of it is safe.
        return xp.reshape(image, (-1, 1))

    def _normalize_rows(self, xp, x):
        # Scale by the row's max |x| first so the sum of squares can neither
        # overflow (|x| > 1e154) nor underflow (subnormal rows). A non-finite
        # max scales by NaN: the row becomes NaN without an inf/inf warning.
        y = xp.divide(x, self._row_scale(xp, xp.max(xp.abs(x), axis=1, keepdims=True)))
        n = xp.sqrt(xp.sum(xp.multiply(y, y), axis=1, keepdims=True))
        return xp.divide(y, xp.where(n > 0, n, xp.ones_like(n)))

    def _row_scale(self, xp, m):
        """What normalize_rows divides a row by first, from its max |x| ``m``: m itself,
        1 for a row of zeros, NaN where m is not finite."""
        return xp.where(xp.isfinite(m), xp.where(m > 0, m, xp.ones_like(m)), xp.full_like(m, math.nan))

    def _l1_loss(self, xp, yhat, y):
        return xp.sum(xp.abs(yhat - y))

    def _l2_loss(self, xp, yhat, y):
        d = yhat - y
        return xp.sum(d * d)

    def _decision(self, xp, X, W, b):
        return self._dot(xp, X, W) + b

    def _logistic_loss_grad(self, xp, X, Y, W, b, sample_weight):
        # Two passes over X (the logits, then X^T R); everything between is n- or
        # n*K-sized and stable: exp only of -|z| or of max-shifted logits.
        Z = self._decision(xp, X, W, b)
        if W.ndim == 1:
            # log(1 + e^z) - y z as (max(z, 0) - y z) + log1p(e^-|z|): the first term is
            # exact for 0/1 labels, so a well-classified row's small loss keeps its precision.
            losses = (xp.where(Z > 0, Z, xp.zeros_like(Z)) - Y * Z) + xp.log1p(xp.exp(-xp.abs(Z)))
            R = self._sigmoid(xp, Z) - Y
        else:
            Z = self._shifted(xp, Z, (1,))
            E = xp.exp(Z)
            s = xp.sum(E, axis=1, keepdims=True)
            losses = xp.log(s[:, 0]) - xp.sum(Y * Z, axis=1)  # logsumexp(z) - z . y
            R = E / s - Y
        if sample_weight is not None:
            losses = losses * sample_weight
            R = R * (sample_weight if W.ndim == 1 else sample_weight[:, None])
        return xp.sum(losses, dtype=xp.float64), xp.matmul(X.T, R), xp.sum(R, axis=0, keepdims=W.ndim == 1)


def _step(eps) -> float:
    """check_grad's relative step: ``eps`` as a float, or the default for None."""
    if eps is None:
        return 6.055454452393343e-06  # (2**-52) ** (1/3)
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise TypeError(
            f"xpvec.check_grad: eps must be a number (the relative step), not {passed(eps)} ({eps!r}); "
            "leave it None for the default"
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"xpvec.check_grad: eps must be a positive finite step, got {eps!r}; leave it None for the default"
        )
    return value


def _as_float(value, what: str) -> float:
    try:
        # float() reads "1.5" and drops a complex value's imaginary part: neither is a value of f.
        kind = getattr(getattr(value, "dtype", None), "kind", "f")
        if isinstance(value, (str, bytes, bytearray, memoryview)) or kind not in "biuf":
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        shape = getattr(value, "shape", None)
        raise TypeError(
            f"xpvec.check_grad: {what}(x) must return a scalar, got {type(value).__name__}"
            + ("" if shape is None else f" of shape {shape}")
        ) from None
