"""``xpvec.LogisticRegression``: a scikit-learn classifier that trains on any backend.

Design requirements (API.md "Models"):
- scikit-learn's objective, C * sum_i w_i loss_i + 0.5 ||W||^2 with the
  intercept unpenalized; binary problems use the sigmoid, more than two
  classes the full K-class softmax (as scikit-learn's lbfgs does), so for the
  same C the fitted coef_/intercept_ match scikit-learn's.
- A real estimator: parameters stored as given in ``__init__``, validation
  with scikit-learn's own helpers (so errors read like scikit-learn's),
  fitted attributes are NumPy arrays, clone/pickle work.
- The backend (``backend=`` or the usual resolution on X) computes the loss
  and gradient through its fused kernel; the solvers in this package run on
  its arrays. Labels are encoded on the host once per fit (they are n-sized),
  except for Dask data, whose labels are encoded per chunk beside X's rows.
- Predictions on Dask input are lazy Dask arrays (chunked like X's rows), so
  they can be written out or reduced without reaching the client; every
  other input gets NumPy arrays.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._arrays import DASK, HOST, array_kind
from .._convert import to_numpy
from ..backends._base import Backend
from ..backends._host import HostBackend
from ._data import features, place_like, training_data
from ._descent import gd, sgd
from ._lbfgs import lbfgs
from ._monitor import Monitor
from ._objective import LogisticObjective
from ._warn import warn_caller

_SOLVERS = ("lbfgs", "gd", "sgd")


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """L2-regularized logistic regression (binary sigmoid or multinomial softmax).

    Minimizes ``C * sum_i w_i loss_i + 0.5 * ||W||^2`` (intercept not
    penalized), scikit-learn's objective, with the loss and gradient computed
    by the chosen xpvec backend.

    Parameters
    ----------
    C : inverse regularization strength (> 0).
    fit_intercept : learn an intercept (unpenalized).
    solver : "lbfgs" (fast, default), "gd" (batch gradient descent with a step
        of 1/L from the gradient's Lipschitz constant) or "sgd" (mini-batches of
        ``batch_size``, reshuffled each epoch, seeded by ``random_state``; the
        step is cut fivefold at each plateau of the epoch loss). "sgd" does not run
        on Dask arrays (``fit`` raises ValueError): use "lbfgs" or "gd" there.
    max_iter : iterations (epochs for "sgd").
    tol : stop when max |gradient| of the objective divided by ``C * sum(w)``
        is below it (scikit-learn's meaning); for "sgd", a plateau is 10 epochs
        whose mean loss does not improve by ``tol``, and it stops at the fourth.
    learning_rate : the step size: each step subtracts learning_rate times the gradient of
        the mean objective (the objective above divided by ``C * sum(w)``; for "sgd", its
        estimate on the mini-batch). "gd" keeps it constant; "sgd" starts with it and divides
        it by 5 at each plateau. Too large a step makes the loss diverge (FloatingPointError).
        None picks 1/L, L an estimate of the gradient's Lipschitz constant, which "gd" halves
        whenever a step would raise the objective. "lbfgs" ignores it, with a UserWarning.
    batch_size : mini-batch size for "sgd" (default min(32, n_samples); the
        full-batch solvers warn that they ignore it).
    random_state : seed or RandomState for "sgd"'s shuffling.
    backend : xpvec backend name or Backend; None resolves as for the ops.
    verbose : show progress with the current loss: a tqdm bar in a terminal or a notebook,
        otherwise (a log file, a CI job) a line on stderr every tenth of ``max_iter`` and one at
        the end.
    class_weight : None, a dict {label: finite weight >= 0}, or "balanced" (total weight
        over n_classes times each class's); multiplies ``sample_weight``, as in scikit-learn.
        The weights' total must fit X's dtype: weights w / s with C * s fit the same model.
    warm_start : start from the previous fit's coef_ and intercept_ (same classes
        and features), as in scikit-learn; otherwise from zeros.

    Attributes
    ----------
    classes_, coef_ (1 or K, n_features), intercept_ (1 or K,), n_iter_ (an
    int32 array of shape (1,), as scikit-learn's), loss_curve_ (float64, the
    objective divided by ``C * sum(w)`` per iteration, or per epoch for "sgd" as
    the mean over its mini-batches): NumPy arrays, whatever the backend.
    n_features_in_: an int, as scikit-learn's.

    Training, coef_, intercept_ and the float results of predict_proba, predict_log_proba
    and decision_function use X's float dtype: float32 stays float32, float16 is promoted
    to float32, integer and bool X give float64.

    On Dask arrays ``fit`` trains with the data left chunked where it is (on the
    workers of a ``dask.distributed`` cluster, if a Client is active): one
    cluster round trip per loss evaluation, carrying parameter-sized vectors.
    X, y and sample_weight are persisted for the fit. ``predict``,
    ``predict_proba``, ``predict_log_proba`` and ``decision_function`` then
    return lazy Dask arrays; ``score`` computes them and returns the accuracy.
    """

    def __init__(
        self,
        C: float = 1.0,
        fit_intercept: bool = True,
        solver: str = "lbfgs",
        max_iter: int = 100,
        tol: float = 1e-4,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        random_state: int | np.random.RandomState | None = None,
        backend: str | Backend | None = None,
        verbose: bool = False,
        class_weight: dict | str | None = None,
        warm_start: bool = False,
    ) -> None:
        self.C = C
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.random_state = random_state
        self.backend = backend
        self.verbose = verbose
        self.class_weight = class_weight
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # scipy.sparse X trains on the host backends (scipy's products); the others refuse it.
        tags.input_tags.sparse = isinstance(self.backend, HostBackend) or self.backend in (None, "numpy", "numba", "python")
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LogisticRegression:
        """Fit the model to X (n_samples, n_features) and labels y (n_samples,).

        Parameters
        ----------
        X : 2-D array of finite numbers: NumPy, CuPy, Dask or another array-API array, trained
            on where it lives; scipy.sparse only on the host backends (numpy, numba, python).
        y : class labels (n_samples,), at least two distinct ones; a Dask array only beside
            Dask X.
        sample_weight : None (all 1) or non-negative weights (n_samples,), not all 0; a Dask
            array only beside Dask X.

        Returns
        -------
        self, fitted.

        Raises
        ------
        ValueError : X holds NaN or inf, is not 2-D or is empty; y has a single class or is
            continuous; sample_weight is negative or all 0; an invalid parameter (solver, C,
            tol, ...); solver="sgd" on Dask X.
        TypeError : the backend cannot take X's array type (``backend="dask"`` with NumPy X,
            scipy.sparse X off the host backends), or y or sample_weight is a Dask array
            beside X that is not.
        FloatingPointError : the loss became inf or NaN, training diverged (too large a
            ``learning_rate``, say).

        Warns
        -----
        ConvergenceWarning : the solver stopped before ``tol`` was met (``max_iter`` reached,
            or a badly scaled problem); the message says what to change.
        UserWarning : ``learning_rate`` or ``batch_size`` is set for a solver that ignores it.
        """
        self._check_params()
        previous = {k: v for k, v in vars(self).items() if k in ("n_features_in_", "feature_names_in_")}
        data = training_data(self, X, y, sample_weight)  # sets n_features_in_ (scikit-learn's validation)
        objective = LogisticObjective(
            data.backend,
            data.X,
            data.Y,
            data.sample_weight,
            C=self.C,
            fit_intercept=self.fit_intercept,
            finite_unchecked=data.finite_unchecked,
        )

        monitor = Monitor(self.solver, self.max_iter, self.verbose, self.learning_rate)
        try:
            try:
                start = self._start(objective, data.classes)
            except ValueError:  # a refused warm start: the fitted model stays as it was
                vars(self).pop("feature_names_in_", None)
                vars(self).update(previous)
                raise
            with data.backend.training():
                result = self._solve(objective, monitor, start)
            monitor.finish(result)
        finally:
            monitor.close()
        if not result.converged:
            warn_caller(
                f"LogisticRegression(solver={self.solver!r}) did not converge: {result.message}. {result.advice}",
                ConvergenceWarning,
            )

        W, b = (to_numpy(a) for a in objective.unpack(result.theta))
        if W.ndim > 1:
            # The softmax is unchanged by a shift common to all K intercepts; pin
            # the free shift to sum 0 (what scikit-learn's solvers end at from 0).
            # Intercepts held near 0 by a tiny C are subnormal: their mean rounds, harmlessly.
            with np.errstate(under="ignore"):
                b = b - b.mean()
        self.classes_ = data.classes
        self.coef_ = np.ascontiguousarray(W.T if W.ndim > 1 else W[None, :])
        self.intercept_ = np.array(b)
        self.n_iter_ = np.array([result.n_iter], dtype=np.int32)  # scikit-learn's shape and dtype
        self.loss_curve_ = np.asarray(result.loss_curve, dtype=np.float64)
        return self

    def _check_params(self) -> None:
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        if not (isinstance(self.C, Real) and self.C > 0):
            raise ValueError(f"C must be a positive number, got {self.C!r}")
        if not (isinstance(self.tol, Real) and 0 <= self.tol < math.inf):  # inf: stop before any step
            raise ValueError(f"tol must be a non-negative finite number, got {self.tol!r}")
        for name in ("max_iter", "batch_size"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, Integral) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.learning_rate is not None and not (
            isinstance(self.learning_rate, Real) and 0 < self.learning_rate < math.inf
        ):
            raise ValueError(f"learning_rate must be a positive finite number or None, got {self.learning_rate!r}")
        # A string such as "no" would read as True. verbose also takes scikit-learn's 0/1.
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise ValueError(f"fit_intercept must be True or False, got {self.fit_intercept!r}")
        if not isinstance(self.verbose, (bool, np.bool_, Integral)):
            raise ValueError(f"verbose must be True or False, got {self.verbose!r}")
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"warm_start must be True or False, got {self.warm_start!r}")
        cw = self.class_weight
        if not (cw is None or (isinstance(cw, str) and cw == "balanced") or isinstance(cw, dict)):
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {self.class_weight!r}"
            )
        for label, weight in cw.items() if isinstance(cw, dict) else ():
            if not 0 <= _number(weight) < math.inf:  # NaN fails it too
                raise ValueError(
                    f"class_weight's weights must be finite numbers >= 0, got {weight!r} for class {label!r}"
                )
        # A setting the solver ignores is worth a word: silence would read as "it had no effect".
        if self.learning_rate is not None and self.solver == "lbfgs":
            warn_caller(
                "learning_rate is used by solver='gd' and 'sgd' only; solver='lbfgs' chooses "
                "its steps by line search and ignores it",
                UserWarning,
            )
        if self.batch_size is not None and self.solver != "sgd":
            warn_caller(
                f"batch_size is used by solver='sgd' only; solver={self.solver!r} uses every "
                "sample in each step and ignores it",
                UserWarning,
            )

    def _solve(self, objective: LogisticObjective, monitor: Monitor, theta):
        common = dict(max_iter=self.max_iter, tol=self.tol, monitor=monitor)
        # The solvers judge every value that is not finite themselves: a trial step whose loss
        # overflows is shortened, a step size, direction or curvature that overflows (X near
        # the float range, a tiny C) ends the fit with a ConvergenceWarning saying why, and a
        # loss that diverges raises with advice (``Monitor.check_finite``). The FP flags on the
        # way are noise, or under np.seterr(all="raise") bare errors in place of that report.
        # One guard for the whole solve: the backend's, for its arrays, and NumPy's, for the
        # arithmetic on the host whatever the backend: the solvers' own (L-BFGS's recursion,
        # in float64) and, on Dask data, the parameters' (NumPy arrays on the client). Dask's
        # tasks carry their own guard: they may run on threads this one does not reach.
        with objective.backend.fp_guard(), np.errstate(all="ignore"):
            if self.solver == "lbfgs":
                return lbfgs(objective, theta, **common)
            if self.solver == "gd":
                return gd(objective, theta, learning_rate=self.learning_rate, **common)
            return sgd(
                objective,
                theta,
                learning_rate=self.learning_rate,
                batch_size=self.batch_size,
                random_state=check_random_state(self.random_state),
                **common,
            )

    def _start(self, objective: LogisticObjective, classes: np.ndarray):
        """Zeros, or with ``warm_start`` the previous fit's parameters (read before it is replaced)."""
        if not (self.warm_start and hasattr(self, "coef_")):
            return objective.zeros()
        expected = (1 if classes.shape[0] == 2 else classes.shape[0], objective.n_features)
        if self.coef_.shape != expected or not np.array_equal(self.classes_, classes):
            raise ValueError(
                f"warm_start=True needs the previous fit's classes and features: it had "
                f"{self.classes_.shape[0]} classes and {self.coef_.shape[1]} features, this data "
                f"{classes.shape[0]} and {objective.n_features}; set warm_start=False to start afresh"
            )
        W = self.coef_[0] if expected[0] == 1 else self.coef_.T
        b = self.intercept_ if self.fit_intercept else np.zeros_like(self.intercept_)
        return objective.pack(W, b)

    # ------------------------------------------------------------------ predict
    def _logits(self, X):
        """``(backend, logits)`` on the backend: (n,) for binary, (n, K) otherwise."""
        check_is_fitted(self)
        backend, X = features(self, X, reset=False)
        W = self.coef_[0] if self.coef_.shape[0] == 1 else self.coef_.T
        W, b = (place_like(backend, X, a) for a in (W, self.intercept_))
        return backend, backend.decision(X, W, b)

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits: (n_samples,) for two classes (positive means classes_[1]), else (n_samples, K)."""
        backend, Z = self._logits(X)
        return backend.estimator_output(Z)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """log P(class | x), (n_samples, n_classes), computed stably from the logits."""
        backend, Z = self._logits(X)
        if Z.ndim == 1:
            return backend.estimator_output(backend.log_sigmoid(_both_classes(backend, Z)))
        return backend.estimator_output(backend.log_softmax(Z))

    def predict_proba(self, X: Any) -> np.ndarray:
        """P(class | x), (n_samples, n_classes); rows sum to 1."""
        backend, Z = self._logits(X)
        if Z.ndim == 1:
            return backend.estimator_output(backend.sigmoid(_both_classes(backend, Z)))
        return backend.estimator_output(backend.softmax(Z))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, as a label from ``classes_``."""
        scores = self.decision_function(X)
        index = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        if array_kind(index) == DASK:
            return index.map_blocks(_labels_at, self.classes_, dtype=self.classes_.dtype)
        return self.classes_[index]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``predict(X)`` against y (weighted by ``sample_weight``), as
        scikit-learn's. y and the weights are read on the host, as ``fit`` reads them,
        from wherever they live (NumPy cannot convert arrays on every device itself)."""
        from sklearn.metrics import accuracy_score

        predicted, y, sample_weight = self.predict(X), _host(y), _host(sample_weight)
        if any(array_kind(a) == DASK for a in (predicted, y, sample_weight)):
            import dask

            # One computation for all three: scikit-learn would compute each lazy array on
            # its own, some more than once, and X's graph with each (a y derived from X too).
            predicted, y, sample_weight = dask.compute(predicted, y, sample_weight)
        return accuracy_score(y, predicted, sample_weight=sample_weight)


def _host(a: Any) -> Any:
    """Labels or weights for scikit-learn's metrics: device arrays as NumPy; host
    data, None and (lazy) Dask arrays as they are."""
    return a if a is None or array_kind(a) in (HOST, DASK) else to_numpy(a)


def _both_classes(backend, Z):
    """(n, 2) logits [-Z, Z] of the two classes from the (n,) logits of the second. A product
    with [-1, 1] (exact) broadcasts where stacking cannot: Dask arrays whose row count is
    unknown (after boolean indexing) refuse to stack."""
    return Z[:, None] * place_like(backend, Z, np.array([-1, 1]))


def _labels_at(index: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return classes[index]


def _number(value: object) -> float:
    """``value`` as ``float()`` reads a number (a Decimal, a 0-d array: as scikit-learn takes
    them), NaN for what is no number: text and bools."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
