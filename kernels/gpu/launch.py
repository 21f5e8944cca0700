"""Starting a kernel: numba-cuda compiles it, CuPy launches it.

numba-cuda's own launch (``kernel[grid, block, stream](*arrays)``) types
every argument and wraps each CuPy array in a device-array object first
(``__cuda_array_interface__`` read, pointer, stream and layout objects made):
a benchmark in NVIDIA's numba-cuda-mlir tracker (pull request 90) measured
about 90 us of host time a launch on three CuPy arrays. That is longer
than these kernels take below a few million elements, and a
loss+gradient evaluation launches twice: the GPU would wait for Python. So
the backend launches another way, with public APIs only:

- ``compile_ptx``: numba-cuda compiles the kernel for the argument types and
  the device's compute capability (``cuda.compile_ptx``, with the kernel's
  launch bounds), once per kernel, types and device, and ``disk_cache`` keeps
  the result for the next process;
- ``link``: nvJitLink assembles the PTX into machine code for that device, as
  numba-cuda's own linker does (PTX from a newer NVVM than the driver knows
  could not be loaded as PTX); without nvJitLink the PTX goes to the driver;
- ``CupyStart``: CuPy loads the code as a module and launches its entry on
  CuPy's current stream with the parameters ``parameters`` lays out.

The parameters follow numba's kernel ABI: each array is flattened into its
data model's members (meminfo, parent, nitems, itemsize, data, shape...,
strides...; ``ARRAY_MEMBERS``), each a separate 64-bit parameter, and an
integer or boolean argument is one parameter of its width. They go to CuPy
as Python ints, which CuPy passes as 64-bit integers (``_pointer`` in its
``function.pyx`` makes each a NumPy int64), and NumPy booleans (one byte).
Some 60 parameters for the fused logistic kernel make this the launch's main
host cost; the device run times it (``bench/gpu.py``). CI checks these against the PTX of every kernel the host code
launches (tests/gpu_sim/kernels_for_sm90.py), and compiles and links with the
very functions here; only CuPy's load and launch need a device.

``NumbaDispatch`` is numba-cuda's own launch: the simulator's (which runs
kernels on NumPy arrays) and, with ``XPVEC_CUDA_LAUNCH=numba``, the
backend's, for comparison or should a numba-cuda release change the ABI.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import disk_cache

MAX_DEFAULT_SHARED = 48 * 1024  # dynamic shared memory a block gets without cudaFuncSetAttribute
ARRAY_MEMBERS = ("meminfo", "parent", "nitems", "itemsize", "data", "shape", "strides")  # numba's ArrayModel
_ENTRY = re.compile(r"\.entry\s+([\w$]+)\s*\(")
_EXTERN = re.compile(r"\.extern\s+\.func")


def _as_is(a):
    return a


def _no_stream():
    return 0


@dataclass
class NumbaDispatch:
    """numba-cuda's launch: ``kernel[grid, threads, stream, shared](*arrays, *args)``."""

    as_kernel_arg: Callable[[Any], Any] = _as_is  # CuPy memory to a numba device array on a device
    stream: Callable[[], Any] = _no_stream

    def __call__(self, kernel, grid: int, threads: int, shared: int, arrays: Sequence, args: tuple) -> None:
        kernel[grid, threads, self.stream(), shared](*map(self.as_kernel_arg, arrays), *args)


def layout(a) -> str:
    """numba's layout letter for an array: 'C', 'F' or 'A' (any strides), as ``numba.typeof`` gives it."""
    if a.flags.c_contiguous:
        return "C"
    return "F" if a.flags.f_contiguous else "A"


def _is_flag(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def signature(arrays: Sequence, args: tuple) -> tuple:
    """The numba argument types of a launch: writable aligned arrays (what CuPy allocates), then
    ``args``: a bool or NumPy bool boolean, any other integer int64, as ``parameters`` passes them
    (a NumPy int32 typed int32 would compile a 4-byte parameter and be passed 8 bytes)."""
    import numba
    from numba import types

    for v in args:
        if not (_is_flag(v) or isinstance(v, (int, np.integer))):
            raise TypeError(f"a kernel's scalar arguments are integers or booleans, got {type(v).__name__}")
    arrays_types = tuple(types.Array(numba.from_dtype(a.dtype), a.ndim, layout(a)) for a in arrays)
    return arrays_types + tuple(types.boolean if _is_flag(v) else types.int64 for v in args)


def parameters(arrays: Sequence, args: tuple, pointer: Callable[[Any], int]) -> tuple:
    """The kernel's parameters for these arguments, in numba's ABI: a Python int for each 64-bit
    one, a NumPy bool for each boolean (one byte).

    ``pointer(a)`` is the address of a's first element (``a.data.ptr`` for CuPy).
    """
    params: list = []
    for a in arrays:
        # meminfo and parent: no NRT, no Python parent object on a device.
        params += (0, 0, a.size, a.itemsize, pointer(a), *a.shape, *a.strides)
    params += (np.bool_(v) if _is_flag(v) else int(v) for v in args)
    return tuple(params)


def compile_ptx(kernel, sig: tuple, cc: tuple[int, int]) -> tuple[str, str]:
    """``(entry name, PTX)`` of ``kernel`` (a ``cuda.jit`` dispatcher) for ``sig`` on compute capability ``cc``."""
    from numba import cuda

    bounds = kernel.targetoptions.get("launch_bounds")
    options = {"launch_bounds": bounds} if bounds else {}
    ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc, **options)
    match = _ENTRY.search(ptx)
    if match is None:
        raise RuntimeError(f"no kernel entry in the PTX numba-cuda made for {kernel.py_func.__name__}")
    return match.group(1), ptx


@functools.cache
def _nvjitlink():
    """cuda.bindings' nvJitLink, or None where its library cannot be loaded."""
    try:
        from cuda.bindings import nvjitlink

        nvjitlink.destroy(nvjitlink.create(1, ["-arch=sm_90"]))
        return nvjitlink
    except Exception:  # not installed: ImportError, or the library's own load error
        return None


def link(ptx: str, cc: tuple[int, int], verbose: bool = False) -> tuple[bytes, str] | None:
    """``(machine code, nvJitLink's log)`` of ``ptx`` for ``cc``, or None without nvJitLink.

    ``verbose`` adds ptxas's resource report (registers, spills) to the log.
    """
    nvjitlink = _nvjitlink()
    if nvjitlink is None:
        return None
    handle = nvjitlink.create(2 if verbose else 1, [f"-arch=sm_{cc[0]}{cc[1]}"] + (["-verbose"] if verbose else []))
    try:
        data = ptx.encode()
        try:
            nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), "kernel.ptx")
            nvjitlink.complete(handle)
        except nvjitlink.nvJitLinkError as exc:
            log = bytearray(nvjitlink.get_error_log_size(handle))
            nvjitlink.get_error_log(handle, log)
            raise RuntimeError(f"nvJitLink could not link a kernel for sm_{cc[0]}{cc[1]} ({exc}): "
                               + log.decode(errors="replace").strip()) from exc  # fmt: skip
        cubin = bytearray(nvjitlink.get_linked_cubin_size(handle))
        nvjitlink.get_linked_cubin(handle, cubin)
        log = bytearray(nvjitlink.get_info_log_size(handle))
        nvjitlink.get_info_log(handle, log)
        return bytes(cubin), log.decode(errors="replace")
    finally:
        nvjitlink.destroy(handle)


class CupyStart:
    """Launches numba-cuda kernels through CuPy: compiled, linked and loaded once per kernel,
    argument types and device; each launch then only lays out the parameters."""

    def __init__(self, cupy):
        self._cp = cupy
        self._loaded: dict[tuple, Any] = {}

    def __call__(self, kernel, grid: int, threads: int, shared: int, arrays: Sequence, args: tuple) -> None:
        if shared > MAX_DEFAULT_SHARED:  # more needs the kernel's opt-in attribute, which no kernel sets
            raise ValueError(f"{shared} bytes of dynamic shared memory asked of {kernel.py_func.__name__}; "
                             f"at most {MAX_DEFAULT_SHARED} without opting in")  # fmt: skip
        device = self._cp.cuda.runtime.getDevice()
        # The arguments' types, not only flag or not: a new type (a float passed by mistake)
        # goes through ``signature``'s check once, not silently through int().
        key = (kernel, device, *((a.dtype, a.ndim, layout(a)) for a in arrays), *map(type, args))
        function = self._loaded.get(key)
        if function is None:
            function = self._loaded[key] = self._load(kernel, signature(arrays, args))
        # CuPy's current stream, as CuPy's own kernels.
        function((grid,), (threads,), parameters(arrays, args, _cupy_pointer), shared_mem=shared)

    def _load(self, kernel, sig: tuple):
        cc = self._cp.cuda.Device().compute_capability  # "90"
        cc = (int(cc[:-1]), int(cc[-1]))
        name = kernel.py_func.__name__
        driver = self._cp.cuda.runtime.driverGetVersion()
        nvjitlink = _nvjitlink()
        stored = disk_cache.folder()
        if stored is not None:  # everything that shapes the code (see disk_cache)
            stored = disk_cache.entry_path(stored, (
                kernel.py_func.__module__, kernel.py_func.__qualname__, tuple(map(str, sig)), cc, driver,
                kernel.targetoptions.get("launch_bounds"), nvjitlink and nvjitlink.version(),
            ))  # fmt: skip
        found = stored and disk_cache.read(stored)
        if found:
            entry, code, linked = found
        else:
            entry, ptx = compile_ptx(kernel, sig, cc)
            if _EXTERN.search(ptx):  # numba links its runtime (NRT) into such a kernel itself
                raise RuntimeError(
                    f"the {name} kernel calls functions numba-cuda links in itself (NUMBA_CUDA_ENABLE_NRT is "
                    "set?); unset NUMBA_CUDA_ENABLE_NRT, or set XPVEC_CUDA_LAUNCH=numba"
                )
            machine = link(ptx, cc)
            code, linked = (machine[0], True) if machine else (ptx.encode(), False)
            if stored:
                disk_cache.write(stored, entry, code, linked)
        module = self._cp.cuda.function.Module()
        try:  # without nvJitLink, the driver compiles the PTX, if it knows its version
            module.load(code)
        except self._cp.cuda.driver.CUDADriverError as exc:
            # Machine code from a newer CUDA major than the driver's (the nvvm extra's CUDA 13
            # beside a CUDA 12 driver), or PTX newer than it knows.
            what = "machine code nvJitLink made of" if linked else "PTX (no nvJitLink to link it) of"
            raise RuntimeError(
                f"the CUDA {driver // 1000}.{driver % 1000 // 10} driver cannot load the {what} the {name} "
                f"kernel ({exc}): install the CUDA extra matching the driver (pip install 'xpvec[cuda12]' "
                "or 'xpvec[cuda13]'), or set XPVEC_CUDA_LAUNCH=numba"
            ) from exc
        return module.get_function(entry)  # holds the module


def _cupy_pointer(a) -> int:
    return a.data.ptr
