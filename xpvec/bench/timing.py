"""Honest timing: warm-up first, rotating inputs, medians of repeated samples, the copy floor.

- Warm-up: each call runs once untimed (JIT compilation, page faults, GPU context).
- Rotation: small inputs are cycled through several copies, so a benchmark
  does not read the same few kilobytes from L1 over and over.
- Before each runner, a pause lets the previous runner's worker threads stop
  spinning (OpenBLAS and OpenMP threads busy-wait after a call and would take
  the cores from whatever runs next).
- A sample times enough back-to-back calls to last ``min_sample`` seconds (the
  timer's resolution stops mattering) and reports the time per call.
- A call must return with its work done (``Backend.finish``: a GPU stream
  synchronized, a Dask graph computed), so that work is inside the timed region.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np

ROTATE_BYTES = 32 * 2**20  # rotate copies of small inputs until they span this much memory
MAX_COPIES = 16
SETTLE_SECONDS = 0.2  # longer than OpenBLAS/OpenMP threads spin after their last call


def settle() -> None:
    """Wait for the worker threads of whatever ran before to stop spinning (module docstring)."""
    time.sleep(SETTLE_SECONDS)


def copies_for(nbytes: int) -> int:
    """How many copies of an input to rotate through."""
    return int(min(MAX_COPIES, max(1, ROTATE_BYTES // max(nbytes, 1))))


def time_calls(calls: Sequence[Callable[[], object]], repeats: int = 7, min_sample: float = 0.02) -> list[float]:
    """Seconds per call, one value per sample; ``calls`` are rotated (one per input copy)."""
    settle()
    t0 = time.perf_counter()
    for call in calls:  # warm-up
        call()
    once = max((time.perf_counter() - t0) / len(calls), 1e-9)
    number = max(1, int(min_sample / once))
    k = len(calls)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(number):
            calls[i % k]()
        samples.append((time.perf_counter() - t0) / number)
    return samples


def round_robin(calls: dict[str, Callable[[], object]], rounds: int, burst: int = 1) -> dict[str, float]:
    """Median seconds per call of each contender, the contenders taking turns.

    Load from other processes then falls on every contender alike, which makes
    their ratios steadier than timing each one in its own stretch. A turn is
    the settle pause, one untimed call, then ``burst`` calls timed back to
    back (as a solver or a loop makes them). The untimed call takes the cost
    of waking the contender's own worker threads, which slept through the
    pause (~5 ms for an OpenMP team on the 2-core benchmark VM, more than a
    1e7-element float32 dot takes): the turn measures steady-state speed.
    """
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            settle()
            call()
            t0 = time.perf_counter()
            for _ in range(burst):
                call()
            samples[name].append((time.perf_counter() - t0) / burst)
    return {name: statistics.median(times) for name, times in samples.items()}


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def spread(samples: Sequence[float]) -> float:
    """The interquartile range of ``samples`` (0 for a single one)."""
    if len(samples) < 2:
        return 0.0
    low, _, high = statistics.quantiles(samples, n=4, method="inclusive")
    return high - low


def copy_bandwidth(nbytes: int, repeats: int = 7) -> float:
    """Bytes per second of ``np.copyto`` (read + write) over an array of ``nbytes``: the floor."""
    n = max(nbytes // 8, 1)
    src = [np.ones(n) for _ in range(copies_for(nbytes))]
    dst = [np.empty(n) for _ in src]
    calls = [lambda s=s, d=d: np.copyto(d, s) for s, d in zip(src, dst)]
    return 2 * n * 8 / median(time_calls(calls, repeats=repeats))
