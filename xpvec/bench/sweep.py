"""The sweep: every case x size x backend and peer, timed the same way, with the copy floor."""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

import numpy as np

import xpvec

from .._registry import get_instance
from .._table import format_count
from .cases import CASES, LOOP_MAX_SIZE, Case
from .timing import copies_for, copy_bandwidth, median, spread, time_calls

#: A spread (interquartile range) of samples beyond this share of their median is noted.
NOISY = 0.25


@dataclass
class Result:
    op: str
    size: int
    dtype: str
    runner: str  # a backend name, or a peer's label
    kind: str  # "backend" or "peer"
    median_s: float | None
    bytes_moved: int
    copy_floor_s: float
    note: str = ""
    iqr_s: float | None = None  # the samples' interquartile range: how far to trust the median

    def timed(self, samples: list[float]) -> Result:
        """The median and spread of ``samples``; a spread beyond ``NOISY`` of the median is
        noted, as the machine's other load, not the runner, may be what it measures."""
        self.median_s, self.iqr_s = median(samples), spread(samples)
        if self.iqr_s > NOISY * self.median_s:
            self.note = f"noisy: IQR {100 * self.iqr_s / self.median_s:.0f}% of the median"
        return self

    @property
    def gbps(self) -> float | None:
        return self.bytes_moved / self.median_s / 1e9 if self.median_s else None

    @property
    def percent_of_floor(self) -> float | None:
        return 100 * self.copy_floor_s / self.median_s if self.median_s else None

    def to_json(self) -> dict:
        return {**asdict(self), "gb_per_s": self.gbps, "percent_of_copy_floor": self.percent_of_floor}


class InvalidRequest(ValueError):
    """A sweep asked for ops that do not exist or sizes that are not positive: the command
    line prints it as a one-line error (any other ValueError there is a bug, and shows as one)."""


def _check(names: Iterable[str], known: Iterable[str], what: str) -> list[str]:
    names, known = list(names), list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        close = [m for n in unknown for m in difflib.get_close_matches(n, known, n=1)]
        hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
        raise InvalidRequest(f"unknown {what} {', '.join(map(repr, unknown))}; {hint}choose from: {', '.join(known)}")
    return names


def validate(ops: Iterable[str], backends: Iterable[str], sizes: Iterable[int]) -> tuple[list, list, list]:
    ops = _check(ops, CASES, "op")
    backends = list(backends)
    for name in backends:
        # The registry's own errors: the closest name to a misspelt one, the fix for an
        # unusable one. The instance it makes is the one the sweep then times.
        get_instance(name)
    sizes = [int(s) for s in sizes]
    if not sizes or any(s < 1 for s in sizes):
        raise InvalidRequest(f"sizes must be positive integers, got {sizes}")
    return ops, backends, sizes


def run_sweep(
    ops: Iterable[str],
    backends: Iterable[str],
    sizes: Iterable[int],
    dtype: str = "float64",
    peers: bool = True,
    repeats: int = 7,
    min_sample: float = 0.02,
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
) -> Iterator[Result]:
    """Each case x size x runner's result as soon as it is timed (a run cut short keeps those)."""
    ops, backends, sizes = validate(ops, backends, sizes)
    progress = progress or (lambda label: None)
    rng = np.random.default_rng(seed)
    floors: dict[int, float] = {}
    for op in ops:
        case = CASES[op]
        for size in case.sizes_run(sizes):  # as run and recorded: softmax's 1400 runs (and is) 1000
            host = case.make_inputs(size, rng, np.dtype(dtype))
            nbytes = case.bytes_moved(host)
            if nbytes not in floors:
                floors[nbytes] = copy_bandwidth(sum(a.nbytes for a in host))
            floor_s = nbytes / floors[nbytes]
            copies = [host] + [tuple(a.copy() for a in host) for _ in range(copies_for(nbytes) - 1)]
            for name in backends:
                progress(f"{op} n={format_count(size)} {name}")
                yield _time_backend(case, name, size, dtype, copies, nbytes, floor_s, repeats, min_sample)
            if peers:
                for label, load in case.peers.items():
                    progress(f"{op} n={format_count(size)} {label}")
                    yield _time_peer(case, label, load, size, dtype, copies, nbytes, floor_s, repeats, min_sample)


def _time_backend(case: Case, name, size, dtype, copies, nbytes, floor_s, repeats, min_sample) -> Result:
    result = Result(case.op, size, dtype, name, "backend", None, nbytes, floor_s)
    if name == "python" and size > LOOP_MAX_SIZE:
        result.note = f"skipped: the loop baseline runs up to {format_count(LOOP_MAX_SIZE)} elements"
        return result
    # Data moves to the backend's array type once, outside the timed region.
    moved = [tuple(xpvec.to_device(a, name) for a in args) for args in copies]
    calls = [case.xpvec_call(name, args) for args in moved]
    if name == "python":  # one sample of one call per copy is plenty for the baseline
        return result.timed(time_calls(calls[:1], repeats=3, min_sample=0.0))
    return result.timed(time_calls(calls, repeats=repeats, min_sample=min_sample))


def _time_peer(case: Case, label, load, size, dtype, copies, nbytes, floor_s, repeats, min_sample) -> Result:
    result = Result(case.op, size, dtype, label, "peer", None, nbytes, floor_s)
    try:
        fn = load()
    except ImportError as exc:
        result.note = f"skipped: {exc.name or exc} is not installed"
        return result
    calls = [lambda args=args: fn(*args) for args in copies]
    with np.errstate(all="ignore"):  # peers like 1/(1+exp(-x)) warn on overflow; that is theirs to fix
        return result.timed(time_calls(calls, repeats=repeats, min_sample=min_sample))


def machine_info() -> dict:
    """The CPU model, core count and (when cupy is usable) GPU name, for the JSON."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        # The CPUs this process may run on (taskset, a container's cpuset), not the machine's.
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "xpvec": xpvec.__version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # The libraries behind the backends and peers, where installed: a number is only
    # comparable to one taken with the same versions (and the same numba thread count).
    import importlib.metadata

    for dist in ("numba", "tbb", "scipy", "numexpr", "dask", "scikit-learn", "cupy-cuda12x", "cupy-cuda13x"):
        try:
            info[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    if "numba" in xpvec.available_backends():
        import numba

        info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
        try:  # the sweep ran parallel kernels: the layer is fixed and known
            info["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel kernel ran (small sizes only)
            pass
    if "cupy" in xpvec.available_backends():
        import cupy

        info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return info
