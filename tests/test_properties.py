"""Property-based tests (hypothesis): shapes, dtypes and values including extremes.

Each property is checked on every usable backend; the hypothesis profile in
conftest has no deadline (JIT backends compile on their first example).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xpvec

from . import oracle
from .conftest import backend_params, to_backend

FLOAT_DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def float_arrays(draw, min_dims=1, max_dims=3, min_side=1, allow_nonfinite=True):
    dtype = draw(FLOAT_DTYPES)
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=6))
    elements = st.floats(
        allow_nan=allow_nonfinite, allow_infinity=allow_nonfinite, width=np.dtype(dtype).itemsize * 8
    )
    return draw(hnp.arrays(dtype, shape, elements=elements))


def call(backend, fn, x, **kwargs):
    before = x.copy()
    r = xpvec.to_numpy(fn(to_backend(x, backend), backend=backend, **kwargs))
    np.testing.assert_array_equal(x, before)  # never modified (NaN == NaN here)
    assert r.dtype == x.dtype and r.shape == x.shape
    return r


@pytest.mark.parametrize("backend", backend_params())
@given(x=float_arrays())
def test_sigmoid_is_a_probability_matching_the_oracle(backend, x):
    s = call(backend, xpvec.sigmoid, x)
    finite = ~np.isnan(x)
    assert np.all((s[finite] >= 0) & (s[finite] <= 1))
    assert np.array_equal(np.isnan(s), np.isnan(x))
    assert oracle.ulp_distance(s, oracle.sigmoid(x), x.dtype).max() <= 4
    # Symmetry: sigmoid(-x) = 1 - sigmoid(x), up to rounding of the larger one.
    s_neg = call(backend, xpvec.sigmoid, -x)
    np.testing.assert_allclose((s + s_neg)[finite], 1, rtol=0, atol=4 * np.finfo(x.dtype).eps)


@pytest.mark.parametrize("backend", backend_params())
@given(x=float_arrays(max_dims=1))
def test_sigmoid_is_monotone(backend, x):
    x = np.sort(x[~np.isnan(x)])
    s = call(backend, xpvec.sigmoid, x)
    assert np.all(np.diff(s) >= 0)


@pytest.mark.parametrize("backend", backend_params())
@given(x=float_arrays())
def test_sigmoid_grad_and_log_sigmoid(backend, x):
    g = call(backend, xpvec.sigmoid_grad, x)
    ok = ~np.isnan(x)
    assert np.all((g[ok] >= 0) & (g[ok] <= 0.25 * (1 + 2 * np.finfo(x.dtype).eps)))  # max 1/4, up to rounding
    assert oracle.ulp_distance(g, oracle.sigmoid_grad(x), x.dtype).max() <= 4
    ls = call(backend, xpvec.log_sigmoid, x)
    assert np.all(ls[ok] <= 0)
    assert oracle.ulp_distance(ls, oracle.log_sigmoid(x), x.dtype).max() <= 4


@pytest.mark.parametrize("backend", backend_params())
@given(x=float_arrays(max_dims=2, allow_nonfinite=False), data=st.data())
def test_softmax_sums_to_one_and_ignores_shifts(backend, x, data):
    axis = data.draw(st.sampled_from([-1, 0, None]))
    s = call(backend, xpvec.softmax, x, axis=axis)
    eps = float(np.finfo(x.dtype).eps)
    assert np.all(s >= 0) and np.all(s <= 1)
    np.testing.assert_allclose(np.sum(s.astype(np.float64), axis=axis), 1, rtol=8 * x.size * eps)
    # softmax(x + c) == softmax(x) for a shift c that keeps x + c exact-ish.
    c = x.dtype.type(data.draw(st.sampled_from([-3.0, 0.5, 7.0])))
    if np.all(np.abs(x) < 1e3):
        shifted = call(backend, xpvec.softmax, x + c, axis=axis)
        np.testing.assert_allclose(shifted, s, rtol=1e3 * eps, atol=1e3 * eps)
    ls = call(backend, xpvec.log_softmax, x, axis=axis)
    # exp(log_softmax) == softmax (compared on the probability scale, where
    # float32 softmax entries may be subnormal and their logs imprecise).
    np.testing.assert_allclose(np.exp(ls.astype(np.float64)), s, rtol=1e3 * eps, atol=1e3 * eps)


@pytest.mark.parametrize("backend", backend_params())
@given(x=float_arrays(min_dims=2, max_dims=2, allow_nonfinite=False))
def test_normalize_rows_gives_unit_or_zero_rows(backend, x):
    n = call(backend, xpvec.normalize_rows, x)
    norms = np.sqrt(np.sum(n.astype(np.float64) ** 2, axis=1))
    zero = ~np.any(x, axis=1)
    np.testing.assert_allclose(norms[~zero], 1, rtol=10 * x.shape[1] * np.finfo(x.dtype).eps)
    assert np.all(n[zero] == 0)


@pytest.mark.parametrize("backend", backend_params())
@given(data=st.data())
def test_backends_agree_with_numpy_on_reductions(backend, data):
    a = data.draw(float_arrays(max_dims=1, allow_nonfinite=False))
    b = data.draw(hnp.arrays(a.dtype, a.shape, elements=st.floats(-1e3, 1e3, width=a.dtype.itemsize * 8)))
    eps = float(np.finfo(a.dtype).eps)
    with np.errstate(over="ignore"):
        scale = float(np.sum(np.abs(a.astype(np.float64) * b)))
    bound = a.size * eps * scale * 2 + np.finfo(a.dtype).tiny
    if np.isfinite(scale) and scale < np.finfo(a.dtype).max:
        got = float(xpvec.dot(to_backend(a, backend), to_backend(b, backend), backend=backend))
        assert abs(got - float(np.dot(a.astype(np.float64), b))) <= bound
    la = xpvec.l1_loss(to_backend(a, backend), to_backend(b, backend), backend=backend)
    ref = float(np.sum(np.abs(a.astype(np.float64) - b)))
    assert float(la) == pytest.approx(ref, rel=4 * a.size * eps, abs=1e-300) or not np.isfinite(ref)
