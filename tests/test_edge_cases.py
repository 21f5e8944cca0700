"""Extreme and non-finite inputs, against scipy.special as the reference.

Every call runs with FP errors raised and warnings turned into errors: no
finite or infinite input may produce a floating point warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special as sc

import xpvec
from xpvec._registry import get_instance

from . import oracle
from .conftest import backend_params, supports_dtype, to_backend

SPECIALS = [
    -np.inf, -1e308, -1000.0, -745.2, -745.0, -744.0, -710.0, -709.0, -100.0, -40.0, -37.0, -1.0,
    -1e-300, -5e-324, -0.0, 0.0, 5e-324, 1e-300, 1.0, 36.0, 37.0, 40.0, 100.0, 709.0, 710.0, 745.0,
    1000.0, 1e308, np.inf, np.nan,
]  # fmt: skip


def strict_call(fn, *args, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def special_values(dtype) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.array(SPECIALS, dtype=np.float64).astype(dtype)


def call(backend, fn, x, **kwargs):
    return xpvec.to_numpy(strict_call(fn, to_backend(x, backend), backend=backend, **kwargs))


def assert_ulp(result, reference, dtype, ulps=4):
    dist = oracle.ulp_distance(result, np.asarray(reference, dtype=np.longdouble), dtype)
    assert dist.max() <= ulps, f"max {dist.max()} ULP at index {np.argmax(dist)}"


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(
    "fn,ref",
    [(xpvec.sigmoid, sc.expit), (xpvec.log_sigmoid, sc.log_expit)],
    ids=["sigmoid", "log_sigmoid"],
)
def test_elementwise_matches_scipy(backend, dtype, fn, ref):
    if not supports_dtype(backend, dtype):
        pytest.skip(f"{backend} has no {np.dtype(dtype).name}")
    x = special_values(dtype)
    r = call(backend, fn, x)
    assert r.dtype == dtype
    with np.errstate(all="ignore"):
        expected = ref(x.astype(np.float64)).astype(np.longdouble)
    # scipy's expit is 1/(1+exp(-x)): it flushes subnormal results to zero, which
    # xpvec must not. There the long-double oracle is the reference.
    truth = (oracle.sigmoid if fn is xpvec.sigmoid else oracle.log_sigmoid)(x)
    flushed = (expected == 0) & (truth.astype(dtype) != 0)
    assert_ulp(r, np.where(flushed, truth, expected), dtype)


@pytest.mark.parametrize("backend", backend_params())
def test_sigmoid_limits_and_subnormals(backend):
    x = np.array([np.inf, -np.inf, np.nan, -740.0, -745.0], dtype=np.float64)
    r = call(backend, xpvec.sigmoid, x)
    assert r[0] == 1.0 and r[1] == 0.0 and np.isnan(r[2])
    # e^-740 ~ 4.2e-322 is subnormal: it must not be flushed to zero.
    assert r[3] == pytest.approx(np.exp(-740.0), rel=1e-2) and 0 < r[3] < np.finfo(np.float64).tiny
    assert r[4] > 0
    g = call(backend, xpvec.sigmoid_grad, np.array([37.0, -37.0, 0.0, np.inf, np.nan]))
    # s * (1 - s) is exactly 0 at x = 37; sigmoid(x) * sigmoid(-x) is not.
    assert g[0] == pytest.approx(np.exp(-37.0), rel=1e-12) and g[0] == g[1]
    assert g[2] == 0.25 and g[3] == 0.0 and np.isnan(g[4])


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_special_rows_match_scipy(backend, log):
    rows = np.array(
        [
            [1.0, 2.0, 3.0],
            [np.inf, 1.0, 2.0],  # +inf: NaN row
            [np.nan, 1.0, 2.0],  # NaN: NaN row
            [-np.inf, -np.inf, 3.0],  # one finite among -inf: one-hot
            [-np.inf, -np.inf, -np.inf],  # all -inf: NaN row
            [1e308, -1e308, 0.0],  # a shift that overflows to -inf: exp gives 0
            [-1e308, -1e308, -1e308],
            [1000.0, 1000.0, -1000.0],
            [5e-324, 0.0, -5e-324],
        ]
    )
    r = call(backend, xpvec.log_softmax if log else xpvec.softmax, rows, axis=1)
    with np.errstate(all="ignore"):
        expected = (sc.log_softmax if log else sc.softmax)(rows, axis=1)
    # The rule (API): a row holding +inf or NaN, or only -inf, is NaN. scipy's
    # softmax agrees; its log_softmax gives [nan, -inf, -inf] for [inf, 1, 2].
    expected[[1, 2, 4]] = np.nan
    assert_ulp(r, expected, np.float64)
    assert np.isnan(r[[1, 2, 4]]).all()
    if not log:
        np.testing.assert_array_equal(r[3], [0.0, 0.0, 1.0])


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", [np.uint8, np.uint64, np.int8, np.int64, np.bool_])
def test_integers_do_not_wrap(backend, dtype):
    info = np.iinfo(dtype) if dtype != np.bool_ else None
    x = np.array([info.min, info.max, 0] if info else [True, False, True], dtype=dtype)
    as_float = x.astype(np.float64)
    r = call(backend, xpvec.sigmoid, x)
    assert r.dtype == np.float64
    assert_ulp(r, sc.expit(as_float), np.float64)
    s = call(backend, xpvec.softmax, x)
    with np.errstate(all="ignore"):
        assert_ulp(s, sc.softmax(as_float), np.float64)
    y = x[::-1].copy()
    loss = strict_call(xpvec.l1_loss, to_backend(x, backend), to_backend(y, backend), backend=backend)
    assert float(loss) == pytest.approx(np.sum(np.abs(as_float - y.astype(np.float64))), rel=1e-12)


@pytest.mark.parametrize("backend", backend_params())
def test_huge_magnitudes_in_reductions(backend):
    big = np.array([1e300, -1e300, 1e-320])
    assert np.isinf(float(strict_call(xpvec.l2_loss, to_backend(big, backend), to_backend(-big, backend), backend=backend)))
    n = call(backend, xpvec.normalize_rows, np.array([[1e300, 1e300], [3e-320, 4e-320], [0.0, 0.0]]))
    np.testing.assert_allclose(n[0], [2**-0.5, 2**-0.5], rtol=1e-15)
    np.testing.assert_allclose(n[1], [0.6, 0.8], rtol=1e-3)  # subnormal inputs carry few digits
    np.testing.assert_array_equal(n[2], [0.0, 0.0])
    bad = call(backend, xpvec.normalize_rows, np.array([[np.inf, 1.0], [np.nan, 1.0], [1.0, 1.0]]))
    assert np.isnan(bad[:2]).all() and np.isfinite(bad[2]).all()
    d = strict_call(xpvec.dot, to_backend(np.array([np.inf, 0.0]), backend), to_backend(np.array([0.0, 1.0]), backend), backend=backend)
    assert np.isnan(float(d))  # inf * 0 propagates as NaN, silently


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_rows_at_every_magnitude(backend, dtype):
    # Rows from the least subnormal to the largest float, each in one array with rows of
    # ordinary size: every backend must scale the rows whose plain sum of squares would
    # overflow or lose bits to underflow (and only those, where it takes a shortcut).
    if not supports_dtype(backend, dtype):
        pytest.skip(f"{backend} has no {np.dtype(dtype).name}")
    info = np.finfo(dtype)
    rng = np.random.default_rng(11)
    lo, hi = np.log2(float(info.smallest_subnormal)), np.log2(float(info.max))
    scales = np.exp2(np.linspace(lo + 8, hi - 8, 97))
    for d in (1, 2, 7, 300):
        x = (rng.uniform(0.5, 1.0, (scales.size, d)) * rng.choice([-1, 1], (scales.size, d)) * scales[:, None]).astype(dtype)
        x[::3] = rng.standard_normal((x[::3].shape[0], d)).astype(dtype)  # ordinary rows among them
        r = call(backend, xpvec.normalize_rows, x)
        ref = oracle.normalize_rows(x)
        digits = np.where(np.abs(x).max(axis=1) < info.tiny, 2.0 ** -8, (8 + d) * float(info.eps))
        assert r.dtype == dtype
        assert np.all(np.abs(r.astype(np.longdouble) - ref) <= digits[:, None] * np.abs(ref).max(axis=1, keepdims=True)), d


@pytest.mark.parametrize("backend", backend_params())
def test_log_softmax_of_one_zero_is_plus_zero_everywhere(backend):
    # x - max(x) of a lone -0.0 is +0.0 (-0 - -0), and so is log_softmax: every backend gives
    # the same bits (a finite-max test that kept the -0.0 max made it -0.0 on some).
    r = call(backend, xpvec.log_softmax, np.array([[-0.0], [0.0]]), axis=1)
    assert np.array_equal(r, [[0.0], [0.0]]) and not np.signbit(r).any()


@pytest.mark.parametrize("backend", backend_params())
def test_zero_d_and_python_scalars(backend):
    if "host" not in get_instance(backend).accepts or backend == "array_api":
        pytest.skip(f"{backend} takes its own array type; scalars and lists are for the host backends")
    r = xpvec.sigmoid(0.0, backend=backend)
    assert isinstance(r, np.ndarray) and r.shape == () and r == 0.5
    assert xpvec.sigmoid([0, 0], backend=backend).tolist() == [0.5, 0.5]
    assert xpvec.softmax(3.0, axis=None, backend=backend) == 1.0
    loss = xpvec.l2_loss([1.0, 2.0], [1.0, 4.0], backend=backend)
    assert isinstance(loss, np.floating) and loss == 4.0
    assert isinstance(xpvec.dot([1, 2], [3, 4], backend=backend), np.floating)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_d_numpy_arrays_come_back_zero_d_from_every_op(backend, dtype):
    if "host" not in get_instance(backend).accepts:
        pytest.skip(f"{backend} takes its own array type, not NumPy's")
    x = np.array(2.0, dtype=dtype)
    expit = sc.expit(2.0)
    cases = [  # (op, keywords, scipy's value)
        (xpvec.sigmoid, {}, expit),
        (xpvec.sigmoid_grad, {}, expit * sc.expit(-2.0)),
        (xpvec.log_sigmoid, {}, sc.log_expit(2.0)),
        (xpvec.softmax, {"axis": None}, 1.0),
        (xpvec.log_softmax, {"axis": None}, 0.0),
    ]
    for fn, kwargs, ref in cases:
        r = strict_call(fn, x, backend=backend, **kwargs)
        assert type(r) is np.ndarray and r.shape == () and r.dtype == dtype, (fn.__name__, type(r))
        np.testing.assert_allclose(r, ref, rtol=1e-6)
    # Reductions stay NumPy scalars, as on the numpy backend.
    loss = xpvec.l2_loss(np.ones(3, dtype), np.zeros(3, dtype), backend=backend)
    assert isinstance(loss, np.floating) and loss == 3.0


@pytest.mark.parametrize("backend", backend_params())
def test_float16_returns_float16_computed_in_float32(backend):
    if not supports_dtype(backend, np.float16):
        pytest.skip(f"{backend} has no float16")
    x = np.linspace(-12, 12, 101).astype(np.float16)
    r = call(backend, xpvec.sigmoid, x)
    assert r.dtype == np.float16
    # Computed in float32 then rounded once: within 1 ULP of float16.
    assert_ulp(r, sc.expit(x.astype(np.float64)), np.float16, ulps=1)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32])
def test_other_byte_order_computes_as_native(backend, dtype):
    # '>f8' on a little-endian machine (data from a file or another machine) holds the same
    # numbers as float64 but compares unequal to it: it must not be refused as a non-float.
    if "host" not in get_instance(backend).accepts and backend != "dask":
        pytest.skip(f"{backend} arrays are made by its library, in native byte order")
    native = np.array([[-3.0, 0.5, 2.0], [1e-3, -40.0, 7.0]]).astype(dtype)
    swapped = native.astype(native.dtype.newbyteorder())
    assert swapped.dtype != native.dtype and swapped.dtype.byteorder in "<>"

    def run(fn, *arrays, **kwargs):
        if backend == "dask":
            arrays = tuple(to_backend(a, "dask") for a in arrays)
        return xpvec.to_numpy(strict_call(fn, *arrays, backend=backend, **kwargs))

    for fn, arrays in [(xpvec.sigmoid, (swapped,)), (xpvec.log_softmax, (swapped,)),
                       (xpvec.normalize_rows, (swapped,)), (xpvec.dot, (swapped, swapped.T)),
                       (xpvec.l2_loss, (swapped, native))]:
        result = run(fn, *arrays)
        expected = run(fn, *(a.astype(native.dtype) for a in arrays))
        assert result.dtype == expected.dtype and result.dtype.byteorder in "=|"
        np.testing.assert_array_equal(result, expected)
