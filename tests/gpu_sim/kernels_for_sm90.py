"""Every GPU kernel compiled for a Hopper GPU (sm_90) by the real CUDA compiler, NVVM, without a GPU.

Run by tests/test_gpu_kernels_compile.py in a pytest of its own, with the
simulator off (NUMBA_ENABLE_CUDASIM must not be set before numba.cuda is
imported); the name keeps the main run from collecting it.

The simulator runs the kernels as Python, so it cannot show that they type
and lower for the CUDA target. This does, for the exact kernels and argument
types the launcher passes: a recording launcher drives the host code
(``xpvec.kernels.gpu.host``) in float32 and float64 and compiles what it would
launch, with the kernel's launch bounds. On the PTX it checks the dtype
policy (a float32 kernel has no double-precision instruction: a Python float
constant or a float64 intermediate would add one) and that nothing lives in
local memory. Then nvJitLink assembles the PTX to sm_90 machine code, as numba-cuda does
on a device, and ptxas's resource report must show at most a few bytes of
register spills: a kernel whose launch bounds cap its registers well below
what it needs spills there, which the PTX cannot show.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import numba
import numpy as np
import pytest
from numba import cuda

if cuda.config.ENABLE_CUDASIM:
    pytest.skip("NUMBA_ENABLE_CUDASIM=1 is set: this compiles for a real GPU", allow_module_level=True)

from numba.cuda.cudadrv import nvvm  # noqa: E402


def _nvjitlink():
    """cuda.bindings' nvJitLink module, or None where the library cannot be loaded."""
    try:
        from cuda.bindings import nvjitlink

        nvjitlink.destroy(nvjitlink.create(1, ["-arch=sm_90"]))
        return nvjitlink
    except Exception:  # not installed: ImportError, or the library's own load error
        return None


nvjitlink = _nvjitlink()
if not nvvm.is_available() or nvjitlink is None:
    pytest.skip(
        "no NVVM or nvJitLink (the CUDA compiler libraries): install the nvvm extra (pip install '.[nvvm]')",
        allow_module_level=True,
    )

from xpvec.kernels.gpu import columns, elementwise, logistic, pieces, reduce, rows  # noqa: E402
from xpvec.kernels.gpu.host import Launcher  # noqa: E402

from xpvec.backends.cupy_backend import THREADS  # noqa: E402

CC = (9, 0)  # Hopper: the H100/H200 the GPU experiment targets
SPILL_BUDGET = 32  # bytes of spill stores per thread (float64 loss_grad_multinomial: 8 with CUDA 13.5)
UNBOUNDED = {"sigmoid", "sigmoid_grad", "log_sigmoid", "sum_columns"}  # no launch bounds by design


@pytest.fixture(autouse=True)
def _no_device(monkeypatch):
    # Device functions are compiled for the current device's compute capability, and there is
    # no device here: name the target instead (absent in a numba-cuda that no longer asks).
    from numba.cuda import dispatcher

    monkeypatch.setattr(
        dispatcher, "get_current_device", lambda: SimpleNamespace(compute_capability=CC), raising=False
    )


@dataclass
class RecordingLauncher(Launcher):
    """The launcher with its launches recorded (kernel, argument types) instead of run."""

    launches: dict = field(default_factory=dict)

    def launch(self, kernel, blocks, *arrays, shared=0, args=()):
        sig = tuple(numba.typeof(a) for a in (*arrays, *args))
        self.launches.setdefault((kernel, sig), None)


def _everything_launched(dtype) -> list:
    gpu = RecordingLauncher(np, threads=THREADS, max_blocks=1056)
    x = np.random.default_rng(0).standard_normal((6, 40)).astype(dtype)
    for name in ("sigmoid", "sigmoid_grad", "log_sigmoid"):
        gpu.elementwise(name, x)
    for name in ("softmax", "log_softmax", "normalize_rows"):
        gpu.rows(name, x, (1,))
    for name in ("softmax", "log_softmax", "normalize_rows"):
        gpu.rows(name, np.zeros((1, 1 << 16), dtype), (1,))  # too few lines for the grid: lines in pieces
    for name in ("softmax", "log_softmax"):
        gpu.rows(name, x.reshape(6, 4, 10), (1,))  # a middle axis: the column kernels
        gpu.rows(name, np.zeros((1, 1 << 15, 2), dtype), (1,))
    for name in ("l1_partials", "l2_partials"):
        gpu.loss_sum(name, x, x)  # and sum_columns
    for k in (1, 3):
        W = np.zeros(40 if k == 1 else (40, k), dtype)
        gpu.logistic_loss_grad(x, np.zeros((6, k), dtype), W, np.zeros(k, dtype), np.ones(6, dtype))
    return list(gpu.launches)


LAUNCHES = [
    pytest.param(dtype, kernel, sig, id=f"{np.dtype(dtype).name}-{kernel.py_func.__name__}")
    for dtype in (np.float32, np.float64)
    for kernel, sig in _everything_launched(dtype)
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_the_host_code_launches_every_kernel(dtype):
    d = np.dtype(dtype)
    defined = {
        name
        for module in (
            elementwise.kernels(d),
            rows.kernels(d, THREADS),
            columns.kernels(d, THREADS),
            pieces.kernels(d, THREADS),
            reduce.kernels(d, THREADS),
            logistic.kernels(d, THREADS),
        )
        for name in vars(module)
    }
    launched = [kernel.py_func.__name__ for kernel, _ in _everything_launched(dtype)]
    assert sorted(launched) == sorted(defined)  # each once: one signature per kernel and dtype


@functools.cache
def _ptx(kernel, sig) -> str:
    ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=CC, launch_bounds=kernel.targetoptions.get("launch_bounds"))
    return ptx


def _sass_report(ptx: str) -> str:
    """ptxas's resource report for ``ptx`` assembled to sm_90 by nvJitLink."""
    handle = nvjitlink.create(2, [f"-arch=sm_{CC[0]}{CC[1]}", "-verbose"])
    try:
        data = ptx.encode()
        nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel.ptx")
        nvjitlink.complete(handle)
        log = bytearray(nvjitlink.get_info_log_size(handle))
        nvjitlink.get_info_log(handle, log)
        return log.decode(errors="replace")
    finally:
        nvjitlink.destroy(handle)


@pytest.mark.parametrize("dtype,kernel,sig", LAUNCHES)
def test_compiles_for_sm90(dtype, kernel, sig):
    bounds = kernel.targetoptions.get("launch_bounds")
    if kernel.py_func.__name__ not in UNBOUNDED:  # numba-cuda >= 0.30 takes them: none dropped silently
        assert bounds, "launch bounds missing"
    ptx = _ptx(kernel, sig)
    assert ".entry" in ptx
    if bounds:
        assert f".maxntid {bounds[0]}, 1, 1" in ptx and f".minnctapersm {bounds[1]}" in ptx
    assert ".local" not in ptx, "a local-memory array: an index the compiler could not resolve"
    if dtype == np.float32:
        doubles = [line.strip() for line in ptx.splitlines() if ".f64" in line]
        assert not doubles, f"double precision in a float32 kernel: {doubles[:5]}"


@pytest.mark.parametrize("dtype,kernel,sig", LAUNCHES)
def test_machine_code_for_sm90_spills_at_most_a_few_registers(dtype, kernel, sig):
    report = _sass_report(_ptx(kernel, sig))
    spills = [int(n) for n in re.findall(r"(\d+) bytes spill stores", report)]
    assert spills and re.search(r"Used \d+ registers", report), f"no resource report from ptxas:\n{report}"
    # ptxas releases move a few bytes of spills in or out of a kernel at its register cap; more
    # means the launch bounds leave it too few registers (or an array landed in local memory).
    assert max(spills) <= SPILL_BUDGET, f"{kernel.py_func.__name__} spills {max(spills)} bytes\n{report}"
