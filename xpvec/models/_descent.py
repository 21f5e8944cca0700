"""Gradient descent, full batch ("gd") and mini-batch ("sgd"), on backend arrays.

gd takes steps of 1/L, L the Lipschitz constant of the gradient
(``LogisticObjective.lipschitz``), the step that provably decreases f, so it
converges without tuning. sgd starts from the same step on mini-batches of a
permutation drawn afresh each epoch from ``random_state``, keeps it constant
while the epoch loss improves and divides it by 5 at each plateau (the noise
floor of a constant step). In our trials on these ill-conditioned problems
(the L2 term is tiny beside the data term) 1/sqrt(t)-style decay from the
start stalled far from the optimum; constant-then-cut does better, but it
stops at a plateau of the noisy epoch loss (scikit-learn's SGD test), not at
the optimum: within 1e-3 relative of the optimum's objective on the tests'
problems at C = 0.1, 1.0-1.4e-2 on digits / 16 at C = 1 and 3-5e-3 on
standardized breast cancer, whose flat directions a small step crawls along.
Averaging the iterates (Polyak) did not narrow that: the gap is progress
not made, not noise. A user ``learning_rate`` replaces the initial step of
either.
"""

from __future__ import annotations

import math

import numpy as np

from ._monitor import BADLY_SCALED, STANDARDIZE, Monitor, SolverResult
from ._objective import LogisticObjective


def _safe_step(fun: LogisticObjective) -> float | None:
    """1/L, the step that provably decreases f; None when L overflowed (or is NaN): X too
    badly scaled for float (features around 1e200 in float64, 1e37 in float32)."""
    lipschitz = fun.lipschitz()
    return 1.0 / lipschitz if 0.0 < lipschitz < math.inf else None


def _no_safe_step(theta, monitor: Monitor) -> SolverResult:
    message = f"the gradient's Lipschitz constant, which sets the step, overflows: {BADLY_SCALED}"
    return SolverResult(theta, 0, False, monitor.loss_curve, message, STANDARDIZE)


def gd(
    fun: LogisticObjective,
    theta,
    *,
    max_iter: int,
    tol: float,
    monitor: Monitor,
    learning_rate: float | None,
) -> SolverResult:
    xp = fun.xp
    step = learning_rate or _safe_step(fun)
    if step is None:
        return _no_safe_step(theta, monitor)
    f, g = fun(theta)
    f, g_max = fun.read(f, xp.max(xp.abs(g)))  # one read of the host per evaluation
    monitor.check_finite(f)
    for it in range(1, max_iter + 1):
        if g_max <= tol:
            return SolverResult(theta, it - 1, True, monitor.loss_curve)
        theta_new = theta - step * g
        f_new, g_new = fun(theta_new)
        f_new, g_new_max = fun.read(f_new, xp.max(xp.abs(g_new)))
        # The power iteration estimates L from below; should 1/L overshoot
        # (f goes up), halve the step and retry rather than oscillate. A step of 1/L
        # lowers f in exact arithmetic, and a halving is for good, so only a rise beyond
        # f's rounding in the data's dtype counts (rows repeated many times round alike:
        # ``rounding``'s finer slack halved float32 steps away near the optimum).
        if learning_rate is None and not f_new <= f + max(fun.rounding(f), 8 * fun.eps * abs(f)):
            step *= 0.5
        else:
            theta, f, g, g_max = theta_new, f_new, g_new, g_new_max
        monitor.record(f)
    return SolverResult(theta, max_iter, g_max <= tol, monitor.loss_curve, "max_iter was reached")


def sgd(
    fun: LogisticObjective,
    theta,
    *,
    max_iter: int,
    tol: float,
    monitor: Monitor,
    learning_rate: float | None,
    batch_size: int | None,
    random_state: np.random.RandomState,
    n_iter_no_change: int = 10,
    max_cuts: int = 3,
) -> SolverResult:
    """``max_iter`` counts epochs. A plateau is ``n_iter_no_change`` epochs whose mean
    mini-batch loss does not improve by ``tol`` (scikit-learn's MLP test); each
    plateau divides the step by 5, and the one after ``max_cuts`` cuts ends the fit."""
    xp = fun.xp
    n = fun.n_samples
    batch = min(batch_size or 32, n)
    step = learning_rate or _safe_step(fun)
    if step is None:
        return _no_safe_step(theta, monitor)
    best, stale, cuts = np.inf, 0, 0
    for epoch in range(1, max_iter + 1):
        # Drawn on the host so a seed gives the same batches on every backend;
        # one n-sized upload per epoch, not per step.
        order = xp.asarray(random_state.permutation(n), **fun.on_device)
        total = 0.0
        for start in range(0, n, batch):
            rows = order[start : min(start + batch, n)]  # the standard leaves overlong slices unspecified
            f, g = fun(theta, rows)
            theta = theta - step * g
            total = total + f * rows.shape[0]
        loss = float(total) / n
        monitor.record(loss)
        if loss > best - tol:
            stale += 1
            if stale >= n_iter_no_change:
                # A plateau of a constant step is its noise floor: a smaller step
                # lowers the floor, until the step is too small to matter.
                cuts += 1
                if cuts > max_cuts:
                    return SolverResult(theta, epoch, True, monitor.loss_curve)
                step, stale, best = step / 5, 0, np.inf
        else:
            stale = 0
        best = min(best, loss)
    return SolverResult(theta, max_iter, False, monitor.loss_curve, "max_iter was reached")
