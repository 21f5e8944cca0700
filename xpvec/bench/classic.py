"""The course notes' classic: a dot product of two 1e6 vectors, loop vs vectorized vs accelerated."""

from __future__ import annotations

import numpy as np

import xpvec

from .._registry import get_instance
from .._table import format_count, format_seconds, format_speed
from .timing import median, time_calls

LOOP = "python for loop"
KIND = {"numba": "accelerated", "cupy": "accelerated", "dask": "chunked"}


def classic_dot(n: int = 1_000_000, seed: int = 0, backends: tuple[str, ...] | None = None) -> dict:
    """Median seconds of the Python for loop, np.dot (the two references, always) and xpvec's dot
    on each of ``backends`` beyond those two (default: every usable one), and the ratios."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    al, bl = a.tolist(), b.tolist()

    def loop() -> float:
        total = 0.0
        for i in range(n):
            total += al[i] * bl[i]
        return total

    times = {LOOP: median(time_calls([loop], repeats=3, min_sample=0.0))}
    times["np.dot (vectorized)"] = median(time_calls([lambda: np.dot(a, b)], repeats=7))
    for name in backends or xpvec.available_backends():
        if name not in ("python", "numpy", "array_api"):
            moved = (xpvec.to_device(a, name), xpvec.to_device(b, name))
            finish = get_instance(name).finish  # a GPU's dot is queued, not done, when it returns
            times[f"xpvec {name} ({KIND.get(name, name)})"] = median(
                time_calls([lambda m=moved, nm=name, f=finish: f(xpvec.dot(*m, backend=nm))], repeats=7)
            )
    loop_s = times[LOOP]
    return {"n": n, "seconds": times, "speedup_over_loop": {k: loop_s / v for k, v in times.items()}}


def format_classic(result: dict) -> str:
    """A line per contender: its median time, and how much faster (or slower) than the loop."""
    lines = [f"dot of two {format_count(result['n'])}-element vectors:"]
    for label, seconds in result["seconds"].items():
        if label == LOOP:
            speed = "(the baseline)"
        else:
            speed = format_speed(result["speedup_over_loop"][label], "the loop")
        lines.append(f"  {label:<28} {format_seconds(seconds):>9}   {speed}")
    return "\n".join(lines)
