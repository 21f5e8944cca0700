"""The numba backend's runtime guarantees that the shared agreement suite cannot see.

- the vectorizable exp/log1p stay within 4 ulp of a long double oracle over
  the whole range (subnormal results, overflow, +-inf, NaN included), and so
  do the sigmoid family built on them;
- float32 kernels compute in float32 and every elementwise kernel vectorizes;
- serial and parallel variants (chosen by size) agree exactly;
- parallel kernels called from several Python threads at once give the
  right answer (and, with the thread-unsafe workqueue layer, do not abort);
- a read-only install caches compiled kernels in a per-user directory;
- odd layouts and read-only inputs work and are never modified.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from scipy import special

numba = pytest.importorskip("numba")

from xpvec.kernels.cpu import _config, _sums, elementwise, normalize, reductions, softmax  # noqa: E402
from xpvec.kernels.cpu.exp import exp  # noqa: E402
from xpvec.kernels.cpu.log1p import log1p_unit, log_normal  # noqa: E402

import xpvec  # noqa: E402

FLOATS = [np.float32, np.float64]
_UINT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


@numba.njit(error_model="numpy")
def _exp_map(x, out):
    for i in range(x.size):
        out[i] = exp(x[i])


@numba.njit(error_model="numpy")
def _log1p_map(x, out):
    for i in range(x.size):
        out[i] = log1p_unit(x[i])


@numba.njit(error_model="numpy")
def _log_map(x, out):
    for i in range(x.size):
        out[i] = log_normal(x[i])


def _ulp_distance(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Units in the last place between same-signed floats (their bit patterns are ordered)."""
    it = _UINT[got.dtype]
    return np.abs(got.view(it).astype(np.int64) - want.view(it).astype(np.int64))


def _assert_within_ulp(got, want, x, ulps: int) -> None:
    assert got.dtype == want.dtype
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    d = _ulp_distance(got[~nan], want[~nan])
    worst = int(np.argmax(d)) if d.size else 0
    assert d.size == 0 or d[worst] <= ulps, (
        f"{d[worst]} ulp at x={x[~nan][worst]!r}: got {got[~nan][worst]!r}, want {want[~nan][worst]!r}"
    )


def _sweep(dtype) -> np.ndarray:
    """Every region of exp's domain: overflow, normal, subnormal results, underflow, specials."""
    f = np.finfo(dtype)
    top = float(np.log(f.max)) + 2
    sub = float(np.log(f.smallest_normal))
    parts = [
        np.linspace(-top * 1.1, top, 400_001),
        np.linspace(sub - 30, sub + 1, 100_001),  # results in the subnormal range
        np.linspace(-1, 1, 100_001),
        [np.nan, np.inf, -np.inf, 0.0, -0.0, f.max, -f.max, f.tiny, -f.tiny],
    ]
    return np.concatenate(parts).astype(dtype)


def _oracle(fn, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return fn(x.astype(np.longdouble)).astype(x.dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_exp_within_4_ulp_over_whole_range(dtype):
    x = _sweep(dtype)
    got = np.empty_like(x)
    _exp_map(x, got)
    _assert_within_ulp(got, _oracle(np.exp, x), x, 4)
    assert got[np.isneginf(x)].tolist() == [0.0] and got[np.isposinf(x)].tolist() == [np.inf]


@pytest.mark.parametrize("dtype", FLOATS)
def test_log1p_within_4_ulp_on_unit_interval(dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.concatenate([np.linspace(0, 1, 200_001), np.geomspace(tiny, 1, 20_001), [np.nan]]).astype(dtype)
    got = np.empty_like(x)
    _log1p_map(x, got)
    _assert_within_ulp(got, _oracle(np.log1p, x), x, 4)


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_within_4_ulp_over_the_normal_range(dtype):
    info = np.finfo(dtype)
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            np.geomspace(info.tiny, info.max / 4, 200_001),  # info.max itself is below
            1 + rng.uniform(-1e-3, 1e-3, 20_000),  # around 1, where k*ln2 and log1p could cancel
            [1, 2, 0.5, np.sqrt(2), info.tiny, info.max, np.inf, np.nan],
        ]
    ).astype(dtype)
    got = np.empty_like(x)
    _log_map(x, got)
    _assert_within_ulp(got, _oracle(np.log, x), x, 4)


def _sigmoid_ld(x):
    return 1 / (1 + np.exp(-x))


def _sigmoid_grad_ld(x):
    e = np.exp(-np.abs(x))
    return e / (1 + e) ** 2


def _log_sigmoid_ld(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    "op, oracle",
    [("sigmoid", _sigmoid_ld), ("sigmoid_grad", _sigmoid_grad_ld), ("log_sigmoid", _log_sigmoid_ld)],
)
def test_sigmoid_family_within_4_ulp(op, oracle, dtype):
    x = _sweep(dtype)
    got = getattr(xpvec, op)(x, backend="numba")
    _assert_within_ulp(got, _oracle(oracle, x), x, 4)


_ELEMENTWISE = [elementwise.sigmoid, elementwise.sigmoid_grad, elementwise.log_sigmoid]


@pytest.mark.parametrize("kernel", [k.serial for k in _ELEMENTWISE], ids=lambda k: k.__name__)
def test_elementwise_kernels_vectorize_and_float32_stays_float32(kernel):
    # Code loaded from the disk cache cannot be inspected: compile a fresh copy.
    options = {k: v for k, v in kernel.targetoptions.items() if k not in ("cache", "nopython")}
    kernel = numba.njit(**options)(kernel.py_func)
    for dtype in FLOATS:
        kernel(np.zeros(8, dtype), np.empty(8, dtype))
    for sig in kernel.signatures:
        ir = kernel.inspect_llvm(sig)
        width = "float" if sig[0].dtype == numba.float32 else "double"
        assert f"x {width}>" in ir, "the loop did not vectorize"
        if width == "float":
            assert not any(
                op in line and " double" in line for line in ir.splitlines() for op in ("fadd", "fmul", "fdiv")
            ), "float32 kernel computes in float64"


def _readonly(x):
    x = x.view()
    x.flags.writeable = False
    return x


@pytest.mark.parametrize("dtype", FLOATS)
def test_serial_and_parallel_variants_agree_exactly(dtype):
    rng = np.random.default_rng(0)
    x = _readonly((rng.standard_normal(50_001) * 30).astype(dtype))
    for kernel in _ELEMENTWISE:
        a, b = np.empty_like(x), np.empty_like(x)
        kernel.serial(x, a)
        kernel.parallel(x, b)
        np.testing.assert_array_equal(a, b)
    rows = _readonly((rng.standard_normal((301, 257)) * 10).astype(dtype))
    for kernel, operand in ((softmax.softmax_rows, rows), (softmax.softmax_columns, rows[None])):
        for log in (False, True):
            a, b = np.empty_like(operand), np.empty_like(operand)
            kernel.serial(operand, a, log)
            kernel.parallel(operand, b, log)
            np.testing.assert_array_equal(a, b)
    a, b = np.empty_like(rows), np.empty_like(rows)
    normalize.normalize_rows.serial(rows, a)
    normalize.normalize_rows.parallel(rows, b)
    np.testing.assert_array_equal(a, b)
    for kind in (reductions.DOT, reductions.L1, reductions.L2):
        assert reductions.pair_reduce.serial(x, x, kind) == reductions.pair_reduce.parallel(x, x, kind)


def test_size_threshold_picks_the_variant():
    calls = []
    kernel = elementwise.sigmoid._replace(
        serial=lambda *a: calls.append("serial"), parallel=lambda *a: calls.append("parallel")
    )
    kernel(_config.PARALLEL_MIN_SIZE - 1)
    kernel(_config.PARALLEL_MIN_SIZE)
    assert calls == ["serial", "parallel"]


def _hammer(n_threads: int = 4, rounds: int = 6) -> None:
    """Python threads run parallel kernels at once; every result must match NumPy."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(2 * _config.PARALLEL_MIN_SIZE)
    rows = rng.standard_normal((256, 512))
    want_sig = 1 / (1 + np.exp(-x))
    e = np.exp(rows - rows.max(axis=1, keepdims=True))
    want_soft = e / e.sum(axis=1, keepdims=True)
    long = rng.standard_normal(reductions.REDUCE_MIN_SIZE)  # the reductions' parallel kernel
    want_dot = float(np.dot(long, long))
    errors: list[str] = []
    start = threading.Barrier(n_threads)

    def work() -> None:
        start.wait()
        for _ in range(rounds):
            if not np.allclose(xpvec.sigmoid(x, backend="numba"), want_sig, rtol=1e-13, atol=0):
                errors.append("sigmoid")
            if not np.allclose(xpvec.softmax(rows, backend="numba"), want_soft, rtol=1e-12, atol=0):
                errors.append("softmax")
            if not np.isclose(xpvec.dot(long, long, backend="numba"), want_dot, rtol=1e-12):
                errors.append("dot")

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_parallel_kernels_from_many_python_threads():
    _hammer()


def _run_python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_workqueue_layer_is_serialized_not_aborted():
    # workqueue aborts the process on concurrent launches; the kernels must lock instead.
    result = _run_python(
        f"""
        import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
        from xpvec.kernels.cpu import _config
        assert _config.PARALLEL_LOCK is not None, _config.THREADING_LAYER
        import test_numba_runtime as t
        t._hammer()
        import numba
        assert numba.threading_layer() == "workqueue", numba.threading_layer()
        """,
        cwd=Path(__file__).parent,
        NUMBA_THREADING_LAYER="workqueue",
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("requested", [None, "tbb", "safe"])
def test_the_tbb_wheel_runs_numbas_threads(requested):
    # pip puts libtbb where the loader does not look: numba fell back to GNU OpenMP, whose
    # kernels wait for a preempted thread at every call (_config._load_pip_tbb); a layer
    # asked for by name ("tbb", "safe") raised "Intel TBB is required, try: pip install tbb".
    import importlib.metadata

    try:
        importlib.metadata.version("tbb")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the tbb wheel is not installed (a dependency on Linux x86-64 only)")
    result = _run_python(
        """
        import numpy as np, numba, xpvec
        x = np.ones(1 << 20)  # past PARALLEL_MIN_SIZE: the threads start
        assert xpvec.sigmoid(x, backend="numba")[0] == 1 / (1 + np.exp(-1.0))
        print(numba.threading_layer())
        """,
        cwd=Path(__file__).parent,
        **({} if requested is None else {"NUMBA_THREADING_LAYER": requested}),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["tbb"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("layer", [None, "omp"], ids=["default-layer", "omp"])
def test_a_forked_pool_after_parallel_kernels_computes_instead_of_hanging(layer):
    # GNU OpenMP cannot cross a fork: numba used to terminate each child at its first parallel
    # launch, and the pool waited forever for its dead workers. Children now run serially.
    # (TBB, the default where its wheel is installed, crosses a fork: children run threads.)
    from xpvec.kernels.cpu import _config

    if layer == "omp" and not _config._loadable("omp"):
        pytest.skip("numba's OpenMP layer does not load here (no libgomp)")
    env = {} if layer is None else {"NUMBA_THREADING_LAYER": layer}
    result = _run_python(
        """
        import multiprocessing as mp
        import numpy as np
        import xpvec
        from xpvec.kernels.cpu import _config

        x = np.random.default_rng(0).standard_normal((600, 1000))  # past PARALLEL_MIN_SIZE
        want = xpvec.softmax(x, backend="numba")  # the parent's threads run

        def child(i):
            return _config.SERIAL_ONLY, xpvec.softmax(x, backend="numba"), xpvec.sigmoid(x, backend="numba")

        with mp.get_context("fork").Pool(2) as pool:
            results = pool.map_async(child, range(3)).get(timeout=120)
        gnu_omp_ran = _config._gnu_openmp_ran()
        for serial_only, soft, sig in results:
            assert serial_only == gnu_omp_ran, (serial_only, gnu_omp_ran)
            np.testing.assert_array_equal(soft, want)  # serial and parallel give the same bits
            np.testing.assert_allclose(sig, 1 / (1 + np.exp(-x)), rtol=1e-13)
        print("layer", __import__("numba").threading_layer(), "gnu", gnu_omp_ran)
        """,
        cwd=Path(__file__).parent,
        **env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Terminating" not in result.stderr


def _copy_package(site: Path) -> None:
    """Lay out xpvec (with xpvec.kernels) under ``site`` as an installed, non-editable package."""
    import xpvec.kernels

    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(Path(xpvec.__file__).parent, site / "xpvec", ignore=skip)
    if not (site / "xpvec" / "kernels").exists():  # a source checkout keeps kernels/ at the top
        shutil.copytree(Path(xpvec.kernels.__file__).parent, site / "xpvec" / "kernels", ignore=skip)


def _make_read_only(root: Path) -> None:
    for d in [p for p in root.rglob("*") if p.is_dir()] + [root]:
        # Permission bits do not stop root, so the __pycache__ slot is also taken by a plain file.
        (d / "__pycache__").write_text("")
    for p in list(root.rglob("*")) + [root]:
        p.chmod(0o555 if p.is_dir() else 0o444)


def test_read_only_install_caches_in_user_dir(tmp_path):
    site, cache = tmp_path / "site", tmp_path / "cache"
    _copy_package(site)
    _make_read_only(site)
    try:
        result = _run_python(
            """
            import numpy as np, xpvec
            y = xpvec.sigmoid(np.array([-1.0, 0.0, 1.0]), backend="numba")
            assert abs(y[1] - 0.5) < 1e-15, y
            print(xpvec.__file__)
            """,
            cwd=tmp_path,
            PYTHONPATH=str(site),
            XDG_CACHE_HOME=str(cache),
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip().startswith(str(site))
        cached = list((cache / "xpvec" / "numba").rglob("*.nbi"))
        assert cached, f"no numba cache index under {cache}"
    finally:
        for p in list(site.rglob("*")) + [site]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_an_edited_source_file_drops_the_packages_cached_kernels(tmp_path, monkeypatch):
    # numba keys a cached kernel on its own file only: after an edit to a helper it inlines
    # (exp.py...), it would load the old machine code. A digest of the sources catches it.
    monkeypatch.setattr(_config.numba.config, "CACHE_DIR", "")
    here = tmp_path / "cpu"
    cache = here / "__pycache__"
    here.mkdir()
    (here / "exp.py").write_text("A = 1\n")
    (here / "elementwise.py").write_text("B = 2\n")
    _config._drop_stale_kernels(here)  # a first run: the cache folder does not exist yet
    assert (cache / _config._SOURCES_STAMP).exists()  # or the next process would drop everything

    def fill():
        for name in ("elementwise.sigmoid-5.py311.nbi", "elementwise.sigmoid-5.py311.1.nbc", "exp.pyc"):
            (cache / name).write_text("")

    def kernels_left():
        return sorted(p.name for p in cache.iterdir() if p.suffix in (".nbi", ".nbc"))

    fill()
    _config._drop_stale_kernels(here)  # nothing changed
    assert len(kernels_left()) == 2
    (cache / _config._SOURCES_STAMP).unlink()
    _config._drop_stale_kernels(here)  # no digest: whatever is cached may be stale
    assert kernels_left() == [] and (cache / "exp.pyc").exists()
    fill()
    (here / "exp.py").write_text("A = 3\n")  # a helper edited
    (cache / "_softmax_old.rows-9.py311.nbi").write_text("")  # a module since removed
    _config._drop_stale_kernels(here)
    assert kernels_left() == []


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_the_temporary_cache_folder_is_private(tmp_path, monkeypatch):
    # numba unpickles its cache files: a guessable shared folder another user made first
    # (or a link they planted) is not used; a fresh private one is.
    monkeypatch.setattr(_config.tempfile, "gettempdir", lambda: str(tmp_path))
    mine = tmp_path / f"xpvec-numba-{os.getuid()}"
    got = _config._private_temp_dir()
    assert got == mine and got.stat().st_mode & 0o777 == 0o700
    mine.chmod(0o777)
    other = _config._private_temp_dir()
    assert other != mine and other.parent == tmp_path and other.stat().st_mode & 0o777 == 0o700
    mine.rmdir()
    (tmp_path / "elsewhere").mkdir()
    mine.symlink_to(tmp_path / "elsewhere")
    assert _config._private_temp_dir() not in (mine, tmp_path / "elsewhere")


def test_import_xpvec_does_not_import_numba():
    result = _run_python(
        """
        import sys, xpvec
        assert "numba" not in sys.modules
        assert "numba" in xpvec.available_backends()
        """,
        cwd=Path(__file__).parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _layouts(a: np.ndarray):
    yield "C", a
    yield "F", np.asfortranarray(a)
    yield "strided", a[..., ::2]
    yield "negative-stride", a[..., ::-1]
    yield "broadcast", np.broadcast_to(a[..., :1], a.shape)
    yield "read-only", _readonly(a)


@pytest.mark.parametrize("dtype", FLOATS)
def test_layouts_match_numpy_backend_and_inputs_stay_untouched(dtype):
    a = (np.random.default_rng(2).standard_normal((6, 5)) * 10).astype(dtype)
    a[0, 0], a[1, 1], a[2, 2] = np.nan, np.inf, -np.inf
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for name, x in _layouts(a):
        before = x.copy()
        for op, kwargs in [
            ("sigmoid", {}),
            ("sigmoid_grad", {}),
            ("log_sigmoid", {}),
            ("softmax", {"axis": 0}),
            ("log_softmax", {"axis": (0, 1)}),
            ("normalize_rows", {}),
        ]:
            got = getattr(xpvec, op)(x, backend="numba", **kwargs)
            want = getattr(xpvec, op)(x, backend="numpy", **kwargs)
            assert got.dtype == want.dtype == dtype, (op, name)
            np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=f"{op} {name}")
        got = xpvec.l2_loss(x, np.zeros_like(x), backend="numba")
        assert type(got) is np.dtype(dtype).type
        np.testing.assert_array_equal(x, before)


def test_zero_d_and_empty_inputs():
    assert xpvec.sigmoid(np.float64(0.0), backend="numba").shape == ()
    assert float(xpvec.sigmoid(np.array(0.0), backend="numba")) == 0.5
    assert xpvec.softmax(np.array(3.0), axis=None, backend="numba") == 1.0
    assert xpvec.sigmoid(np.empty((0, 3)), backend="numba").shape == (0, 3)
    assert xpvec.l1_loss(np.empty(0), np.empty(0), backend="numba") == 0.0
    assert xpvec.normalize_rows(np.empty((2, 0)), backend="numba").shape == (2, 0)


_PAST_CACHE = softmax.CACHED_ROW_BYTES // 8 + 1  # float64 elements


@pytest.mark.parametrize("n", [softmax.BLOCK, softmax.BLOCK + 1, 3 * softmax.BLOCK + 5, _PAST_CACHE])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_rows_of_many_blocks_in_cache_and_past_it(log, n):
    """Rows in cache are summed block by block; longer ones take the online max-and-sum path
    (the serial kernel; the parallel one cuts these six rows into pieces). Specials behave
    as in short rows in both."""
    assert (n * 8 > softmax.CACHED_ROW_BYTES) == (n == _PAST_CACHE)
    x = np.random.default_rng(3).standard_normal((6, n)) * 20
    x[0, n // 2 :] = -np.inf  # whole blocks of -inf beside finite values
    x[1, -1] = 700.0  # the max arrives in the last block: earlier sums are rescaled
    x[2, 3] = np.nan
    x[3, -2] = np.inf
    x[4, :] = -np.inf
    want = (xpvec.log_softmax if log else xpvec.softmax)(x, backend="numpy")
    assert np.isnan(want[2:5]).all() and not np.isnan(want[[0, 1, 5]]).any()
    _assert_both_variants_give(softmax.softmax_rows, _readonly(x), want, log)


def _assert_both_variants_give(kernel, xd, want, log):
    """The serial and the parallel variant of a softmax kernel on xd: NaN where want is, else close."""
    tol = 2e-5 if xd.dtype == np.float32 else 1e-12
    for variant in (kernel.serial, kernel.parallel):
        got = np.empty_like(xd)
        variant(xd, got, log)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])  # log_softmax's -inf
        finite = np.isfinite(want)
        scale = np.maximum(np.abs(want[finite]), 1.0) if log else np.maximum(want[finite], np.finfo(xd.dtype).tiny)
        assert np.max(np.abs(got[finite] - want[finite]) / scale) < tol


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("log", [False, True])
# One row (only the max, last); 4 rows in 3 pieces (specials in the middle piece); 7 in 2.
@pytest.mark.parametrize("rows, n", [(1, 3 * _sums.PIECE_MIN + 7), (4, 3 * _sums.PIECE_MIN + 5), (7, 2 * _sums.PIECE_MIN + 1)])
def test_few_long_rows_are_cut_into_pieces_for_the_threads(dtype, log, rows, n):
    """Rows too few to share among threads: each cut into pieces whose (max, sum) pairs merge."""
    pieces = _sums.row_pieces(rows, n)
    assert pieces > 1
    bounds = [p * n // pieces for p in range(pieces + 1)]  # as chunk_bounds cuts them
    x = np.random.default_rng(6).standard_normal((rows, n)) * 20
    x[-1, -1] = 900.0  # the max arrives in the last piece: every earlier piece's sum is rescaled
    specials = [
        lambda r: r.__setitem__(slice(None, bounds[-2]), -np.inf),  # pieces of only -inf, then finite ones
        lambda r: r.__setitem__(bounds[1], np.nan),  # NaN in one piece: the whole row NaN
        lambda r: r.__setitem__(bounds[-1] - 1, np.inf),
        lambda r: r.__setitem__(slice(None), -np.inf),  # only -inf: NaN
        lambda r: r.__setitem__(slice(None), -800.0),  # exp(-800) underflows unless relative to the max
        lambda r: r.__setitem__(slice(bounds[1], bounds[2]), r[bounds[1] : bounds[2]] + 300),  # a piece far above
    ]
    for row, plant in zip(x[:-1], specials):
        plant(row)
    xd = _readonly(x.astype(dtype))
    x = xd.astype(np.float64)  # the reference from the very inputs (300 + noise rounds in float32)
    with np.errstate(all="ignore"):
        want = (special.log_softmax if log else special.softmax)(x, axis=1)
    want[np.isnan(x).any(axis=1) | np.isposinf(x).any(axis=1) | np.isneginf(x).all(axis=1)] = np.nan
    _assert_both_variants_give(softmax.softmax_rows, xd, want, log)


@pytest.mark.parametrize("rows", [1, 64], ids=["one-row-in-pieces", "rows-whole"])
def test_long_float32_rows_normalize_like_a_float64_norm(rows):
    """A float32 sum of squares over millions of positive terms loses bits to its own size unless
    summed in blocks: the serial kernel's (1, 4M) row came out with a norm 3.8e-6 off 1 before,
    2.9e-9 now. (Each element's own rounding averages out in the norm; the sum's drift does not.)"""
    x = np.random.default_rng(7).standard_normal((rows, (1 << 22) // rows)).astype(np.float32)
    for variant in (normalize.normalize_rows.serial, normalize.normalize_rows.parallel):
        got = np.empty_like(x)
        variant(_readonly(x), got)
        assert np.max(np.abs(np.linalg.norm(got.astype(np.float64), axis=1) - 1)) < 1e-7


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("rows, n", [(1, 3 * _sums.PIECE_MIN + 7), (5, 2 * _sums.PIECE_MIN + 1)])
def test_few_long_rows_normalize_in_pieces(dtype, rows, n):
    """Rows too few to share among threads: max |x|, sums of squares and the emit, each in pieces."""
    assert _sums.row_pieces(rows, n) > 1
    x = np.random.default_rng(8).standard_normal((rows, n))
    x[0, -1] = 1e30  # the max in the last piece: every piece scales by it
    if rows > 1:
        x[1, n // 2] = np.nan  # NaN in one piece: the row is NaN
        x[2, :] = 0.0  # stays zero
        x[3, 5] = -np.inf
        x[4] *= 1e-300 if dtype == np.float64 else 1e-40  # subnormal: scaled first, not squared to 0
    xd = _readonly(x.astype(dtype))
    x64 = xd.astype(np.float64)
    with np.errstate(all="ignore"):
        ref = x64 / np.linalg.norm(x64 / np.max(np.abs(x64), axis=1, keepdims=True), axis=1, keepdims=True)
        ref /= np.max(np.abs(x64), axis=1, keepdims=True)
    ref[~np.isfinite(x64).all(axis=1)] = np.nan
    if rows > 1:
        ref[2] = 0.0
    eps = float(np.finfo(dtype).eps)
    for variant in (normalize.normalize_rows.serial, normalize.normalize_rows.parallel):
        got = np.empty_like(xd)
        variant(xd, got)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        ok = ~np.isnan(ref)
        assert np.all(np.abs(got[ok] - ref[ok]) <= 8 * eps * np.abs(ref).max(axis=1, keepdims=True).repeat(n, 1)[ok])


def test_row_pieces_share_few_long_rows_and_leave_the_rest_whole():
    for rows in (1, 2, 5, 63, 64, 1000):
        for n in (1, softmax.BLOCK, 2 * _sums.PIECE_MIN - 1, 2 * _sums.PIECE_MIN, 10**6, 10**8):
            pieces = _sums.row_pieces(rows, n)
            if rows >= _sums.ROWS_TO_SHARE or n < 2 * _sums.PIECE_MIN:
                assert pieces == 1, (rows, n)  # rows enough to go round, or too short to cut
            else:
                assert 2 <= pieces and n // pieces >= _sums.PIECE_MIN
                assert rows * pieces >= min(_sums.ITEMS, rows * (n // _sums.PIECE_MIN))
                assert rows * (pieces - 1) < _sums.ITEMS  # about ITEMS items, not many more


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize(
    "slabs, n, k",
    [(1, 4500, 300), (2, 2100, 140), (7, 300, 300)],
    ids=["long-columns", "long-columns-2-slabs", "short-columns-7-slabs"],
)
def test_column_kernel_folds_row_chunks_and_tiles(dtype, log, slabs, n, k):
    """Several slabs, column tiles and (for long columns) row chunks, so every fold of partial (max, sum) runs."""
    assert k > softmax.TILE_COLUMNS and n > softmax.TILE_ROWS
    assert (softmax.column_row_chunks(n) > 1) == (n >= 4 * softmax.TILE_ROWS)
    x = np.random.default_rng(5).standard_normal((slabs, n, k)) * 20
    x[:, -1, 5] = 900.0  # the max arrives in the last tile: every earlier sum is rescaled
    x[:, : n // 2, 6] = -np.inf  # whole tiles and chunks of -inf before finite values
    x[:, :, 7] = -np.inf  # all -inf: NaN
    x[-1, n // 3, 8] = np.nan
    x[0, 10, 9] = np.inf
    x[:, :, 10] = -800.0  # exp(-800 - max) underflows unless taken relative to the column's max
    with np.errstate(all="ignore"):
        want = (special.log_softmax if log else special.softmax)(x, axis=1)
    want[:, :, 7] = np.nan  # scipy gives +inf columns 0/NaN mixes; the API says NaN
    want[-1, :, 8] = want[0, :, 9] = np.nan
    xd = _readonly(x.astype(dtype))
    _assert_both_variants_give(softmax.softmax_columns, xd, want, log)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize(
    "shape, axis", [((4, 10, 32, 32), 1), ((3, 5, 7, 64), (1, 2)), ((2, 50, 9), 1), ((3, 4, 5), 1)]
)
def test_softmax_over_middle_axes_reads_in_place(op, shape, axis, dtype):
    """A block of middle axes (the channel axis of NCHW) runs the column kernel without a transposed copy."""
    x = (np.random.default_rng(6).standard_normal(shape) * 10).astype(dtype)
    x.reshape(-1)[7] = -np.inf
    got = getattr(xpvec, op)(x, axis=axis, backend="numba")
    want = (special.log_softmax if op == "log_softmax" else special.softmax)(x.astype(np.float64), axis=axis)
    assert got.dtype == dtype and got.shape == shape
    kept = math.prod(shape[max(axis if isinstance(axis, tuple) else (axis,)) + 1 :])
    assert got.flags.c_contiguous == (kept >= 8)  # fewer kept elements: a transposed copy, a view back
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got[finite], want[finite], rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape, axis", [((9, 700), 0), ((5, 4, 300), (0, 1)), ((6, 3, 2), 0)])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_over_leading_axes_reads_columns_in_place(op, shape, axis, dtype):
    x = (np.random.default_rng(4).standard_normal(shape) * 20).astype(dtype)
    flat = x.reshape(x.shape[0] if axis == 0 else x.shape[0] * x.shape[1], -1)
    flat[3, 0] = np.nan  # NaN column
    flat[:, 1] = -np.inf  # all -inf column
    flat[2, 2] = -np.inf  # -inf beside finite values
    flat[0, 3] = np.inf  # +inf column
    got = getattr(xpvec, op)(x, axis=axis, backend="numba")
    want = getattr(xpvec, op)(x, axis=axis, backend="python")
    assert got.dtype == dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    tol = 1e-5 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got[finite], want[finite], rtol=tol, atol=tol)
