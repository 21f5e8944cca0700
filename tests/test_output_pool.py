"""Reuse of large host outputs (``xpvec.backends._output_pool``).

The pool may only hand memory out again once nothing can reach it: every
test here that keeps a view, a memoryview or a slice of an old result checks
that later results neither share its memory nor change its values.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import os
import pickle
import re
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest
from scipy import special

import xpvec
from xpvec.backends import _output_pool
from xpvec.backends._output_pool import GRAIN, MIN_BYTES, OutputPool

MIB = 1 << 20
BIG = (1024, 768)  # 6 MiB of float64: pooled


def _big(seed: int = 0, shape=BIG, dtype=np.float64) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 6).astype(dtype)


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


numba_only = pytest.mark.skipif("numba" not in xpvec.available_backends(), reason="numba is not installed")


# --- the pool itself ---------------------------------------------------------


def test_small_requests_are_plain_numpy_arrays():
    out = OutputPool(64 * MIB).empty((MIN_BYTES // 8 - 1,), np.float64)
    assert out.flags.owndata and out.base is None


def test_large_requests_are_aligned_writeable_and_shaped():
    pool = OutputPool(64 * MIB)
    for order in ("C", "F"):
        out = pool.empty((1000, 1100), np.float32, order)
        assert out.shape == (1000, 1100) and out.dtype == np.float32 and not out.flags.owndata
        assert out.flags.writeable and out.flags[f"{order}_CONTIGUOUS"]
        assert _address(out) % 64 == 0
        out[...] = 1.5
        assert float(out.sum(dtype=np.float64)) == 1.5 * 1000 * 1100


@pytest.mark.parametrize("offset", [0, 8, 16, 24, 2000, 4088])
def test_large_outputs_start_at_their_inputs_offset_within_a_page(offset):
    # Kernels read the input while they write the output: an output a few cache lines past
    # the input's offset within a 4 KiB page makes every load wait on a store (4K aliasing).
    pool = OutputPool(64 * MIB)
    raw = np.empty(MIN_BYTES + 2 * 4096, np.uint8)
    start = (offset - _address(raw)) % 4096
    like = raw[start : start + MIN_BYTES].view(np.float64)
    assert _address(like) % 4096 == offset
    for shape, order in (((MIN_BYTES // 8,), "C"), ((1024, MIN_BYTES // 8 // 1024), "F")):
        out = pool.empty(shape, np.float64, order, like=like)
        assert _address(out) % 4096 == offset and out.flags.aligned and out.shape == shape
        out[...] = 1.0
        first = _address(out)
        del out
        _, block = pool._idle[-1]  # the block it lay in, handed back: the output stayed inside
        assert _address(block) <= first and first + MIN_BYTES <= _address(block) + block.nbytes
    # An input that is not aligned (a view at an odd byte) gets an aligned output, at its
    # offset rounded down.
    odd = raw[start + 3 : start + 3 + MIN_BYTES].view(np.float64)
    out = pool.empty((MIN_BYTES // 8,), np.float64, like=odd)
    assert out.flags.aligned and _address(out) % 4096 == (offset + 3) // 8 * 8 % 4096
    # No input named: the start of a page.
    assert _address(pool.empty((MIN_BYTES // 8,), np.float64)) % 4096 == 0


@numba_only
def test_numba_results_start_at_their_inputs_offset_within_a_page():
    x = _big()
    for call in (xpvec.sigmoid, xpvec.softmax, xpvec.normalize_rows):
        assert _address(call(x, backend="numba")) % 4096 == _address(x) % 4096
        assert _address(call(x[1:], backend="numba")) % 4096 == _address(x[1:]) % 4096


def test_large_results_can_be_made_read_only_and_writeable_again():
    # As any NumPy array (a result handed to code that freezes it, then thaws it).
    out = OutputPool(64 * MIB).empty(BIG, np.float64)
    view = out[::2]
    for a in (out, view):
        a.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            a[0] = 1.0
        a.flags.writeable = True
        a[0] = 2.0
    assert out[0, 0] == 2.0 and np.shares_memory(out, view)


def test_freed_block_is_reused_and_live_block_is_not():
    pool = OutputPool(64 * MIB)
    first = pool.empty((MIN_BYTES,), np.uint8)
    address = _address(first)
    second = pool.empty((MIN_BYTES,), np.uint8)
    assert _address(second) != address  # first is alive
    del first
    assert pool.idle_bytes == MIN_BYTES
    third = pool.empty((MIN_BYTES // 8,), np.float64)  # same size, another dtype
    assert _address(third) == address and pool.idle_bytes == 0


@pytest.mark.parametrize(
    "keep",
    [
        lambda a: a[10:20],
        lambda a: a.T,
        lambda a: a.reshape(-1)[::3],
        lambda a: memoryview(a),
        lambda a: a.view(np.uint8),
        lambda a: np.ctypeslib.as_ctypes(a),
    ],
    ids=["slice", "transpose", "strided", "memoryview", "dtype-view", "ctypes"],
)
def test_memory_reachable_through_a_view_is_never_reused(keep):
    pool = OutputPool(64 * MIB)
    result = pool.empty(BIG, np.float64)
    result[...] = 7.0
    held = keep(result)
    address = _address(result)
    del result
    assert pool.idle_bytes == 0
    others = [pool.empty(BIG, np.float64) for _ in range(3)]
    for other in others:
        other[...] = -1.0
        assert _address(other) != address
    assert np.all(np.asarray(held).view(np.float64) == 7.0) if not isinstance(held, memoryview) else all(
        v == 7.0 for v in np.frombuffer(held, np.float64)[:100]
    )
    del held
    assert pool.idle_bytes > 0


def test_the_memory_owner_cannot_be_copied_or_pickled_or_reach_the_block():
    y = OutputPool(64 * MIB).empty(BIG, np.float64)
    owner = y.base.base
    assert type(owner) is _output_pool._Lease
    # A copy would point at the memory without keeping it alive.
    with pytest.raises(TypeError, match="copy or pickle the array"):
        copy.copy(owner)
    with pytest.raises(TypeError, match="copy or pickle the array"):
        pickle.dumps(owner)
    assert not hasattr(owner, "__dict__") and not hasattr(owner, "block")


_CYCLE_DURING_GIVE_BACK = """
import gc, os
os.environ["XPVEC_HOST_POOL_MB"] = "8"
import numpy as np
from xpvec.backends._output_pool import pool

def big():
    return pool().empty((1 << 20,), np.float64)  # 8 MiB: the pool holds one idle block

for depth in range(12):
    gc.collect()
    class Holder:
        pass
    h = Holder()
    h.self, h.arr = h, big()  # only the cyclic collector frees this one
    a, b = big(), big()
    del a  # the pool is now full
    # The next collection starts inside the pool's own bookkeeping, and frees h.arr there.
    gc.set_threshold(gc.get_count()[0] + depth)
    del h, b
    gc.set_threshold(700)
gc.collect()
print("ok", pool().idle_bytes)
"""


def test_a_collection_inside_the_pool_does_not_deadlock():
    """Finalizers can run inside the pool's own code on the same thread; it must never wait for itself."""
    done = subprocess.run(
        [sys.executable, "-c", _CYCLE_DURING_GIVE_BACK],
        capture_output=True, text=True, timeout=120, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", str(8 * MIB)]


def test_idle_memory_stays_under_the_limit_and_oldest_goes_first():
    pool = OutputPool(3 * GRAIN * 2)  # room for three 4 MiB blocks
    arrays = [pool.empty((MIN_BYTES,), np.uint8) for _ in range(5)]
    addresses = [_address(a) for a in arrays]
    while arrays:
        arrays.pop(0)  # freed in allocation order
    assert pool.idle_bytes == 3 * MIN_BYTES
    # The three most recently freed stay; they come back newest first.
    again = [pool.empty((MIN_BYTES,), np.uint8) for _ in range(3)]
    assert [_address(a) for a in again] == addresses[4:1:-1]


def test_blocks_larger_than_the_limit_are_not_kept():
    pool = OutputPool(MIN_BYTES)
    pool.empty((2 * MIN_BYTES,), np.uint8)
    assert pool.idle_bytes == 0


def test_limit_zero_turns_pooling_off():
    out = OutputPool(0).empty(BIG, np.float64)
    assert out.flags.owndata


@pytest.mark.parametrize(("raw", "limit"), [("", 512 * MIB), ("0", 0), ("64", 64 * MIB), (" 1.5 ", int(1.5 * MIB))])
def test_limit_from_environment(monkeypatch, raw, limit):
    monkeypatch.setenv(_output_pool.ENV_VAR, raw)
    assert _output_pool._limit_from_env() == limit


@pytest.mark.parametrize("raw", ["lots", "-1", "nan", "inf"])
def test_bad_limit_in_environment_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(_output_pool.ENV_VAR, raw)
    with pytest.raises(ValueError, match=_output_pool.ENV_VAR):
        _output_pool._limit_from_env()


def test_clear_releases_idle_blocks():
    pool = OutputPool(64 * MIB)
    pool.empty(BIG, np.float64)
    assert pool.idle_bytes > 0
    pool.clear()
    assert pool.idle_bytes == 0


# --- through the numba backend ----------------------------------------------



@numba_only
def test_repeated_op_reuses_its_freed_output():
    x = _big()
    address = _address(xpvec.sigmoid(x, backend="numba"))  # freed at once
    y = xpvec.sigmoid(x, backend="numba")
    assert _address(y) == address
    np.testing.assert_allclose(y, special.expit(x), rtol=1e-15, atol=0)


@numba_only
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_pooled_results_are_right_and_survive_later_calls(order, dtype):
    x = np.asarray(_big(1, dtype=dtype), order=order)
    x64 = x.astype(np.float64)
    # Loose enough for softmax's float32 error on inputs spanning +-30; the
    # agreement suite holds the tight per-op bounds.
    rtol = {np.float16: 2e-3, np.float32: 5e-5, np.float64: 1e-14}[dtype]
    atol = 2.0**-24 if dtype == np.float16 else 1e-300  # float16's subnormal spacing
    results = {
        "sigmoid": (xpvec.sigmoid(x, backend="numba"), special.expit(x64)),
        "log_sigmoid": (xpvec.log_sigmoid(x, backend="numba"), special.log_expit(x64)),
        "softmax": (xpvec.softmax(x, axis=1, backend="numba"), special.softmax(x64, axis=1)),
        "softmax0": (xpvec.softmax(x, axis=0, backend="numba"), special.softmax(x64, axis=0)),
        "normalize": (xpvec.normalize_rows(x, backend="numba"), x64 / np.linalg.norm(x64, axis=1, keepdims=True)),
    }
    snapshots = {name: got.copy() for name, (got, _) in results.items()}
    for _ in range(3):  # churn the pool with other results of the same size
        xpvec.sigmoid(-x, backend="numba")
        xpvec.softmax(x[::-1], axis=1, backend="numba")
    for name, (got, want) in results.items():
        assert got.dtype == dtype and got.shape == x.shape
        if name == "sigmoid" or name == "log_sigmoid":
            assert got.flags[f"{order}_CONTIGUOUS"]
        np.testing.assert_array_equal(got, snapshots[name], err_msg=name)
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=atol, err_msg=name)
    assert x.flags.writeable  # input untouched, still the caller's


@numba_only
def test_pooled_results_pickle_and_copy_like_plain_arrays():
    y = xpvec.sigmoid(_big(2), backend="numba")
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(y)), y)
    np.testing.assert_array_equal(np.copy(y), y)
    assert type(y) is np.ndarray


@numba_only
def test_threads_sharing_the_pool_get_their_own_results():
    inputs = [_big(seed) for seed in range(6)]
    wants = [special.expit(x) for x in inputs]
    failures: list[str] = []

    def work(i: int) -> None:
        for _ in range(8):
            got = xpvec.sigmoid(inputs[i], backend="numba")
            if not np.allclose(got, wants[i], rtol=1e-15, atol=0):
                failures.append(f"thread {i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


_BAD_SETTING = """
import numpy as np, xpvec
from xpvec.backends import _output_pool
print(xpvec.backend_report()["numba"])
try:
    xpvec.sigmoid(np.ones(3), backend="numba")  # 24 bytes: far below what the pool takes
except xpvec.BackendUnavailableError as exc:
    print(exc)
print(xpvec.backend_report()["dask"])  # its NumPy chunks run numba's kernels
try:
    _output_pool.empty((3,), np.dtype(np.float64))  # what a NumbaBackend made by hand calls
except ValueError as exc:
    print(exc)
"""


@pytest.mark.parametrize(
    ("raw", "why"), [("abc", "is not a number of MiB; set it to e.g. 512"), ("-5", "must be a finite number of MiB >= 0")]
)
def test_a_bad_limit_fails_the_first_numba_call_whatever_its_size_and_is_reported(raw, why):
    if "numba" not in xpvec.available_backends():
        pytest.skip(f"numba: {xpvec.backend_report()['numba']}")
    env = {**os.environ, _output_pool.ENV_VAR: raw}
    env.pop("XPVEC_BACKEND", None)
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=300, cwd=tempfile.gettempdir(), env=env)
    done = run([sys.executable, "-c", _BAD_SETTING])
    assert done.returncode == 0, done.stderr
    setting = f"XPVEC_HOST_POOL_MB={raw!r} {why}"
    report, refused, dask_report, pooled = done.stdout.splitlines()
    assert report.startswith(setting)
    assert refused == f"backend 'numba' is unavailable: {report}"
    if importlib.util.find_spec("dask") is not None:
        assert dask_report == report
    assert pooled.startswith(setting)
    info = run([sys.executable, "-m", "xpvec", "info"])
    assert re.search(r"^numba +unavailable", info.stdout, re.M) and f"\nnumba: {setting}" in info.stdout
