"""The numba backend's fused logistic loss and gradient against the NumPy two-pass version.

- loss and gradients agree (float64 to ~1e-12 relative, float32 to its
  precision) for binary and multinomial, weighted or not, with saturated
  logits, on both sides of the parallel size threshold;
- the serial and parallel variants give the same bits (same chunks, same order);
- any layout of X is accepted (copied to C order), inputs are never modified;
- NaN and inf in X propagate to the loss and gradient, as in NumPy;
- ``check_grad`` of the fused gradient (the shared LR suite also runs it,
  at saturated points, over every training backend);
- a fit keeps NumPy's BLAS on one thread (its threads would spin on the kernel's cores),
  and fits overlapping in threads restore it when the last one ends.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("numba")

from xpvec.kernels.cpu import logistic  # noqa: E402

import xpvec  # noqa: E402
from xpvec._registry import get_instance  # noqa: E402

# Rows on each side of the threshold at d = 8, binary (work 16 per row; serially below it).
SERIAL_ROWS, PARALLEL_ROWS = 300, logistic.LOSS_GRAD_MIN_WORK // 16 + 77
RTOL = {np.float64: 1e-12, np.float32: 2e-5}


def problem(n, n_outputs, dtype, weighted, seed=0, d=8):
    """Random data where a fifth of the rows have logits |z| >= 30 (saturated)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[rng.random(n) < 0.2] *= 40.0
    if n_outputs == 1:
        W, b = rng.standard_normal(d), rng.standard_normal(1)
        Y = rng.integers(0, 2, n).astype(float)
    else:
        W, b = rng.standard_normal((d, n_outputs)), rng.standard_normal(n_outputs)
        Y = np.eye(n_outputs)[rng.integers(0, n_outputs, n)]
    sw = rng.uniform(0.5, 2.0, n) if weighted else None
    cast = lambda a: None if a is None else a.astype(dtype)  # noqa: E731
    return cast(X), cast(Y), cast(W), cast(b), cast(sw)


def assert_agrees(got, want, rtol):
    """Each result close to NumPy's relative to its largest entry (gradients sum signed terms)."""
    for g, w in zip(got, want, strict=True):
        assert type(g) is np.ndarray and g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * np.max(np.abs(w)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_outputs", [1, 4], ids=["binary", "multinomial"])
@pytest.mark.parametrize("n", [SERIAL_ROWS, PARALLEL_ROWS], ids=["serial", "parallel"])
def test_agrees_with_numpy(n, n_outputs, weighted, dtype):
    X, Y, W, b, sw = problem(n, n_outputs, dtype, weighted)
    want = get_instance("numpy").logistic_loss_grad(X, Y, W, b, sw)
    got = get_instance("numba").logistic_loss_grad(X, Y, W, b, sw)
    assert_agrees(got, want, RTOL[dtype])


@pytest.mark.parametrize("n_outputs", [1, 3], ids=["binary", "multinomial"])
def test_serial_and_parallel_give_the_same_bits(n_outputs):
    X, Y, W, b, sw = problem(PARALLEL_ROWS, n_outputs, np.float64, True)
    Wt = np.ascontiguousarray(W.reshape(len(W), -1).T)
    serial = logistic.loss_grad_serial(X, Y, Wt, b, sw)
    parallel = logistic.loss_grad_parallel(X, Y, Wt, b, sw)
    for s, p in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(s, p)


@pytest.mark.parametrize("layout", ["fortran", "strided", "reversed"])
def test_any_layout_of_x_and_inputs_untouched(layout):
    X, Y, W, b, sw = problem(SERIAL_ROWS, 3, np.float64, True)
    odd = {
        "fortran": np.asfortranarray(X),
        "strided": np.repeat(X, 2, axis=1)[:, ::2],
        "reversed": X[::-1].copy()[::-1],
    }[layout]
    before = [a.copy() for a in (odd, Y, W, b, sw)]
    want = get_instance("numpy").logistic_loss_grad(X, Y, W, b, sw)
    assert_agrees(get_instance("numba").logistic_loss_grad(odd, Y, W, b, sw), want, 1e-12)
    for a, copy in zip((odd, Y, W, b, sw), before, strict=True):
        np.testing.assert_array_equal(a, copy)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("n_outputs", [1, 3], ids=["binary", "multinomial"])
def test_non_finite_x_propagates_like_numpy(n_outputs, bad):
    X, Y, W, b, sw = problem(SERIAL_ROWS, n_outputs, np.float64, False)
    X[5, 2] = bad
    want = get_instance("numpy").logistic_loss_grad(X, Y, W, b, sw)
    got = get_instance("numba").logistic_loss_grad(X, Y, W, b, sw)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_array_equal(np.isinf(g), np.isinf(w))


def test_empty_data_gives_zero_loss_and_gradient():
    X, Y, W, b, _ = problem(0, 3, np.float64, False)
    loss, gW, gb = get_instance("numba").logistic_loss_grad(X, Y, W, b, None)
    assert loss == 0.0 and not gW.any() and not gb.any()


@pytest.mark.parametrize("n_outputs", [1, 3], ids=["binary", "multinomial"])
@pytest.mark.parametrize("n", [SERIAL_ROWS, PARALLEL_ROWS], ids=["serial", "parallel"])
def test_check_grad_of_the_fused_gradient(n, n_outputs):
    X, Y, W, b, sw = problem(n, n_outputs, np.float64, True)
    X /= 40.0  # moderate logits: the finite differences then see curvature
    backend = get_instance("numba")

    def unpack(theta):
        return theta[: W.size].reshape(W.shape), theta[W.size :]

    def loss(theta):
        return backend.logistic_loss_grad(X, Y, *unpack(theta), sw)[0]

    def grad(theta):
        _, gW, gb = backend.logistic_loss_grad(X, Y, *unpack(theta), sw)
        return np.concatenate([gW.ravel(), gb])

    theta = np.concatenate([W.ravel(), b])
    assert xpvec.check_grad(loss, grad, theta, backend="numba") < 1e-6


def test_fit_keeps_numpys_blas_on_one_thread_and_restores_it(monkeypatch):
    # The solver's small NumPy products between kernel calls left OpenBLAS threads spinning on
    # the cores the kernel's threads needed (a digits fit: 24 ms on 2 cores, 10.9 with one).
    from threadpoolctl import threadpool_info

    from xpvec.models._monitor import Monitor

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    seen, record = [], Monitor.record
    monkeypatch.setattr(Monitor, "record", lambda self, loss: (seen.append(blas_threads()), record(self, loss))[1])
    before = blas_threads()
    X, y = problem(2000, 1, np.float64, False)[:2]
    xpvec.LogisticRegression(backend="numba").fit(X, y > 0.5)
    assert seen and all(threads == [1] * len(before) for threads in seen)
    assert blas_threads() == before
    seen.clear()
    xpvec.LogisticRegression(backend="numpy").fit(X, y > 0.5)  # its products are BLAS's big ones
    assert seen and all(threads == before for threads in seen)


def test_overlapping_fits_restore_blas_threads_when_the_last_one_ends():
    # Fits in two threads overlap: the first in limits BLAS to one thread, the last out
    # restores. Each limiting and restoring on its own, the second saved the first's 1 and
    # restored it when it ended: BLAS stayed on one thread for good.
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    training = get_instance("numba").training
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert before and all(n == 2 for n in before)
        first, second = training(), training()
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert all(n == 1 for n in blas_threads())  # the second fit is still inside
        second.__exit__(None, None, None)
        assert blas_threads() == before

        # And through real fits started together in two threads.
        X, y = problem(2000, 1, np.float64, False)[:2]
        barrier = threading.Barrier(2)

        def fit():
            barrier.wait()
            xpvec.LogisticRegression(backend="numba").fit(X, y > 0.5)

        threads = [threading.Thread(target=fit) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert blas_threads() == before


def test_the_parallel_threshold_counts_work_not_elements(monkeypatch):
    # An element of X costs about 2K flops: the same rows run serially for two classes and in
    # parallel for ten, whose work is 5.5 times more.
    ran = []
    kernel = logistic.loss_grad._replace(
        serial=lambda *a: ran.append("serial") or logistic.loss_grad_serial(*a),
        parallel=lambda *a: ran.append("parallel") or logistic.loss_grad_parallel(*a),
    )
    monkeypatch.setattr(logistic, "loss_grad", kernel)
    rows = logistic.LOSS_GRAD_MIN_WORK // 16 - 1  # binary at d = 8: just below
    for n_outputs in (1, 10):
        X, Y, W, b, sw = problem(rows, n_outputs, np.float64, False)
        get_instance("numba").logistic_loss_grad(X, Y, W, b, sw)
    assert ran == ["serial", "parallel"]
