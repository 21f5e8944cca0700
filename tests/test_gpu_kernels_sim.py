"""The GPU kernels run in numba-cuda's CUDA simulator on NumPy inputs, so CI tests them without a GPU.

NUMBA_ENABLE_CUDASIM has to be set before numba.cuda is first imported, and
this process may already have imported it for real, so the checks
(tests/gpu_sim/kernels_in_simulator.py) run in a pytest of their own. It
starts outside the checkout and appends the checkout to sys.path rather than
prepending it, so ``xpvec`` is the installed package: the kernels exist as
``xpvec.kernels`` only there (the wheel maps kernels/ into it), not in the
source tree's xpvec/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_kernels_in_the_cuda_simulator(tmp_path):
    checks = ROOT / "tests" / "gpu_sim" / "kernels_in_simulator.py"
    r = subprocess.run(
        [sys.executable, "-m", "pytest", str(checks), "-q", "-p", "no:cacheprovider", "--import-mode=append"],
        cwd=tmp_path,
        env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = (r.stdout + r.stderr)[-6000:]
    assert r.returncode == 0, tail
    assert " passed" in tail and " skipped" not in tail, tail
