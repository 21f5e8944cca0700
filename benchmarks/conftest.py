"""Shared fixtures for the pytest-benchmark suites."""

from __future__ import annotations

import pytest

from xpvec.bench.timing import copy_bandwidth


@pytest.fixture(scope="session")
def copy_floor():
    """Bytes/second of np.copyto over an array of a given size, measured once per size in this run."""
    cache: dict[int, float] = {}

    def bandwidth(nbytes: int) -> float:
        if nbytes not in cache:
            cache[nbytes] = copy_bandwidth(nbytes)
        return cache[nbytes]

    return bandwidth
