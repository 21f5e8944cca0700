"""Shared pieces of the benchmark suites: the copy floor measured once per size,
and a recorder that keeps each median and prints, per group, every entry's
median, GB/s and speed relative to the group's reference entry (xpvec on the
backend under test)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from xpvec.bench.timing import copy_bandwidth

_medians: dict[str, dict[str, float]] = defaultdict(dict)
_extra: dict[tuple[str, str], dict] = {}
_references: dict[str, str] = {}


class Recorder:
    """``run(benchmark, fn, ...)``: time ``fn`` with pytest-benchmark and remember its median."""

    def run(self, benchmark, fn, *, group: str, name: str, nbytes: int, rounds: int = 7, reference: bool = False):
        benchmark.group = group
        benchmark.name = name
        benchmark.extra_info["bytes_moved"] = nbytes
        result = benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
        if benchmark.disabled:  # --benchmark-disable: a smoke run, nothing timed
            return result
        median = benchmark.stats.stats.median
        benchmark.extra_info["GB/s"] = round(nbytes / median / 1e9, 2)
        _medians[group][name] = median
        _extra[group, name] = dict(benchmark.extra_info)
        if reference:
            _references[group] = name
        return result


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    return Recorder()


def pytest_terminal_summary(terminalreporter):
    if not _medians:
        return
    terminalreporter.section("medians and ratios (peer median / reference median: >1 means the reference is faster)")
    for group, entries in _medians.items():
        ref = _references.get(group)
        terminalreporter.write_line(f"{group}:")
        for name, median in sorted(entries.items(), key=lambda kv: kv[1]):
            ratio = f"{median / entries[ref]:6.2f}x" if ref in entries else "   -   "
            gbs = _extra[group, name].get("GB/s", "")
            mark = "  <- reference" if name == ref else ""
            terminalreporter.write_line(f"  {name:<34} {median * 1e3:9.2f} ms  {gbs:>7} GB/s  {ratio}{mark}")


@pytest.fixture(scope="session")
def copy_floor():
    """Bytes/second of np.copyto over an array of a given size, measured once per size in this run."""
    cache: dict[int, float] = {}

    def bandwidth(nbytes: int) -> float:
        if nbytes not in cache:
            cache[nbytes] = copy_bandwidth(nbytes)
        return cache[nbytes]

    return bandwidth
