"""check_grad against functions whose gradients are known, and against wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

import xpvec

from .conftest import backend_params, to_backend


def to_host(v):
    return xpvec.to_numpy(v).astype(np.float64)


@pytest.mark.parametrize("backend", [b for b in ["numpy", "python"]])
def test_known_gradients_pass(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    cases = [
        (lambda v: np.sum(v**2), lambda v: 2 * v),
        (lambda v: np.sum(np.sin(v)), np.cos),
        (lambda v: np.prod(v[0]), lambda v: np.vstack([np.prod(v[0]) / v[0], np.zeros((2, 4))])),
    ]
    for f, g in cases:
        assert xpvec.check_grad(f, g, x, backend=backend) < 1e-8


def test_wrong_gradients_are_flagged():
    x = np.random.default_rng(1).standard_normal(6)
    assert xpvec.check_grad(lambda v: np.sum(np.sin(v)), lambda v: -np.cos(v), x) > 0.5
    assert xpvec.check_grad(lambda v: np.sum(v**2), lambda v: v, x) > 0.1  # off by a factor 2
    off_by_one = lambda v: 2 * v + np.eye(1, 6, 3)[0] * 1e-3  # noqa: E731  one slightly wrong entry
    assert xpvec.check_grad(lambda v: np.sum(v**2), off_by_one, x) > 1e-5


@pytest.mark.parametrize("backend", backend_params())
def test_gradients_of_xpvec_ops_on_each_backend(backend):
    x = np.array([-40.0, -3.0, -0.5, 0.0, 0.7, 4.0, 35.0])
    # d/dx sum(log_sigmoid(x)) = sigmoid(-x); d/dx sum(sigmoid(x)) = sigmoid_grad(x)
    err = xpvec.check_grad(
        lambda v: float(np.sum(to_host(xpvec.log_sigmoid(v)))),
        lambda v: xpvec.sigmoid(-v),
        to_backend(x, backend),
        backend=backend,
    )
    assert err < 1e-7
    z = np.random.default_rng(2).standard_normal(5)
    w = np.random.default_rng(3).standard_normal(5)
    # d/dz <w, log_softmax(z)> = w - softmax(z) * sum(w)
    err = xpvec.check_grad(
        lambda v: float(np.dot(w, to_host(xpvec.log_softmax(v)))),
        lambda v: w - to_host(xpvec.softmax(v)) * w.sum(),
        to_backend(z, backend),
        backend=backend,
    )
    assert err < 1e-7


def test_functions_run_with_the_checked_backend():
    seen = []

    def f(v):
        seen.append(xpvec.get_backend().name)
        return float(np.sum(v**2))

    xpvec.check_grad(f, lambda v: 2 * v, np.ones(2), backend="python")
    assert set(seen) == {"python"}


def test_input_is_not_modified_and_ints_become_float64():
    x = np.array([1, 2, 3])
    x.flags.writeable = False
    received = []

    def f(v):
        received.append(v.dtype)
        return float(np.sum(v.astype(np.float64) ** 3))

    assert xpvec.check_grad(f, lambda v: 3 * v**2, x) < 1e-8
    np.testing.assert_array_equal(x, [1, 2, 3])
    assert set(received) == {np.dtype(np.float64)}


def test_check_grad_errors():
    with pytest.raises(ValueError, match=r"grad\(x\) has shape \(2,\) but x has shape \(3,\)"):
        xpvec.check_grad(lambda v: 0.0, lambda v: np.zeros(2), np.zeros(3))
    with pytest.raises(TypeError, match=r"f\(x\) must return a scalar"):
        xpvec.check_grad(lambda v: v, lambda v: v, np.zeros(3))
    for text in ("1.5", b"1.5", bytearray(b"1.5"), np.array("1.5"), np.array(b"1.5"), np.complex128(1.0)):
        with pytest.raises(TypeError, match=r"f\(x\) must return a scalar, got"):
            xpvec.check_grad(lambda v, text=text: text, lambda v: np.zeros_like(v), np.zeros(3))
    assert xpvec.check_grad(lambda v: 1.0, lambda v: np.zeros_like(v), np.zeros(3)) == 0.0
    f, g = (lambda v: float(np.sum(v**2))), (lambda v: 2 * v)
    for eps in (0, -1e-6, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="eps must be a positive finite step"):
            xpvec.check_grad(f, g, np.ones(3), eps=eps)
    with pytest.raises(ValueError, match=r"eps=1e-300 is too small to move x\[1\] = 2\.0"):
        xpvec.check_grad(f, g, np.array([0.0, 2.0]), eps=1e-300)
    assert xpvec.check_grad(f, g, np.array([0.0, 2.0]), eps=1e-4) < 1e-8  # a large step is still a step


@pytest.mark.parametrize("scale", [1e-170, 1e-30, 1.0, 1e30, 1e160])
def test_relative_error_does_not_depend_on_the_gradients_scale(scale):
    # The same gradient, off by a factor 2 (error 1/3), at any scale: the norms' squares
    # must neither underflow (a perfect 0) nor overflow (NaN), and raise no FP warning.
    x = np.array([1.0, 2.0, -0.5])
    f = lambda v: scale * float(np.sum(v))  # noqa: E731
    with np.errstate(all="raise"):
        assert xpvec.check_grad(f, lambda v: np.full_like(v, 2 * scale), x) == pytest.approx(1 / 3, rel=1e-6)
        assert xpvec.check_grad(f, lambda v: np.full_like(v, scale), x) < 1e-8


def test_non_finite_gradients_give_nan():
    x = np.array([1.0, 2.0])
    assert np.isnan(xpvec.check_grad(lambda v: float(np.sum(v)), lambda v: np.array([1.0, np.inf]), x))
    assert np.isnan(xpvec.check_grad(lambda v: float(np.sum(v)), lambda v: np.array([np.nan, 1.0]), x))
    assert xpvec.check_grad(lambda v: 0.0, np.zeros_like, x) == 0.0


class _CachingObjective:
    """sum(x**2), skipping the work when called again at its last x, which it keeps by
    reference (the cache of scipy's MemoizeJac, and of many hand-written objectives).
    It also records every array it was handed, with the values that array held then."""

    def __init__(self):
        self.last, self.value, self.seen = None, None, []

    def __call__(self, v):
        now = to_host(v)
        self.seen.append((v, now.copy()))
        if self.last is not None and np.array_equal(to_host(self.last), now):
            return self.value
        self.last, self.value = v, float(np.sum(now**2))
        return self.value


@pytest.mark.parametrize("backend", backend_params())
def test_every_call_of_f_gets_an_array_of_its_own(backend):
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    f = _CachingObjective()
    # Reference: the analytic gradient 2x, which scipy's check_grad also finds right.
    assert scipy.optimize.check_grad(_CachingObjective(), lambda v: 2 * v, x.ravel()) < 1e-6
    assert xpvec.check_grad(f, lambda v: 2 * v, to_backend(x, backend), backend=backend) < 1e-8
    assert len(f.seen) == 2 * x.size
    for k, (v, then) in enumerate(f.seen):
        np.testing.assert_array_equal(to_host(v), then)  # nothing changed what f kept
        moved = np.flatnonzero(then != x)
        assert moved.tolist() == [k // 2]  # x stepped in its own coordinate only
        assert (then.ravel()[k // 2] > x.ravel()[k // 2]) == (k % 2 == 0)  # + then -


def test_grad_may_write_over_its_input():
    x = np.array([1.0, -2.0, 3.0])

    def grad(v):  # the right gradient 2v, computed in place as scratch-saving code does
        v *= 2
        return v

    assert xpvec.check_grad(lambda v: float(np.sum(v**2)), grad, x) < 1e-8
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])


@pytest.mark.parametrize("eps", ["a", b"x", [1e-6, 1e-6], object()], ids=["str", "bytes", "list", "object"])
def test_eps_that_is_no_number_is_named(eps):
    f, g = (lambda v: float(np.sum(v**2))), (lambda v: 2 * v)
    with pytest.raises(TypeError, match=r"^xpvec\.check_grad: eps must be a number \(the relative step\), not an? "):
        xpvec.check_grad(f, g, np.ones(3), eps=eps)
    assert xpvec.check_grad(f, g, np.ones(3), eps=np.float32(1e-4)) < 1e-8  # NumPy scalars are numbers
