"""Backend selection: resolution order, context isolation, inference, lazy imports."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest

import xpvec
from xpvec._arrays import array_kind
from xpvec._registry import get_instance
from xpvec._selection import resolve


@pytest.fixture(autouse=True)
def _restore_default():
    yield
    xpvec.set_backend(None)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """``python -c code`` in a fresh process, outside the checkout (the installed xpvec)."""
    environ = {k: v for k, v in os.environ.items() if k != "XPVEC_BACKEND"}
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={**environ, **env}, timeout=120, cwd=cwd
        )


def test_default_is_numpy_and_inferred_from_array_type():
    x = np.ones(3)
    assert xpvec.get_backend().name == "numpy"
    assert resolve(None, x).name == "numpy"
    assert resolve(None, [1.0, 2.0]).name == "numpy"


def test_resolution_order():
    x = np.ones(3)
    xpvec.set_backend("python")
    assert resolve(None, x).name == "python"
    with xpvec.use_backend("numpy"):
        assert resolve(None, x).name == "numpy"
        with xpvec.use_backend("python") as b:
            assert b.name == "python" and xpvec.get_backend().name == "python"
            assert resolve("numpy", x).name == "numpy"  # backend= beats everything
        assert xpvec.get_backend().name == "numpy"
    assert xpvec.get_backend().name == "python"
    xpvec.set_backend(None)
    assert xpvec.get_backend().name == "numpy"


def test_set_backend_returns_the_previous_setting_to_restore():
    dask = pytest.importorskip("dask.array")
    previous = xpvec.set_backend("python")
    assert previous is None  # nothing was set: inference by array type
    assert xpvec.set_backend(previous).name == "python"
    # Inference is back: a Dask array goes to dask, not to a pinned numpy.
    assert resolve(None, dask.ones(3)).name == "dask"
    assert resolve(None, np.ones(3)).name == "numpy"


def test_use_backend_restores_after_an_exception():
    with pytest.raises(KeyError), xpvec.use_backend("python"):
        raise KeyError("boom")
    assert xpvec.get_backend().name == "numpy"


def test_use_backend_is_private_to_each_thread():
    names = ["numpy", "python"] * 4
    barrier = threading.Barrier(len(names))
    seen: dict[int, list[str]] = {}

    def work(i: int, name: str) -> None:
        with xpvec.use_backend(name):
            barrier.wait()  # every thread is inside its own use_backend now
            got = []
            for _ in range(50):
                got.append(xpvec.get_backend().name)
                got.append(resolve(None, np.ones(2)).name)
                np.testing.assert_allclose(xpvec.sigmoid(np.zeros(3)), 0.5)
            seen[i] = got
            barrier.wait()

    threads = [threading.Thread(target=work, args=(i, n)) for i, n in enumerate(names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(set(seen[i]) == {name} for i, name in enumerate(names))


def test_use_backend_is_private_to_each_asyncio_task():
    async def work(name: str) -> set[str]:
        got = set()
        with xpvec.use_backend(name):
            for _ in range(20):
                await asyncio.sleep(0)  # let the other tasks run in between
                got.add(xpvec.get_backend().name)
        return got

    async def main():
        return await asyncio.gather(*(work(n) for n in ["numpy", "python", "numpy", "python"]))

    assert asyncio.run(main()) == [{"numpy"}, {"python"}, {"numpy"}, {"python"}]


def test_set_backend_is_process_wide_across_threads():
    xpvec.set_backend("python")
    out = []
    t = threading.Thread(target=lambda: out.append(xpvec.get_backend().name))
    t.start()
    t.join()
    assert out == ["python"]


def test_environment_variable_is_read_at_import():
    r = run_python("import xpvec; print(xpvec.get_backend().name)", XPVEC_BACKEND="python")
    assert r.stdout.strip() == "python", r.stderr
    r = run_python(
        "import xpvec, numpy\n"
        "previous = xpvec.set_backend('numpy')\n"  # set_backend beats the environment
        "print(xpvec.get_backend().name)\n"
        "xpvec.set_backend(previous)\n"  # and hands back the environment's choice
        "print(xpvec.get_backend().name)",
        XPVEC_BACKEND="python",
    )
    assert r.stdout.split() == ["numpy", "python"], r.stderr


def test_bad_environment_variable_fails_on_first_call_with_a_clear_message():
    r = run_python("import xpvec; xpvec.sigmoid(1.0)", XPVEC_BACKEND="nunpy")
    assert r.returncode != 0
    assert "BackendUnavailableError" in r.stderr and "XPVEC_BACKEND" in r.stderr and "'numpy'" in r.stderr


def test_restoring_an_unused_environment_choice_defers_its_check_again():
    # The restore must not raise for a bad name that no call has used yet; the
    # first call after it fails as it would have without the detour.
    r = run_python(
        "import xpvec\n"
        "previous = xpvec.set_backend('numpy')\n"
        "print(xpvec.sigmoid(0.0))\n"
        "xpvec.set_backend(previous)\n"
        "print('restored')\n"
        "xpvec.sigmoid(0.0)",
        XPVEC_BACKEND="nunpy",
    )
    assert r.stdout.split() == ["0.5", "restored"], r.stderr
    assert r.returncode != 0
    assert "BackendUnavailableError" in r.stderr and "XPVEC_BACKEND" in r.stderr


def test_restoring_the_environment_choice_holds_for_types_inferred_meanwhile():
    # set_backend(None) lets calls infer numpy for ndarrays (and cache that); restoring
    # the environment's choice must win over that cache. The returned setting also
    # serves wherever a name does.
    r = run_python(
        "import numpy as np, xpvec\n"
        "from xpvec._selection import resolve\n"
        "previous = xpvec.set_backend(None)\n"
        "xpvec.sigmoid(np.zeros(3))\n"
        "print(resolve(None, np.zeros(3)).name)\n"
        "xpvec.set_backend(previous)\n"
        "print(resolve(None, np.zeros(3)).name)\n"
        "with xpvec.use_backend(previous) as b:\n"
        "    print(b.name, xpvec.sigmoid(0.0, backend=previous))",
        XPVEC_BACKEND="python",
    )
    assert r.stdout.split() == ["numpy", "python", "python", "0.5"], r.stderr


def test_import_touches_no_optional_library():
    r = run_python(
        "import sys, json, numpy as np, xpvec\n"
        "xpvec.sigmoid(np.ones(3)); xpvec.softmax([1.0, 2.0]); xpvec.get_backend()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numba', 'cupy', 'dask', 'distributed', 'llvmlite', 'scipy', 'torch', 'jax'))))"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


def test_inference_uses_sys_modules_before_isinstance():
    # A fake 'cupy' module: an array of its type must be recognized as a cupy
    # array by looking in sys.modules, never by importing cupy.
    r = run_python(
        "import sys, types\n"
        "fake = types.ModuleType('cupy')\n"
        "class ndarray: pass\n"
        "ndarray.__module__ = 'cupy'\n"
        "fake.ndarray = ndarray\n"
        "sys.modules['cupy'] = fake\n"
        "from xpvec._arrays import array_kind\n"
        "import xpvec\n"
        "print(array_kind(ndarray()))\n"
        "try:\n"
        "    xpvec.sigmoid([1.0], backend='numpy') and xpvec.to_numpy([1.0])\n"
        "    xpvec.sigmoid(ndarray(), backend='numpy')\n"
        "except TypeError as e:\n"
        "    print('TypeError', e)\n"
    )
    assert r.returncode == 0, r.stderr
    kind, error = r.stdout.strip().splitlines()
    assert kind == "cupy"
    assert "cupy.ndarray" in error and "to_device" in error


def test_array_api_arrays_infer_the_array_api_backend():
    xps = pytest.importorskip("array_api_strict")
    x = xps.asarray([0.0, 1.0])
    assert resolve(None, x).name == "array_api"
    r = xpvec.sigmoid(x)
    assert type(r) is type(x)
    np.testing.assert_allclose(xpvec.to_numpy(r), [0.5, 1 / (1 + np.exp(-1.0))])


def test_explicit_backend_refuses_a_foreign_array_type():
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match=r"numpy.*array_api_strict.*to_device"):
        xpvec.sigmoid(xps.asarray([1.0]), backend="numpy")
    with xpvec.use_backend("python"), pytest.raises(TypeError, match="python"):
        xpvec.dot(np.ones(2), xps.asarray([1.0, 2.0]))


@pytest.mark.parametrize("name", ["numpy", "numba", "python", "dask", "array_api"])
def test_a_backends_own_methods_refuse_a_foreign_array_type(name):
    # get_backend() hands out Backend objects: their methods must not copy across devices
    # unasked either (the numpy backend computed a Dask array into NumPy silently).
    if name in ("numba", "dask") and name not in xpvec.available_backends():
        pytest.skip(f"{name} is not usable here")
    da = pytest.importorskip("dask.array")
    backend = get_instance(name)
    foreign = np.ones(3) if name == "dask" else da.ones(3)
    for call in (lambda: backend.sigmoid(foreign), lambda: backend.softmax(foreign), lambda: backend.l2_loss(foreign, foreign)):
        with pytest.raises(TypeError, match=rf"backend '{name}' cannot take .*to_device\(x, '{name}'\)"):
            call()


def test_operands_from_two_array_libraries_are_refused():
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match=r"different array libraries.*a = array_api_strict\.asarray\(a, device=b\.device\)"):
        xpvec.dot(np.ones(2), xps.asarray([1.0, 2.0]))


def test_to_device_and_to_numpy_move_data_explicitly():
    xps = pytest.importorskip("array_api_strict")
    x = np.arange(3.0)
    moved = xpvec.to_device(x, "numpy")
    assert isinstance(moved, np.ndarray)
    np.testing.assert_array_equal(xpvec.to_numpy(xps.asarray(x)), x)
    np.testing.assert_array_equal(xpvec.to_numpy([1, 2]), [1, 2])


@pytest.mark.parametrize("x", [np.array([1, "a", None], dtype=object), np.array(["ab", "c"]),
                               np.array([1 + 2j, 3j]), np.array(True)], ids=repr)
@pytest.mark.parametrize("name", ["numpy", "array_api", "dask"])
def test_to_device_moves_arrays_of_any_dtype_and_back(name, x):
    # Moving data is not computing: dtypes the ops refuse still travel intact.
    if name not in xpvec.available_backends():
        pytest.skip(f"{name}: {xpvec.backend_report()[name]}")
    moved = xpvec.to_device(x, name)
    assert array_kind(moved) in get_instance(name).accepts  # a Dask array for dask; on the host the array itself
    back = xpvec.to_numpy(moved)
    assert back.dtype == x.dtype and back.shape == x.shape
    np.testing.assert_array_equal(back, x)


def test_backend_objects_and_report():
    report = xpvec.backend_report()
    assert report["numpy"] == "ok" and report["python"] == "ok"
    assert set(xpvec.available_backends()) == {n for n, s in report.items() if s == "ok"}
    b = xpvec.get_backend()
    assert xpvec.sigmoid(0.0, backend=b) == 0.5  # a Backend object works as backend=
    assert "sigmoid" in type(b).native_ops()
    xpvec.warmup("numpy")  # a no-op for a backend that compiles nothing


def test_a_backend_object_made_by_the_user_is_not_kept_alive():
    # The dispatch caches hold names and the registry's instances only.
    import gc
    import weakref

    from xpvec.backends.numpy_backend import NumpyBackend

    refs = []
    for _ in range(3):
        b = NumpyBackend()
        refs.append(weakref.ref(b))
        assert xpvec.sigmoid(np.zeros(2), backend=b)[0] == 0.5
        with xpvec.use_backend(b):
            assert xpvec.sigmoid(np.zeros(2))[0] == 0.5
    del b
    gc.collect()
    assert all(r() is None for r in refs)


def test_a_backend_object_made_by_the_user_pickles_as_a_new_one_of_its_class():
    # The registry's instance of a name pickles as the name (tests/test_logistic_regression.py);
    # another object is made anew from its class and init_args(), not swapped for the named one.
    import copy
    import pickle

    from xpvec.backends.numpy_backend import NumpyBackend

    b = NumpyBackend()
    again = pickle.loads(pickle.dumps(b))
    assert type(again) is NumpyBackend and again is not b and again is not get_instance("numpy")
    assert copy.deepcopy(b) is b and copy.copy(b) is b  # shared, as the registry's instances are


def test_threads_asking_for_a_backend_first_share_one_instance(monkeypatch):
    # Creating a backend can take seconds (numba's kernels); two threads must not each make one.
    import time

    from xpvec import _registry

    made = []

    class Slow:
        name = "python"

        def __init__(self):
            made.append(self)
            time.sleep(0.05)

    monkeypatch.delitem(_registry._instances, "python", raising=False)
    monkeypatch.setattr(_registry, "_load_class", lambda spec: Slow)
    monkeypatch.setattr(_registry, "unusable_reason", lambda name: None)
    barrier = threading.Barrier(4)
    got = []

    def ask():
        barrier.wait()
        got.append(get_instance("python"))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(got) == 4 and all(g is made[0] for g in got)
