#!/usr/bin/env bash
# The cupy backend's check on a GPU machine, in one go: the cupy tests and the
# shared suites on cupy, then the GPU experiment (`xpvec bench --backends cupy`).
#
# For a machine with no network and no build tools of its own, build the wheel
# where pip works and take the checkout with it:
#
#   python3 -m pip wheel --no-deps -w .whl .     # on a machine with pip's index
#   bash benchmarks/on_device.sh OUT             # on the GPU machine, from the repository root
#
# It runs with that machine's python3 and packages (cupy, numba-cuda, numpy,
# scikit-learn, pytest, hypothesis, matplotlib); dask, array-api-strict and the
# like are optional there, their tests skip. xpvec comes from the wheel in .whl/
# (nothing to build), else from an install of the checkout. Everything it writes
# is under OUT: info.txt, tests.log, bench.log and bench/ (gpu.json, rewritten after
# each phase, and the two plots). BACKEND_TEST_SECONDS, SUITE_TEST_SECONDS and
# BENCH_SECONDS cap the three steps (defaults 90, 130 and 360: under ten
# minutes in all): tests/test_cupy_backend.py, the shared suites on cupy, the
# experiment.
set -u
out=${1:?usage: bash benchmarks/on_device.sh OUT}
mkdir -p "$out/bench"
export PYTHONUNBUFFERED=1
# The checkout's xpvec/ has no kernels (the wheel maps kernels/ into xpvec.kernels):
# never import it from the current directory.
export PYTHONSAFEPATH=1
site=$(mktemp -d)
wheel=$(ls -t .whl/xpvec-*.whl 2>/dev/null | head -n 1)  # the newest, should several be there
if [ -n "$wheel" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$wheel" || exit
else
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --target "$site" . || {
        echo "no wheel in .whl/, and this machine's setuptools (77 or newer needed) could not build the" \
             "checkout: build the wheel where pip works (python3 -m pip wheel --no-deps -w .whl .)" >&2
        exit 1
    }
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python3 -m pip list 2>/dev/null | grep -i -E '^(cupy|numba|numpy|scikit-learn|cuda-|nvidia-(nvjitlink|nvvm|cuda-nvcc|cuda-runtime))'
    python3 -m xpvec info
} 2>&1 | tee "$out/info.txt"
timeout "${BACKEND_TEST_SECONDS:-90}" python3 -m pytest -q -p no:cacheprovider tests/test_cupy_backend.py 2>&1 | tee "$out/tests.log"
timeout "${SUITE_TEST_SECONDS:-130}" python3 -m pytest -q -p no:cacheprovider -k cupy tests \
    --ignore=tests/test_cupy_backend.py 2>&1 | tee -a "$out/tests.log"
timeout "${BENCH_SECONDS:-360}" python3 -m xpvec bench --backends cupy --out "$out/bench" 2>&1 | tee "$out/bench.log"
