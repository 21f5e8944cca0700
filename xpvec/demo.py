"""``xpvec demo``: the same ops on every usable backend, timed and checked against numpy.

The course notes' point in one table: a Python loop, the vectorized NumPy
expression and the accelerated backends compute the same numbers, at very
different speeds.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable

import numpy as np

from ._convert import to_device, to_numpy
from ._registry import available_backends
from ._table import format_table
from .ops import dot, l2_loss, normalize_rows, sigmoid, softmax


def _cases(n: int, rng: np.random.Generator) -> dict[str, tuple[Callable, tuple[np.ndarray, ...]]]:
    v = rng.standard_normal(n)
    w = rng.standard_normal(n)
    side = int(np.sqrt(n))
    m = rng.standard_normal((side, side)) * 5
    return {
        f"dot ({n:.0e} x {n:.0e})": (dot, (v, w)),
        f"sigmoid ({n:.0e})": (sigmoid, (v * 10,)),
        f"softmax ({side}x{side}, rows)": (softmax, (m,)),
        f"normalize_rows ({side}x{side})": (normalize_rows, (m,)),
        f"l2_loss ({n:.0e})": (l2_loss, (v, w)),
    }


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: JIT compilation, caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
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
            seconds = _median_time(functools.partial(op, *args, backend=name), 1 if name == "python" else 5)
            if name == "python":
                loop_time = seconds
            diff = float(np.max(np.abs(to_numpy(op(*args, backend=name)) - reference)))
            speedup = f"{loop_time / seconds:.0f}x" if loop_time else "-"
            rows.append((label, name, seconds * 1e3, speedup, f"{diff:.1e}"))
    return format_table(["op", "backend", "median ms", "vs python loop", "max |diff| vs numpy"], rows)
