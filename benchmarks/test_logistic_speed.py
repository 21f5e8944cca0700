"""Logistic regression speed: the fused loss+gradient and a full fit, against their peers.

Run with ``pytest benchmarks/test_logistic_speed.py``; compare medians within
one run (the groups print side by side):

- ``loss+grad``: one evaluation of loss and gradient on X of 1e6 x 64 float64,
  per backend, beside one ``np.copyto`` pass over X (the memory-bandwidth
  floor: a kernel that reads X once cannot beat it) and scikit-learn's own
  ``LinearModelLoss.loss_gradient``. NumPy (and scikit-learn) read X twice.
  The same for 10 classes (softmax) in its own group.
- ``fit``: fitting that data to scikit-learn's optimum (objective within 1e-6
  relative of a tightly converged fit, same C) beside
  ``sklearn.linear_model.LogisticRegression()`` with its default lbfgs.
- side by side: the numba targets (loss+grad at least 2.2x faster than NumPy's
  two passes and within 1.3x of one ``np.copyto`` over X; a fit at least 3x
  faster than scikit-learn's default) timed round-robin in one test, so a
  busy neighbour on the machine slows every contender alike (each turn: one
  untimed call, then loss+grad 3 times back to back, as a solver makes them;
  see ``xpvec.bench.timing.round_robin``); the medians and ratios are printed
  and kept in the benchmark's ``extra_info``.

The python loop backend is left out: one evaluation would take minutes here.
Dask has its own suite beside dask-ml (``test_dask_speed.py``): its
evaluations are lazy, so timing them here would time graph building. Device
backends (cupy) get their data moved once, outside the timing, and are
synchronized inside it.
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

import xpvec
from xpvec._registry import get_instance
from xpvec.bench.timing import round_robin

N_SAMPLES, N_FEATURES = 1_000_000, 64
# Backends that take their data moved once from NumPy (dask has its own suite,
# test_dask_speed.py); the loop baseline would take minutes at this size.
BACKENDS = [name for name in xpvec.available_backends() if name not in ("python", "dask")]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    w = rng.standard_normal(N_FEATURES) * 2 / np.sqrt(N_FEATURES)
    y = (rng.random(N_SAMPLES) < 1 / (1 + np.exp(-(X @ w + 0.3)))).astype(np.float64)
    return X, y


def objective(model, X, y):
    z = X @ model.coef_[0] + model.intercept_[0]
    return model.C * np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(model.coef_**2)


@pytest.fixture(scope="module")
def optimum(data):
    X, y = data
    return objective(SkLogisticRegression(tol=1e-10, max_iter=1000).fit(X, y), X, y)


# ---------------------------------------------------------------- loss+grad
@pytest.mark.benchmark(group="loss+grad 1e6x64 float64")
def test_copyto_floor(benchmark, data):
    X, _ = data
    out = np.empty_like(X)
    benchmark(np.copyto, out, X)


@pytest.mark.benchmark(group="loss+grad 1e6x64 float64")
def test_sklearn_loss_gradient(benchmark, data):
    from sklearn._loss.loss import HalfBinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    X, y = data
    loss = LinearModelLoss(HalfBinomialLoss(), fit_intercept=True)
    coef = np.full(N_FEATURES + 1, 0.05)
    benchmark(loss.loss_gradient, coef, X, y, None, 1.0 / N_SAMPLES)


@pytest.mark.benchmark(group="loss+grad 1e6x64 float64")
@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_grad(benchmark, data, backend):
    X, y = data
    b = get_instance(backend)
    xpvec.warmup(b)
    X, y = xpvec.to_device(X, b), xpvec.to_device(y, b)
    W, intercept = xpvec.to_device(np.full(N_FEATURES, 0.05), b), xpvec.to_device(np.array([0.05]), b)
    benchmark(lambda: b.finish(b.logistic_loss_grad(X, y, W, intercept, None)))


@pytest.mark.benchmark(group="loss+grad 1e6x64 float64, 10 classes")
def test_sklearn_multinomial_loss_gradient(benchmark, data):
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    X, _ = data
    codes = np.arange(N_SAMPLES, dtype=np.float64) % 10
    loss = LinearModelLoss(HalfMultinomialLoss(n_classes=10), fit_intercept=True)
    coef = np.full(10 * (N_FEATURES + 1), 0.05)
    benchmark(loss.loss_gradient, coef, X, codes, None, 1.0 / N_SAMPLES)


@pytest.mark.benchmark(group="loss+grad 1e6x64 float64, 10 classes")
@pytest.mark.parametrize("backend", BACKENDS)
def test_multinomial_loss_grad(benchmark, data, backend):
    X, _ = data
    b = get_instance(backend)
    xpvec.warmup(b)
    one_hot = np.eye(10)[np.arange(N_SAMPLES) % 10]
    X, Y = xpvec.to_device(X, b), xpvec.to_device(one_hot, b)
    W, intercept = xpvec.to_device(np.full((N_FEATURES, 10), 0.05), b), xpvec.to_device(np.zeros(10), b)
    benchmark(lambda: b.finish(b.logistic_loss_grad(X, Y, W, intercept, None)))


# ---------------------------------------------------------------- fit
@pytest.mark.benchmark(group="fit 1e6x64 to sklearn's optimum")
def test_fit_sklearn_default_lbfgs(benchmark, data, optimum):
    X, y = data
    model = benchmark.pedantic(lambda: SkLogisticRegression().fit(X, y), rounds=3, iterations=1)
    assert objective(model, X, y) == pytest.approx(optimum, rel=1e-6)


@pytest.mark.benchmark(group="fit 1e6x64 to sklearn's optimum")
@pytest.mark.parametrize("backend", BACKENDS)
def test_fit(benchmark, data, optimum, backend):
    X, y = data
    xpvec.warmup(backend)
    # Device backends (cupy) take their own arrays; the transfer is not timed.
    Xb, yb = xpvec.to_device(X, backend), xpvec.to_device(y, backend)
    fit = lambda: xpvec.LogisticRegression(backend=backend).fit(Xb, yb)  # noqa: E731
    model = benchmark.pedantic(fit, rounds=3, iterations=1, warmup_rounds=1)
    assert objective(model, X, y) == pytest.approx(optimum, rel=1e-6)


# ---------------------------------------------------------------- side by side
def report(benchmark, medians: dict, ratios: dict) -> None:
    benchmark.extra_info.update({f"median_ms {k}": round(v * 1e3, 2) for k, v in medians.items()})
    benchmark.extra_info.update({k: round(v, 2) for k, v in ratios.items()})
    print("\n", benchmark.group, dict(benchmark.extra_info))


needs_numba = pytest.mark.skipif("numba" not in BACKENDS, reason="numba is not installed")


@needs_numba
@pytest.mark.benchmark(group="numba loss+grad targets, round-robin")
def test_numba_loss_grad_targets(benchmark, data):
    X, y = data
    numba_b, numpy_b = get_instance("numba"), get_instance("numpy")
    xpvec.warmup(numba_b)
    W, intercept = np.full(N_FEATURES, 0.05), np.array([0.05])
    out = np.empty_like(X)
    calls = {
        "numba": lambda: numba_b.logistic_loss_grad(X, y, W, intercept, None),
        "numpy": lambda: numpy_b.logistic_loss_grad(X, y, W, intercept, None),
        "copyto": lambda: np.copyto(out, X),
    }
    medians = benchmark.pedantic(round_robin, (calls, 15, 3), rounds=1, iterations=1, warmup_rounds=1)
    report(benchmark, medians, {
        "numpy / numba (target >= 2.2)": medians["numpy"] / medians["numba"],
        "numba / copyto (target <= 1.3)": medians["numba"] / medians["copyto"],
    })  # fmt: skip


@needs_numba
@pytest.mark.benchmark(group="numba fit target, round-robin")
def test_numba_fit_target(benchmark, data, optimum):
    X, y = data
    xpvec.warmup("numba")
    fitted = {}

    def fit(name, make):
        fitted[name] = make().fit(X, y)

    calls = {
        "numba": lambda: fit("numba", lambda: xpvec.LogisticRegression(backend="numba")),
        "sklearn lbfgs": lambda: fit("sklearn lbfgs", SkLogisticRegression),
    }
    medians = benchmark.pedantic(round_robin, (calls, 5), rounds=1, iterations=1, warmup_rounds=1)
    for model in fitted.values():
        assert objective(model, X, y) == pytest.approx(optimum, rel=1e-6)
    report(benchmark, medians, {"sklearn / numba (target >= 3)": medians["sklearn lbfgs"] / medians["numba"]})
