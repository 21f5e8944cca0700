"""Dispatch overhead: ``xpvec.sigmoid(x)`` against calling the backend's method directly.

On an 8-element array the op itself is a few microseconds, so the difference
of the medians is the price of dispatch (budget: 0.3 us). ``autoray.do`` is
measured beside it as a peer: its overhead is ``autoray.do("tanh", x)``
against ``np.tanh(x)``.

    pytest benchmarks/test_dispatch_overhead.py
"""

from __future__ import annotations

import statistics
import timeit

import numpy as np
import pytest

import xpvec
from xpvec._registry import get_instance

X = np.linspace(-3.0, 3.0, 8)
NUMPY = get_instance("numpy")


def _median_us(fn, number=20_000, repeat=31) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


CALLS = {
    "backend method (direct)": lambda: NUMPY.sigmoid(X),
    "xpvec.sigmoid (inferred)": lambda: xpvec.sigmoid(X),
    "xpvec.sigmoid (backend='numpy')": lambda: xpvec.sigmoid(X, backend="numpy"),
}


@pytest.mark.benchmark(group="dispatch: sigmoid on 8 float64")
@pytest.mark.parametrize("name", list(CALLS))
def test_xpvec_dispatch(benchmark, name):
    benchmark(CALLS[name])


@pytest.mark.benchmark(group="dispatch: peer autoray.do on 8 float64")
@pytest.mark.parametrize("how", ["np.tanh (direct)", "autoray.do('tanh')"])
def test_autoray_dispatch(benchmark, how):
    autoray = pytest.importorskip("autoray")
    fn = (lambda: np.tanh(X)) if how.startswith("np") else (lambda: autoray.do("tanh", X))
    benchmark(fn)


def test_dispatch_overhead_summary(benchmark):
    """Interleaved medians in one run: xpvec's overhead and autoray's, in microseconds."""
    autoray = pytest.importorskip("autoray")
    pairs = {
        "xpvec inferred": (CALLS["backend method (direct)"], CALLS["xpvec.sigmoid (inferred)"]),
        "xpvec backend=": (CALLS["backend method (direct)"], CALLS["xpvec.sigmoid (backend='numpy')"]),
        "autoray.do": (lambda: np.tanh(X), lambda: autoray.do("tanh", X)),
    }
    overheads = {}
    for label, (direct, dispatched) in pairs.items():
        samples = [_median_us(dispatched, repeat=5) - _median_us(direct, repeat=5) for _ in range(5)]
        overheads[label] = statistics.median(samples)
    benchmark.extra_info.update({f"overhead_us[{k}]": round(v, 3) for k, v in overheads.items()})
    benchmark.pedantic(CALLS["xpvec.sigmoid (inferred)"], rounds=1000)
    print("\ndispatch overhead (median, us): " + ", ".join(f"{k} {v:.3f}" for k, v in overheads.items()))
