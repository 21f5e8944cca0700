"""The array_api backend keeps to the data's device: array-api-strict's second
device ("device1") refuses to combine arrays of two devices, so any array the
model, its solvers or check_grad create on the default device instead of the
data's fails here. A fit on device1 must equal the same fit on the default
device; labels and weights are read on the host, so they may live anywhere."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpvec
from xpvec._arrays import device_of, on_device_of

xs = pytest.importorskip("array_api_strict")
DEVICE1 = xs.Device("device1")

rng = np.random.default_rng(0)
X_HOST = rng.standard_normal((40, 4))
WEIGHTS = rng.uniform(0.5, 2.0, 40)
LABELS = {2: rng.integers(0, 2, 40), 3: rng.integers(0, 3, 40)}
PREDICTIONS = ("predict", "predict_proba", "predict_log_proba", "decision_function")


def on(a, device=None, dtype=None):
    a = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
    return xs.asarray(a) if device is None else xs.asarray(a, device=device)


def fit(X, y, sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at these small max_iter
        return xpvec.LogisticRegression(random_state=0, max_iter=30, **params).fit(X, y, sample_weight=sample_weight)


def assert_same_model(model, reference, X, X_reference, y, y_reference, rtol):
    for name in ("coef_", "intercept_", "loss_curve_"):
        got = getattr(model, name)
        assert type(got) is np.ndarray, name  # fitted attributes are NumPy (API.md)
        np.testing.assert_allclose(got, getattr(reference, name), rtol=rtol, atol=rtol, err_msg=name)
    np.testing.assert_array_equal(model.n_iter_, reference.n_iter_)
    for name in PREDICTIONS:
        got, expected = getattr(model, name)(X), getattr(reference, name)(X_reference)
        assert type(got) is np.ndarray, name
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol, err_msg=name)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=name)
    assert model.score(X, y) == reference.score(X_reference, y_reference)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "multinomial"])
@pytest.mark.parametrize("solver", ["lbfgs", "gd", "sgd"])
def test_fit_on_device1_equals_the_fit_on_the_default_device(solver, n_classes, weighted, dtype):
    y, w = LABELS[n_classes], WEIGHTS if weighted else None
    X0, y0, w0 = on(X_HOST, dtype=dtype), on(y), None if w is None else on(w)
    X1, y1, w1 = on(X_HOST, DEVICE1, dtype), on(y, DEVICE1), None if w is None else on(w, DEVICE1)
    reference = fit(X0, y0, w0, solver=solver)
    model = fit(X1, y1, w1, solver=solver)
    assert X1.device == DEVICE1  # the inputs are left where they are
    assert_same_model(model, reference, X1, X0, y1, y0, rtol=10 * np.finfo(dtype).eps)


def test_fit_without_intercept_on_device1():
    y = LABELS[3]
    reference = fit(on(X_HOST), on(y), fit_intercept=False)
    model = fit(on(X_HOST, DEVICE1), on(y, DEVICE1), fit_intercept=False)
    np.testing.assert_array_equal(model.intercept_, 0.0)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "multinomial"])
def test_labels_and_weights_may_live_on_another_device(n_classes):
    """Labels and weights are n-sized and read on the host (as for the other
    backends), so mixing their device with X's works, as does predicting on
    data on another device than the training data's."""
    y = LABELS[n_classes]
    reference = fit(on(X_HOST), on(y), on(WEIGHTS))
    model = fit(on(X_HOST, DEVICE1), on(y), on(WEIGHTS))  # X on device1, y and weights on the default
    assert_same_model(model, reference, on(X_HOST, DEVICE1), on(X_HOST), on(y), on(y), rtol=1e-12)
    model = fit(on(X_HOST), on(y, DEVICE1), on(WEIGHTS, DEVICE1))
    assert_same_model(model, reference, on(X_HOST), on(X_HOST), on(y, DEVICE1), on(y), rtol=1e-12)
    assert model.score(on(X_HOST), y, sample_weight=on(WEIGHTS, DEVICE1)) == reference.score(
        X_HOST, y, sample_weight=WEIGHTS
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_check_grad_on_device1(dtype):
    x0 = on(rng.standard_normal((4, 3)), dtype=dtype)
    x1 = on(np.asarray(x0), DEVICE1)

    def f(v):
        return xpvec.l2_loss(v, v * 0)

    expected = xpvec.check_grad(f, lambda v: 2 * v, x0)
    assert xpvec.check_grad(f, lambda v: 2 * v, x1) == expected < 1e-8
    # A gradient given as host values is placed on x's device too.
    assert xpvec.check_grad(f, lambda v: 2 * np.asarray(x0, dtype=np.float64), x1) == pytest.approx(expected)


def test_ops_refuse_mixed_devices_with_the_librarys_error():
    """What the models' behaviour is consistent with: the ops compute where their
    inputs are, so two devices in one op is the library's own error."""
    with pytest.raises(ValueError, match="different devices"):
        xpvec.l2_loss(on(X_HOST, DEVICE1), on(X_HOST))


def test_on_device_of():
    x = on(X_HOST, DEVICE1)
    assert device_of(x) == DEVICE1
    assert on_device_of(xs, x) == {"device": DEVICE1}
    assert on_device_of(np, X_HOST) == {"device": "cpu"}
    assert on_device_of(np, [1.0]) == {}  # names no device

    class NoStandard:  # a namespace predating the standard's device= keyword
        __name__ = "legacy"

    class Cupy:  # the cupy module: creation places on its current device
        __name__ = "cupy"
        __array_api_version__ = "2023.12"

    assert on_device_of(NoStandard(), x) == {}
    assert on_device_of(Cupy(), x) == {}

    class OldJax:  # older jax: device() is a method
        def device(self):
            return "gpu:0"

    assert device_of(OldJax()) == "gpu:0"
