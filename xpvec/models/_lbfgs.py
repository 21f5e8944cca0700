"""L-BFGS: the two-loop recursion and a weak Wolfe line search, on backend arrays.

Every vector (theta, gradients, the m stored pairs) stays an array of the
data's backend; the two-loop recursion's alphas stay 0-d arrays (reading them
would wait for the device), and each pair's rho = 1 / s.y is the Python float
read with its line search's last trial.
The host reads scalars once per evaluation, all together (on a GPU each read
waits for the device): f and g.p for the line search, s.y for the curvature
test, max |g| for the stopping test. An iteration is one evaluation unless
its line search needs more trials.

Stopping mirrors scipy's L-BFGS-B as scikit-learn calls it: max |grad| <= tol,
or a relative decrease of f below 64 machine epsilons.

Scaling X by s scales the gradient by s and the curvature by s^2; every choice
here is invariant to it, so features far from unit scale take the steps
unit-scale ones would: the first step is the Newton step along -g from the
objective's curvature bound (``_first_step``), later ones start at 1 under the
two-loop recursion's s.y / y.y scaling, and the curvature pair test compares s.y
with -g.s (L-BFGS-B's), both step-times-gradient products.
"""

from __future__ import annotations

import math
from collections import deque

from ._monitor import Monitor, SolverResult
from ._objective import LogisticObjective

_C1, _C2 = 1e-4, 0.9  # sufficient decrease and curvature constants (Nocedal & Wright)
_MAX_LINE_SEARCH = 50


def _line_search(fun, theta, f: float, g, p, t: float, slack: float, gtp: float | None):
    """A step t along p meeting the weak Wolfe conditions, by bracketing and bisection.

    Each trial is one evaluation and one read of the host: f, g.p, max |g| and
    s.y at the trial point together (and g.p at theta with the first trial when
    ``gtp`` is None, as it is after the first iteration, whose step 1 needs no
    g.p ahead). ``slack`` (a few ulps of f) is accepted as "no increase": close
    to the optimum f's rounding noise exceeds c1 * t * g.p, and without it the
    search would reject every step there and stall short of ``tol``.
    Returns ``(gtp, step)``, step ``(t, theta_new, f_new, g_new, max |g_new|, s, y, s.y)``
    (s and y the steps in theta and g, for the curvature pairs) or None if no step was found.
    """
    xp = fun.xp
    lo, hi = 0.0, math.inf
    for _ in range(_MAX_LINE_SEARCH):
        theta_new = theta + t * p
        f_new, g_new = fun(theta_new)
        # g.p and s.y overflow only for X near the float range: the no-step message reports it.
        with fun.backend.fp_guard():
            s, y = theta_new - theta, g_new - g
            wanted = [f_new, xp.vecdot(g_new, p), xp.max(xp.abs(g_new)), xp.vecdot(s, y)]
            f_new, gtp_new, g_max, sy, *ahead = fun.read(*wanted, *([] if gtp is not None else [xp.vecdot(g, p)]))
        if ahead:
            gtp = ahead[0]
            if not math.isfinite(gtp):
                return gtp, None
        # A non-finite f here means the trial step overshot, not that training diverged.
        if not f_new <= f + _C1 * t * gtp + slack:
            hi = t
        elif gtp_new < _C2 * gtp:
            lo = t
        else:
            return gtp, (t, theta_new, f_new, g_new, g_max, s, y, sy)
        t = 2.0 * lo if hi == math.inf else 0.5 * (lo + hi)
    return gtp, None


def _first_step(fun: LogisticObjective, g, p) -> tuple[float, float]:
    """``(g.p, t)``: the first trial step along p, before any curvature is known, is the
    minimum of the quadratic model whose curvature is the objective's upper bound along p
    (the Newton step from theta = 0), so it fits the scale of X; 1 where the bound overflows."""
    with fun.backend.fp_guard():
        gtp, data, penalty = fun.read(fun.xp.vecdot(g, p), *fun.curvature_along(p))
    bound = fun.curvature_bound(data, penalty)
    return gtp, (-gtp / bound if 0.0 < bound < math.inf else 1.0)


def _no_step(f: float, gtp: float, t: float, eps: float) -> str:
    """Why the line search found no step: f's rounding (at the optimum, as far as floats
    tell), or a problem too badly scaled for any trial step (features far from unit scale)."""
    if math.isfinite(gtp) and -gtp * t * 2.0**-_MAX_LINE_SEARCH <= 64 * eps * max(abs(f), 1.0):
        return (
            "the line search found no step that decreases the loss; "
            "the solution is as accurate as the float precision allows"
        )
    return (
        "the line search found no step that decreases the loss: the problem is too badly scaled "
        "(features of very different or extreme magnitudes)"
    )


def lbfgs(
    fun: LogisticObjective, theta, *, max_iter: int, tol: float, monitor: Monitor, memory: int = 10
) -> SolverResult:
    xp = fun.xp
    eps = float(xp.finfo(theta.dtype).eps)
    f, g = fun(theta)
    f, g_max = fun.read(f, xp.max(xp.abs(g)))
    monitor.check_finite(f)
    pairs: deque = deque(maxlen=memory)  # (s, y, 1 / y.s) of the last steps
    for it in range(1, max_iter + 1):
        if g_max <= tol:
            return SolverResult(theta, it - 1, True, monitor.loss_curve)
        q = g
        alphas = []
        for s, y, rho in reversed(pairs):
            a = rho * xp.vecdot(s, q)
            q = q - a * y
            alphas.append(a)
        if pairs:
            s, y, rho = pairs[-1]
            q = q / (rho * xp.vecdot(y, y))  # H0 = (s.y / y.y) I
        for (s, y, rho), a in zip(pairs, reversed(alphas), strict=True):
            q = q + (a - rho * xp.vecdot(y, q)) * s
        if pairs:
            p, gtp, t = -q, None, 1.0  # g.p is read with the first trial
        else:
            # The first direction (no curvature known yet) is -g scaled to unit sup norm, so g.p
            # and the curvature along p stay finite for X up to ~1e150.
            p = -q / xp.max(xp.abs(q))
            gtp, t = _first_step(fun, g, p)
        found = None
        if gtp is None or math.isfinite(gtp):
            gtp, found = _line_search(fun, theta, f, g, p, t, 8 * eps * abs(f), gtp)
        if found is None:
            return SolverResult(theta, it - 1, False, monitor.loss_curve, _no_step(f, gtp, t, eps))
        t, theta_new, f_new, g_new, g_max, s, y, sy = found
        # Curvature enough to keep the pair (L-BFGS-B's test: s.y against -g.s, both
        # products of a step and a gradient, so the test does not depend on X's scale;
        # never s.y <= 0, whatever the sign rounding gave g.p).
        if sy > max(0.0, eps * -gtp * t):
            pairs.append((s, y, 1.0 / sy))
        decrease = f - f_new
        theta, f, g = theta_new, f_new, g_new
        monitor.record(f)
        if decrease <= 64 * eps * max(abs(f), abs(f + decrease), 1.0):
            return SolverResult(theta, it, True, monitor.loss_curve)
    return SolverResult(theta, max_iter, g_max <= tol, monitor.loss_curve, "max_iter was reached")
