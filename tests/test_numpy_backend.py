"""The numpy backend's elementwise ops on large arrays: a block at a time, the same bits.

Contiguous arrays of more than ``BLOCK`` elements are worked on a block at a time
(``numpy_backend._elementwise``); the blocks run the same ufuncs on the same values as
the whole-array passes, so every layout must give exactly their bits, and leave the
input as it was. (The oracle suites check the values: ``test_agreement``'s dense sweep
runs 500k elements through the blocked path.)
"""

from __future__ import annotations

import numpy as np
import pytest

from xpvec.backends import numpy_backend

KERNELS = {
    "sigmoid": numpy_backend._sigmoid,
    "sigmoid_grad": numpy_backend._sigmoid_grad,
    "log_sigmoid": numpy_backend._log_sigmoid,
}
N = 3 * numpy_backend.BLOCK + 5  # three whole blocks and a short one


def _values(dtype) -> np.ndarray:
    x = np.random.default_rng(3).standard_normal(N * 2) * 30
    x[:8] = [np.nan, np.inf, -np.inf, 800.0, -800.0, -740.0, 0.0, -0.0]  # limits, subnormal results
    return x.astype(dtype)


LAYOUTS = {
    "C 1-D": lambda v: v[:N].copy(),
    "C 2-D": lambda v: v[: 2 * (N // 2)].reshape(2, -1).copy(),
    "F 2-D": lambda v: np.asfortranarray(v[: 2 * (N // 2)].reshape(-1, 2)),
    "strided": lambda v: v[::2],  # not contiguous: the whole-array passes
    "reversed": lambda v: v[:N][::-1],
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("op", list(KERNELS))
def test_blocks_give_the_bits_of_the_whole_array(monkeypatch, op, dtype, layout):
    x = LAYOUTS[layout](_values(dtype))
    x.flags.writeable = False
    before = x.copy()
    calls, block = [], numpy_backend.BLOCK

    def counted(*args):
        calls.append(args[0].size)
        KERNELS[op](*args)

    with np.errstate(all="ignore"):
        blocked = numpy_backend._elementwise(counted, x)
        monkeypatch.setattr(numpy_backend, "BLOCK", x.size)  # one block: the whole-array passes
        whole = numpy_backend._elementwise(KERNELS[op], x)
    np.testing.assert_array_equal(blocked, whole)
    contiguous = x.flags.c_contiguous or x.flags.f_contiguous
    assert len(calls) == (-(-x.size // block) if contiguous else 1) and sum(calls) == x.size
    assert blocked.dtype == x.dtype and blocked.shape == x.shape
    assert blocked.flags.f_contiguous == (layout == "F 2-D" or x.ndim == 1)
    np.testing.assert_array_equal(x, before)


def test_small_and_0d_inputs_stay_arrays():
    for x in (np.float64(-3.0), np.array(2.0), np.ones(5, np.float32)):
        out = numpy_backend._elementwise(numpy_backend._sigmoid, np.asarray(x))
        assert type(out) is np.ndarray and out.shape == np.shape(x)
        np.testing.assert_allclose(out, 1 / (1 + np.exp(-np.asarray(x, np.float64))), rtol=1e-6)


# normalize_rows: a row's plain sum of squares where it is exact enough, the scaled formula
# (``_scaled_normalize_rows``) for the rest only. Held to the agreement suite's bound.
def _normalize_counting_scaled(monkeypatch, x):
    import xpvec

    from . import oracle

    scaled = numpy_backend.NumpyBackend._scaled_normalize_rows
    rows_scaled = []

    def counting(self, rows):
        rows_scaled.append(rows.shape[0])
        return scaled(self, rows)

    monkeypatch.setattr(numpy_backend.NumpyBackend, "_scaled_normalize_rows", counting)
    r = xpvec.normalize_rows(x, backend="numpy")
    ref = oracle.normalize_rows(x)
    eps = float(np.finfo(x.dtype).eps)
    finite = np.isfinite(x).all(axis=1)  # a row holding inf or NaN is NaN throughout
    assert np.isnan(r[~finite]).all() and not np.isnan(r[finite]).any()
    r_, ref = r[finite].astype(np.longdouble), ref[finite]
    assert np.all(np.abs(r_ - ref) <= (8 + x.shape[1]) * eps * np.abs(ref).max(axis=1, keepdims=True)), "beyond the bound"
    return r, rows_scaled


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_normalize_rows_scales_only_the_rows_that_need_it(monkeypatch, dtype, layout):
    info = np.finfo(dtype)
    rng = np.random.default_rng(12)
    d = 40
    lay = {"C": np.ascontiguousarray, "F": np.asfortranarray, "strided": lambda a: np.repeat(a, 2, axis=1)[:, ::2]}[layout]
    # Rows down to the floor of the plain sum (d * tiny) and up to the largest float: no row scaled.
    lows = np.sqrt(float(info.tiny)) * np.array([1.01, 1.5, 4.0, 1e3])
    highs = np.sqrt(float(info.max) / d) * np.array([0.45, 1e-3])
    magnitudes = np.concatenate([lows, highs, np.ones(60)])
    x = lay((rng.uniform(1.0, 2.0, (magnitudes.size, d)) * magnitudes[:, None]).astype(dtype))
    _, rows_scaled = _normalize_counting_scaled(monkeypatch, x)
    assert rows_scaled == []
    # A few rows out of range (subnormal, near overflow, inf, NaN) and rows of zeros among
    # them: just the four rows scaled, the zeros stay zeros, the others untouched.
    x = rng.standard_normal((64, d)).astype(dtype)
    x[3] *= float(info.smallest_subnormal) * 64
    x[10] = float(info.max) / 4
    x[20, 5], x[30, 7] = np.inf, np.nan
    x[40], x[50] = 0.0, -0.0
    r, rows_scaled = _normalize_counting_scaled(monkeypatch, lay(x))
    assert rows_scaled == [4]
    assert not np.any(r[[40, 50]]) and np.isnan(r[[20, 30]]).all()
    # Half the rows zeros besides (padding): still those four only.
    x[41:] = 0.0
    _, rows_scaled = _normalize_counting_scaled(monkeypatch, lay(x))
    assert rows_scaled == [4]
    # Many rows out of range: every row scaled at once.
    x[: x.shape[0] // 2] = float(info.max) / 64
    _, rows_scaled = _normalize_counting_scaled(monkeypatch, lay(x))
    assert rows_scaled == [x.shape[0]]
