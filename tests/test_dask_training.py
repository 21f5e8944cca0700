"""LogisticRegression on Dask arrays, with the threaded scheduler and on a local
multi-process ``dask.distributed`` cluster: the same model as the numpy
backend's fit whatever the chunking, a worker killed mid-fit survived through
Dask's own retry, and a subset of the op agreement suite run on the cluster.
"""

from __future__ import annotations

import os
import signal
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning

import xpvec
from xpvec.backends.dask_backend import DaskBackend
from xpvec.backends.numpy_backend import NumpyBackend

from . import oracle
from . import test_agreement as agreement
from .test_logistic_regression import standardized

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

# Tight enough that both fits stop at the optimum, not at a tolerance.
TIGHT = dict(tol=1e-10, max_iter=10_000)
# At C=1 the digits problems are nearly separable: the optimum is so flat that
# where L-BFGS stops (the relative-decrease test) moves the coefficients by ~1e-6
# with the summation order. At C=0.1 both fits land on the same optimum.
PROBLEMS = {
    "breast_cancer": (load_breast_cancer, lambda y: y, 1.0),
    "digits-binary": (load_digits, lambda y: y >= 5, 0.1),
    "digits-10": (load_digits, lambda y: y, 0.1),
}


@pytest.fixture(scope="module", params=list(PROBLEMS))
def problem(request):
    """``(X, y, C, reference)``: a standardized data set and the numpy backend's fit of it."""
    load, target, C = PROBLEMS[request.param]
    X, y = standardized(load)
    y = target(y)
    return X, y, C, xpvec.LogisticRegression(C=C, backend="numpy", **TIGHT).fit(X, y)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as local_cluster:
        yield local_cluster


@pytest.fixture(params=["threads", "distributed"])
def scheduler(request):
    """Run the test with the threaded scheduler, or with a Client of the local cluster."""
    if request.param == "threads":
        with dask.config.set(scheduler="threads"):
            yield None
    else:
        with distributed.Client(request.getfixturevalue("cluster"), timeout="60s") as client:
            yield client


def assert_same_model(model, reference, rtol=1e-6):
    scale = np.max(np.abs(reference.coef_))
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=rtol * scale)
    np.testing.assert_array_equal(model.classes_, reference.classes_)


def chunked(a, rows, columns=None):
    chunks = (rows,) if a.ndim == 1 else (rows, columns or a.shape[1])
    return da.from_array(a, chunks=chunks)


# ---------------------------------------------------------------- same model as numpy
def test_fit_matches_numpy(problem, scheduler):
    X, y, C, reference = problem
    model = xpvec.LogisticRegression(C=C, **TIGHT).fit(chunked(X, 300, 16), chunked(y, 500))
    assert_same_model(model, reference)
    proba = model.predict_proba(chunked(X, 300))
    assert isinstance(proba, da.Array)  # lazy until asked for
    np.testing.assert_allclose(proba.compute(), reference.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(model.predict_log_proba(chunked(X, 300)).compute(), reference.predict_log_proba(X), atol=1e-5)
    np.testing.assert_array_equal(model.predict(chunked(X, 300)).compute(), reference.predict(X))
    assert model.score(chunked(X, 300), chunked(y, 300)) == pytest.approx(reference.score(X, y))


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(lambda n: n, id="one-chunk"),
        pytest.param(lambda n: -(-n // 7), id="seven-chunks"),
        pytest.param(lambda n: (1, 0, n // 3, n - 1 - n // 3), id="uneven-with-empty"),
        pytest.param(lambda n: (0, n - 5, 5, 0), id="empty-at-both-ends"),
    ],
)
def test_chunk_layout_does_not_change_the_model(problem, rows):
    X, y, C, reference = problem
    n = X.shape[0]
    model = xpvec.LogisticRegression(C=C, **TIGHT).fit(chunked(X, rows(n)), chunked(y, 100))
    assert_same_model(model, reference)


def test_sample_weight_matches_numpy(scheduler):
    X, y = standardized(load_breast_cancer)
    weights = np.linspace(0.2, 3.0, X.shape[0])
    reference = xpvec.LogisticRegression(backend="numpy", **TIGHT).fit(X, y, sample_weight=weights)
    for w in (weights, chunked(weights, 97)):  # host weights, and weights chunked unlike X
        model = xpvec.LogisticRegression(**TIGHT).fit(chunked(X, 150), chunked(y, 150), sample_weight=w)
        assert_same_model(model, reference)


def test_gd_runs_on_dask_and_sgd_is_refused():
    X, y = standardized(load_breast_cancer)
    with pytest.warns(ConvergenceWarning):  # 50 steps: enough to compare the paths taken
        reference = xpvec.LogisticRegression(solver="gd", C=0.1, max_iter=50, backend="numpy").fit(X, y)
    with pytest.warns(ConvergenceWarning):
        model = xpvec.LogisticRegression(solver="gd", C=0.1, max_iter=50).fit(chunked(X, 200), chunked(y, 200))
    assert_same_model(model, reference, rtol=1e-10)
    with pytest.raises(ValueError, match="sgd.*dask.*round trip"):
        xpvec.LogisticRegression(solver="sgd").fit(chunked(X, 200), chunked(y, 200))


@pytest.mark.parametrize("n_outputs", [1, 4], ids=["binary", "multinomial"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_fused_kernel_sums_blocks_to_numpys_result(n_outputs, weighted):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((90, 6))
    Y = (rng.random(90) < 0.5) * 1.0 if n_outputs == 1 else np.eye(n_outputs)[rng.integers(0, n_outputs, 90)]
    W = rng.standard_normal(6) if n_outputs == 1 else rng.standard_normal((6, n_outputs))
    b = rng.standard_normal(1 if n_outputs == 1 else n_outputs)
    weights = rng.random(90) if weighted else None
    expected = NumpyBackend().logistic_loss_grad(X, Y, W, b, weights)
    rows = (0, 40, 1, 0, 49)
    backend = DaskBackend()
    lazy = backend.logistic_loss_grad(
        chunked(X, rows, 4), chunked(Y, rows), W, b, None if weights is None else chunked(weights, rows)
    )
    with dask.config.set(scheduler="threads"):
        got = backend.fetch(*lazy)
    for g, e in zip(got, expected, strict=True):
        assert isinstance(g, np.ndarray | np.generic) and np.shape(g) == np.shape(e)
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_outputs", [1, 3], ids=["binary", "multinomial"])
def test_float32_blocks_add_their_losses_in_float64(n_outputs):
    # Each block's loss is a float64 sum (Backend.logistic_loss_grad); a float32 partials row
    # would round row 0's 30000 and drop every other block's 5e-5 to 9e-5 losses.
    backend = DaskBackend()
    for kind, (X, Y, W, b) in oracle.hard_loss_sums(n_outputs, np.float32).items():
        lazy = backend.logistic_loss_grad(chunked(X, 16), chunked(Y, 16), W, b, None)
        with dask.config.set(scheduler="threads"):
            loss, grad_W, grad_b = backend.fetch(*lazy)
        assert grad_W.dtype == grad_b.dtype == np.float32
        oracle.assert_summed_in_float64(kind, (X, Y, W, b), loss)


# ---------------------------------------------------------------- data stays chunked
def test_each_evaluation_reads_row_blocks_not_whole_x(monkeypatch):
    X, y = standardized(load_breast_cancer)
    seen_rows = []
    kernel = NumpyBackend._logistic_loss_grad

    def spy(self, xp, X_block, *args):
        seen_rows.append(X_block.shape[0])
        return kernel(self, xp, X_block, *args)

    monkeypatch.setattr(NumpyBackend, "_logistic_loss_grad", spy)
    fetched = []
    fetch = DaskBackend.fetch

    def spy_fetch(self, *results):
        out = fetch(self, *results)
        fetched.append([np.shape(r) for r in out])
        return out

    monkeypatch.setattr(DaskBackend, "fetch", spy_fetch)
    with dask.config.set(scheduler="threads"):
        model = xpvec.LogisticRegression(**TIGHT).fit(chunked(X, 100, 10), chunked(y, 100))
    assert set(seen_rows) <= {100, X.shape[0] % 100}
    d = X.shape[1]
    # One fetch per evaluation (at least one per iteration), each of parameter-sized results,
    # and one scalar: the curvature along the first direction (L-BFGS's first step).
    evaluations = [shapes for shapes in fetched if shapes != [()]]
    assert len(evaluations) >= model.n_iter_ and len(fetched) == len(evaluations) + 1
    assert all(shapes == [(), (d,), (1,)] for shapes in evaluations)


def test_validation_without_materializing(scheduler):
    X, y = standardized(load_breast_cancer)
    bad = X.copy()
    bad[400, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        xpvec.LogisticRegression().fit(chunked(bad, 100), chunked(y, 100))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        xpvec.LogisticRegression().fit(chunked(X, 100), chunked(y[:-1], 100))
    with pytest.raises(ValueError, match="[Nn]egative"):
        xpvec.LogisticRegression().fit(chunked(X, 100), chunked(y, 100), sample_weight=-chunked(np.ones(len(y)), 50))
    with pytest.raises(ValueError, match="only one class"):
        xpvec.LogisticRegression().fit(chunked(X, 100), chunked(np.zeros(len(y)), 100))
    model = xpvec.LogisticRegression().fit(chunked(X, 100), chunked(y, 100))
    with pytest.raises(ValueError, match="X has 4 features"):
        model.predict(chunked(X[:, :4], 100))
    lazy = model.predict(chunked(bad, 100))  # predictions stay lazy: the check runs when computed
    with pytest.raises(ValueError, match="NaN or infinity"):
        lazy.compute()


def test_binary_probabilities_of_rows_of_unknown_count():
    # Boolean indexing leaves Dask row counts unknown (NaN); stacking [-z, z] refused them.
    X, y = standardized(load_breast_cancer)
    model = xpvec.LogisticRegression().fit(X, y)
    lazy = chunked(X, 100)
    picked = lazy[lazy[:, 0] > 0]
    rows = X[X[:, 0] > 0]
    for method in ("predict_proba", "predict_log_proba"):
        got = getattr(model, method)(picked)
        assert isinstance(got, da.Array)
        np.testing.assert_allclose(got.compute(), getattr(model, method)(rows), rtol=1e-12, atol=1e-15)


def test_score_computes_x_and_y_once():
    # scikit-learn's accuracy_score computed each lazy array on its own, several times over:
    # X's blocks were read 3 times, and 3 times more through a y derived from X.
    X, y = standardized(load_breast_cancer)
    model = xpvec.LogisticRegression().fit(X, y)
    reads = []

    def counted(block):
        if block.size:  # not Dask's probe of the output type
            reads.append(block.shape)
        return block

    lazy = chunked(X, 100).map_blocks(counted, dtype=X.dtype)
    labels = (lazy[:, 0] * 0 + chunked(y.astype(X.dtype), 100)).astype(y.dtype)  # y from X's graph
    with dask.config.set(scheduler="sync"):
        score = model.score(lazy, labels, sample_weight=chunked(np.ones(len(y)), 100))
    assert score == model.score(X, y)
    assert len(reads) == lazy.numblocks[0]  # each block of X read once


def test_dask_labels_beside_host_x_are_refused():
    # They would be computed to the host behind the user's back.
    X, y = standardized(load_breast_cancer)
    with pytest.raises(TypeError, match=r"y is a Dask array but X is numpy.ndarray.*y.compute\(\)"):
        xpvec.LogisticRegression().fit(X, chunked(y, 100))
    with pytest.raises(TypeError, match="sample_weight is a Dask array"):
        xpvec.LogisticRegression().fit(X, y, sample_weight=chunked(np.ones(len(y)), 100))


@pytest.mark.parametrize("kind", ["object", "category", "string"])
def test_host_labels_of_pandas_kinds_beside_dask_x(kind):
    # Dask sizes "auto" chunks by itemsize, which object labels lack: it refused to chunk them.
    pd = pytest.importorskip("pandas")
    X, y = standardized(load_breast_cancer)
    labels = pd.Series(np.array(["benign", "malignant"])[y]).astype(kind)
    lazy = xpvec.LogisticRegression().fit(chunked(X, 100), labels)
    host = xpvec.LogisticRegression().fit(X, labels)
    np.testing.assert_array_equal(lazy.classes_, host.classes_)
    assert_same_model(lazy, host, rtol=1e-6)


@pytest.mark.parametrize("kind", ["Int64", "boolean"])
def test_pandas_nullable_labels_read_as_on_the_host(kind):
    # scikit-learn reads them as float64 (classes_ [0., 1.]); beside Dask X they stayed int64
    # or bool, so classes_ and predictions changed dtype with the backend.
    pd = pytest.importorskip("pandas")
    labels = pd.Series(_BINARY, dtype=kind)
    lazy = xpvec.LogisticRegression().fit(chunked(_X, 20), labels)
    host = xpvec.LogisticRegression().fit(_X, labels)
    assert lazy.classes_.dtype == host.classes_.dtype == np.float64
    np.testing.assert_array_equal(lazy.predict(chunked(_X, 20)).compute(), host.predict(_X))


def test_dask_weights_of_numbers_as_text_read_as_on_the_host():
    # Dask's isfinite refused the strings ("Parameters of such types are not supported").
    text = np.full(40, "1.5")
    host = xpvec.LogisticRegression().fit(_X, _BINARY, sample_weight=text)
    lazy = xpvec.LogisticRegression().fit(chunked(_X, 20), chunked(_BINARY, 20), sample_weight=chunked(text, 20))
    assert_same_model(lazy, host, rtol=1e-6)
    with pytest.raises(ValueError, match="could not convert string to float"):
        xpvec.LogisticRegression().fit(chunked(_X, 20), chunked(_BINARY, 20), sample_weight=chunked(np.full(40, "a"), 20))


def test_a_column_vector_of_host_labels_warns_at_the_callers_line():
    from sklearn.exceptions import DataConversionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        xpvec.LogisticRegression().fit(chunked(_X, 20), _BINARY[:, None])
    column = [w for w in caught if w.category is DataConversionWarning]
    assert [w.filename for w in column] == [__file__] and "column-vector y" in str(column[0].message)


@pytest.mark.parametrize("odd", ["nan", "mixed"])
def test_labels_that_cannot_be_sorted_are_refused_in_words(odd):
    # np.unique's TypeError ('<' not supported between 'str' and 'float') came from a Dask task.
    X, y = _X, np.where(_BINARY == 1, "b", "a").astype(object)
    if odd == "nan":
        y[0] = np.nan
    else:
        y[::2] = 1
    with pytest.raises(ValueError, match="y holds labels that cannot be compared .*one type"):
        xpvec.LogisticRegression().fit(chunked(X, 20), chunked(y, 20))


@pytest.mark.parametrize("name", ["y", "sample_weight"])
def test_labels_or_weights_of_unknown_length_say_so(name):
    # Boolean indexing leaves the length NaN: it read "inconsistent numbers of samples: [40, nan]".
    y, weights = chunked(_BINARY, 20), chunked(np.ones(40), 20)
    picked = {"y": y[y >= 0], "sample_weight": weights[weights > 0]}[name]
    args = (picked, weights) if name == "y" else (y, picked)
    with pytest.raises(ValueError, match=rf"{name} has unknown chunk sizes .*{name}.compute_chunk_sizes\(\)"):
        xpvec.LogisticRegression().fit(chunked(_X, 20), args[0], sample_weight=args[1])


# ---------------------------------------------------------------- a worker lost mid-fit
def test_a_worker_killed_mid_fit_is_survived(cluster, monkeypatch, caplog):
    X, y = standardized(load_digits)
    reference = xpvec.LogisticRegression(C=0.1, backend="numpy", **TIGHT).fit(X, y)
    with distributed.Client(cluster, timeout="60s") as client:
        client.wait_for_workers(2, timeout=60)
        pids_before = client.run(os.getpid)
        victim = max(pids_before.values())
        evaluations = 0
        fetch = DaskBackend.fetch

        def kill_on_third_evaluation(self, *results):
            # By the third evaluation every worker holds persisted chunks of X and Y:
            # SIGKILL one, so Dask must recompute its chunks and retry its tasks.
            nonlocal evaluations
            evaluations += 1
            if evaluations == 3:
                os.kill(victim, signal.SIGKILL)
            return fetch(self, *results)

        monkeypatch.setattr(DaskBackend, "fetch", kill_on_third_evaluation)
        model = xpvec.LogisticRegression(C=0.1, **TIGHT).fit(chunked(X, 200), chunked(y, 200))
        assert evaluations > 3
        client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
        assert victim not in client.run(os.getpid).values()
    # The scheduler's own account: the dead worker's chunks were recomputed elsewhere.
    assert "will be recomputed" in caplog.text
    assert_same_model(model, reference)


# ---------------------------------------------------------------- FP flags where the tasks run
@pytest.fixture(params=["threads", "synchronous", "unreached-threads"])
def local_scheduler(request):
    """Dask's threaded scheduler, whose pool runs each task in a copy of the caller's context
    (its np.errstate included); the synchronous one, on the caller's thread; and a plain thread
    pool whose threads raise on every FP flag. That pool runs tasks in its threads' own context,
    as a dask.distributed worker does: only a guard inside each task reaches them."""
    if request.param == "unreached-threads":
        with ThreadPoolExecutor(2, initializer=partial(np.seterr, all="raise")) as pool:
            with dask.config.set(scheduler="threads", pool=pool):
                yield
    else:
        with dask.config.set(scheduler=request.param):
            yield


def _fit_under_raise(X, y, sample_weight=None, **params):
    """``(model, warnings)`` of a fit with NumPy set to raise on every FP flag."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="raise"):
        warnings.simplefilter("always")
        model = xpvec.LogisticRegression(**params).fit(X, y, sample_weight=sample_weight)
    return model, [(w.category, str(w.message)) for w in caught]


_RNG = np.random.default_rng(0)
_X = _RNG.standard_normal((40, 3))
_BINARY, _THREE = (_X[:, 0] > 0).astype(int), np.arange(40) % 3
_HUGE_WEIGHTS = np.full(40, 1e300)
FP_CASES = {  # (X, y, sample_weight, params): each overflows or underflows somewhere in the fit
    "X*1e200": (_X * 1e200, _BINARY, None, {}),
    "X*1e-300": (_X * 1e-300, _THREE, None, {}),
    "float32 X*1e37": ((_X * 1e37).astype(np.float32), _THREE, None, {}),
    # Each block's float32 gradient is finite, their float64 sum is not a float32 any more.
    "float32 gradient sums": (((1 - 2 * _BINARY)[:, None] * np.abs(_X) * 3e37).astype(np.float32), _BINARY, None, {}),
    "C=1e-300": (_X, _THREE, None, dict(C=1e-300)),
    "weights 1e300": (_X, _THREE, _HUGE_WEIGHTS, {}),
    "gd, weights 1e300 and class_weight": (_X, _BINARY, _HUGE_WEIGHTS, dict(solver="gd", class_weight={0: 0.5, 1: 2.0})),
}


@pytest.mark.parametrize("case", list(FP_CASES))
def test_fp_flags_in_tasks_are_handled_as_numpys_are(local_scheduler, case):
    # The fit guarded only the caller's thread: values that overflow or underflow (and that the
    # solvers handle) raised bare FloatingPointErrors in Dask's tasks under np.seterr(all="raise"),
    # and were dozens of RuntimeWarnings without it, where numpy's fit ends as the solver says.
    X, y, weights, params = FP_CASES[case]
    reference, expected = _fit_under_raise(X, y, weights, backend="numpy", **params)
    assert all(category is ConvergenceWarning for category, _ in expected)
    model, caught = _fit_under_raise(
        chunked(X, 20), chunked(y, 20), None if weights is None else chunked(weights, 20), **params
    )
    assert caught == expected
    if "C" in params:
        # W held at ~1e-282 is rounding noise of each backend's own path: the models are
        # compared by what they predict.
        np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), rtol=1e-6)
    else:
        assert_same_model(model, reference, rtol=1e-6)
    assert np.all(np.isfinite(model.coef_))


def test_divergence_on_dask_raises_xpvecs_error_not_numpys(local_scheduler):
    X, y = chunked(_X, 20), chunked(_BINARY, 20)
    with pytest.raises(FloatingPointError, match="loss became inf.*Try a smaller learning_rate"):
        _fit_under_raise(X, y, solver="gd", learning_rate=1e10)


# ---------------------------------------------------------------- the op agreement suite on a cluster
AGREEMENT_CASES = [
    (agreement.test_elementwise, dict(op=op, dtype=np.float32, shape=(4, 3, 2), layout="F"))
    for op in agreement.ELEMENTWISE
] + [
    (agreement.test_softmax, dict(log=log, dtype=np.float64, shape=(3, 5), axis=axis, layout="C"))
    for log in (False, True)
    for axis in (0, -1, None)
] + [
    (agreement.test_dot, dict(shapes=shapes, dtype=np.float64, layout="C"))
    for shapes in [((7,), (7,)), ((3, 5), (5, 4)), ((3, 0), (0, 2))]
] + [
    (agreement.test_losses, dict(which=which, dtype=np.float32, shape=(3, 5), layout="C"))
    for which in ("l1_loss", "l2_loss")
] + [
    (agreement.test_normalize_rows, dict(dtype=np.float64, shape=(3, 5), layout="strided")),
    (agreement.test_image2vector, dict(dtype=np.uint8, shape=(4, 3, 2), layout="C")),
]


@pytest.mark.parametrize(
    "case, params", AGREEMENT_CASES, ids=[f"{c.__name__[5:]}-{i}" for i, (c, _) in enumerate(AGREEMENT_CASES)]
)
def test_agreement_on_a_cluster(cluster, case, params):
    with distributed.Client(cluster, timeout="60s"):
        case(backend="dask", **params)
