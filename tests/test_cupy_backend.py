"""The cupy backend: why it is unusable (everywhere), and what only a real device proves.

The probe tests run everywhere on fakes of the CUDA runtime. The device
tests skip, with the probe's reason, where cupy cannot run; on a GPU they
check array types, the refusal of host arrays, the fused loss+gradient
against the two-pass formulation, and training that stays on the device.
The shared agreement suite covers the ops' numerics on cupy by itself.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import xpvec
from xpvec._registry import get_instance
from xpvec.backends import cupy_backend
from xpvec.backends._base import Backend

REASON = xpvec.backend_report()["cupy"]
needs_device = pytest.mark.skipif(REASON != "ok", reason=f"cupy: {REASON}")


class _RuntimeError(RuntimeError):
    pass


def fake_cupy(driver=12090, devices=1, error=None):
    def device_count():
        if error:
            raise _RuntimeError(error)
        return devices

    runtime = SimpleNamespace(
        CUDARuntimeError=_RuntimeError,
        driverGetVersion=lambda: driver,
        getDeviceCount=device_count,
        runtimeGetVersion=lambda: 12090,
    )
    return SimpleNamespace(cuda=SimpleNamespace(runtime=runtime))


@pytest.mark.parametrize(
    "fake,message",
    [
        (fake_cupy(driver=0), "no NVIDIA driver was found"),
        (fake_cupy(error="cudaErrorInsufficientDriver: CUDA driver version is insufficient"), "driver is too old"),
        (fake_cupy(error="cudaErrorNoDevice: no CUDA-capable device is detected"), "no CUDA device is visible"),
        (fake_cupy(devices=0), "no CUDA device is visible"),
    ],
    ids=["no-driver", "old-driver", "no-device-error", "zero-devices"],
)
def test_probe_says_why_cuda_cannot_start(fake, message):
    assert message in cupy_backend._cuda_problem(fake)


def test_probe_without_cupy_says_what_to_install(monkeypatch):
    real = cupy_backend.importlib.util.find_spec
    monkeypatch.setattr(cupy_backend.importlib.util, "find_spec", lambda n: None if n == "cupy" else real(n))
    reason = cupy_backend.CupyBackend.probe()
    assert reason.startswith("cupy is not installed") and "xpvec[cuda12]" in reason and "xpvec[cuda13]" in reason


@pytest.mark.skipif(REASON == "ok", reason="cupy is usable here")
def test_unusable_cupy_raises_with_the_reason():
    with pytest.raises(xpvec.BackendUnavailableError, match="'cupy' is unavailable") as info:
        xpvec.sigmoid(np.ones(3), backend="cupy")
    assert REASON in str(info.value)


# ----------------------------------------------------------------- on a device
@pytest.fixture(scope="module")
def cp():
    import cupy

    return cupy


@needs_device
def test_ops_take_and_return_device_arrays(cp):
    x = cp.linspace(-5, 5, 12, dtype=cp.float32).reshape(3, 4)
    assert xpvec._selection.resolve(None, x).name == "cupy"
    for op in (xpvec.sigmoid, xpvec.sigmoid_grad, xpvec.log_sigmoid, xpvec.softmax, xpvec.normalize_rows):
        r = op(x)
        assert isinstance(r, cp.ndarray) and r.dtype == cp.float32 and r.shape == x.shape
    assert isinstance(xpvec.l2_loss(x, x), cp.ndarray)
    assert isinstance(xpvec.dot(x, x.T), cp.ndarray)


@needs_device
def test_host_arrays_are_refused_not_copied(cp):
    with pytest.raises(TypeError, match="to_device"):
        xpvec.sigmoid(np.ones(3), backend="cupy")
    with pytest.raises(TypeError, match="to_device"):
        xpvec.dot(cp.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="to_device"):
        xpvec.sigmoid(cp.ones(3), backend="numpy")
    with pytest.raises(TypeError, match="to_device"):
        get_instance("cupy").softmax(np.ones(3))
    # Python data beside a CuPy array is host data too (Dask and array-API arrays take it in).
    for a, b in [(cp.ones(3), [1.0, 2.0, 3.0]), ([1.0, 2.0, 3.0], cp.ones(3)), (cp.ones(3), 2.0)]:
        with pytest.raises(TypeError, match="to_device"):
            xpvec.dot(a, b)
        with pytest.raises(TypeError, match="to_device"):
            xpvec.l2_loss(a, b, backend="cupy")


@needs_device
@pytest.mark.parametrize("op", ["sigmoid", "log_sigmoid", "softmax", "log_softmax", "normalize_rows"])
def test_strided_device_inputs(cp, op):
    # The agreement suite's layouts reach the device contiguous; these do not.
    host = np.random.default_rng(0).standard_normal((6, 10)) * 8
    x = cp.asarray(host)
    fn = getattr(xpvec, op)
    for device_view, host_view in [
        (x[:, ::2], host[:, ::2]),
        (x[::-1, ::-1], host[::-1, ::-1]),
        (cp.asfortranarray(x), host),
        (cp.broadcast_to(x[:1], x.shape), np.broadcast_to(host[:1], host.shape)),
    ]:
        expected = fn(np.ascontiguousarray(host_view), backend="numpy")
        np.testing.assert_allclose(fn(device_view).get(), expected, rtol=1e-13, atol=1e-13)


# Each route of the softmax kernels. The column kernel: channels of an NCHW batch, a square
# matrix's columns, a tiny middle axis. Lines too few to fill the device, each cut into pieces
# across blocks (each piece with its own max, merged): one vector, a few long rows, two long
# columns, a long run of two axes.
SOFTMAX_ROUTES = [
    ((4, 21, 33, 35), 1), ((1000, 1000), 0), ((2, 3, 4), 0),
    ((10**7,), 0), ((3, 2 * 10**6), 1), ((10**6, 2), 0), ((8, 3000, 5), (0, 1)),
]  # fmt: skip


@needs_device
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,axis", SOFTMAX_ROUTES)
def test_softmax_over_middle_axes_and_few_long_lines(cp, dtype, shape, axis):
    # C order in and out (no transposed copy, no transposed view), the same values as scipy in float64.
    from scipy.special import log_softmax, softmax

    host = (np.random.default_rng(1).standard_normal(shape) * 6).astype(dtype)
    tol = 2e-6 if dtype == "float32" else 1e-13
    for op, ref in (("softmax", softmax), ("log_softmax", log_softmax)):
        got = getattr(xpvec, op)(cp.asarray(host), axis=axis)
        assert got.flags.c_contiguous and got.dtype == dtype
        np.testing.assert_allclose(got.get(), ref(host.astype(np.float64), axis=axis), rtol=tol, atol=tol)


@needs_device
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 10**7), (3, 2 * 10**6), (5000, 300)], ids=["one", "few", "many"])
def test_normalize_rows_few_long_rows_in_pieces_and_many_whole(cp, dtype, shape):
    # One and three long rows are cut into pieces across blocks; many short rows take a block each.
    # The largest magnitude sits in the last piece, the norm against NumPy's in float64.
    host = (np.random.default_rng(2).standard_normal(shape) * 3).astype(dtype)
    host[:, -5:] *= 1e4
    got = xpvec.normalize_rows(cp.asarray(host))
    assert got.dtype == dtype and got.flags.c_contiguous
    ref = host.astype(np.float64) / np.linalg.norm(host.astype(np.float64), axis=1, keepdims=True)
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(got.get(), ref, rtol=tol, atol=tol * np.abs(ref).max())
    np.testing.assert_allclose(np.linalg.norm(got.get().astype(np.float64), axis=1), 1, rtol=tol)


@needs_device
def test_kernels_run_on_cupys_current_stream(cp):
    x = cp.linspace(-30, 30, 10_001)
    expected = xpvec.sigmoid(x).get()
    with cp.cuda.Stream(non_blocking=True) as stream:
        y = xpvec.sigmoid(x)
        s = xpvec.softmax(x)
        stream.synchronize()
    np.testing.assert_array_equal(y.get(), expected)
    assert abs(float(s.sum()) - 1) < 1e-12


@needs_device
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [1, 10], ids=["binary", "multinomial"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("d", [64, 3000], ids=["fused", "too-wide-two-pass"])
def test_loss_grad_matches_the_two_pass_formulation(cp, dtype, k, weighted, d):
    rng = np.random.default_rng(0)
    n = 20_000
    X = cp.asarray(rng.standard_normal((n, d)).astype(dtype))
    labels = rng.integers(0, max(k, 2), n)
    Y = cp.asarray((labels if k == 1 else labels[:, None] == np.arange(k)).astype(dtype))
    W = cp.asarray((rng.standard_normal(d if k == 1 else (d, k)) / np.sqrt(d)).astype(dtype))
    b = cp.asarray(rng.standard_normal(k).astype(dtype))
    sw = cp.asarray(rng.random(n).astype(dtype)) if weighted else None
    backend = get_instance("cupy")
    got = backend.logistic_loss_grad(X, Y, W, b, sw)
    want = Backend._logistic_loss_grad(backend, backend.namespace(X), X, Y, W, b, sw)
    rtol = 1e-3 if dtype == "float32" else 1e-10
    for g, w in zip(got, want, strict=True):
        # The loss is summed in float64 whatever the dtype; the gradients keep X's.
        assert isinstance(g, cp.ndarray) and g.shape == w.shape and g.dtype == (cp.float64 if g.ndim == 0 else X.dtype)
        np.testing.assert_allclose(g.get(), w.get(), rtol=rtol, atol=rtol * float(cp.abs(w).max()))


@needs_device
@pytest.mark.parametrize("n_classes", [2, 4])
def test_training_stays_on_the_device_and_matches_numpy(cp, monkeypatch, n_classes):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=3000, n_features=12, n_informative=6, n_classes=n_classes, random_state=0)
    w = np.linspace(0.5, 1.5, len(y))
    ref = xpvec.LogisticRegression(tol=1e-8, max_iter=1000).fit(X, y, sample_weight=w)
    moved = []
    real = cupy_backend.CupyBackend.to_numpy
    monkeypatch.setattr(cupy_backend.CupyBackend, "to_numpy", lambda self, a: moved.append(a.size) or real(self, a))
    model = xpvec.LogisticRegression(tol=1e-8, max_iter=1000).fit(cp.asarray(X), cp.asarray(y), cp.asarray(w))
    # Two n-sized reads (labels and weights, checked on the host once); the rest is coef_ and intercept_.
    n_params = 12 * (1 if n_classes == 2 else n_classes)
    assert sorted(moved)[-2:] == [len(y)] * 2 and all(s <= n_params for s in sorted(moved)[:-2])
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.predict(cp.asarray(X)), ref.predict(X))


@needs_device
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_and_numba_cuda_launch_the_same_kernels_alike(cp, dtype):
    # The default launch (CuPy, parameters laid out by xpvec) against numba-cuda's own, on every
    # kind of kernel: elementwise, rows, columns, lines in pieces, loss partials, the fused loss+gradient.
    rng = np.random.default_rng(3)
    x = cp.asarray((rng.standard_normal((300, 70)) * 5).astype(dtype))
    vector = cp.asarray(rng.standard_normal(2 * 10**6).astype(dtype))
    X = cp.asarray(rng.standard_normal((5000, 64)).astype(dtype))
    Y = cp.asarray(np.eye(10, dtype=dtype)[rng.integers(0, 10, 5000)])
    W, b, sw = cp.full((64, 10), 0.05, dtype=dtype), cp.zeros(10, dtype=dtype), cp.ones(5000, dtype=dtype)

    def everything(backend):
        return [
            backend.sigmoid(x), backend.log_sigmoid(x), backend.softmax(x), backend.log_softmax(x, axis=0),
            backend.softmax(x.reshape(30, 10, 70), axis=1), backend.softmax(vector), backend.normalize_rows(x),
            backend.l1_loss(x, x[::-1]), *backend.logistic_loss_grad(X, Y, W, b, sw),
            *backend.logistic_loss_grad(X, Y[:, 0], W[:, 0], b[:1], None),
        ]  # fmt: skip

    by_cupy = everything(cupy_backend.CupyBackend(launch="cupy"))
    by_numba = everything(cupy_backend.CupyBackend(launch="numba"))
    tol = 4 * np.finfo(dtype).eps
    for a, b_ in zip(by_cupy, by_numba, strict=True):
        np.testing.assert_allclose(a.get(), b_.get(), rtol=tol, atol=tol * float(cp.abs(b_).max()))


def test_an_unknown_launcher_is_named_with_the_choices(monkeypatch):
    monkeypatch.setenv("XPVEC_CUDA_LAUNCH", "nvrtc")
    assert cupy_backend._launcher_problem() == (
        "XPVEC_CUDA_LAUNCH='nvrtc' is not one of cupy, numba; unset it for the default (cupy)"
    )
    for ok in ("numba", " NUMBA ", "cupy", ""):
        monkeypatch.setenv("XPVEC_CUDA_LAUNCH", ok)
        assert cupy_backend._launcher_problem() is None
    monkeypatch.delenv("XPVEC_CUDA_LAUNCH")
    assert cupy_backend._launcher_problem() is None and cupy_backend._launcher_choice() == "cupy"


@needs_device
def test_warmup_and_synchronize(cp):
    backend = get_instance("cupy")
    xpvec.warmup("cupy")
    backend.synchronize()
    assert "sigmoid" in backend.native_ops() and "logistic_loss_grad" in backend.native_ops()


def test_namespace_supplies_the_standard_names_older_cupy_lacks():
    # CuPy before the array-API names has concatenate but no concat, and no isdtype; the
    # solvers (concat) and the dtype policy (isdtype) use the standard names.
    old_cupy = SimpleNamespace(concatenate=np.concatenate, linalg=SimpleNamespace())
    ns = cupy_backend._CupyNamespace(old_cupy)
    np.testing.assert_array_equal(ns.concat([np.ones(2), np.zeros(1)]), [1.0, 1.0, 0.0])
    assert ns.isdtype(np.dtype(np.int16), "integral") and not ns.isdtype(np.dtype(np.float32), "integral")
    assert ns.isdtype(np.dtype(np.bool_), ("integral", "bool"))
    x = np.arange(3)
    cast = ns.astype(x, np.float32)  # the solvers' float64 sums and casts back
    assert cast.dtype == np.float32 and ns.astype(cast, np.float32, copy=False) is cast


@pytest.mark.parametrize("version, refused", [("13.6.0", True), ("14.0.0rc1", False), ("14.2.0", False), ("15.0.0a1", False)])
def test_probe_refuses_cupy_before_numpy_2s_api(version, refused):
    reason = cupy_backend._version_problem(SimpleNamespace(__version__=version))
    assert (reason is not None) == refused
    if refused:
        assert f"cupy {version} is installed" in reason and "CuPy 14 or newer" in reason and "xpvec[cuda12]" in reason


class _Kernel:  # what CupyStart reads of a numba-cuda kernel
    def __init__(self, name):
        self.py_func = SimpleNamespace(__name__=name, __module__="kernels", __qualname__=name)
        self.targetoptions = {}


@pytest.fixture(autouse=True)
def _own_kernel_cache(tmp_path, monkeypatch):
    """Kernels compiled here go to a cache of the test's own (never the user's)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("XPVEC_CUDA_CACHE", raising=False)


def _fake_cupy_for_launch(load):
    class DriverError(Exception):
        pass

    class Module:
        def load(self, data):
            load(data, DriverError)

        def get_function(self, entry):
            return lambda grid, block, params, shared_mem: None

    cuda = SimpleNamespace(
        runtime=SimpleNamespace(getDevice=lambda: 0, driverGetVersion=lambda: 12040),
        Device=lambda: SimpleNamespace(compute_capability="90"),
        function=SimpleNamespace(Module=Module),
        driver=SimpleNamespace(CUDADriverError=DriverError),
    )
    return SimpleNamespace(cuda=cuda)


@pytest.mark.parametrize("linked", [True, False])
def test_a_kernel_the_driver_refuses_names_the_driver_and_the_fix(monkeypatch, linked):
    from xpvec.kernels.gpu import launch

    def refuse(data, error):
        raise error("CUDA_ERROR_UNSUPPORTED_PTX_VERSION")

    monkeypatch.setattr(launch, "compile_ptx", lambda kernel, sig, cc: ("entry", ".version 9.0"))
    monkeypatch.setattr(launch, "link", lambda ptx, cc: (b"cubin", "") if linked else None)
    start = launch.CupyStart(_fake_cupy_for_launch(refuse))
    what = "machine code nvJitLink made of" if linked else "PTX"
    with pytest.raises(RuntimeError, match=f"CUDA 12.4 driver cannot load the {what}.* sigmoid kernel.*xpvec.cuda12"):
        start(_Kernel("sigmoid"), 1, 32, 0, [np.zeros(4, np.float32)], (4,))


def test_kernels_are_compiled_once_across_processes_and_never_stale(monkeypatch, tmp_path):
    from xpvec.kernels.gpu import disk_cache, launch

    compiled, loads = [], []
    monkeypatch.setattr(launch, "link", lambda ptx, cc: (b"cubin of " + ptx.encode(), ""))
    monkeypatch.setattr(launch, "_cupy_pointer", lambda a: 0)

    def compile_ptx(kernel, sig, cc):
        compiled.append(sig)
        return "entry", f"ptx {len(compiled)}"

    monkeypatch.setattr(launch, "compile_ptx", compile_ptx)

    def run(arrays, args=(3,)):  # a new CupyStart: a new process's
        launch.CupyStart(_fake_cupy_for_launch(lambda data, error: loads.append(data)))(
            _Kernel("sigmoid"), 1, 32, 0, arrays, args
        )

    x32, x64 = np.zeros(4, np.float32), np.zeros(4)
    run([x32])
    run([x32])  # from disk
    assert len(compiled) == 1 and loads == [b"cubin of ptx 1"] * 2
    run([x64])  # other argument types: another entry
    assert len(compiled) == 2 and loads[-1] == b"cubin of ptx 2"
    monkeypatch.setattr(disk_cache, "sources_digest", lambda: "edited sources")
    run([x32])  # an edit to the kernels' sources: compiled afresh
    assert len(compiled) == 3 and loads[-1] == b"cubin of ptx 3"
    for entry in (tmp_path / "cache" / "xpvec" / "cuda").glob("*.kernel"):
        entry.write_bytes(entry.read_bytes()[:10])  # cut short: broken
    run([x32])
    assert len(compiled) == 4 and loads[-1] == b"cubin of ptx 4"
    monkeypatch.setenv("XPVEC_CUDA_CACHE", "0")
    run([x32])
    run([x32])
    assert len(compiled) == 6


def test_an_unwritable_kernel_cache_only_costs_compiling(monkeypatch, tmp_path):
    from xpvec.kernels.gpu import disk_cache, launch

    blocked = tmp_path / "not a folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert disk_cache.folder() is None
    loads = []
    monkeypatch.setattr(launch, "compile_ptx", lambda kernel, sig, cc: ("entry", "ptx"))
    monkeypatch.setattr(launch, "link", lambda ptx, cc: (b"cubin", ""))
    monkeypatch.setattr(launch, "_cupy_pointer", lambda a: 0)
    start = launch.CupyStart(_fake_cupy_for_launch(lambda data, error: loads.append(data)))
    start(_Kernel("sigmoid"), 1, 32, 0, [np.zeros(4, np.float32)], (3,))
    assert loads == [b"cubin"]


def test_launch_arguments_are_typed_as_they_are_passed(monkeypatch):
    # A kernel's integer argument is passed as 8 bytes whatever its Python type: typed from
    # a NumPy int32, it would compile a 4-byte parameter and be passed 8 bytes.
    pytest.importorskip("numba")
    from numba import types
    from xpvec.kernels.gpu import launch

    x = np.zeros(4, np.float32)
    sig = launch.signature([x], (np.int32(3), 5, np.bool_(True), False))
    assert sig[1:] == (types.int64, types.int64, types.boolean, types.boolean)
    params = launch.parameters([x], (np.int32(3), 5, np.bool_(True), False), lambda a: 0)
    assert [type(p) for p in params[-4:]] == [int, int, np.bool_, np.bool_]
    with pytest.raises(TypeError, match="integers or booleans, got float"):
        launch.signature([x], (0.5,))
    loads = []
    start = launch.CupyStart(_fake_cupy_for_launch(lambda data, error: loads.append(data)))
    monkeypatch.setattr(launch, "compile_ptx", lambda kernel, sig, cc: ("entry", ".version 8.0"))
    monkeypatch.setattr(launch, "link", lambda ptx, cc: (b"cubin", ""))
    monkeypatch.setattr(launch, "_cupy_pointer", lambda a: 0)  # NumPy memory stands in for CuPy's
    kernel = _Kernel("sigmoid")
    start(kernel, 1, 32, 0, [x], (np.int32(3),))
    start(kernel, 1, 32, 0, [x], (3,))
    start(kernel, 1, 32, 0, [x], (4,))  # loaded once per argument types
    assert loads == [b"cubin", b"cubin"]
    with pytest.raises(TypeError, match="integers or booleans, got float"):  # not int(0.5) on a cached kernel
        start(kernel, 1, 32, 0, [x], (0.5,))
    with pytest.raises(ValueError, match="dynamic shared memory"):
        start(kernel, 1, 32, 64 * 1024, [x], (3,))


def test_small_grids_do_not_warn_unless_the_user_asks(monkeypatch):
    # numba-cuda warns at every launch of under 128 blocks (a loss on 1000 elements is one
    # block on purpose); under simplefilter("error") each such op would raise.
    cuda = pytest.importorskip("numba.cuda")
    monkeypatch.setattr(cuda.config, "CUDA_LOW_OCCUPANCY_WARNINGS", 1)
    monkeypatch.setenv("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "1")
    cupy_backend._quiet_small_grids(cuda)
    assert cuda.config.CUDA_LOW_OCCUPANCY_WARNINGS == 1  # the user's explicit choice stands
    monkeypatch.delenv("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS")
    cupy_backend._quiet_small_grids(cuda)
    assert cuda.config.CUDA_LOW_OCCUPANCY_WARNINGS == 0
