"""numba's parallel kernels beside NumPy's threaded BLAS, with and without the
environment settings that stop idle threads from spinning.

After a call, OpenBLAS's threads busy-wait for the next one (up to 2^28 cycles
by default), and so, briefly, do the threads of numba's parallel kernels (TBB's,
or GNU OpenMP's where TBB is missing). Alternating the two (``xpvec.sigmoid(X @ w)`` in a loop) on a machine
with few cores makes each wait for the cores the other's idle threads hold.

Each case runs in a fresh process, because both libraries read their settings
once, at load: ``python benchmarks/mixing_with_blas.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CASES = {
    "defaults": {},
    "OPENBLAS_THREAD_TIMEOUT=4": {"OPENBLAS_THREAD_TIMEOUT": "4"},
    "OMP_WAIT_POLICY=passive": {"OMP_WAIT_POLICY": "passive"},
    "both": {"OPENBLAS_THREAD_TIMEOUT": "4", "OMP_WAIT_POLICY": "passive"},
    # numba's threads on GNU OpenMP, as where the tbb wheel is missing (the default picks TBB).
    "NUMBA_THREADING_LAYER=omp": {"NUMBA_THREADING_LAYER": "omp"},
}
_SETTINGS = ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")

_MEASURE = """
import json, time, numpy as np, xpvec
rng = np.random.default_rng(0)
x = rng.standard_normal(1_000_000)
A, v = rng.standard_normal((1000, 1000)), rng.standard_normal(1000)
sigmoid = lambda: xpvec.sigmoid(x, backend="numba")
matvec = lambda: A @ v
sigmoid(); matvec()

def per_round(calls, rounds=200):
    t0 = time.perf_counter()
    for _ in range(rounds):
        for call in calls:
            call()
    return (time.perf_counter() - t0) / rounds

runs = [(per_round([sigmoid]), per_round([matvec]), per_round([sigmoid, matvec])) for _ in range(5)]
import numba
print(json.dumps([*(sorted(r[i] for r in runs)[2] for i in range(3)), numba.threading_layer()]))  # medians
"""


def main() -> None:
    print("1e6-element xpvec.sigmoid (numba) and a 1000x1000 A @ v (NumPy's BLAS), per round, medians of 5")
    print(f"{'settings':28s} {'sigmoid':>9s} {'A @ v':>9s} {'alternated':>11s} {'vs the sum':>10s}  numba's threads")
    for name, env in CASES.items():
        environ = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE], env={**environ, **env}, capture_output=True, text=True, check=True
        )
        alone, blas, both, layer = json.loads(out.stdout)
        print(f"{name:28s} {alone * 1e6:7.0f}us {blas * 1e6:7.0f}us {both * 1e6:9.0f}us "
              f"{both / (alone + blas):9.1f}x  {layer}")  # fmt: skip


if __name__ == "__main__":
    main()
