"""LogisticRegression: agreement with scikit-learn, solvers, the fused gradient, the estimator contract."""

import pickle
import re
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

import xpvec
from xpvec import to_numpy
from xpvec._registry import get_instance
from xpvec.models._objective import LogisticObjective

from . import oracle
from .conftest import training_backends

BACKENDS = training_backends()
TIGHT = dict(tol=1e-10, max_iter=10_000)


def standardized(load):
    X, y = load(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module", params=[load_breast_cancer, load_digits], ids=["breast_cancer", "digits"])
def dataset(request):
    return standardized(request.param)


def objective(model, X, y, C):
    """scikit-learn's objective C * sum_i loss_i + 0.5 ||W||^2 at a fitted model's parameters."""
    Z = X @ model.coef_.T + model.intercept_
    if Z.shape[1] == 1:
        z, t = Z[:, 0], y == model.classes_[1]
        losses = np.logaddexp(0.0, z) - t * z
    else:
        losses = logsumexp(Z, axis=1) - Z[np.arange(len(y)), np.searchsorted(model.classes_, y)]
    return C * losses.sum() + 0.5 * np.sum(model.coef_**2)


def small_problem(n_classes, n_samples=80, n_features=5, seed=0):
    return make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        random_state=seed,
    )


def assert_close_rel(actual, desired, rtol):
    """Close relative to the largest entry (coefficients near 0 have no meaningful relative error)."""
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * np.max(np.abs(desired)))


# ---------------------------------------------------------------- agreement
@pytest.mark.parametrize("backend", [name for name in BACKENDS if name != "python"])
def test_lbfgs_matches_sklearn(dataset, backend):
    X, y = dataset
    ours = xpvec.LogisticRegression(backend=backend, **TIGHT).fit(X, y)
    ref = SkLogisticRegression(**TIGHT).fit(X, y)
    assert ours.coef_.shape == ref.coef_.shape and ours.intercept_.shape == ref.intercept_.shape
    assert_close_rel(ours.coef_, ref.coef_, 1e-4)
    assert_close_rel(ours.intercept_, ref.intercept_, 1e-4)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    assert ours.score(X, y) == pytest.approx(ref.score(X, y))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_fits_the_same_model(backend, n_classes):
    X, y = small_problem(n_classes)
    ours = xpvec.LogisticRegression(backend=backend, **TIGHT).fit(X, y)
    ref = SkLogisticRegression(**TIGHT).fit(X, y)
    assert_close_rel(ours.coef_, ref.coef_, 1e-4)
    assert_close_rel(ours.intercept_, ref.intercept_, 1e-4)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_sklearn_options(fit_intercept):
    X, y = small_problem(3)
    kw = dict(C=0.3, fit_intercept=fit_intercept, **TIGHT)
    ours = xpvec.LogisticRegression(**kw).fit(X, y)
    ref = SkLogisticRegression(**kw).fit(X, y)
    assert_close_rel(ours.coef_, ref.coef_, 1e-4)
    if fit_intercept:
        assert_close_rel(ours.intercept_, ref.intercept_, 1e-4)
    else:
        np.testing.assert_array_equal(ours.intercept_, 0.0)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("scale", [1e-8, 1e20, 1e60])
def test_lbfgs_fits_features_of_any_scale(scale, n_classes):
    # X * s with C / s^2 (and tol * s, no intercept) is the problem on X with coef / s: scikit-learn
    # at unit scale is the oracle, and L-BFGS takes the same steps (its first one was a unit step,
    # which at 1e20 overshoots by more than its line search's 50 halvings can take back).
    X, y = small_problem(n_classes)
    ref = SkLogisticRegression(fit_intercept=False, **TIGHT).fit(X, y)
    unit = xpvec.LogisticRegression(fit_intercept=False, **TIGHT).fit(X, y)
    ours = xpvec.LogisticRegression(C=scale**-2, fit_intercept=False, tol=1e-10 * scale, max_iter=10_000)
    ours.fit(X * scale, y)
    assert_close_rel(ours.coef_ * scale, ref.coef_, 1e-4)
    assert abs(int(ours.n_iter_[0]) - int(unit.n_iter_[0])) <= 2


def test_lbfgs_trains_on_badly_scaled_features_and_says_why_it_cannot_beyond_floats():
    X, y = standardized(load_breast_cancer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter: unregularized in effect
        far = xpvec.LogisticRegression().fit(X * 1e17, y)
    assert far.n_iter_[0] > 10 and far.score(X * 1e17, y) > 0.98  # it stopped at 0 iterations (0.37)
    # Beyond ~1e150 the curvature overflows float64: no step can be found, and the warning says why.
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="raise"):
        warnings.simplefilter("always")
        xpvec.LogisticRegression().fit(X * 1e200, y)
    assert [w.category for w in caught] == [ConvergenceWarning]  # no overflow warning on the way
    message = str(caught[0].message)
    assert "too badly scaled" in message and "Standardize the features" in message
    assert "max_iter" not in message  # more iterations cannot help there


@pytest.mark.parametrize(
    "solver, max_iter", [("gd", 3000), ("sgd", 300)], ids=["gd", "sgd"]
)
def test_gd_and_sgd_reach_sklearn_objective(dataset, solver, max_iter):
    # C = 0.1: at C = 1 these nearly separable problems are ill-conditioned enough
    # that first-order methods need far more iterations than a unit test affords.
    X, y = dataset
    C = 0.1
    ref = SkLogisticRegression(C=C, **TIGHT).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = xpvec.LogisticRegression(C=C, solver=solver, max_iter=max_iter, tol=1e-6, random_state=0)
        ours.fit(X, y)
    f_ref = objective(ref, X, y, C)
    assert objective(ours, X, y, C) == pytest.approx(f_ref, rel=1e-3)
    assert len(ours.loss_curve_) == ours.n_iter_


def test_sgd_is_reproducible():
    X, y = small_problem(3)
    fit = lambda seed: xpvec.LogisticRegression(solver="sgd", random_state=seed, max_iter=20).fit(X, y)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b, c = fit(1), fit(1), fit(2)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)


# ---------------------------------------------------------------- the fused gradient
def saturated_problem(n_outputs, rng, n=12, d=5):
    """X, one-hot/0-1 targets, W, b with every logit |z| >= 30 and random labels."""
    W = rng.standard_normal(d if n_outputs == 1 else (d, n_outputs))
    b = rng.standard_normal(n_outputs)
    Z = rng.choice([-1.0, 1.0], size=(n, n_outputs)) * rng.uniform(30, 60, size=(n, n_outputs))
    W2 = W.reshape(d, n_outputs)
    # Rows whose logits are exactly Z: a particular solution plus a part W ignores.
    pinv = np.linalg.pinv(W2)
    noise = rng.standard_normal((n, d))
    X = (Z - b) @ pinv + noise - noise @ W2 @ pinv
    if n_outputs == 1:
        Y = rng.integers(0, 2, n).astype(float)
    else:
        Y = np.eye(n_outputs)[rng.integers(0, n_outputs, n)]
    return X, Y, W, b


@pytest.mark.parametrize("backend", [*BACKENDS, "dask"])
def test_float16_x_trains_in_float32_on_every_backend(backend):
    # The ops' rule (float16 computes in float32). The host backends took scikit-learn's
    # reading, float64, where Dask, CuPy and array-API X trained in float32.
    X, y = small_problem(2)
    half = X.astype(np.float16)
    if backend == "dask":
        da = pytest.importorskip("dask.array")
        fit = lambda X: xpvec.LogisticRegression().fit(da.from_array(X, chunks=40), y)  # noqa: E731
    else:
        fit = lambda X: xpvec.LogisticRegression(backend=backend).fit(X, y)  # noqa: E731
    model, as_float32 = fit(half), fit(half.astype(np.float32))
    assert model.coef_.dtype == np.float32
    np.testing.assert_array_equal(model.coef_, as_float32.coef_)
    assert model.predict_proba(half).dtype == np.float32
    if backend != "dask":  # a DataFrame of float16 columns reads alike
        pd = pytest.importorskip("pandas")
        np.testing.assert_array_equal(fit(pd.DataFrame(half)).coef_, as_float32.coef_)


@pytest.mark.parametrize("regularized", [True, False], ids=["C=0.5", "no-penalty"])
@pytest.mark.parametrize("n_outputs", [1, 3], ids=["binary", "multinomial"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fused_gradient_check_at_saturated_points(backend, n_outputs, regularized):
    rng = np.random.default_rng(7)
    X, Y, W, b = saturated_problem(n_outputs, rng)
    b_ = get_instance(backend)
    Z = np.asarray(b_.decision(X, W, b)).reshape(len(X), -1)
    assert np.min(np.abs(Z)) >= 30 - 1e-6
    sw = rng.uniform(0.5, 2.0, len(X))
    theta = np.concatenate([W.ravel(), b])
    if regularized:
        fun = LogisticObjective(b_, X, Y, sw, C=0.5, fit_intercept=True)
    else:
        def fun(theta):
            W_, b__ = theta[: W.size].reshape(W.shape), theta[W.size :]
            loss, gW, gb = b_.logistic_loss_grad(X, Y, W_, b__, sw)
            return loss, np.concatenate([np.ravel(gW), gb])

    err = xpvec.check_grad(lambda t: fun(t)[0], lambda t: fun(t)[1], theta)
    assert err < 1e-7


@pytest.mark.parametrize("backend", BACKENDS)
def test_fused_kernel_agrees_across_backends(backend):
    rng = np.random.default_rng(3)
    for n_outputs in (1, 4):
        X, Y, W, b = saturated_problem(n_outputs, rng)
        sw = rng.uniform(0.5, 2.0, len(X))
        want = get_instance("numpy").logistic_loss_grad(X, Y, W, b, sw)
        got = get_instance(backend).logistic_loss_grad(X, Y, W, b, sw)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_outputs", [1, 3], ids=["binary", "multinomial"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_loss_is_summed_in_float64(backend, n_outputs):
    # The solvers see f fall near the optimum only if the loss is finer than float32: the rows'
    # losses are float32, their sum float64 (LogisticObjective.rounding counts on it).
    for kind, problem in oracle.hard_loss_sums(n_outputs, np.float32).items():
        loss, grad_W, _ = get_instance(backend).logistic_loss_grad(*problem, None)
        assert np.asarray(grad_W).dtype == np.float32
        oracle.assert_summed_in_float64(kind, problem, loss)


# ---------------------------------------------------------------- labels, weights
@pytest.mark.parametrize(
    "labels",
    [np.array([3, 7]), np.array(["cat", "dog"]), np.array([-1, 1]), np.array(["a", "b", "c"]), np.array([2, 0, 5])],
    ids=["ints", "strings", "-1/1", "3 strings", "3 ints"],
)
def test_any_labels(labels):
    X, codes = small_problem(len(labels))
    y = labels[codes]
    ours = xpvec.LogisticRegression(**TIGHT).fit(X, y)
    ref = xpvec.LogisticRegression(**TIGHT).fit(X, codes)
    np.testing.assert_array_equal(ours.classes_, np.sort(labels))
    np.testing.assert_array_equal(ours.predict(X), labels[ref.predict(X)])
    assert ours.predict(X).dtype == y.dtype
    assert ours.score(X, y) > 0.7


def test_sample_weight_is_repetition_and_matches_sklearn():
    X, y = small_problem(3)
    w = np.random.default_rng(0).integers(0, 4, len(y))
    weighted = xpvec.LogisticRegression(**TIGHT).fit(X, y, sample_weight=w)
    repeated = xpvec.LogisticRegression(**TIGHT).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    ref = SkLogisticRegression(**TIGHT).fit(X, y, sample_weight=w)
    assert_close_rel(weighted.coef_, repeated.coef_, 1e-5)
    assert_close_rel(weighted.coef_, ref.coef_, 1e-4)
    assert_close_rel(weighted.intercept_, ref.intercept_, 1e-4)


# ---------------------------------------------------------------- predictions
@pytest.mark.parametrize("n_classes", [2, 4])
def test_prediction_methods_are_consistent(n_classes):
    X, y = small_problem(n_classes)
    m = xpvec.LogisticRegression().fit(X, y)
    P = m.predict_proba(X)
    assert P.shape == (len(X), n_classes)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(m.predict_log_proba(X)), P, rtol=1e-12)
    D = m.decision_function(X)
    assert D.shape == ((len(X),) if n_classes == 2 else (len(X), n_classes))
    np.testing.assert_array_equal(m.predict(X), m.classes_[P.argmax(axis=1)])
    for attr in ("coef_", "intercept_", "classes_"):
        assert type(getattr(m, attr)) is np.ndarray
    assert m.n_features_in_ == X.shape[1]


def test_float32_stays_float32_and_agrees():
    X, y = small_problem(3)
    m32 = xpvec.LogisticRegression(tol=1e-4).fit(X.astype(np.float32), y)
    m64 = xpvec.LogisticRegression(tol=1e-4).fit(X, y)
    assert m32.coef_.dtype == np.float32
    assert_close_rel(m32.coef_, m64.coef_, 1e-2)


@pytest.mark.parametrize("backend", [name for name in BACKENDS if name != "python"])
def test_float32_honours_tol_as_far_as_float32_goes(backend):
    # The relative-decrease stop is float64's 64 eps for every dtype, as scikit-learn passes
    # scipy: with float32's own eps it fired at 18 iterations whatever tol was, 8.2e-3 from the
    # optimum in probability, where scikit-learn's float32 fit gets within 9.1e-5. Ended by the
    # first step whose fall f's rounding hid, it stopped 4e-5 to 1.9e-4 away; now it reaches tol.
    X, y = standardized(load_breast_cancer)
    optimum = SkLogisticRegression(**TIGHT).fit(X, y).predict_proba(X)
    X32 = X.astype(np.float32)
    loose = xpvec.LogisticRegression(tol=1e-4, backend=backend).fit(X32, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # it ends where float32 stops telling
        tight = xpvec.LogisticRegression(tol=1e-8, max_iter=1000, backend=backend).fit(X32, y)
    assert tight.n_iter_[0] > loose.n_iter_[0]
    assert np.max(np.abs(to_numpy(tight.predict_proba(X32)) - optimum)) < 1e-5


@pytest.mark.parametrize("backend", [name for name in BACKENDS if name != "python"])
def test_float32_fit_goes_on_while_a_float64_loss_still_falls(backend):
    # f is a float64 sum of float32 row losses, so a float32 fit at a tight tol tells a falling
    # f down to about eps32 / sqrt(n) of it, and the gradient leads on past that. Summed in
    # float32, f stopped falling (as far as it could tell) 2.8e-3 to 5.9e-3 from the optimum on
    # digits (relative to max |coef|); in float64, 4e-4 to 7e-4 when the first step it showed no
    # fall for ended the fit; now 1.4e-4 to 1.9e-4. scikit-learn's float32 fit (1.9) stops
    # 8.0e-4 away. Digits' float32 gradient cannot reach 1e-8, and the fit says so.
    X, y = load_digits(return_X_y=True)
    X = X / 16
    optimum = xpvec.LogisticRegression(**TIGHT).fit(X, y).coef_
    with pytest.warns(ConvergenceWarning, match="as accurate as the float precision allows") as caught:
        fit = xpvec.LogisticRegression(tol=1e-8, max_iter=1000, backend=backend).fit(X.astype(np.float32), y)
    assert "fit float64 data" in str(caught[0].message)
    assert np.max(np.abs(fit.coef_ - optimum)) < 3e-4 * np.max(np.abs(optimum))


@pytest.mark.parametrize("backend", [name for name in BACKENDS if name != "python"])
def test_float32_fit_asked_for_more_than_float32_gives_stops_and_says_so(backend):
    # Past the point where f's rounding hides its fall, a float32 fit goes on by its gradient
    # (above); once both wander in rounding noise, it must stop and warn, not run to max_iter.
    X, y = make_classification(2000, 20, n_informative=10, random_state=0)
    optimum = xpvec.LogisticRegression(**TIGHT).fit(X, y).coef_
    with pytest.warns(ConvergenceWarning, match="as accurate as the float precision allows"):
        fit = xpvec.LogisticRegression(tol=1e-12, max_iter=3000, backend=backend).fit(X.astype(np.float32), y)
    assert fit.n_iter_[0] < 300
    assert np.max(np.abs(fit.coef_ - optimum)) < 1e-5 * np.max(np.abs(optimum))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_float32_gd_on_repeated_rows_keeps_its_step(backend):
    # Repeated rows round alike, so f's rounding stays near eps32 of f: against the finer
    # eps32 / sqrt(n) slack, gd took its noise for overshoots and halved its step for good
    # (13 halvings in a row, 223 of 300 iterations changing nothing, 7e-4 from the optimum).
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((30, 5))
    y0 = (X0 @ rng.standard_normal(5) + rng.standard_normal(30) > 0).astype(int)
    X, y = np.repeat(X0, 1000, axis=0), np.repeat(y0, 1000)
    optimum = xpvec.LogisticRegression(**TIGHT).fit(X, y).coef_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = xpvec.LogisticRegression(solver="gd", tol=1e-8, max_iter=300, backend=backend).fit(X.astype(np.float32), y)
    assert np.max(np.abs(fit.coef_ - optimum)) < 1e-4 * np.max(np.abs(optimum))


def test_rounding_counts_rows_as_the_weights_do():
    X, y = small_problem(2)
    unweighted = LogisticObjective(get_instance("numpy"), X, y * 1.0, None, C=1.0, fit_intercept=True)
    assert unweighted.effective_rows == len(X)
    one_row = np.zeros(len(X))
    one_row[3] = 5.0
    piled = LogisticObjective(get_instance("numpy"), X, y * 1.0, one_row, C=1.0, fit_intercept=True)
    assert piled.effective_rows == 1.0
    assert piled.rounding(2.0) == pytest.approx(16 * (np.finfo(np.float64).eps * 2), rel=1e-12)
    assert unweighted.rounding(2.0) < piled.rounding(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from the squares of huge weights
        huge = LogisticObjective(get_instance("numpy"), X, y * 1.0, np.full(len(X), 1e200), C=1.0, fit_intercept=True)
        assert huge.effective_rows == 1.0  # the squares overflow: the widest slack, not NaN
        assert xpvec.LogisticRegression(max_iter=1000).fit(X, y, sample_weight=np.full(len(X), 1e200)).n_iter_[0] > 0


@pytest.mark.parametrize("on_dask", [False, True], ids=["numpy", "dask"])
def test_gd_steps_by_the_weights_shares_whatever_their_scale(on_dask):
    # Weights w with C / w is the unweighted problem at C (scikit-learn's objective: weights
    # repeat rows, and C scales the data term). The power iteration behind gd's step took the
    # raw weights: at 1e300 its products overflowed and gd stopped at 0 blaming the features.
    X, y = small_problem(2)
    sw = np.full(len(X), 1e300)
    if on_dask:
        da = pytest.importorskip("dask.array")
        X, y, sw = (da.from_array(a, chunks=25) for a in (X, y, sw))
    gd = dict(solver="gd", tol=1e-7, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        weighted = xpvec.LogisticRegression(C=1e-300, **gd).fit(X, y, sample_weight=sw)
    unweighted = xpvec.LogisticRegression(C=1.0, **gd).fit(X, y)
    assert weighted.n_iter_[0] > 0
    assert_close_rel(weighted.coef_, unweighted.coef_, 1e-6)
    assert_close_rel(weighted.intercept_, unweighted.intercept_, 1e-6)


# ---------------------------------------------------------------- errors and warnings
# ---------------------------------------------------------------- class_weight, warm_start
@pytest.mark.parametrize("class_weight", ["balanced", "dict"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_class_weight_matches_sklearn(class_weight, weighted, n_classes):
    X, y = small_problem(n_classes, n_samples=300, seed=3)
    keep = np.r_[np.flatnonzero(y != 0)[:: 4], np.flatnonzero(y == 0)]  # class 0 four times the others
    X, y = X[keep], y[keep]
    if class_weight == "dict":
        class_weight = {0: 0.5, 1: 3.0}  # a class left out weighs 1
    weights = np.random.default_rng(0).random(len(y)) + 0.5 if weighted else None
    ours = xpvec.LogisticRegression(class_weight=class_weight, **TIGHT).fit(X, y, sample_weight=weights)
    reference = SkLogisticRegression(class_weight=class_weight, **TIGHT).fit(X, y, sample_weight=weights)
    plain = xpvec.LogisticRegression(**TIGHT).fit(X, y, sample_weight=weights)
    assert_close_rel(ours.coef_, reference.coef_, 1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    assert np.abs(ours.coef_ - plain.coef_).max() > 1e-2  # the weights did something


def test_class_weight_on_dask_matches_numpy():
    da = pytest.importorskip("dask.array")
    X, y = standardized(load_digits)
    for class_weight in ("balanced", {3: 4.0}):
        params = dict(C=0.1, class_weight=class_weight, **TIGHT)
        host = xpvec.LogisticRegression(**params).fit(X, y)
        lazy = xpvec.LogisticRegression(**params).fit(da.from_array(X, chunks=(400, 64)), da.from_array(y, chunks=400))
        assert_close_rel(lazy.coef_, host.coef_, 1e-6)


def test_class_weight_with_string_labels_and_a_missing_key():
    X, y = small_problem(3, n_samples=200, seed=5)
    labels = np.array(["cat", "dog", "emu"])[y]
    ours = xpvec.LogisticRegression(class_weight={"dog": 4.0}, **TIGHT).fit(X, labels)
    reference = SkLogisticRegression(class_weight={"dog": 4.0}, **TIGHT).fit(X, labels)
    assert_close_rel(ours.coef_, reference.coef_, 1e-5)
    with pytest.raises(ValueError, match=r"The classes, \['cat', 'emu'\], are not in class_weight"):
        xpvec.LogisticRegression(class_weight={"dog": 4.0, "yak": 2.0}).fit(X, labels)


@pytest.mark.parametrize("kind", ["numpy", "dask", "array_api"])
@pytest.mark.parametrize(
    "dtype, sample_weight, class_weight, match",
    [
        (np.float32, 1e39, None, r"^sample_weight sums to 8e\+40, beyond float32's range \(3.4e\+38\): scale"),
        # Each weight within range, their total (which the objective divides by) not.
        (np.float32, 1e37, None, r"^sample_weight sums to 8e\+38, beyond float32's range"),
        (np.float64, 1e307, None, r"^sample_weight overflows, beyond float64's range \(1.8e\+308\)"),
        (np.float32, 1e30, {0: 1e10}, r"^sample_weight times class_weight sums to [0-9.]+e\+41, beyond float32's"),
        (np.float64, 1e300, {0: 1e10}, r"^sample_weight times class_weight overflows, beyond float64's range"),
        (np.float64, None, {0: 0.0, 1: 0.0}, r"^class_weight is 0 for every sample: give some samples a weight"),
    ],
)
def test_weights_the_data_cannot_hold_are_refused_in_words(kind, dtype, sample_weight, class_weight, match):
    # Each ended as "Input X contains NaN or infinity" (the weights became inf in X's dtype),
    # a NaN loss on Dask, a ZeroDivisionError for all-zero weights, or (a total beyond the
    # range) a model of zeros, blamed on the features' scale.
    X, y = small_problem(2)
    X, weights = X.astype(dtype), None if sample_weight is None else np.full(len(X), sample_weight)
    if kind == "array_api":  # X's dtype is the namespace's own, its range read there
        X = pytest.importorskip("array_api_strict").asarray(X)
        match = match.replace("float", "array_api_strict.float")
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        X, y = da.from_array(X, chunks=40), da.from_array(y, chunks=40)
        weights = None if weights is None else da.from_array(weights, chunks=40)
    with pytest.raises(ValueError, match=match):
        xpvec.LogisticRegression(class_weight=class_weight).fit(X, y, sample_weight=weights)


def test_class_weights_read_as_scikit_learn_reads_them():
    # Any number float() reads: a Decimal, a 0-d array (scikit-learn takes both).
    from decimal import Decimal

    X, y = small_problem(2)
    plain = xpvec.LogisticRegression(class_weight={0: 0.5, 1: 2.0}).fit(X, y)
    other = xpvec.LogisticRegression(class_weight={0: Decimal("0.5"), 1: np.array(2.0)}).fit(X, y)
    np.testing.assert_array_equal(other.coef_, plain.coef_)


def test_balanced_weights_of_a_class_whose_samples_weigh_nothing():
    # "balanced" divides by each class's total weight: 0 gave the class inf, and inf times its
    # samples' 0 a NaN weight. The class weighs nothing: as if only class 1's weights were given.
    X, y = small_problem(2)
    only_ones = (y == 1).astype(float)
    balanced = xpvec.LogisticRegression(class_weight="balanced", **TIGHT).fit(X, y, sample_weight=only_ones)
    halves = xpvec.LogisticRegression(**TIGHT).fit(X, y, sample_weight=only_ones / 2)
    assert_close_rel(balanced.coef_, halves.coef_, 1e-6)
    assert_close_rel(balanced.intercept_, halves.intercept_, 1e-6)


def test_warm_start_on_sparse_x():
    # lbfgs's deferred finiteness check fell back to NumPy's isfinite on the sparse matrix.
    X, y = sparse_problem(2)
    model = xpvec.LogisticRegression(warm_start=True, **TIGHT).fit(X, y)
    cold = model.n_iter_[0]
    assert model.fit(X, y).n_iter_[0] <= 3 < cold  # from the optimum: as good as done


@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
def test_warm_start_continues_from_the_previous_fit(solver):
    X, y = standardized(load_digits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = xpvec.LogisticRegression(solver=solver, warm_start=True, max_iter=10).fit(X, y)
        first = warm.loss_curve_[-1]
        warm.fit(X, y)
        cold = xpvec.LogisticRegression(solver=solver, max_iter=10).fit(X, y)
    assert warm.loss_curve_[0] <= first and warm.loss_curve_[-1] < cold.loss_curve_[-1]
    done = xpvec.LogisticRegression(warm_start=True, max_iter=1000).fit(X, y)
    assert done.fit(X, y).n_iter_[0] <= 1  # from the optimum: nothing left to do
    before = done.predict_proba(X)
    with pytest.raises(ValueError, match="warm_start=True needs the previous fit's classes and features"):
        done.fit(X[:, :10], y)
    np.testing.assert_array_equal(done.predict_proba(X), before)  # refused: the model is as it was
    assert done.n_features_in_ == X.shape[1]
    assert xpvec.LogisticRegression(warm_start=False).fit(X, y).n_iter_[0] > 10


# ---------------------------------------------------------------- sparse X
def sparse_problem(n_classes, dtype=np.float64, n=400, d=60, density=0.05):
    """A scipy.sparse CSR X (mostly zeros, as text features are) and labels of n_classes."""
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(n_classes)
    X = sparse.random(n, d, density=density, format="csr", random_state=1, dtype=dtype)
    z = X @ (3 * rng.standard_normal(d)) + 0.3 * rng.standard_normal(n)
    y = np.digitize(z, np.quantile(z, np.linspace(0, 1, n_classes + 1)[1:-1]))
    return X, y


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("backend", training_backends())
def test_sparse_x_fits_the_dense_model_and_sklearns(backend, n_classes):
    # Text features (TfidfVectorizer, OneHotEncoder) come as scipy.sparse: every host backend
    # trains and predicts on them through scipy's sparse products, with no dense copy.
    X, y = sparse_problem(n_classes)
    if backend in ("dask", "array_api"):  # the errors name the fix
        with pytest.raises(TypeError, match=r"cannot take a scipy.csr_matrix|backend='numpy'.*X\.toarray\(\)"):
            xpvec.LogisticRegression(backend=backend).fit(X, y)
        return
    model = xpvec.LogisticRegression(backend=backend, **TIGHT).fit(X, y)
    dense = xpvec.LogisticRegression(backend=backend, **TIGHT).fit(X.toarray(), y)
    reference = SkLogisticRegression(**TIGHT).fit(X, y)
    for fitted, rtol in ((dense, 1e-6), (reference, 1e-4)):
        assert_close_rel(model.coef_, fitted.coef_, rtol)
        np.testing.assert_allclose(model.predict_proba(X), fitted.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(model.predict(X), dense.predict(X.toarray()))
    np.testing.assert_allclose(model.decision_function(X), model.decision_function(X.toarray()), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("solver", ["gd", "sgd"])
def test_sparse_x_takes_the_same_steps_with_every_solver(solver):
    # Same steps as on the dense copy (sgd: the same mini-batches, as rows of the CSR matrix).
    X, y = sparse_problem(3)
    params = dict(solver=solver, max_iter=40, random_state=0, backend="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sparse_fit = xpvec.LogisticRegression(**params).fit(X, y)
        dense_fit = xpvec.LogisticRegression(**params).fit(X.toarray(), y)
    np.testing.assert_allclose(sparse_fit.coef_, dense_fit.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sparse_fit.loss_curve_, dense_fit.loss_curve_, rtol=1e-12)


def test_sparse_x_of_any_format_and_dtype():
    sparse = pytest.importorskip("scipy.sparse")
    X, y = sparse_problem(2)
    reference = xpvec.LogisticRegression().fit(X, y)
    for other in (X.tocsc(), X.tocoo(), sparse.csr_array(X)):
        np.testing.assert_allclose(xpvec.LogisticRegression().fit(other, y).coef_, reference.coef_, rtol=1e-12)
    counts = sparse.csr_matrix((np.round(X.data * 4), X.indices, X.indptr), shape=X.shape).astype(np.int64)
    counts.data[::7] = 0  # explicitly stored zeros
    np.testing.assert_allclose(
        xpvec.LogisticRegression().fit(counts, y).coef_, xpvec.LogisticRegression().fit(counts.toarray(), y).coef_, rtol=1e-12
    )
    single = xpvec.LogisticRegression().fit(X.astype(np.float32), y)
    assert single.coef_.dtype == np.float32 and single.predict_proba(X.astype(np.float32)).dtype == np.float32
    bad = X.copy()
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        xpvec.LogisticRegression().fit(bad, y)
    with pytest.raises(ValueError, match="NaN"):
        reference.predict(bad)


def test_sparse_x_on_a_dense_backend_is_named_as_passed():
    # Validation makes sparse X CSR first: a CSC matrix was refused as "a scipy.sparse csr_matrix".
    X, y = sparse_problem(2)
    for backend in ("array_api", "dask"):
        if backend not in xpvec.available_backends():
            continue  # the other still runs
        for given in (X.tocsc(), X.tocoo()):
            name = type(given).__name__
            # array_api takes host arrays and refuses sparse ones; dask refuses host input.
            match = rf"not a scipy\.sparse {name}: " if backend == "array_api" else rf"scipy\.{name}"
            with pytest.raises(TypeError, match=match):
                xpvec.LogisticRegression(backend=backend).fit(given, y)
            fitted = xpvec.LogisticRegression(backend="numpy").fit(X.toarray(), y).set_params(backend=backend)
            with pytest.raises(TypeError, match=match):
                fitted.predict(given)


X_OK, Y_OK = small_problem(2, n_samples=30)


@pytest.mark.parametrize(
    "X, y, match",
    [
        (np.where(np.arange(30)[:, None] == 3, np.nan, X_OK), Y_OK, "NaN"),
        (np.where(np.arange(30)[:, None] == 3, np.inf, X_OK), Y_OK, "infinity"),
        (X_OK[:, 0], Y_OK, "Expected 2D array"),
        (X_OK, np.zeros(30), "1 class|one class"),
        (X_OK, np.linspace(0, 1, 30), "Unknown label type"),
        (X_OK + 1j, Y_OK, "[Cc]omplex"),
        (X_OK, Y_OK[:-1], "inconsistent numbers of samples"),
    ],
    ids=["nan", "inf", "1-D X", "one class", "continuous y", "complex", "lengths"],
)
def test_input_errors_read_like_sklearn(X, y, match):
    with pytest.raises(ValueError, match=match):
        xpvec.LogisticRegression().fit(X, y)


def _placed(kind: str, a):
    """``a`` as the array type that ``kind`` names (host: as it is), 1-D or 2-D."""
    if kind == "dask":
        return pytest.importorskip("dask.array").from_array(a, chunks=20)
    return a if kind == "host" else _off_host(kind, a)


@pytest.mark.parametrize("kind", ["host", "array_api", "dask"])
@pytest.mark.parametrize("bad, match", [(np.nan, "Input y contains NaN"), (np.inf, "Input y contains infinity")])
def test_non_finite_labels_are_refused_before_anything_reads_them(kind, bad, match):
    # scikit-learn's target checks cast float labels to int: off the host a NaN made that cast
    # warn before the ValueError, or raise a FloatingPointError under np.seterr(all="raise").
    X, y = small_problem(2, n_samples=40)
    y = y.astype(float)
    y[5] = bad
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match):
            xpvec.LogisticRegression().fit(_placed(kind, X), _placed(kind, y))


_BAD_X = {
    "NaN": (lambda X: np.where(np.arange(len(X))[:, None] == 3, np.nan, X), r"Input X contains NaN or infinity; "),
    "1-D": (lambda X: X[:, 0], r"Expected 2D array, got 1D array instead\. Reshape your data with X\.reshape"),
    "complex": (lambda X: X + 1j, r"Complex data not supported: xpvec\.LogisticRegression does not take complex"),
}


@pytest.mark.parametrize("bad", list(_BAD_X))
def test_bad_x_gets_one_message_whatever_the_backend_and_solver(bad):
    # With solver="gd" or "sgd" a NaN got scikit-learn's advice on HistGradientBoosting, with
    # "lbfgs" ours; 1-D and complex X printed the whole array on the host, one line off it.
    make_bad, match = _BAD_X[bad]
    X, y = small_problem(2, n_samples=40)
    fitted = xpvec.LogisticRegression().fit(X, y)
    messages = {}
    for kind in ("host", "array_api", "dask"):
        X_bad = _placed(kind, make_bad(X))
        for solver in ("lbfgs", "gd", "sgd"):
            if (kind, solver) != ("dask", "sgd"):  # refused on Dask whatever X is
                with pytest.raises(ValueError) as caught:
                    xpvec.LogisticRegression(solver=solver).fit(X_bad, y)
                messages[kind, solver] = str(caught.value)
        with pytest.raises(ValueError) as caught:
            to_numpy(fitted.predict(X_bad))  # Dask's predictions check X when computed
        messages[kind, "predict"] = str(caught.value)
    # One message, the dtype named as each library names it.
    assert len({m.replace("array_api_strict.", "") for m in messages.values()}) == 1, messages
    message = messages["host", "lbfgs"]
    assert re.match(match, message) and "\n" not in message and len(message) < 250, message


def test_x_of_more_than_two_dimensions_is_told_the_reshape_that_keeps_its_rows():
    images = np.zeros((6, 4, 4))
    y = np.arange(6) % 2
    with pytest.raises(ValueError, match=r"got 3D array instead\. Reshape your data with X\.reshape\(len\(X\), -1\)"):
        xpvec.LogisticRegression().fit(images, y)
    xpvec.LogisticRegression().fit(images.reshape(len(images), -1), y)  # the advice works


@pytest.mark.parametrize("kind", ["host", "dask"])
def test_object_arrays_of_numbers_train_and_text_is_refused_wherever_x_lives(kind):
    # One policy: object arrays of numbers train (scikit-learn's estimator checks require it),
    # read as float64 as scikit-learn reads them; strings are refused, as the ops refuse them.
    # Both trained on the host and were refused on Dask.
    X, y = small_problem(2, n_samples=40)
    reference = xpvec.LogisticRegression().fit(X, y)
    objects = _placed(kind, X.astype(object))
    model = xpvec.LogisticRegression().fit(objects, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(model.predict(objects)), reference.predict(X))
    for text, named in ((X.astype(str), "a string array"), (X.astype(bytes), "a bytes array")):
        with pytest.raises(ValueError, match=f"takes real numbers .*not {named}"):
            xpvec.LogisticRegression().fit(_placed(kind, text), y)
        with pytest.raises(ValueError, match=f"takes real numbers .*not {named}"):
            reference.predict(_placed(kind, text))
    not_a_number = X.astype(object)
    not_a_number[4, 1] = {"a": 1}
    with pytest.raises(TypeError, match="argument must be a string or a real number"):  # NumPy's, as in scikit-learn
        xpvec.LogisticRegression().fit(_placed(kind, not_a_number), y)


@pytest.mark.parametrize(
    "weights, match", [(np.zeros(30), "non-zero"), (-np.ones(30), "[Nn]egative"), (np.ones(29), "shape")]
)
def test_bad_sample_weight(weights, match):
    with pytest.raises(ValueError, match=match):
        xpvec.LogisticRegression().fit(X_OK, Y_OK, sample_weight=weights)


def test_wrong_feature_count_and_unfitted():
    m = xpvec.LogisticRegression()
    with pytest.raises(NotFittedError):
        m.predict(X_OK)
    m.fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="X has 4 features, but LogisticRegression is expecting 5"):
        m.predict(X_OK[:, :4])


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(solver="newton"), "solver"),
        (dict(C=0.0), "C must be"),
        (dict(max_iter=0), "max_iter"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(solver="gd", learning_rate="x"), "learning_rate must be a positive finite number"),
        (dict(fit_intercept="no"), "fit_intercept must be True or False"),
        (dict(verbose="yes"), "verbose must be True or False"),
        (dict(tol="1e-4"), "tol must be"),
        (dict(tol=np.inf), "tol must be a non-negative finite number"),
        (dict(tol=np.nan), "tol must be"),
        (dict(solver="gd", learning_rate=np.inf), "learning_rate must be a positive finite number"),
        (dict(class_weight="auto"), "class_weight must be None, 'balanced' or a dict"),
        (dict(class_weight={0: np.inf}), "class_weight's weights must be finite numbers >= 0, got inf for class 0"),
        (dict(class_weight={1: np.nan}), "finite numbers >= 0, got nan for class 1"),
        (dict(class_weight={0: -1.0}), "finite numbers >= 0, got -1.0 for class 0"),
        (dict(class_weight={0: "2"}), "finite numbers >= 0, got '2' for class 0"),
        (dict(class_weight={0: True}), "finite numbers >= 0, got True for class 0"),
        (dict(class_weight={0: [1.0]}), "finite numbers >= 0, got \\[1.0\\] for class 0"),
        (dict(warm_start="yes"), "warm_start must be True or False"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        xpvec.LogisticRegression(**params).fit(X_OK, Y_OK)


@pytest.mark.parametrize(
    "params, ignored",
    [
        (dict(learning_rate=0.1), "learning_rate"),
        (dict(batch_size=8), "batch_size"),
        (dict(solver="gd", batch_size=8), "batch_size"),
    ],
)
def test_a_setting_the_solver_ignores_is_named_and_changes_nothing(params, ignored):
    with pytest.warns(UserWarning, match=f"{ignored} is used by solver=.*ignores it") as caught:
        m = xpvec.LogisticRegression(**params).fit(X_OK, Y_OK)
    assert [w.filename for w in caught if ignored in str(w.message)] == [__file__]
    plain = xpvec.LogisticRegression(solver=m.solver).fit(X_OK, Y_OK)
    np.testing.assert_array_equal(m.coef_, plain.coef_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the settings each solver uses pass without a word
        warnings.simplefilter("ignore", ConvergenceWarning)
        xpvec.LogisticRegression(solver="sgd", learning_rate=0.1, batch_size=8, random_state=0).fit(X_OK, Y_OK)
        xpvec.LogisticRegression(solver="gd", learning_rate=0.1, max_iter=500).fit(X_OK, Y_OK)


def test_max_iter_gives_convergence_warning():
    X, y = standardized(load_digits)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        m = xpvec.LogisticRegression(max_iter=3).fit(X, y)
    assert m.n_iter_ == 3


def test_fitted_attributes_are_numpy_arrays_shaped_as_scikit_learns():
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    for y in (Y_OK, np.arange(len(Y_OK)) % 3):
        ours, ref = xpvec.LogisticRegression().fit(X_OK, y), SkLogisticRegression().fit(X_OK, y)
        for name in ("coef_", "intercept_", "classes_", "n_iter_"):
            got, want = getattr(ours, name), getattr(ref, name)
            assert isinstance(got, np.ndarray) and got.shape == want.shape and got.dtype.kind == want.dtype.kind, name
        assert ours.n_iter_.dtype == ref.n_iter_.dtype
        curve = ours.loss_curve_
        assert isinstance(curve, np.ndarray) and curve.dtype == np.float64 and curve.shape == (ours.n_iter_[0],)


@pytest.mark.parametrize("solver", ["gd", "sgd"])
def test_divergence_stops_with_advice(solver):
    X = X_OK * 1e150
    with pytest.raises(FloatingPointError, match="learning_rate.*StandardScaler"):
        xpvec.LogisticRegression(solver=solver, learning_rate=1e10, max_iter=50, random_state=0).fit(X, Y_OK)


@pytest.mark.parametrize("solver, on_dask", [("gd", False), ("sgd", False), ("gd", True)], ids=["gd", "sgd", "gd-dask"])
@pytest.mark.parametrize("dtype, scale", [(np.float64, 1e200), (np.float32, 1e37)])
def test_a_step_size_that_overflows_says_standardize_without_numpy_warnings(solver, on_dask, dtype, scale):
    # The safe step 1/L comes from a power iteration on X; on X this large L overflows. Before:
    # NumPy's overflow warnings, then "max_iter was reached" with an all-zero model. On Dask the
    # products run on worker threads, which the caller's np.errstate does not reach.
    X, y = (X_OK * scale).astype(dtype), Y_OK
    if on_dask:  # sgd does not run on Dask
        da = pytest.importorskip("dask.array")
        X, y = da.from_array(X, chunks=10), da.from_array(y, chunks=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = xpvec.LogisticRegression(solver=solver, random_state=0).fit(X, y)
    assert [w.category for w in caught] == [ConvergenceWarning], [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert "too badly scaled" in message and "StandardScaler" in message and "max_iter" not in message
    assert m.n_iter_[0] == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("solver", ["lbfgs", "gd", "sgd"])
@pytest.mark.parametrize("scale, params", [(1e306, {}), (1e307, {}), (1.0, dict(C=1e-300))], ids=["X*1e306", "X*1e307", "C=1e-300"])
def test_values_at_the_ends_of_the_float_range_stop_the_solvers_without_numpy_fp_errors(backend, solver, scale, params):
    # Near the float range the first direction -g / max|g| was inf / inf, and the first step
    # theta + t p underflowed; a tiny C underflowed L-BFGS's recursion. Each was NumPy's warning,
    # or a bare FloatingPointError under np.seterr(all="raise"), on every backend: the solver
    # reports what it can do (a ConvergenceWarning, or none) and leaves a finite model.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="raise"):
        warnings.simplefilter("always")
        model = xpvec.LogisticRegression(solver=solver, backend=backend, random_state=0, **params).fit(X * scale, y)
    assert [w.category for w in caught] in ([], [ConvergenceWarning]), [str(w.message) for w in caught]
    if scale > 1:
        assert "too badly scaled" in str(caught[0].message)
    assert np.all(np.isfinite(model.coef_)) and np.all(np.isfinite(model.intercept_))


@pytest.mark.parametrize("C", [1e-20, 1e-30])
def test_a_tiny_c_still_finds_the_intercept(C):
    # W is held at ~0, so the unpenalized intercept's optimum is the classes' log-odds; its
    # curvature is ~C n / 4, so the step there is ~1e19 times the first guess. The line search
    # gave up after 50 doublings and the fit ended at its start (intercept -7e-20), blaming
    # float precision.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] > 0.5).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = xpvec.LogisticRegression(C=C).fit(X, y)
    np.testing.assert_allclose(model.intercept_, [np.log(y.mean() / (1 - y.mean()))], rtol=1e-6)
    assert np.max(np.abs(model.coef_)) < 100 * C  # W = -C X^T r at the optimum


def test_verbose_in_a_terminal_shows_a_bar_that_ends_complete(capsys, monkeypatch):
    from xpvec.models import _monitor

    monkeypatch.setattr(_monitor, "_stderr_is_a_terminal", lambda: True)
    m = xpvec.LogisticRegression(verbose=True).fit(X_OK, Y_OK)
    err = capsys.readouterr().err
    n = m.n_iter_[0]
    assert n < m.max_iter and "LogisticRegression(lbfgs)" in err
    # A fit that converged early ends at n/n, not at n/max_iter as if cut off.
    assert f"{n}/{n}" in err.rsplit("\r", 1)[-1] and "converged" in err.rsplit("\r", 1)[-1]


def test_verbose_elsewhere_writes_plain_lines(capsys):
    # A bar written to a log file (or a parallel search's worker) is one \r-line per update.
    with pytest.warns(ConvergenceWarning):
        xpvec.LogisticRegression(verbose=True, solver="sgd", max_iter=20, random_state=0).fit(X_OK, Y_OK)
    lines = capsys.readouterr().err.splitlines()
    assert "\r" not in "".join(lines) and len(lines) == 11  # every second epoch, then the end
    assert lines[0].startswith("LogisticRegression(sgd): epoch 2 of at most 20, loss ")
    assert lines[-1].startswith("LogisticRegression(sgd): stopped (max_iter was reached) after 20 epochs, loss ")
    m = xpvec.LogisticRegression(verbose=True).fit(X_OK, Y_OK)
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        f"LogisticRegression(lbfgs): converged after {m.n_iter_[0]} iterations, loss "
    )


# ---------------------------------------------------------------- estimator contract
def test_pickle_and_clone():
    X, y = small_problem(3)
    m = xpvec.LogisticRegression(C=0.5, backend="numpy").fit(X, y)
    again = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(again.predict_proba(X), m.predict_proba(X))
    fresh = clone(m)
    assert fresh.get_params() == m.get_params()
    assert not hasattr(fresh, "coef_")


@pytest.mark.parametrize("name", xpvec.available_backends())
def test_a_backend_object_pickles_and_clones_as_its_name(name):
    # Backends hold modules and compiled kernels; a model given one must still clone (as
    # cross_val_score does) and pickle, fitted or not.
    import copy

    backend = get_instance(name)
    assert pickle.loads(pickle.dumps(backend)) is backend and copy.deepcopy(backend) is backend
    m = xpvec.LogisticRegression(backend=backend)
    assert clone(m).backend is backend and pickle.loads(pickle.dumps(m)).backend is backend
    if name not in training_backends():
        return  # trains on its own array type only (dask, array_api): tested with it elsewhere
    X, y = small_problem(3)
    m = clone(m).fit(X, y)
    again = pickle.loads(pickle.dumps(m))
    assert again.backend is backend
    np.testing.assert_array_equal(to_numpy(again.predict_proba(X)), to_numpy(m.predict_proba(X)))


# ---------------------------------------------------------------- solvers on non-NumPy arrays
@pytest.mark.parametrize("solver", ["lbfgs", "gd", "sgd"])
def test_solvers_run_on_any_array_api_namespace(solver):
    """The solvers and the generic kernel use only standard calls: on array-api-strict
    arrays they take the very same steps as on NumPy arrays, and stay on them."""
    xps = pytest.importorskip("array_api_strict")
    from xpvec.models._descent import gd, sgd
    from xpvec.models._lbfgs import lbfgs
    from xpvec.models._monitor import Monitor

    X, codes = small_problem(3, n_samples=70)
    Y = np.eye(3)[codes]
    backend = get_instance("array_api")
    thetas = []
    for asarray in (np.asarray, xps.asarray):
        fun = LogisticObjective(backend, asarray(X), asarray(Y), asarray(np.linspace(0.5, 1.5, 70)),
                                C=1.0, fit_intercept=True)
        kw = dict(max_iter=30, tol=1e-8, monitor=Monitor(solver, 30, False, None))
        if solver == "lbfgs":
            result = lbfgs(fun, fun.zeros(), **kw)
        elif solver == "gd":
            result = gd(fun, fun.zeros(), learning_rate=None, **kw)
        else:
            result = sgd(fun, fun.zeros(), learning_rate=None, batch_size=32,
                         random_state=np.random.RandomState(0), **kw)
        assert type(result.theta) is type(asarray(X))
        thetas.append(np.from_dlpack(result.theta))
    np.testing.assert_allclose(thetas[1], thetas[0], rtol=1e-12, atol=1e-12)


def test_array_api_inputs_train_where_they_live(monkeypatch):
    xps = pytest.importorskip("array_api_strict")
    from xpvec.backends.array_api_backend import ArrayApiBackend

    seen = set()
    kernel = ArrayApiBackend._logistic_loss_grad

    def spy(self, xp, X, *args):
        seen.add(type(X))
        return kernel(self, xp, X, *args)

    monkeypatch.setattr(ArrayApiBackend, "_logistic_loss_grad", spy)
    X, y = small_problem(3)
    ours = xpvec.LogisticRegression(**TIGHT).fit(xps.asarray(X), xps.asarray(y), sample_weight=xps.asarray(np.ones(len(y))))
    ref = xpvec.LogisticRegression(**TIGHT).fit(X, y)
    assert seen == {type(xps.asarray(X))}
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-12)
    assert type(ours.coef_) is np.ndarray
    np.testing.assert_allclose(ours.predict_proba(xps.asarray(X)), ref.predict_proba(X), atol=1e-12)
    with pytest.raises(ValueError, match="NaN or infinity"):
        ours.predict(xps.asarray(np.full_like(X, np.nan)))
    with pytest.raises(ValueError, match="X has 4 features"):
        ours.predict(xps.asarray(X[:, :4]))
    with pytest.raises(TypeError, match="cannot take"):
        xpvec.LogisticRegression(backend="numpy").fit(xps.asarray(X), y)


def _off_host(kind: str, X):
    if kind == "dask":
        return pytest.importorskip("dask.array").from_array(X, chunks=(max(1, X.shape[0] // 2), -1))
    return pytest.importorskip("array_api_strict").asarray(X)


@pytest.mark.parametrize("kind", ["array_api", "dask"])
@pytest.mark.parametrize("shape, what", [((0, 3), "0 sample"), ((4, 0), "0 feature")])
def test_empty_x_off_the_host_is_refused_as_scikit_learn_refuses_it(kind, shape, what):
    y = np.array([0, 1, 0, 1])[: shape[0]]
    for X in (np.zeros(shape), _off_host(kind, np.zeros(shape))):  # the host's message, then off it
        with pytest.raises(ValueError, match=f"Found array with {what}.*minimum of 1 is required"):
            xpvec.LogisticRegression().fit(X, y)


@pytest.mark.parametrize("kind", ["array_api", "dask"])
def test_refit_off_the_host_forgets_feature_names(kind):
    pd = pytest.importorskip("pandas")
    X, y = small_problem(2, n_samples=40)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    m = xpvec.LogisticRegression().fit(frame, y)
    assert list(m.feature_names_in_) == list(frame.columns)
    # scikit-learn's warning for names fitted, none given, at the caller's line
    # whatever the depth of the path to the check.
    for call in (m.predict, m.predict_proba, lambda X: m.score(X, y)):
        with pytest.warns(UserWarning, match="X does not have valid feature names") as caught:
            call(_off_host(kind, X))
        assert [w.filename for w in caught] == [__file__]
    m.fit(_off_host(kind, X[:, :2]), y)
    assert m.n_features_in_ == 2 and not hasattr(m, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stale names to complain about
        np.asarray(to_numpy(m.predict(frame.iloc[:, :2].to_numpy())))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
def test_non_finite_x_is_refused_before_training(backend, bad, solver):
    # lbfgs proves X finite with its first evaluation at zero instead of a separate
    # pass over X; a weight of 0 on the bad row must not hide it.
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), np.arange(40) % 2
    X[7, 1] = bad
    weights = np.ones(40)
    weights[7] = 0.0
    for sample_weight in (None, weights):
        with pytest.raises(ValueError, match="NaN|infinity"):
            xpvec.LogisticRegression(solver=solver, backend=backend).fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_solvers_read_the_host_once_per_evaluation(monkeypatch, solver, n_classes):
    # On a GPU every read of a device value waits for the device: the solvers may read
    # once per evaluation of the loss (an L-BFGS iteration is one, unless its line search
    # needs more), plus a few reads while setting up. array-api-strict arrays stand in
    # for device arrays here; every way of reading one on the host is counted.
    xps = pytest.importorskip("array_api_strict")
    from xpvec.backends.array_api_backend import ArrayApiBackend

    reads = evaluations = 0

    def counted(method):
        def read(self, *args, **kwargs):
            nonlocal reads
            reads += 1
            return method(self, *args, **kwargs)

        return read

    Array = type(xps.asarray([0.0]))
    for name in ("__float__", "__bool__", "__int__", "__index__", "__array__", "__dlpack__"):
        monkeypatch.setattr(Array, name, counted(getattr(Array, name)))
    kernel = ArrayApiBackend.logistic_loss_grad

    def evaluation(self, *args, **kwargs):
        nonlocal evaluations
        evaluations += 1
        return kernel(self, *args, **kwargs)

    monkeypatch.setattr(ArrayApiBackend, "logistic_loss_grad", evaluation)
    X, y = small_problem(n_classes, n_samples=200)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = xpvec.LogisticRegression(solver=solver, max_iter=60).fit(xps.asarray(X), y)
    assert model.n_iter_[0] >= 5
    setup = 25 if solver == "gd" else 6  # gd's power iteration for its step reads once per product, 20
    assert reads <= evaluations + setup, (reads, evaluations)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lbfgs_two_loop_on_inner_products_is_the_two_loop_on_vectors(dtype):
    # The solver runs the two-loop recursion on coefficients over [g, s_i, y_i] with their inner
    # products; here the textbook recursion on the vectors (float64) is the reference, over 13
    # steps with memory 5 (the oldest pairs dropped) and one step whose pair the curvature test refused.
    from xpvec.models._lbfgs import _Pairs

    rng = np.random.default_rng(4)
    fun = LogisticObjective(get_instance("numpy"), np.ones((4, 6), dtype), np.ones(4, dtype), None,
                            C=1.0, fit_intercept=True)  # fmt: skip
    pairs, kept = _Pairs(fun, memory=5), []
    g = rng.standard_normal(7).astype(dtype)
    for step in range(13):
        s = rng.standard_normal(7).astype(dtype)
        y = (s * rng.uniform(0.5, 2.0, 7) + 0.1 * rng.standard_normal(7)).astype(dtype)  # s.y > 0
        g = rng.standard_normal(7).astype(dtype)
        keep = step != 6
        BW, WW = pairs.products(s, y, g)
        BW, WW = (None, *fun.read(WW)) if BW is None else fun.read(BW, WW)
        pairs.update(BW, WW, (s, y) if keep else None)
        if keep:
            kept = (kept + [(s.astype(np.float64), y.astype(np.float64))])[-5:]
        q = g.astype(np.float64)
        alphas = []
        for s_i, y_i in reversed(kept):
            a = s_i @ q / (s_i @ y_i)
            q = q - a * y_i
            alphas.append(a)
        q *= kept[-1][0] @ kept[-1][1] / (kept[-1][1] @ kept[-1][1])
        for (s_i, y_i), a in zip(kept, reversed(alphas)):
            q = q + (a - y_i @ q / (s_i @ y_i)) * s_i
        p = pairs.direction(g)
        assert p.dtype == dtype and len(pairs) == len(kept)
        tol = 1e-12 if dtype == np.float64 else 2e-6
        np.testing.assert_allclose(p, -q, rtol=tol, atol=tol * np.abs(q).max())


def test_lbfgs_direction_costs_the_same_array_operations_whatever_the_memory(monkeypatch):
    # On a GPU each array operation is a launch with microseconds of host time: the recursion on
    # vectors took about 4 per stored pair; on coefficients the direction is a fixed few.
    xps = pytest.importorskip("array_api_strict")
    from array_api_strict._array_object import Array

    from xpvec.models._lbfgs import _Pairs

    made = []
    real_new = Array._new.__func__
    monkeypatch.setattr(Array, "_new", classmethod(lambda cls, *a, **k: made.append(1) or real_new(cls, *a, **k)))
    rng = np.random.default_rng(5)
    fun = LogisticObjective(get_instance("array_api"), xps.asarray(np.ones((4, 9))), xps.asarray(np.ones(4)), None,
                            C=1.0, fit_intercept=True)  # fmt: skip
    counts = {}
    for n in (1, 2, 10):
        pairs = _Pairs(fun, memory=10)
        g = xps.asarray(rng.standard_normal(10))
        for _ in range(n):
            s = xps.asarray(rng.standard_normal(10))
            y = s * 2.0
            BW, WW = pairs.products(s, y, g)
            BW, WW = (None, *fun.read(WW)) if BW is None else fun.read(BW, WW)
            pairs.update(BW, WW, (s, y))
        made.clear()
        pairs.direction(g)
        counts[n] = len(made)
    assert counts[1] == counts[2] == counts[10] <= 8, counts
