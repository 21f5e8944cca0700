"""The benchmark cases: each op's inputs at a size, the bytes it must move, and its peers.

A peer is what a user would write instead (a NumPy expression,
scipy.special, numexpr); a missing peer library is skipped with a note.
Sizes count elements of the main operand.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import xpvec

ROW = 1000  # row length of the 2-D ops (softmax over rows of 1000, as scipy users write it)


def _rows(n: int, rng, dtype) -> tuple[np.ndarray, ...]:
    width = min(n, ROW)
    return ((rng.standard_normal((max(n // width, 1), width)) * 4).astype(dtype),)


def _vector(n: int, rng, dtype) -> tuple[np.ndarray, ...]:
    return ((rng.standard_normal(n) * 4).astype(dtype),)


def _pair(n: int, rng, dtype) -> tuple[np.ndarray, ...]:
    return tuple(rng.standard_normal(n).astype(dtype) for _ in range(2))


def _image(n: int, rng, dtype) -> tuple[np.ndarray, ...]:
    return (rng.random((max(n // (64 * 3), 1), 64, 3)).astype(dtype),)


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


def _plain(fn: Callable) -> Callable[[], Callable]:
    return lambda: fn


@dataclass(frozen=True)
class Case:
    op: str
    make_inputs: Callable[[int, np.random.Generator, np.dtype], tuple[np.ndarray, ...]]
    #: bytes a single pass must move, as a multiple of the input bytes (read + write).
    traffic: float
    kwargs: dict = field(default_factory=dict)
    #: peer label -> loader returning the callable (may raise ImportError).
    peers: dict[str, Callable[[], Callable]] = field(default_factory=dict)

    def xpvec_call(self, backend: str, args: tuple) -> Callable[[], object]:
        fn = getattr(xpvec, self.op)
        kwargs = {**self.kwargs, "backend": backend}
        return lambda: fn(*args, **kwargs)

    def bytes_moved(self, args: tuple) -> int:
        return int(self.traffic * sum(a.nbytes for a in args))


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
        Case("softmax", _rows, 2.0, kwargs={"axis": -1}, peers={
            "scipy.special.softmax": _from("scipy.special", "softmax", axis=-1),
        }),
        Case("log_softmax", _rows, 2.0, kwargs={"axis": -1}, peers={
            "scipy.special.log_softmax": _from("scipy.special", "log_softmax", axis=-1),
        }),
        Case("dot", _pair, 1.0, peers={"np.dot": _plain(np.dot)}),
        Case("normalize_rows", _rows, 2.0, peers={"numpy x/norm(x)": _plain(_np_normalize_rows)}),
        Case("l1_loss", _pair, 1.0, peers={"numpy sum(abs(a-b))": _plain(lambda a, b: np.sum(np.abs(a - b)))}),
        Case("l2_loss", _pair, 1.0, peers={"numpy sum((a-b)**2)": _plain(lambda a, b: np.sum((a - b) ** 2))}),
        Case("image2vector", _image, 2.0, peers={"numpy reshape copy": _plain(lambda x: x.reshape(-1, 1).copy())}),
    ]
}  # fmt: skip

#: The python loop backend runs only up to this many elements (it would take minutes beyond).
LOOP_MAX_SIZE = 100_000
