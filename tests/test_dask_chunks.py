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


# ---------------------------------------------------------------- FP flags inside the tasks

# -1000 (exp underflows), 1e308 (sums and squares overflow), +-inf, NaN, subnormals
# (squares underflow), rows of -inf, zeros and ones. 1e308 is never beside -1e308
# in a sum, so the overflow is to inf whatever the order of the partials.
EXTREME = np.array(
    [
        [0.0, -1000.0, 1.0, 2.0, -3.0, 0.5],
        [1e308, 1e308, 1e308, 1.0, 0.0, 2.0],
        [-np.inf, 0.0, 1.0, -np.inf, 2.0, 3.0],
        [np.nan, 1.0, 2.0, 3.0, np.inf, 4.0],
        [1e-300, 1e-310, -1e-305, 0.0, 5e-324, 1e-320],
        [-np.inf] * 6,
        [0.0] * 6,
        [1.0] * 6,
    ]
)
EXTREME_CHUNKS = ((3, 5), (2, 2, 2))  # every reduced axis split across chunks


def extreme_calls(x, other):
    """(id, op, args, kwargs) for every op, reductions over split axes."""
    calls = [(op, op, (x,), {}) for op in ("sigmoid", "sigmoid_grad", "log_sigmoid", "normalize_rows")]
    for op in ALONG:
        calls += [(f"{op}-axis={axis}", op, (x,), {"axis": axis}) for axis in (0, 1, None)]
    calls += [
        ("dot-2d", "dot", (x, x.T), {}),
        ("dot-2d-1d", "dot", (x, x[1]), {}),
        ("dot-1d", "dot", (x[1], x[1]), {}),
        ("dot-1d-finite-partials", "dot", (x[1, 1:3], x[7, 1:3]), {}),  # 1e308 per chunk
        ("image2vector", "image2vector", (x[:, :, None],), {}),
    ]
    for op in LOSS_REFERENCES:
        calls += [
            (op, op, (x, other), {}),
            (f"{op}-finite-partials", op, (x[1, 1:3], x[6, 1:3]), {}),
            (f"{op}-0d", op, (x[1, 0], -x[1, 0]), {}),  # 1e308 - -1e308 overflows
        ]
    return calls


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("call", [c[0] for c in extreme_calls(EXTREME, EXTREME)])
def test_no_fp_warnings_inside_tasks_on_extreme_values(call, dtype, scheduler):
    """The README's promise on Dask: every task runs under the FP guard, on any
    thread, so np.errstate(all="raise") and warnings-as-errors around compute
    (which a worker thread does not inherit) never fire; values are the numpy backend's."""
    with np.errstate(over="ignore"):
        x = EXTREME.astype(dtype)  # 1e308 is inf in float32 and float16
    other = -x[::-1]  # -1e308 against 1e308: the losses' differences overflow
    calls = {c[0]: c[1:] for c in extreme_calls(x, other)}
    dask_calls = {c[0]: c[1:] for c in extreme_calls(*(da.from_array(a, chunks=EXTREME_CHUNKS) for a in (x, other)))}
    op, args, kwargs = dask_calls[call]
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        result = lazily(getattr(xpvec, op), *args, **kwargs)
        with dask.config.set(scheduler=scheduler):
            value = result.compute()
        op, args, kwargs = calls[call]
        expected = getattr(xpvec, op)(*args, backend="numpy", **kwargs)
    assert value.dtype == expected.dtype
    rtol = {np.float64: 1e-12, np.float32: 1e-5, np.float16: 1e-3}[dtype]
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=0.0)


# ---------------------------------------------------------------- unknown chunk sizes

UNKNOWN_MASK = (np.arange(20) < 5) | (np.arange(20) >= 10)  # the second block of 5 rows empty


def unknown_rows(x, chunks):
    """x chunked by ``chunks``, its rows kept by UNKNOWN_MASK: unknown row chunk sizes, one empty."""
    masked = da.from_array(x, chunks=chunks)[da.from_array(UNKNOWN_MASK, chunks=5)]
    assert np.isnan(masked.shape[0])
    return masked, x[UNKNOWN_MASK]


UNKNOWN_SIZE_OK = [("sigmoid", {}), ("normalize_rows", {})] + [
    (op, {"axis": axis}) for op in ALONG for axis in (0, 1, None)
]


@pytest.mark.parametrize("op,kwargs", UNKNOWN_SIZE_OK, ids=[f"{op}-{kw}" for op, kw in UNKNOWN_SIZE_OK])
def test_unknown_chunk_sizes_work_where_sizes_are_not_needed(op, kwargs):
    """Reductions over an axis of unknown length, an empty block among its chunks, too."""
    du, x = unknown_rows(values((20, 6)), (5, 3))
    result = computed(lazily(getattr(xpvec, op), du, **kwargs))
    np.testing.assert_allclose(result, getattr(xpvec, op)(x, backend="numpy", **kwargs), rtol=1e-12, atol=1e-300)


def test_unknown_outer_sizes_dot_and_image2vector_work():
    du, x = unknown_rows(values((20, 6)), (5, 3))
    w = values((6, 2))
    dw = da.from_array(w, chunks=(3, 1))
    np.testing.assert_allclose(computed(lazily(xpvec.dot, du, dw)), x @ w, rtol=1e-12)
    np.testing.assert_allclose(computed(lazily(xpvec.dot, dw.T, du.T)), w.T @ x.T, rtol=1e-12)
    np.testing.assert_allclose(computed(lazily(xpvec.dot, du, dw[:, 0])), x @ w[:, 0], rtol=1e-12)
    image, host = unknown_rows(values((20, 4, 3)), (5, 2, 2))  # width and channels split too
    np.testing.assert_array_equal(computed(lazily(xpvec.image2vector, image)), host.reshape(-1, 1))


def test_check_grad_with_unknown_chunk_sizes():
    du, x = unknown_rows(values((20,)), 5)
    assert xpvec.check_grad(lambda v: xpvec.l2_loss(v, da.zeros_like(v)).compute(), lambda v: 2 * v, du) < 1e-8
    assert np.isnan(du.shape[0])  # x is left as it was


def test_warmup_compiles_the_kernels_numpy_chunks_run_on(monkeypatch):
    from xpvec._registry import get_instance, unusable_reason

    chunk_backend = "numba" if unusable_reason("numba") is None else "numpy"
    warmed = []
    monkeypatch.setattr(type(get_instance(chunk_backend)), "warmup", lambda self: warmed.append(self.name))
    xpvec.warmup("dask")
    assert warmed == [chunk_backend]
