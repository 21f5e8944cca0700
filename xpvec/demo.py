"""``xpvec demo``: train on the digits images on every usable backend; ``--ops``: the ops.

The course notes' point in one table: a Python loop, the vectorized NumPy
expression and the accelerated backends compute the same numbers (here, the
same classifier), at very different speeds.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable

import numpy as np

from ._convert import to_device, to_numpy
from ._registry import available_backends, get_instance
from ._table import format_count, format_ratio, format_table
from .bench.timing import settle
from .ops import dot, image2vector, l2_loss, normalize_rows, sigmoid, softmax

_MAX_ITER = 500  # the digits converge in about 75 iterations: no backend stops short of the optimum
_FITS = 3  # timed fits per backend (the median), the loop baseline's one excepted


def _cases(n: int, rng: np.random.Generator) -> dict[str, tuple[Callable, tuple[np.ndarray, ...]]]:
    v = rng.standard_normal(n)
    w = rng.standard_normal(n)
    side = int(np.sqrt(n))
    m = rng.standard_normal((side, side)) * 5
    size = format_count(n)
    return {
        f"dot (two {size} vectors)": (dot, (v, w)),
        f"sigmoid ({size})": (sigmoid, (v * 10,)),
        f"softmax ({side}x{side}, rows)": (softmax, (m,)),
        f"normalize_rows ({side}x{side})": (normalize_rows, (m,)),
        f"l2_loss ({size})": (l2_loss, (v, w)),
    }


def _digits() -> tuple[np.ndarray, ...]:
    """scikit-learn's bundled 8x8 digit images as 64-vectors in [0, 1], split 3:1."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # Each (8, 8) image becomes a (64, 1) column, as in the course notes; the
    # columns side by side, transposed, are the (n_samples, 64) design matrix.
    # Host data, whatever backend XPVEC_BACKEND names: each row of the table moves it explicitly.
    X = np.hstack([image2vector(image[..., None], backend="numpy") for image in digits.images]).T / 16.0
    return tuple(train_test_split(X, digits.target, test_size=0.25, random_state=0))


def _vs_loop(loop_seconds: float | None, seconds: float) -> str:
    """The "speedup vs python loop" cell: how many times faster than the loop, "-" without a loop row."""
    return format_ratio(loop_seconds / seconds) if loop_seconds else "-"


def training_table(backends: tuple[str, ...] | None = None) -> str:
    """Fit LogisticRegression on the digits on each backend; accuracy, fit time, agreement."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from .models import LogisticRegression

    X_train, X_test, y_train, y_test = _digits()
    reference = LogisticRegression(max_iter=_MAX_ITER, backend="numpy").fit(X_train, y_train).predict_proba(X_test)
    rows, loop_time = [], None
    for name in backends or available_backends():
        X_tr, X_te = to_device(X_train, name), to_device(X_test, name)
        model = LogisticRegression(max_iter=_MAX_ITER, backend=name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the n_iter column shows it
            if name != "python":  # the loop baseline would spend seconds on a warm-up
                model.fit(X_tr, y_train)  # warm-up: JIT compilation, caches
            settle()  # the previous backend's BLAS or OpenMP threads stop spinning on the cores
            times = []
            for _ in range(1 if name == "python" else _FITS):
                t0 = time.perf_counter()
                model.fit(X_tr, y_train)
                times.append(time.perf_counter() - t0)
            seconds = statistics.median(times)
        proba = to_numpy(model.predict_proba(X_te))  # lazy on Dask: computed here
        if name == "python":
            loop_time = seconds
        rows.append(
            [name, int(model.n_iter_[0]), f"{model.score(X_te, y_test):.3f}", seconds, f"{np.max(np.abs(proba - reference)):.1e}"]
        )
    for row in rows:
        row.append(_vs_loop(loop_time, row[3]))
    header = (
        f"digits: {len(X_train) + len(X_test)} 8x8 images as 64-vectors (image2vector), 10 classes,\n"
        f"LogisticRegression(C=1, solver='lbfgs', max_iter={_MAX_ITER}) fit on {len(X_train)}, accuracy on {len(X_test)};\n"
        f"fit s: the median of {_FITS} fits after a warm-up one (the python loop: one fit)\n"
    )
    table = format_table(["backend", "iterations", "accuracy", "fit s", "max |p - p_numpy|", "speedup vs python loop"], rows, drop_empty=True)
    return header + table


def _median_time(fn: Callable[[], object], repeats: int, finish: Callable[[object], object]) -> float:
    """Median seconds of ``finish(fn())``: ``finish`` (``Backend.finish``) does the work a lazy
    result stands for (Dask) or waits for the queued work (a GPU) inside the timing."""
    settle()  # the previous backend's BLAS or OpenMP threads stop spinning on the cores
    finish(fn())  # warm-up: JIT compilation, caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        finish(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ops_table(n: int = 1_000_000, backends: tuple[str, ...] | None = None, seed: int = 0) -> str:
    """Time each op on each backend; report speedup over the loop and the difference from numpy."""
    backends = backends or available_backends()
    # The loop baseline first, so every other row can say how much faster it is.
    backends = tuple(sorted(backends, key=lambda name: name != "python"))
    rows = []
    for label, (op, host_args) in _cases(n, np.random.default_rng(seed)).items():
        reference = to_numpy(op(*host_args, backend="numpy"))
        loop_time = None
        for name in backends:
            args = tuple(to_device(a, name) for a in host_args)
            call = functools.partial(op, *args, backend=name)
            seconds = _median_time(call, 1 if name == "python" else 5, get_instance(name).finish)
            if name == "python":
                loop_time = seconds
            diff = float(np.max(np.abs(to_numpy(op(*args, backend=name)) - reference)))
            rows.append((label, name, seconds * 1e3, _vs_loop(loop_time, seconds), f"{diff:.1e}"))
    return format_table(["op", "backend", "median ms", "speedup vs python loop", "max |diff| vs numpy"], rows, drop_empty=True)
