"""The dask backend under awkward chunk layouts, against float64 NumPy references.

- Losses whose operands are chunked differently: map_blocks pairs blocks by
  position, so the backend must align y's chunks to yhat's first (it used to
  raise, fail only at compute time, or silently pair the wrong elements).
- softmax, log_softmax and normalize_rows over arrays with empty chunks along
  any axis, reduced or kept: Dask's per-block max cannot stand an empty block
  in for "no data" on a kept axis (it used to raise "zero-size array to
  reduction operation maximum").

Every result must stay lazy: building it runs no Dask computation.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import xpvec

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


def _no_compute(*args, **kwargs):
    raise AssertionError("building the result ran a Dask computation; it must stay lazy")


def lazily(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with any Dask computation while building it an error."""
    with dask.config.set(scheduler=_no_compute):
        out = fn(*args, **kwargs)
    assert isinstance(out, da.Array)
    return out


def computed(result):
    """A lazy result computed with warnings and FP errors raised: an empty block
    must not produce a warning either."""
    with warnings.catch_warnings(), np.errstate(all="raise"), dask.config.set(scheduler="sync"):
        warnings.simplefilter("error")
        return result.compute()


# ---------------------------------------------------------------- losses, mismatched chunks

LOSS_REFERENCES = {
    "l1_loss": lambda a, b: np.sum(np.abs(a - b)),
    "l2_loss": lambda a, b: np.sum((a - b) ** 2),
}

# (shape, yhat chunks, y chunks)
MISMATCHED = {
    "1d-5-vs-4": ((10,), (5,), (4,)),
    "1d-2k-vs-3k": ((10_000,), (2_000,), (3_000,)),  # same block counts' clash as 1e7 at 2e6 vs 3e6
    "1d-many-vs-one": ((7,), ((3, 4),), (7,)),  # y's one block used to be paired whole with each yhat block
    "1d-one-vs-many": ((7,), (7,), ((3, 4),)),
    "1d-empty-chunk": ((7,), ((3, 4),), ((3, 0, 4),)),
    "1d-same-count-other-sizes": ((7,), ((3, 4),), ((4, 3),)),
    "2d-rows": ((6, 8), (3, 4), (2, 8)),
    "2d-both-axes": ((6, 8), ((1, 5), (5, 3)), ((4, 2), (2, 2, 4))),
    "2d-empty-chunks": ((6, 8), ((3, 0, 3), (4, 4)), ((6,), (2, 0, 6))),
    "3d": ((4, 5, 6), (2, (2, 3), 3), ((1, 3), 5, (4, 2))),
}


@pytest.mark.parametrize("op", list(LOSS_REFERENCES))
@pytest.mark.parametrize("case", list(MISMATCHED))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_with_mismatched_chunks_matches_numpy(op, case, dtype):
    shape, yhat_chunks, y_chunks = MISMATCHED[case]
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape).astype(dtype)
    result = lazily(
        getattr(xpvec, op), da.from_array(a, chunks=yhat_chunks), da.from_array(b, chunks=y_chunks)
    )
    assert result.shape == ()
    value = computed(result)
    assert value.dtype == dtype
    reference = LOSS_REFERENCES[op](a.astype(np.float64), b.astype(np.float64))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(value, reference, rtol=rtol)


def test_loss_keeps_yhats_blocks():
    """y is brought to yhat's chunks (not both to a finer common grid): one partial per yhat block."""
    yhat, y = da.ones(10, chunks=5), da.zeros(10, chunks=4)
    result = xpvec.l2_loss(yhat, y)
    partial_layers = [name for name in result.dask.layers if name.startswith("_partial_sum")]
    assert len(partial_layers) == 1
    assert len(result.dask.layers[partial_layers[0]]) == yhat.numblocks[0]
    assert computed(result) == 10.0


# ---------------------------------------------------------------- softmax family, empty chunks


def softmax_reference(x, axis):
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax_reference(x, axis):
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def normalize_rows_reference(x):
    norm = np.sqrt(np.sum(x * x, axis=1, keepdims=True))
    return x / np.where(norm > 0, norm, 1.0)


ALONG = {"softmax": softmax_reference, "log_softmax": log_softmax_reference}


def axis_chunkings(n):
    """Chunk tuples for an axis of length n: whole, split, and split with empty chunks
    between, before and after the data."""
    h = n // 2
    return {
        "whole": (n,),
        "split": (h, n - h),
        "empty-between": (h, 0, n - h),
        "empty-ends": (0, h, n - h, 0),
        "empty-first": (0, n),
    }


def chunk_layouts(shape, combos):
    """(id, chunks) for the given per-axis chunking names."""
    per_axis = [axis_chunkings(n) for n in shape]
    return [
        pytest.param(tuple(per_axis[a][name] for a, name in enumerate(names)), id="/".join(names))
        for names in combos
    ]


SHAPE_2D = (6, 9)
LAYOUTS_2D = chunk_layouts(SHAPE_2D, itertools.product(axis_chunkings(1), repeat=2))
SHAPE_3D = (4, 5, 6)
# Empty chunks along each axis in turn (the others split or whole), and along all three.
LAYOUTS_3D = chunk_layouts(
    SHAPE_3D,
    [
        ("empty-between", "split", "split"),
        ("split", "empty-between", "split"),
        ("split", "split", "empty-between"),
        ("empty-ends", "whole", "split"),
        ("whole", "split", "empty-first"),
        ("empty-between", "empty-ends", "empty-first"),
    ],
)


def all_axes(ndim):
    """None, every int (and -1), and every tuple of two or more axes."""
    tuples = [c for r in range(2, ndim + 1) for c in itertools.combinations(range(ndim), r)]
    return [None, *range(ndim), -1, *tuples]


def values(shape):
    return np.random.default_rng(sum(shape)).standard_normal(shape) * 8


def check_along(op, x, chunks, axis, dtype=np.float64):
    result = computed(lazily(getattr(xpvec, op), da.from_array(x.astype(dtype), chunks=chunks), axis=axis))
    assert result.dtype == dtype
    x = x.astype(dtype)
    eps = np.finfo(dtype).eps
    # softmax: the rounding of x - max grows by exp into a relative error of
    # about eps * |x|; log_softmax: an absolute one of that size (results near 0).
    rtol = 16 * eps * np.max(np.abs(x))
    atol = rtol if op == "log_softmax" else 0.0
    np.testing.assert_allclose(result, ALONG[op](x.astype(np.float64), axis), rtol=rtol, atol=atol)


@pytest.mark.parametrize("op", list(ALONG))
@pytest.mark.parametrize("axis", all_axes(2), ids=str)
@pytest.mark.parametrize("chunks", LAYOUTS_2D)
def test_softmax_family_with_empty_chunks_2d(op, axis, chunks):
    check_along(op, values(SHAPE_2D), chunks, axis)


@pytest.mark.parametrize("op", list(ALONG))
@pytest.mark.parametrize("axis", all_axes(3), ids=str)
@pytest.mark.parametrize("chunks", LAYOUTS_3D)
def test_softmax_family_with_empty_chunks_3d(op, axis, chunks):
    check_along(op, values(SHAPE_3D), chunks, axis)


@pytest.mark.parametrize("op", list(ALONG))
@pytest.mark.parametrize("axis", [0, 1, None], ids=str)
def test_softmax_family_with_empty_chunks_float32(op, axis):
    check_along(op, values(SHAPE_2D), ((3, 0, 3), (4, 5)), axis, dtype=np.float32)


@pytest.mark.parametrize("chunks", LAYOUTS_2D)
def test_normalize_rows_with_empty_chunks(chunks):
    x = values(SHAPE_2D)
    x[2] = 0.0  # an all-zero row stays zero
    result = computed(lazily(xpvec.normalize_rows, da.from_array(x, chunks=chunks)))
    np.testing.assert_allclose(result, normalize_rows_reference(x), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "normalize_rows"])
def test_non_finite_rows_with_empty_chunks_match_numpy_backend(op):
    """Rows of -inf, +inf and NaN beside an empty row chunk: the numpy backend's answer, NaNs included."""
    x = values(SHAPE_2D)
    x[0] = -np.inf
    x[4, 3] = np.inf
    x[5, 7] = np.nan
    kwargs = {} if op == "normalize_rows" else {"axis": 1}
    fn = getattr(xpvec, op)
    result = computed(lazily(fn, da.from_array(x, chunks=((3, 0, 3), (4, 5))), **kwargs))
    np.testing.assert_allclose(result, fn(x, backend="numpy", **kwargs), rtol=1e-12, atol=1e-300)
