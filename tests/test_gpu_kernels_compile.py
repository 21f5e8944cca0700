"""The GPU kernels compiled for sm_90 by NVVM, as a device would compile them, without a GPU.

The checks (tests/gpu_sim/kernels_for_sm90.py) run in a pytest of their own,
with NUMBA_ENABLE_CUDASIM unset, started outside the checkout so that
``xpvec`` is the installed package (see tests/test_gpu_kernels_sim.py). NVVM
and NVRTC come with the ``nvvm`` extra (or cuda12/cuda13); where they are
missing the checks skip, and this test skips with their reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_kernels_compile_for_sm90(tmp_path):
    checks = ROOT / "tests" / "gpu_sim" / "kernels_for_sm90.py"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(checks),
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--import-mode=append",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = (r.stdout + r.stderr)[-6000:]
    skipped = re.search(r"SKIPPED \[\d+\] \S+: (.*)", tail)
    if skipped and " passed" not in tail:
        pytest.skip(skipped.group(1))
    assert r.returncode == 0, tail
    assert " passed" in tail and " skipped" not in tail, tail
