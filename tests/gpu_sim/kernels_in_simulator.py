"""Every GPU kernel, through the host side the cupy backend uses, in numba-cuda's simulator.

Run by tests/test_gpu_kernels_sim.py in a pytest of its own with
NUMBA_ENABLE_CUDASIM=1 (it must be set before numba.cuda is imported); the
name keeps the main run from collecting it. NumPy stands in for CuPy, and
blocks of 8 threads with at most 3 blocks make every tree reduction several
levels deep and every grid-stride loop go round more than once, at sizes the
simulator (a Python thread per GPU thread) runs in seconds. The last tests
run the cupy backend's own methods the same way (NumPy in CuPy's place), so
its validation, dtype policy and wiring to the launcher are checked too.

What the simulator cannot prove: float32 transcendentals here are CPython's
double-precision math rounded to float32, while a device runs libdevice's
single-precision expf/log1pf (a few ULP), so the agreement suite on a real GPU
has the last word on float32 error bounds. Every formulation, branch, index
and reduction is the device's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import cuda
from xpvec.kernels.gpu import logistic
from xpvec.kernels.gpu.host import Launcher

from .. import oracle

if not cuda.config.ENABLE_CUDASIM:
    pytest.skip("run with NUMBA_ENABLE_CUDASIM=1 (tests/test_gpu_kernels_sim.py does)", allow_module_level=True)

DTYPES = [np.float32, np.float64]
GPU = Launcher(np, threads=8, max_blocks=3)


@pytest.fixture(autouse=True)
def _quiet():
    # The simulator evaluates kernels with NumPy scalars, which warn where a GPU
    # silently gives inf/NaN (inf - inf in a NaN row, exp underflow).
    with np.errstate(all="ignore"):
        yield


def special_values(dtype) -> np.ndarray:
    f = np.finfo(dtype)
    tiny = f.smallest_subnormal
    big = 740.0 if dtype == np.float64 else 100.0  # sigmoid(-big) is subnormal
    v = [0.0, -0.0, 1.0, -1.0, 0.5, 20.0, -20.0, 37.0, -37.0, big, -big, 1e4, -1e4,
         float(f.max), -float(f.max), tiny, -tiny, float(f.tiny), np.inf, -np.inf, np.nan]  # fmt: skip
    rng = np.random.default_rng(0)
    return np.concatenate([np.array(v), rng.standard_normal(19) * 30]).astype(dtype)


ELEMENTWISE = {"sigmoid": oracle.sigmoid, "sigmoid_grad": oracle.sigmoid_grad, "log_sigmoid": oracle.log_sigmoid}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", list(ELEMENTWISE))
def test_elementwise(op, dtype):
    x = special_values(dtype)
    # 40 elements are two blocks' tails only; 200 also go through the unrolled body (24 threads x 4).
    for v in (x, np.tile(x, 5), x.reshape(5, 8), x[::3], x[::-1], np.asarray(x[4]), x[:0]):
        r = GPU.elementwise(op, v)
        assert r.dtype == dtype and r.shape == v.shape
        ulps = oracle.ulp_distance(r, ELEMENTWISE[op](v), dtype)
        assert ulps.size == 0 or ulps.max() <= 4, f"{op}: max error {ulps.max()} ULP"
    if op == "sigmoid":  # the subnormal result survives (no flush to zero)
        assert 0 < GPU.elementwise(op, x[10:11])[0] < np.finfo(dtype).tiny


WIDTH = 45  # with 8 threads, columns 0..31 go through the row passes' unrolled body, 32..44 their tail


def rows_with_special_values(dtype) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((9, WIDTH)) * 5).astype(dtype)
    x[1, 3] = np.nan  # unrolled body
    x[2, 38] = np.inf  # tail
    x[3, :] = -np.inf
    x[4, :] = -np.inf
    x[4, 41] = 2.0  # one finite among -inf: one-hot
    x[5, ::2] = -np.inf  # -inf beside finite: zeros there
    x[6] *= 1e30 if dtype == np.float32 else 1e300
    x[7, :] = np.finfo(dtype).smallest_subnormal * np.arange(WIDTH)
    x[8, :] = 0.0
    return x


def _check_softmax(r, x, axes, dtype, log):
    ref = (oracle.log_softmax if log else oracle.softmax)(x, axes)
    eps = float(np.finfo(dtype).eps)
    xl = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        shift = np.abs(xl - np.max(xl, axis=axes, keepdims=True))
    n = int(np.prod([x.shape[a] for a in axes]))
    rel = 4 * eps + eps * (shift + 4) + oracle.gamma(n, dtype)
    scale = (shift + np.abs(np.asarray(ref, np.float64)) + 1) if log else np.abs(np.asarray(ref, np.float64))
    bound = rel * scale + np.finfo(dtype).smallest_subnormal
    err = np.abs(r.astype(np.longdouble) - ref)
    same_nan = np.isnan(r) == np.isnan(np.asarray(ref, np.float64))
    same_inf = np.where(np.isinf(r), r == ref, True)
    assert same_nan.all() and same_inf.all()
    finite = np.isfinite(r)
    # err == 0 passes outright: an exact 0 or -inf beside a -inf input has an infinite bound times 0.
    good = (err == 0) | (err <= bound)
    assert np.all(good[finite]), f"max excess {np.max(err[finite] / bound[finite])}"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_rows(log, dtype):
    x = rows_with_special_values(dtype)
    name = "log_softmax" if log else "softmax"
    r = GPU.rows(name, x, (1,))
    assert r.dtype == dtype and r.shape == x.shape
    _check_softmax(r, x, (1,), dtype, log)
    assert np.isnan(r[1:4]).all() and not np.isnan(r[4:]).any()
    if not log:
        np.testing.assert_array_equal(r[4], np.eye(WIDTH)[41])
        assert (r[5, ::2] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape,axes", [((6, 4), (0,)), ((3, 5), (0, 1)), ((2, 3, 4), (0, 2)), ((), ()), ((0, 3), (1,))])
def test_softmax_over_any_axes(shape, axes, dtype):
    x = (np.random.default_rng(2).standard_normal(shape) * 4).astype(dtype)
    for log in (False, True):
        r = GPU.rows("log_softmax" if log else "softmax", x, axes)
        assert r.shape == x.shape
        _check_softmax(r, x, axes, dtype, log)


# (outer, n, inner) shapes and the lanes the host gives blocks of 8 threads. Columns are
# numbered across outer slices, so tiles span slices (21 and 2 do not divide 8); lanes past the
# last column (63 = 7 * 8 + 7, 14, 6); more tiles than the 3 blocks (grid-stride); each split of
# a block (8 columns x 1 part, 4 x 2, 2 x 4) with 25 elements per part (unrolled body and tail).
COLUMN_SHAPES = [((3, 45, 21), 8), ((7, 9, 2), 8), ((2, 5, 3), 8), ((2, 50, 2), 4), ((1, 100, 2), 2)]

# What rows_with_special_values's rows hold, for columns: NaN, +inf, only -inf, one finite
# among -inf, -inf beside finite values, huge values, only NaN.
COLUMN_SPECIALS = [
    lambda c: c.__setitem__(1, np.nan),
    lambda c: c.__setitem__(-1, np.inf),
    lambda c: c.__setitem__(slice(None), -np.inf),
    lambda c: (c.__setitem__(slice(None), -np.inf), c.__setitem__(len(c) // 2, 2.0)),
    lambda c: c.__setitem__(slice(None, None, 2), -np.inf),
    lambda c: c.__imul__(1e30 if c.dtype == np.float32 else 1e300),
    lambda c: c.__setitem__(slice(None), np.nan),
]


def columns_with_special_values(shape, dtype) -> np.ndarray:
    """An (outer, n, inner) array whose columns x[o, :, i] (column j = o * inner + i) carry
    COLUMN_SPECIALS in turn, as many as there are columns, the rest random."""
    o, n, inner = shape
    x = (np.random.default_rng(3).standard_normal(shape) * 5).astype(dtype)
    for j, special in zip(range(o * inner), COLUMN_SPECIALS):
        special(x[j // inner, :, j % inner])  # a view: writes go to x
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,lanes", COLUMN_SHAPES, ids=[f"{s}-lanes{n}" for s, n in COLUMN_SHAPES])
def test_softmax_columns(shape, lanes, log, dtype):
    from xpvec.kernels.gpu.host import column_lanes

    o, n, inner = shape
    assert column_lanes(n, o * inner, GPU.threads) == lanes
    x = columns_with_special_values(shape, dtype)
    # Split the middle axis in two: the column kernel then reduces a run of two axes.
    for v, axes in ((x, (1,)), (x.reshape(o, 1, n, inner), (1, 2))):
        r = GPU.rows("log_softmax" if log else "softmax", v, axes)
        assert r.dtype == dtype and r.shape == v.shape and r.flags.c_contiguous  # not a transposed view
        _check_softmax(r, v, axes, dtype, log)
    columns = [r.reshape(shape)[j // inner, :, j % inner] for j in range(o * inner)]
    assert np.isnan(columns[0]).all() and np.isnan(columns[1]).all()  # NaN; +inf
    if len(columns) > 3 and not log:
        np.testing.assert_array_equal(columns[3], np.eye(n)[n // 2])


@pytest.mark.parametrize("threads", [8, 32, 256, 1024])
def test_column_lanes_split_blocks_evenly(threads):
    from xpvec.kernels.gpu.host import column_lanes

    for n in [1, 2, 15, 16, 31, 32, 33, 50, 100, 1000, 10**5]:
        for columns in [1, 2, 3, 5, 8, 21, 32, 33, 100, 1000, 10**6]:
            lanes = column_lanes(n, columns, threads)
            parts = threads // lanes
            assert lanes & (lanes - 1) == 0 and lanes * parts == threads  # the merge tree halves parts
            assert lanes >= min(32, threads, columns)  # a warp reads consecutive columns
            assert parts == 1 or n // parts >= 16, (n, columns, lanes)  # shared out only when long
            warp = min(32, threads, 1 << (columns - 1).bit_length())
            assert parts == threads // warp or n // (2 * parts) < 16  # as shared out as allowed


class CountingNumpy:
    """NumPy, counting the copies the launcher makes to get C order."""

    def __init__(self):
        self.copies = 0

    def __getattr__(self, name):
        return getattr(np, name)

    def ascontiguousarray(self, a):
        self.copies += 1
        return np.ascontiguousarray(a)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_layouts_take_the_route_without_copies(log):
    name = "log_softmax" if log else "softmax"
    x = (np.random.default_rng(4).standard_normal((3, 4, 5)) * 3).astype(np.float64)
    cases = [  # input, axes, copies of the input, the result's layout
        (x, (1,), 0, "C"),  # a middle axis: the column kernel
        (np.asfortranarray(x), (1,), 0, "F"),  # the transpose is C-ordered: mirrored, the layout kept
        (np.asfortranarray(x), (0,), 0, "F"),
        (x.transpose(0, 2, 1), (1,), 0, None),  # the axis moved last is C-ordered: rows, a view back
        (x[:, :, ::2], (1,), 1, "C"),  # strided: one copy, then columns
        (x.reshape(3, 4, 5, 1), (1, 2), 0, "C"),  # trailing size-1 axis: rows, not columns
        (x, (0, 2), 1, None),  # not adjacent: a transposed copy
    ]
    for v, axes, copies, layout in cases:
        xp = CountingNumpy()
        r = Launcher(xp, threads=8, max_blocks=3).rows(name, v, axes)
        assert xp.copies == copies, (v.shape, v.strides, axes)
        assert layout is None or r.flags[f"{layout}_CONTIGUOUS"]
        _check_softmax(r, v, axes, np.float64, log)


class RecordingLauncher(Launcher):
    """A launcher that also records the names of the kernels it launches."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.launched = []

    def launch(self, kernel, blocks, *arrays, **kwargs):
        self.launched.append(kernel.__name__)
        super().launch(kernel, blocks, *arrays, **kwargs)


def lines_with_special_values(count, n, dtype) -> np.ndarray:
    """(count, n): each line random but for one of COLUMN_SPECIALS, placed so the pieces differ:
    a NaN or +inf among the last elements only, a finite value among -inf near the end, the
    last quarter far above the rest (earlier pieces' sums merged with exp(m - max) ~ 0), huge values."""
    x = (np.random.default_rng(8).standard_normal((count, n)) * 5).astype(dtype)
    last = slice(n - n // 4, None)
    specials = [
        lambda r: r.__setitem__(n - 1, np.nan),
        lambda r: r.__setitem__(n - 2, np.inf),
        lambda r: r.__setitem__(slice(None), -np.inf),
        lambda r: (r.__setitem__(slice(None), -np.inf), r.__setitem__(n - 3, 2.0)),
        lambda r: (r.__setitem__(slice(None, None, 2), -np.inf), r[last].__iadd__(200)),
        lambda r: r.__imul__(1e30 if dtype == np.float32 else 1e300),
    ]
    for row, special in zip(x, specials):
        special(row)
    return x


PIECE_CASES = [  # input shape, reduced axis: rows (inner = 1) and columns, one line or a few
    ((6, 2100), (1,)), ((2100,), (0,)), ((1, 2100, 2), (1,)), ((2, 1100, 3), (1,)), ((2100, 3), (0,)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axes", PIECE_CASES, ids=[str(s) for s, _ in PIECE_CASES])
def test_softmax_of_few_long_lines_in_pieces(shape, axes, log, dtype):
    # 32 blocks of 8 threads: six lines of 2100 are a quarter of the grid or less, cut in pieces.
    gpu = RecordingLauncher(np, threads=8, max_blocks=32)
    name = "log_softmax" if log else "softmax"
    moved = np.moveaxis(np.empty(shape), axes[0], -1).shape
    x = lines_with_special_values(math.prod(moved[:-1]), moved[-1], dtype)
    x = np.ascontiguousarray(np.moveaxis(x.reshape(moved), -1, axes[0]))
    r = gpu.rows(name, x, axes)
    assert gpu.launched == ["line_pieces", f"{name}_pieces"]
    assert r.dtype == dtype and r.shape == x.shape and r.flags.c_contiguous
    _check_softmax(r, x, axes, dtype, log)
    lines = np.moveaxis(r, axes[0], -1).reshape(-1, x.shape[axes[0]])
    assert np.isnan(lines[:3]).all() and not np.isnan(lines[3:]).any()  # NaN; +inf; only -inf
    if not log and len(lines) > 3:
        np.testing.assert_array_equal(lines[3], np.eye(lines.shape[1])[-3])


def test_lines_enough_for_the_grid_or_short_stay_whole():
    gpu = RecordingLauncher(np, threads=8, max_blocks=32)
    rng = np.random.default_rng(9)
    x, columns = rng.standard_normal((9, 2100)), rng.standard_normal((1, 600, 72))
    # Input, axes, the kernel: 9 rows, or 9 tiles of 8 columns, are more than a quarter of 32
    # blocks; 2 rows of 500 or columns of 2 are too short to cut.
    cases = [
        (x, (1,), "softmax"), (x[:2, :500], (1,), "softmax"), (columns, (1,), "softmax_columns"),
        (x[:2, :2].reshape(1, 2, 2), (1,), "softmax_columns"), (x, (1,), "normalize_rows"),
        (x[:2, :500], (1,), "normalize_rows"),
    ]  # fmt: skip
    for v, axes, kernel in cases:
        gpu.launched.clear()
        name = "normalize_rows" if kernel == "normalize_rows" else "softmax"
        r = gpu.rows(name, v, axes)
        assert gpu.launched == [kernel], (v.shape, gpu.launched)
        if name == "softmax":
            _check_softmax(r, v, axes, np.float64, False)
        else:
            _check_normalized(r, v, np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_pieces_of_any_length_on_a_small_grid(log, dtype):
    # A length the host would not pick (7: not a multiple of 32, the last of 4 pieces short)
    # and more (tile, piece) pairs than the 3 blocks: the grid-stride loop; lanes past the last column.
    name, n, piece = ("log_softmax" if log else "softmax"), 23, 7
    x = lines_with_special_values(6, n, dtype)
    for count, inner, lanes, v in ((6, 1, 1, x), (6, 6, 4, x.T.copy())):  # rows; columns 4 to a tile
        out = np.full_like(v, 7.0)
        GPU._pieces(name, v.reshape(-1), out.reshape(-1), n, inner, count, lanes, piece)
        _check_softmax(out if inner == 1 else out.T, x, (1,), dtype, log)


def rows_to_normalize_in_pieces(n, dtype) -> np.ndarray:
    """(10, n): random rows but for specials placed so the pieces differ: NaN, +inf or -inf
    in the last piece only; the row's max far above the rest in its last quarter (earlier
    pieces rescaled by (m_j / max)^2 ~ 0); zero pieces before nonzero ones; all zero;
    subnormal; squares that overflow unscaled; a first piece whose (m_j / max)^2 underflows."""
    x = (np.random.default_rng(11).standard_normal((10, n)) * 5).astype(dtype)
    f = np.finfo(dtype)
    huge = 1e30 if dtype == np.float32 else 1e300
    x[0, n - 1], x[1, n - 2], x[2, n - 3] = np.nan, np.inf, -np.inf
    x[3, n - n // 4 :] *= 1e6
    x[4, : n - n // 4] = 0.0
    x[5] = 0.0
    x[6] = f.smallest_subnormal * np.arange(n) % 7
    x[7] *= huge
    x[8, : n // 4] *= float(f.tiny)  # relative to the rest, (m_0 / max)^2 is below the smallest subnormal
    return x


def _check_normalized(r, x, dtype):
    """r is x's rows normalized: NaN rows where x has a non-finite value; the rest within a few
    ulps of the long-double oracle (each element's error bounded by the row's sum of squares)."""
    bad = ~np.isfinite(x).all(axis=1)
    assert np.isnan(r[bad]).all() and not np.isnan(r[~bad]).any()
    ref = oracle.normalize_rows(x[~bad])
    eps = float(np.finfo(dtype).eps)
    bound = (8 + x.shape[1] ** 0.5 * 4) * eps * np.abs(ref).max(axis=1, keepdims=True) + eps * np.abs(ref)
    assert np.all(np.abs(r[~bad].astype(np.longdouble) - ref) <= bound)
    zero = ~np.any(x[~bad], axis=1)
    assert (r[~bad][zero] == 0).all()
    np.testing.assert_allclose(np.linalg.norm(r[~bad][~zero].astype(np.float64), axis=1), 1, rtol=30 * eps)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_normalize_few_long_rows_in_pieces(dtype):
    # 32 blocks of 8 threads: ten rows of 2100 are more than a quarter of the grid, so the
    # first three (each with a special) and then the next seven are cut, 4 and 3 pieces a row.
    gpu = RecordingLauncher(np, threads=8, max_blocks=32)
    x = rows_to_normalize_in_pieces(2100, dtype)
    for rows in (slice(0, 3), slice(3, 10)):
        gpu.launched.clear()
        r = gpu.rows("normalize_rows", x[rows], (1,))
        assert gpu.launched == ["norm_pieces", "normalize_rows_pieces"]
        assert r.dtype == dtype and r.shape == x[rows].shape
        _check_normalized(r, x[rows], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n,piece", [(17, 2), (23, 7)])
def test_normalize_pieces_of_any_length_on_a_small_grid(n, piece, dtype):
    # Lengths the host would not pick, more (row, piece) pairs than the 3 blocks (the grid-stride
    # loop) and, at 2, more pieces a row (9) than the block's 8 threads (the merge loop goes round).
    x = rows_to_normalize_in_pieces(n, dtype)
    out = np.full_like(x, 7.0)
    GPU._pieces("normalize_rows", x.reshape(-1), out.reshape(-1), n, 1, len(x), 1, piece)
    _check_normalized(out, x, dtype)


@pytest.mark.parametrize("threads", [8, 256])
def test_piece_length_fills_the_grid_with_pieces_worth_a_block(threads):
    from xpvec.kernels.gpu.host import PIECE_MIN_PER_THREAD

    for max_blocks in (12, 32, 1056):
        gpu = Launcher(np, threads=threads, max_blocks=max_blocks)
        for tiles in (1, 2, 3, 7, 100, 264, 265, 1000):
            for parts in (1, 2, threads):
                for n in (1, 100, 4 * parts * PIECE_MIN_PER_THREAD - 1, 4 * parts * PIECE_MIN_PER_THREAD, 10**5, 10**8):
                    piece = gpu.piece_length(tiles, n, parts)
                    if 4 * tiles > max_blocks or n < 4 * parts * PIECE_MIN_PER_THREAD:
                        assert piece == 0, (tiles, n, parts)  # enough tiles to go round, or too short to cut
                        continue
                    pieces = -(-n // piece)
                    assert piece % 32 == 0 and piece >= parts * PIECE_MIN_PER_THREAD
                    assert 2 <= pieces and tiles * pieces <= max_blocks  # one round of the grid
                    # As short as both limits allow, to the multiple of 32 above.
                    most = min(max_blocks // tiles, n // (parts * PIECE_MIN_PER_THREAD))
                    assert (piece - 32) * most < n <= piece * most


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_normalize_rows(dtype):
    x = rows_with_special_values(dtype)
    x[3:5] = (np.random.default_rng(3).standard_normal((2, WIDTH)) * 1e-3).astype(dtype)
    x[6] = x[6] if dtype == np.float64 else np.float32(3e38) * np.sign(x[6])  # sum of squares would overflow
    r = GPU.rows("normalize_rows", x, (1,))
    assert np.isnan(r[[1, 2, 5]]).all()  # NaN, inf, -inf in the row
    ok = [0, 3, 4, 6, 7, 8]
    ref = oracle.normalize_rows(x[ok])
    eps = float(np.finfo(dtype).eps)
    bound = (8 + x.shape[1]) * eps * np.abs(ref).max(axis=1, keepdims=True) + eps * np.abs(ref)
    assert np.all(np.abs(r[ok].astype(np.longdouble) - ref) <= bound)
    assert (r[8] == 0).all()
    np.testing.assert_allclose(np.linalg.norm(r[ok][:-1].astype(np.float64), axis=1), 1, rtol=30 * eps)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("which", ["l1", "l2"])
@pytest.mark.parametrize("n", [0, 1, 7, 100])
def test_losses(which, n, dtype):
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal(n).astype(dtype) for _ in range(2))
    r = GPU.loss_sum(f"{which}_partials", a, b)
    assert r.shape == () and r.dtype == dtype
    d = a.astype(np.longdouble) - b.astype(np.longdouble)
    terms = np.abs(d) if which == "l1" else d * d
    ref = np.sum(terms)
    assert abs(r.astype(np.longdouble) - ref) <= oracle.gamma(n + 2, dtype) * ref


def test_column_sums_of_many_partials():
    p = np.random.default_rng(5).standard_normal((50, 4))
    np.testing.assert_allclose(GPU.column_sums(p), p.sum(axis=0), rtol=1e-13)


def _logistic_problem(n, d, k, dtype, weighted):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((n, d)).astype(dtype)
    labels = rng.integers(0, max(k, 2), n)
    Y = (labels if k == 1 else labels[:, None] == np.arange(k)).astype(dtype)
    W = (rng.standard_normal(d if k == 1 else (d, k)) * 2).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    sw = rng.random(n).astype(dtype) * 2 if weighted else None
    return X, Y, W, b, sw


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("k", [1, 3], ids=["binary", "multinomial"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
# d = 6: even (the padded row stride d | 1 differs from d) and not a divisor of 8 threads,
# so the tile load's column wrap lands on a distinct slot.
@pytest.mark.parametrize("d", [5, 6, 13], ids=["narrow", "even", "wider-than-the-block"])
def test_fused_logistic_loss_grad(k, weighted, d, dtype):
    n = 37
    X, Y, W, b, sw = _logistic_problem(n, d, k, dtype, weighted)
    # Tiles of 8 rows: 37 rows are 5 tiles over 3 blocks, the last tile short.
    itemsize = np.dtype(dtype).itemsize
    gpu = Launcher(np, threads=8, max_blocks=3, shared_budget=logistic.shared_bytes(8, d, k, itemsize, 8))
    loss, gW, gb = gpu.logistic_loss_grad(X, Y, W, b, sw)
    assert loss.shape == () and gW.shape == W.shape and gb.shape == (k,)
    assert loss.dtype == np.float64 and gW.dtype == gb.dtype == dtype  # the loss summed in float64
    ref_loss, ref_gW, ref_gb = oracle.logistic_loss_grad(X, Y, W, b, sw)
    # Each term carries the rounding of its logit (d products) and of its softmax,
    # then n terms are summed: a generous gamma_(n + d + 10) times the sum of |terms|.
    g = oracle.gamma(n + d + 10, dtype)
    w = np.ones(n) if sw is None else sw.astype(np.float64)
    z_scale = np.abs(X.astype(np.float64)) @ np.abs(W.astype(np.float64)).reshape(d, k) + np.abs(b) + 1
    assert abs(loss - ref_loss) <= g * np.sum(w[:, None] * z_scale)
    row_scale = w[:, None] * z_scale
    assert np.all(np.abs(gW.reshape(d, k) - ref_gW.reshape(d, k)) <= g * np.abs(X.T.astype(np.float64)) @ row_scale)
    assert np.all(np.abs(gb - ref_gb) <= g * row_scale.sum(axis=0))


@pytest.mark.parametrize("k", [1, 3], ids=["binary", "multinomial"])
def test_fused_logistic_sums_the_loss_in_float64(k):
    # Per thread, across the block and across the blocks (sum_columns' extra block): row 0's
    # loss of 30000 would swallow the others' in any float32 sum (oracle.hard_loss_sums).
    for kind, problem in oracle.hard_loss_sums(k, np.float32).items():
        # Tiles of 8 rows over 3 blocks: 64 rows are 8 tiles, so each block sums several.
        d = problem[2].shape[0]
        gpu = Launcher(np, threads=8, max_blocks=3, shared_budget=logistic.shared_bytes(8, d, k, 4, 8))
        loss, grad_W, _ = gpu.logistic_loss_grad(*problem, None)
        assert grad_W.dtype == np.float32
        oracle.assert_summed_in_float64(kind, problem, loss)


def test_column_sums_add_float64_partials_in_the_same_launch():
    p = np.random.default_rng(8).standard_normal((50, 4)).astype(np.float32)
    wide = np.full(50, 1e-3)
    wide[0] = 3e4
    sums, total = GPU.column_sums(p, wide)
    np.testing.assert_allclose(sums, p.sum(axis=0, dtype=np.float64), rtol=1e-5)
    assert total.dtype == np.float64 and total.shape == () and abs(float(total) - (3e4 + 49e-3)) < 1e-9


def test_fused_logistic_declines_what_it_cannot_tile():
    X, Y, W, b, _ = _logistic_problem(4, 3, 1, np.float64, False)
    assert Launcher(np, threads=8, max_blocks=3, shared_budget=64).logistic_loss_grad(X, Y, W, b, None) is None
    assert GPU.logistic_loss_grad(np.asfortranarray(X), Y, W, b, None) is None


# ----------------------------------------------------------------- the backend's wiring
def simulated_cupy_backend():
    """The cupy backend with NumPy in CuPy's place and the simulator in the GPU's: its kernel
    methods, the base class's validation and dtype policy, and the launcher; not CuPy itself."""
    from xpvec.backends.cupy_backend import CupyBackend

    backend = CupyBackend.__new__(CupyBackend)  # __init__ would import cupy
    backend._cp = backend._ns = np
    backend._gpu = Launcher(np, threads=8, max_blocks=3)
    return backend


def test_backend_methods_agree_with_numpy():
    from xpvec._registry import get_instance

    gpu, ref = simulated_cupy_backend(), get_instance("numpy")
    x = (np.random.default_rng(7).standard_normal((4, 6)) * 5).astype(np.float32)
    calls = [
        ("sigmoid", (x,), {}), ("sigmoid_grad", (x.T,), {}), ("log_sigmoid", (x[:, ::2],), {}),
        ("softmax", (x,), {"axis": 0}), ("softmax", (x,), {"axis": None}), ("log_softmax", (x,), {"axis": -1}),
        ("normalize_rows", (x,), {}), ("l1_loss", (x, x[::-1]), {}), ("l2_loss", (x, x * 0.5), {}),
        ("dot", (x, x.T), {}), ("sigmoid", (x.astype(np.float16),), {}), ("softmax", (np.arange(5),), {}),
    ]  # fmt: skip
    for name, args, kwargs in calls:
        got, want = getattr(gpu, name)(*args, **kwargs), getattr(ref, name)(*args, **kwargs)
        assert np.asarray(got).dtype == np.asarray(want).dtype and np.shape(got) == np.shape(want), name
        np.testing.assert_allclose(got, want, rtol=2e-6 if got.dtype != np.float64 else 1e-13, err_msg=name)
    with pytest.raises(ValueError, match="same shape"):
        gpu.l1_loss(x, x[:2])
    with pytest.raises(TypeError, match="to_device"):
        gpu.sigmoid([1.0, 2.0])  # not the array type the backend computes on


@pytest.mark.parametrize("d", [4, 2000], ids=["fused", "too-wide-two-pass"])
def test_backend_loss_grad_and_training(d):
    from xpvec._registry import get_instance
    from xpvec.models._lbfgs import lbfgs
    from xpvec.models._monitor import Monitor
    from xpvec.models._objective import LogisticObjective

    gpu, ref = simulated_cupy_backend(), get_instance("numpy")
    X, Y, W, b, sw = _logistic_problem(40, d, 3, np.float64, True)
    for got, want in zip(gpu.logistic_loss_grad(X, Y, W, b, sw), ref.logistic_loss_grad(X, Y, W, b, sw), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    if d > 4:
        return  # the two-pass path is the base class's, trained on by every other backend
    thetas = []
    for backend in (gpu, ref):
        fun = LogisticObjective(backend, X, Y, sw, C=1.0, fit_intercept=True)
        result = lbfgs(fun, fun.zeros(), max_iter=50, tol=1e-8, monitor=Monitor("lbfgs", 50, False, None))
        thetas.append(result.theta)
    np.testing.assert_allclose(thetas[0], thetas[1], rtol=1e-7, atol=1e-9)


def test_loss_grad_of_no_rows_is_left_to_the_generic_path():
    # No rows means no blocks; the one block a launch still starts would write past an empty
    # partials array. The fused path declines and the backend's generic formula answers.
    from xpvec._registry import get_instance

    X, Y, W, b, sw = _logistic_problem(0, 4, 3, np.float64, True)
    assert Launcher(np, threads=8, max_blocks=3).logistic_loss_grad(X, Y, W, b, sw) is None
    got = simulated_cupy_backend().logistic_loss_grad(X, Y, W, b, sw)
    want = get_instance("numpy").logistic_loss_grad(X, Y, W, b, sw)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
