"""Every op on every usable backend beside its peers, in pytest-benchmark groups per op and size.

The cases (inputs, bytes moved, peers) are ``xpvec.bench.cases``, the same as
``xpvec bench`` uses, so a number can be reproduced either way. extra_info
holds bytes moved, GB/s and percent of the copy floor measured in this run.

    pytest benchmarks/test_ops_speed.py                 # sizes 1e3, 1e5, 1e7
    XPVEC_BENCH_SIZES=1e6 pytest benchmarks/test_ops_speed.py -k sigmoid
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

import xpvec
from xpvec.bench.cases import CASES, LOOP_MAX_SIZE
from xpvec.bench.timing import copies_for, settle

SIZES = [int(float(s)) for s in os.environ.get("XPVEC_BENCH_SIZES", "1e3,1e5,1e7").split(",")]
DTYPE = np.dtype(os.environ.get("XPVEC_BENCH_DTYPE", "float64"))
BACKENDS = [b for b in xpvec.available_backends() if b != "array_api"]


def _params():
    for op, case in CASES.items():
        for size in SIZES:
            for name in BACKENDS:
                marks = pytest.mark.skip(reason=f"loop baseline only up to {LOOP_MAX_SIZE:.0e}") if (
                    name == "python" and size > LOOP_MAX_SIZE) else ()  # fmt: skip
                yield pytest.param(op, size, "backend", name, id=f"{op}-{size:.0e}-{name}", marks=marks)
            for label in case.peers:
                yield pytest.param(op, size, "peer", label, id=f"{op}-{size:.0e}-{label}")


@pytest.mark.parametrize("op,size,kind,runner", list(_params()))
def test_op(benchmark, copy_floor, op, size, kind, runner):
    case = CASES[op]
    benchmark.group = f"{op} n={size:.0e} {DTYPE.name}"
    host = case.make_inputs(size, np.random.default_rng(0), DTYPE)
    copies = [host] + [tuple(a.copy() for a in host) for _ in range(copies_for(case.bytes_moved(host)) - 1)]
    if kind == "backend":
        moved = [tuple(xpvec.to_device(a, runner) for a in args) for args in copies]
        calls = itertools.cycle([case.xpvec_call(runner, args) for args in moved])
    else:
        try:
            fn = case.peers[runner]()
        except ImportError as exc:
            pytest.skip(f"peer {runner}: {exc.name or exc} is not installed")
        calls = itertools.cycle([lambda a=args: fn(*a) for args in copies])

    def one_call():
        return next(calls)()

    settle()  # the previous test's BLAS/OpenMP threads stop spinning
    with np.errstate(all="ignore"):  # peers such as 1/(1+exp(-x)) warn on overflow
        one_call()  # warm-up: JIT compilation, page faults
        benchmark(one_call)
    nbytes = case.bytes_moved(host)
    benchmark.extra_info["bytes_moved"] = nbytes
    if benchmark.stats is not None:  # None under --benchmark-disable
        median = benchmark.stats.stats.median
        floor = nbytes / copy_floor(sum(a.nbytes for a in host))
        benchmark.extra_info["gb_per_s"] = round(nbytes / median / 1e9, 3)
        benchmark.extra_info["percent_of_copy_floor"] = round(100 * floor / median, 1)
