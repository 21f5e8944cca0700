"""Every GPU kernel compiled for a Hopper GPU (sm_90) by the real CUDA compiler, NVVM, without a GPU.

Run by tests/test_gpu_kernels_compile.py in a pytest of its own, with the
simulator off (NUMBA_ENABLE_CUDASIM must not be set before numba.cuda is
imported); the name keeps the main run from collecting it.

The simulator runs the kernels as Python, so it cannot show that they type
and lower for the CUDA target. This does, for the exact kernels and argument
types the launcher passes: a recording launcher drives the host code
(``xpvec.kernels.gpu.host``) in float32 and float64 and compiles what it would
launch with the functions the cupy backend compiles with on a device
(``xpvec.kernels.gpu.launch``). On the PTX it checks the dtype policy (a
float32 kernel has no double-precision instruction: a Python float constant
or a float64 intermediate would add one), that nothing lives in local memory,
and that the parameters the backend lays out for the launch match the
kernel entry's, one by one in width. Then nvJitLink links the PTX to sm_90
machine code, as the backend does on a device, and ptxas's resource report
must show at most a few bytes of register spills: a kernel whose launch
bounds cap its registers well below what it needs spills there, which the
PTX cannot show.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest
from numba import cuda

if cuda.config.ENABLE_CUDASIM:
    pytest.skip("NUMBA_ENABLE_CUDASIM=1 is set: this compiles for a real GPU", allow_module_level=True)

from numba.cuda.cudadrv import nvvm  # noqa: E402
from xpvec.kernels.gpu import launch  # noqa: E402

if not nvvm.is_available() or launch._nvjitlink() is None:
    pytest.skip(
        "no NVVM or nvJitLink (the CUDA compiler libraries): install the nvvm extra (pip install '.[nvvm]')",
        allow_module_level=True,
    )

from xpvec.kernels.gpu import columns, elementwise, logistic, pieces, reduce, rows  # noqa: E402
from xpvec.kernels.gpu.host import Launcher  # noqa: E402

from xpvec.backends.cupy_backend import THREADS  # noqa: E402

CC = (9, 0)  # Hopper: the H100/H200 the GPU experiment targets
SPILL_BUDGET = 32  # bytes of spill stores per thread (float64 loss_grad_multinomial: 20 with CUDA 13.5)
# Kernels that sum the logistic loss in float64 whatever the dtype (Backend.logistic_loss_grad):
# in float32 they may convert to double, move, load, store and add doubles, and nothing else;
# any other double instruction would be an accidental promotion of float32 arithmetic.
SUMS_IN_FLOAT64 = {"loss_grad_binary", "loss_grad_multinomial", "sum_columns"}
FLOAT64_SUM_OPS = re.compile(r"(\.reg \.f64|mov\.f64|add\.(rn\.)?f64|cvt\.f64\.f32|(ld|st)\.\w+\.f64)\s")
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
    """The launcher with each (kernel, argument types) it would launch recorded, and the first arguments
    it saw for them, instead of launching."""

    launches: dict = field(default_factory=dict)

    def launch(self, kernel, blocks, *arrays, shared=0, args=()):
        self.launches.setdefault((kernel, launch.signature(arrays, args)), (arrays, args))


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
    return list(gpu.launches.items())


LAUNCHES = [
    pytest.param(dtype, kernel, sig, id=f"{np.dtype(dtype).name}-{kernel.py_func.__name__}")
    for dtype in (np.float32, np.float64)
    for (kernel, sig), _ in _everything_launched(dtype)
]
ARGUMENTS = [
    pytest.param(kernel, sig, arguments, id=f"{np.dtype(dtype).name}-{kernel.py_func.__name__}")
    for dtype in (np.float32, np.float64)
    for (kernel, sig), arguments in _everything_launched(dtype)
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
    launched = [kernel.py_func.__name__ for (kernel, _), _ in _everything_launched(dtype)]
    assert sorted(launched) == sorted(defined)  # each once: one signature per kernel and dtype


def test_the_kernels_are_compiled_with_every_option_they_set():
    # The backend compiles with cuda.compile_ptx, passing the launch bounds: any other option a
    # kernel's decorator set would be dropped there, so none may differ from compile_ptx's defaults.
    for (kernel, _), _ in _everything_launched(np.float32):
        options = kernel.targetoptions
        assert not any(options.get(k) for k in ("debug", "lineinfo", "fastmath", "device", "link", "extensions"))
        assert options.get("opt", True)
        assert options.get("lto", False) is False  # numba-cuda's own launch runs the same machine code


def test_parameters_are_laid_out_as_numbas_array_model():
    # The backend flattens each array into its data model's members, in order.
    from numba import types
    from numba.cuda.descriptor import cuda_target

    for ndim in (1, 2):
        model = cuda_target.target_context.data_model_manager.lookup(types.Array(types.float32, ndim, "C"))
        assert tuple(model._fields) == launch.ARRAY_MEMBERS


@functools.cache
def _entry(kernel, sig) -> tuple[str, str]:
    return launch.compile_ptx(kernel, sig, CC)


def _ptx(kernel, sig) -> str:
    return _entry(kernel, sig)[1]


def _sass_report(ptx: str) -> str:
    """ptxas's resource report for ``ptx`` linked to sm_90 machine code by nvJitLink, as on a device."""
    cubin, log = launch.link(ptx, CC, verbose=True)
    assert cubin[:4] == b"\x7fELF", "nvJitLink returned no machine code"
    return log


PARAM_BYTES = {"u8": 1, "b8": 1, "s8": 1, "u16": 2, "b16": 2, "s16": 2, "u32": 4, "b32": 4, "s32": 4, "f32": 4,
               "u64": 8, "b64": 8, "s64": 8, "f64": 8}  # fmt: skip


@pytest.mark.parametrize("kernel,sig,arguments", ARGUMENTS)
def test_launch_parameters_match_the_kernel_entry(kernel, sig, arguments):
    arrays, args = arguments
    entry, ptx = _entry(kernel, sig)
    declared = re.search(re.escape(entry) + r"\((.*?)\)", ptx, re.S).group(1)
    widths = [PARAM_BYTES[t] for t in re.findall(r"\.param\s+\.(\w+)", declared)]
    params = launch.parameters(arrays, args, pointer=lambda a: a.ctypes.data)
    assert [8 if type(p) is int else p.itemsize for p in params] == widths  # CuPy passes an int as int64
    # Each array's members in numba's order: its size, item size, data address, shape and strides.
    at = 0
    for a in arrays:
        members = [int(p) for p in params[at : at + 5 + 2 * a.ndim]]
        assert members == [0, 0, a.size, a.itemsize, a.ctypes.data, *a.shape, *a.strides]
        at += 5 + 2 * a.ndim
    assert [type(p) for p in params[at:]] == [np.bool_ if isinstance(v, bool) else int for v in args]


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
        if kernel.py_func.__name__ in SUMS_IN_FLOAT64:
            doubles = [line for line in doubles if not FLOAT64_SUM_OPS.match(line)]
        assert not doubles, f"double precision in a float32 kernel: {doubles[:5]}"


@pytest.mark.parametrize("dtype,kernel,sig", LAUNCHES)
def test_machine_code_for_sm90_spills_at_most_a_few_registers(dtype, kernel, sig):
    report = _sass_report(_ptx(kernel, sig))
    spills = [int(n) for n in re.findall(r"(\d+) bytes spill stores", report)]
    assert spills and re.search(r"Used \d+ registers", report), f"no resource report from ptxas:\n{report}"
    # ptxas releases move a few bytes of spills in or out of a kernel at its register cap; more
    # means the launch bounds leave it too few registers (or an array landed in local memory).
    assert max(spills) <= SPILL_BUDGET, f"{kernel.py_func.__name__} spills {max(spills)} bytes\n{report}"


def test_link_failures_say_what_nvjitlink_said():
    with pytest.raises(RuntimeError, match="nvJitLink could not link a kernel for sm_90") as info:
        launch.link(".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry broken( {\n", CC)
    assert len(str(info.value)) > 80  # the error log, not only the code


class _CupyArray(np.ndarray):
    """A NumPy array with CuPy's pointer attribute, ``a.data.ptr``."""

    @property
    def data(self):
        return SimpleNamespace(ptr=self.ctypes.data)


@pytest.fixture(autouse=True)
def _own_kernel_cache(tmp_path, monkeypatch):
    """Each test compiles afresh, into a cache of its own (never the user's)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("XPVEC_CUDA_CACHE", raising=False)


def _fake_cupy_cuda(module_class):
    return SimpleNamespace(
        runtime=SimpleNamespace(getDevice=lambda: 0, driverGetVersion=lambda: 13000),
        Device=lambda: SimpleNamespace(compute_capability=f"{CC[0]}{CC[1]}"),
        function=SimpleNamespace(Module=module_class),
    )


def test_a_kernel_that_needs_numbas_runtime_is_refused_with_the_fix(monkeypatch):
    # With NUMBA_CUDA_ENABLE_NRT=1 numba-cuda adds calls into its runtime, which it links in itself.
    real = launch.compile_ptx
    monkeypatch.setattr(launch, "compile_ptx", lambda *a: (lambda e, p: (e, ".extern .func NRT_incref\n" + p))(*real(*a)))
    start = launch.CupyStart(SimpleNamespace(cuda=_fake_cupy_cuda(object)))
    x = np.zeros(8, np.float32).view(_CupyArray)
    with pytest.raises(RuntimeError, match="unset NUMBA_CUDA_ENABLE_NRT, or set XPVEC_CUDA_LAUNCH=numba"):
        start(elementwise.kernels(np.dtype(np.float32)).sigmoid, 1, THREADS, 0, (x, x), ())


def test_cupy_start_compiles_each_kernel_once_and_launches_its_machine_code():
    # CupyStart with CuPy faked at the module/function level: what it loads and what it launches.
    loaded, launched = [], []

    class Module:
        def load(self, image):
            loaded.append(image)

        def get_function(self, entry):
            return lambda grid, block, params, shared_mem: launched.append((entry, grid, block, params, shared_mem))

    gpu = Launcher(np, THREADS, 1056, launch.CupyStart(SimpleNamespace(cuda=_fake_cupy_cuda(Module))))
    x = np.linspace(-3, 3, 240, dtype=np.float32).reshape(6, 40).view(_CupyArray)
    outs = [gpu.elementwise("sigmoid", x), gpu.elementwise("sigmoid", x[1:])]
    assert len(loaded) == 1 and loaded[0][:4] == b"\x7fELF"  # machine code, compiled and linked once
    entries = [call[0] for call in launched]
    assert entries[0] == entries[1] and "elementwise7sigmoid" in entries[0]  # the entry numba named
    for (_, grid, block, params, shared), source, out in zip(launched, (x, x[1:]), outs):
        assert block == (THREADS,) and grid == (1,) and shared == 0
        assert params == launch.parameters((source.reshape(-1), out.reshape(-1)), (), lambda a: a.ctypes.data)


def test_a_new_process_loads_the_linked_kernel_from_disk(monkeypatch):
    # Compiling and linking takes a fraction of a second a kernel, in every process: the
    # second CupyStart (a new process's) loads the same machine code without compiling.
    import time

    loaded = []

    class Module:
        def load(self, image):
            loaded.append(image)

        def get_function(self, entry):
            return lambda grid, block, params, shared_mem: None

    x = np.linspace(-3, 3, 240, dtype=np.float32).view(_CupyArray)
    kernel = elementwise.kernels(np.dtype(np.float32)).sigmoid
    seconds = []
    for _ in range(2):
        t0 = time.perf_counter()
        launch.CupyStart(SimpleNamespace(cuda=_fake_cupy_cuda(Module)))(kernel, 1, THREADS, 0, (x, x), ())
        seconds.append(time.perf_counter() - t0)
        monkeypatch.setattr(launch, "compile_ptx", None)  # the second must not compile
    assert len(loaded) == 2 and loaded[0] == loaded[1] and loaded[0][:4] == b"\x7fELF"
    print(f"compiled and linked in {seconds[0] * 1e3:.0f} ms, loaded from disk in {seconds[1] * 1e3:.1f} ms")
