"""The benchmark cases: each op's inputs at a size, the bytes it must move, and its peers.

A peer is what a user would write instead (a NumPy expression,
scipy.special, numexpr); a missing peer library is skipped with a note.
Sizes count elements of the main operand, as run (``Case.sizes_run``).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

import xpvec
from xpvec._registry import get_instance
from xpvec._table import format_count

ROW = 1000  # row length of the 2-D ops (softmax over rows of 1000, as scipy users write it)


# Each builder's first input has the shape its ``*_shape`` function gives a requested size:
# rounded to whole rows (images, samples), and no smaller than the case's least shape (one 64 x 3
# image, two samples of a fit), so the count run may differ from the one asked for.
# Each shape function is idempotent (the rounded count rounds to itself), so a case can be
# built again from the count it reports.
def _flat_shape(n: int) -> tuple[int, ...]:
    return (n,)


def _rows_shape(n: int) -> tuple[int, int]:
    width = min(n, ROW)
    return (max(n // width, 1), width)


def _rows(n: int, rng, dtype) -> tuple[np.ndarray, ...]:
    return ((rng.standard_normal(_rows_shape(n)) * 4).astype(dtype),)


def _vector(n: int, rng, dtype) -> tuple[np.ndarray, ...]:
    return ((rng.standard_normal(n) * 4).astype(dtype),)


def _pair(n: int, rng, dtype) -> tuple[np.ndarray, ...]:
    return tuple(rng.standard_normal(n).astype(dtype) for _ in range(2))


def _image_shape(n: int) -> tuple[int, int, int]:
    return (max(n // (64 * 3), 1), 64, 3)


def _image(n: int, rng, dtype) -> tuple[np.ndarray, ...]:
    return (rng.random(_image_shape(n)).astype(dtype),)


N_FEATURES = 64  # columns of X in the logistic-regression cases; sizes count elements of X


def _classification_shape(n: int) -> tuple[int, int]:
    return (max(n // N_FEATURES, 2), N_FEATURES)


def _classification(n: int, rng, dtype) -> tuple[np.ndarray, np.ndarray]:
    rows, _ = _classification_shape(n)
    X = rng.standard_normal((rows, N_FEATURES)).astype(dtype)
    w = rng.standard_normal(N_FEATURES) * 2 / np.sqrt(N_FEATURES)
    y = (rng.random(rows) < 1 / (1 + np.exp(-(X @ w + 0.3)))).astype(dtype)
    return X, y


def _loss_grad_inputs(n: int, rng, dtype) -> tuple[np.ndarray, ...]:
    X, y = _classification(n, rng, dtype)
    return X, y, np.full(N_FEATURES, 0.05, dtype), np.array([0.05], dtype)


def _loss_grad(backend: str, X, y, W, b):
    return get_instance(backend).logistic_loss_grad(X, y, W, b)


def _softmax_vector(backend: str, x):
    return xpvec.softmax(x, backend=backend)


def _fit(backend: str, X, y):
    return xpvec.LogisticRegression(backend=backend).fit(X, y)


def _sklearn_loss_gradient() -> Callable:
    from sklearn._loss.loss import HalfBinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    loss = LinearModelLoss(HalfBinomialLoss(), fit_intercept=True)
    return lambda X, y, W, b: loss.loss_gradient(np.concatenate([W, b]), X, y, None, 1.0)


def _sklearn_fit() -> Callable:
    from sklearn.linear_model import LogisticRegression

    return lambda X, y: LogisticRegression().fit(X, y)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_sigmoid_grad(x):
    s = 1 / (1 + np.exp(-x))
    return s * (1 - s)


def _np_normalize_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _from(module: str, attr: str, **kwargs) -> Callable[[], Callable]:
    """A peer from an optional library, imported only when the peer is measured."""

    def load() -> Callable:
        fn = getattr(importlib.import_module(module), attr)
        return (lambda *a: fn(*a, **kwargs)) if kwargs else fn

    return load


def _numexpr_sigmoid() -> Callable:
    import numexpr

    return lambda x: numexpr.evaluate("1 / (1 + exp(-x))", local_dict={"x": x})


# How each shape rounds a count (``Case.rounding``).
_ROUNDING = {
    _rows_shape: f"whole rows of {ROW} elements",
    _image_shape: "whole 64 x 3 images, one at the least",
    _classification_shape: f"whole samples of {N_FEATURES} features, two at the least",
}


def _as_is(result):
    return result


def _plain(fn: Callable) -> Callable[[], Callable]:
    return lambda: fn


@dataclass(frozen=True)
class Case:
    op: str
    make_inputs: Callable[[int, np.random.Generator, np.dtype], tuple[np.ndarray, ...]]
    #: bytes a single pass must move, as a multiple of the first input's bytes
    #: (2: read it and write a result as large; 1: read it, or read two halves).
    traffic: float
    kwargs: dict = field(default_factory=dict)
    #: peer label -> loader returning the callable (may raise ImportError).
    peers: dict[str, Callable[[], Callable]] = field(default_factory=dict)
    #: how xpvec runs it, ``run(backend_name, *args)``; None: the op of that name.
    run: Callable | None = None
    #: whether GB/s against the copy floor means something (a fit makes many passes: not plotted).
    one_pass: bool = True
    #: the shape of ``make_inputs(size)[0]``, without building it (see ``sizes_run``).
    shape: Callable[[int], tuple[int, ...]] = _flat_shape

    def rounding(self, sizes: Iterable[int]) -> str | None:
        """A line saying which requested ``sizes`` ran as another count, and why; None if none did."""
        changed = {n: math.prod(self.shape(n)) for n in dict.fromkeys(sizes)}
        changed = {n: run for n, run in changed.items() if run != n}
        if not changed:
            return None
        how = ", ".join(f"{format_count(n)} -> {format_count(run)}" for n, run in changed.items())
        return f"{self.op} runs {_ROUNDING[self.shape]}: {how}"

    def sizes_run(self, sizes: Iterable[int]) -> list[int]:
        """The element counts run for the requested ``sizes``: each as the case's shape rounds
        it (softmax by whole rows of ``ROW``), each once, so that no count is reported twice."""
        return list(dict.fromkeys(math.prod(self.shape(size)) for size in sizes))

    def xpvec_call(self, backend: str, args: tuple, *, finish: bool = True) -> Callable[[], object]:
        """One timed call: the op, and (``finish``) the work behind its result finished (GPU, Dask).
        Without ``finish`` for timers that wait for the device themselves (CUDA events)."""
        finish = get_instance(backend).finish if finish else _as_is
        if self.run is not None:
            return lambda: finish(self.run(backend, *args))
        fn = getattr(xpvec, self.op)
        kwargs = {**self.kwargs, "backend": backend}
        return lambda: finish(fn(*args, **kwargs))

    def bytes_moved(self, args: tuple) -> int:
        return int(self.traffic * args[0].nbytes)


CASES: dict[str, Case] = {
    c.op: c
    for c in [
        Case("sigmoid", _vector, 2.0, peers={
            "numpy 1/(1+exp(-x))": _plain(_np_sigmoid),
            "scipy.special.expit": _from("scipy.special", "expit"),
            "numexpr": _numexpr_sigmoid,
        }),
        Case("sigmoid_grad", _vector, 2.0, peers={"numpy s*(1-s)": _plain(_np_sigmoid_grad)}),
        Case("log_sigmoid", _vector, 2.0, peers={"scipy.special.log_expit": _from("scipy.special", "log_expit")}),
        Case("softmax", _rows, 2.0, kwargs={"axis": -1}, shape=_rows_shape, peers={
            "scipy.special.softmax": _from("scipy.special", "softmax", axis=-1),
        }),
        Case("log_softmax", _rows, 2.0, kwargs={"axis": -1}, shape=_rows_shape, peers={
            "scipy.special.log_softmax": _from("scipy.special", "log_softmax", axis=-1),
        }),
        # One line as long as the input: the threads (or GPU blocks) share it in pieces.
        Case("softmax_vector", _vector, 2.0, run=_softmax_vector, peers={
            "scipy.special.softmax": _from("scipy.special", "softmax"),
        }),
        Case("dot", _pair, 2.0, peers={"np.dot": _plain(np.dot)}),
        Case("normalize_rows", _rows, 2.0, shape=_rows_shape, peers={"numpy x/norm(x)": _plain(_np_normalize_rows)}),
        Case("l1_loss", _pair, 2.0, peers={"numpy sum(abs(a-b))": _plain(lambda a, b: np.sum(np.abs(a - b)))}),
        Case("l2_loss", _pair, 2.0, peers={"numpy sum((a-b)**2)": _plain(lambda a, b: np.sum((a - b) ** 2))}),
        Case("image2vector", _image, 2.0, shape=_image_shape, peers={"numpy reshape copy": _plain(lambda x: x.reshape(-1, 1).copy())}),
        # One read of X is the floor of a loss+gradient evaluation.
        Case("logistic_loss_grad", _loss_grad_inputs, 1.0, run=_loss_grad, shape=_classification_shape, peers={
            "sklearn LinearModelLoss.loss_gradient": _sklearn_loss_gradient,
        }),
        Case("logistic_fit", _classification, 1.0, run=_fit, one_pass=False, shape=_classification_shape, peers={
            "sklearn LogisticRegression (lbfgs)": _sklearn_fit,
        }),
    ]
}  # fmt: skip

#: The python loop backend runs only up to this many elements (it would take minutes beyond).
LOOP_MAX_SIZE = 100_000
