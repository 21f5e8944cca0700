"""L-BFGS: the two-loop recursion and a weak Wolfe line search, on backend arrays.

Every vector (theta, gradients, the m stored pairs) stays an array of the
data's backend. The two-loop recursion runs on the host, in float64, on
coefficients: the direction lies in the span of the gradient and the stored
pairs, so the recursion needs only their inner products (``_Pairs``), and
the device forms the direction in one product of the coefficients with the
pairs. On a GPU that is a handful of launches an iteration where the
recursion on vectors took about 4m + 6 (each a few microseconds of host
time, more than the arithmetic on a few thousand parameters); counted on
array-api-strict arrays, a digits fit made 79 arrays an iteration, 189 before.
The host reads once per evaluation, all together (on a GPU each read waits
for the device): f and g.p for the line search, max |g| for the stopping
test, and the inner products of the trial's s, y and g with one another and
with the stored pairs (for the curvature test and the recursion).
An iteration is one evaluation unless its line search needs more trials.

Stopping mirrors scipy's L-BFGS-B as scikit-learn calls it: max |grad| <= tol,
or a relative decrease of f below 64 float64 machine epsilons whatever the data's
dtype (scikit-learn's ``ftol``). With float32's own epsilon, float32 fits stopped
at a relative decrease of 8e-6, far short of tol (18 iterations on breast cancer
whatever tol was, 8e-3 from the optimum in probability, where scikit-learn's
float32 fit gets within 1e-4). f is summed in float64 from the rows' float32
losses (``LogisticObjective.rounding``), which tells a fall down to about
eps32 / sqrt(n) of f.

Below that, a step whose fall f's rounding hides (f rises within it, and the line
search takes it) does not end the fit, though L-BFGS-B would call it converged: the
gradient, accurate long after f is not, still leads towards tol. Stopping there left
float32 fits at tol=1e-8 far from the optimum (relative, max |coef|, numpy): 1.8e-4 on
standardized breast cancer, 1.5e-4 on 20000 x 64 with 5 classes, 7.3e-4 on digits / 16;
going on, they end 4.8e-7 (at tol), 2.9e-6 and 1.8e-4 away. The fit stops short of tol
only when the line search finds no step, or after ``_MAX_STALLED`` steps that improve
neither f nor max |g| on their best (both then wander in rounding noise), and warns
that this is as far as the floats go.

Scaling X by s scales the gradient by s and the curvature by s^2; every choice
here is invariant to it, so features far from unit scale take the steps
unit-scale ones would: the first step is the Newton step along -g from the
objective's curvature bound (``_first_step``), later ones start at 1 under the
two-loop recursion's s.y / y.y scaling, and the curvature pair test compares s.y
with -g.s (L-BFGS-B's), both step-times-gradient products.
"""

from __future__ import annotations

import math

import numpy as np

from ._monitor import BADLY_SCALED, STANDARDIZE, Monitor, SolverResult
from ._objective import EPS64, LogisticObjective

_C1, _C2 = 1e-4, 0.9  # sufficient decrease and curvature constants (Nocedal & Wright)
_MAX_LINE_SEARCH = 50  # bisections of a bracket
# Doublings of a step that still falls steeply: as many as overflow any float step (a
# finite start of 2^-1074 reaches 2^1024), so none stops short of the step the data need
# (the unpenalized intercept at C=1e-20 needs ~1e19 times the first guess; 50 doublings,
# counted with the bisections, ended that fit at its start, blaming float precision).
_MAX_EXPANSIONS = 2100
_FTOL = 64 * EPS64  # the relative decrease that stops (see above)
_MAX_STALLED = 20  # steps in a row that improve neither f nor max |g| on their best, before the fit stops


class _Pairs:
    """The last ``memory`` curvature pairs (s, y) in ``memory`` slots, the oldest overwritten:
    their vectors on the backend, stacked as the rows of B = [s_0 .. s_m-1; y_0 .. y_m-1] (zeros
    in slots not filled yet), and on the host, read as float64, the Gram matrix B B^T and B g,
    g the current gradient. A new pair replaces one slot's row and column of the Gram matrix
    and nothing else. The products are taken in the working dtype, as the recursion on vectors
    took its inner products, so nothing asks a device for float64."""

    def __init__(self, fun: LogisticObjective, memory: int):
        self.fun, self.memory = fun, memory
        self.order: list[int] = []  # filled slots, oldest pair first
        self.rows = None  # B, or None while there are no pairs
        self.gram = np.zeros((2 * memory, 2 * memory))
        self.with_g = np.zeros(2 * memory)

    def __len__(self) -> int:
        return len(self.order)

    def products(self, s, y, g):
        """``(B W^T, W W^T)`` for W = [s; y; g]: what ``update`` needs, to read with the trial's
        other values. The first is None while there are no pairs."""
        W = self.fun.xp.stack([s, y, g])
        return (None if self.rows is None else self.rows @ W.T), W @ W.T

    def update(self, BW, WW, pair: tuple | None) -> None:
        """After a step to a new gradient g: store the step's ``pair`` (s, y) unless None, in the
        oldest pair's slot once all are filled; ``BW`` and ``WW`` from ``products`` at that step, read."""
        m = self.memory
        if BW is None:  # no pairs yet: B is zeros
            BW = np.zeros((2 * m, 3))
        self.with_g = BW[:, 2].copy()
        if pair is None:
            return
        xp = self.fun.xp
        if self.rows is None:
            self.rows = xp.zeros((2 * m, pair[0].shape[0]), dtype=pair[0].dtype, **self.fun.on_device)
        k = self.order.pop(0) if len(self.order) == m else len(self.order)
        self.order.append(k)
        G = self.gram
        G[k, :], G[m + k, :] = BW[:, 0], BW[:, 1]  # the new s and y against B's rows...
        G[:, k], G[:, m + k] = BW[:, 0], BW[:, 1]
        G[k, k], G[m + k, m + k], G[k, m + k], G[m + k, k] = WW[0, 0], WW[1, 1], WW[0, 1], WW[0, 1]  # ...and each other
        self.with_g[k], self.with_g[m + k] = WW[0, 2], WW[1, 2]
        # B with rows k and m + k replaced, in one new array (no setitem: some array libraries'
        # arrays are immutable), so the pairs' vectors are held once.
        s_new, y_new = (xp.reshape(v, (1, -1)) for v in pair)
        B = self.rows
        self.rows = xp.concat([B[:k, :], s_new, B[k + 1 : m + k, :], y_new, B[m + k + 1 :, :]])

    def direction(self, g):
        """-H g by the two-loop recursion on coefficients: q = c_g g + c . B, whose inner products
        with B's rows are ``c_g (B g) + (B B^T) c``; H0 = (s.y / y.y) I from the newest pair."""
        m, G, Bg = self.memory, self.gram, self.with_g
        c_g, c = 1.0, np.zeros(2 * m)
        alphas = []
        for k in reversed(self.order):  # newest first
            a = (c_g * Bg[k] + G[k] @ c) / G[k, m + k]
            c[m + k] -= a
            alphas.append(a)
        newest = self.order[-1]
        gamma = G[newest, m + newest] / G[m + newest, m + newest]
        c_g, c = gamma * c_g, gamma * c
        for k, a in zip(self.order, reversed(alphas), strict=True):  # oldest first
            beta = (c_g * Bg[m + k] + G[m + k] @ c) / G[k, m + k]
            c[k] += a - beta
        coef = self.fun.xp.asarray(c, dtype=g.dtype, **self.fun.on_device)
        return -(float(c_g) * g + coef @ self.rows)  # float(): a NumPy float64 would promote g


def _line_search(fun, theta, f: float, g, p, t: float, slack: float, gtp: float | None, pairs: _Pairs):
    """A step t along p meeting the weak Wolfe conditions, by bracketing and bisection.

    Each trial is one evaluation and one read of the host: f, g.p, max |g| and
    the products of s, y and g with one another and with the stored pairs
    (``_Pairs.products``) at the trial point together (and g.p at theta with the first trial when
    ``gtp`` is None, as it is after the first iteration, whose step 1 needs no
    g.p ahead). ``slack`` (``LogisticObjective.rounding``) is accepted as "no increase".
    Returns ``(gtp, step)``, step ``(t, theta_new, f_new, g_new, max |g_new|, s, y, BW, WW)``
    (s and y the steps in theta and g, for the curvature pairs, and their products,
    ``_Pairs.products``) or None if no step was found.
    """
    xp = fun.xp
    lo, hi = 0.0, math.inf
    bisections = expansions = 0
    while bisections < _MAX_LINE_SEARCH and expansions < _MAX_EXPANSIONS:
        theta_new = theta + t * p
        f_new, g_new = fun(theta_new)
        # g.p and s.y overflow only for X near the float range: the no-step message reports it.
        s, y = theta_new - theta, g_new - g
        BW, WW = pairs.products(s, y, g_new)
        ahead = [] if gtp is not None else [xp.vecdot(g, p)]
        read = fun.read(f_new, xp.vecdot(g_new, p), xp.max(xp.abs(g_new)), WW, *ahead, *([] if BW is None else [BW]))
        f_new, gtp_new, g_max, WW = read[:4]
        ahead = read[4 : 4 + len(ahead)]
        BW = None if BW is None else read[-1]
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
            return gtp, (t, theta_new, f_new, g_new, g_max, s, y, BW, WW)
        if hi == math.inf:
            t, expansions = 2.0 * lo, expansions + 1
        else:
            t, bisections = 0.5 * (lo + hi), bisections + 1
    return gtp, None


def _first_step(fun: LogisticObjective, g, p) -> tuple[float, float]:
    """``(g.p, t)``: the first trial step along p, before any curvature is known, is the
    minimum of the quadratic model whose curvature is the objective's upper bound along p
    (the Newton step from theta = 0), so it fits the scale of X; 1 where the bound overflows."""
    gtp, data, penalty = fun.read(fun.xp.vecdot(g, p), *fun.curvature_along(p))
    bound = fun.curvature_bound(data, penalty)
    return gtp, (-gtp / bound if 0.0 < bound < math.inf else 1.0)


def _at_precision(why: str, single: bool) -> tuple[str, str]:
    """The message and advice for a fit stopped by its floats' rounding short of tol.
    ``single``: the data are float32 (or float16), whose rounding float64 would lift; it
    costs most on features of very different scales."""
    advice = "Loosen tol, standardize the features or fit float64 data." if single else "Loosen tol."
    return f"{why}; the solution is as accurate as the float precision allows", advice


def _no_step(f: float, gtp: float, t: float, eps: float, single: bool) -> tuple[str, str]:
    """Why the line search found no step, and the advice: f's rounding (at the optimum, as far
    as floats tell), or a problem too badly scaled for any trial step (features far from unit
    scale)."""
    if math.isfinite(gtp) and -gtp * t * 2.0**-_MAX_LINE_SEARCH <= 64 * eps * max(abs(f), 1.0):
        return _at_precision("the line search found no step that decreases the loss", single)
    return f"the line search found no step that decreases the loss: {BADLY_SCALED}", STANDARDIZE


def lbfgs(
    fun: LogisticObjective, theta, *, max_iter: int, tol: float, monitor: Monitor, memory: int = 10
) -> SolverResult:
    xp = fun.xp
    eps = float(xp.finfo(theta.dtype).eps)
    single = eps > EPS64
    f, g = fun(theta)
    f, g_max = fun.read(f, xp.max(xp.abs(g)))
    monitor.check_finite(f)
    pairs = _Pairs(fun, memory)
    best_f, best_g, stalled = f, g_max, 0  # stalled: steps in a row that improved neither
    for it in range(1, max_iter + 1):
        if g_max <= tol:
            return SolverResult(theta, it - 1, True, monitor.loss_curve)
        if len(pairs):
            p, gtp, t = pairs.direction(g), None, 1.0  # g.p is read with the first trial
        else:
            # The first direction (no curvature known yet) is -g scaled to unit sup norm, so g.p
            # and the curvature along p stay finite for X up to ~1e150.
            p = -g / xp.max(xp.abs(g))
            gtp, t = _first_step(fun, g, p)
        found = None
        if gtp is None or math.isfinite(gtp):
            gtp, found = _line_search(fun, theta, f, g, p, t, fun.rounding(f), gtp, pairs)
        if found is None:
            return SolverResult(theta, it - 1, False, monitor.loss_curve, *_no_step(f, gtp, t, eps, single))
        t, theta_new, f_new, g_new, g_max, s, y, BW, WW = found
        # Curvature enough to keep the pair (L-BFGS-B's test: s.y against -g.s, both
        # products of a step and a gradient, so the test does not depend on X's scale;
        # never s.y <= 0, whatever the sign rounding gave g.p).
        pairs.update(BW, WW, (s, y) if WW[0, 1] > max(0.0, eps * -gtp * t) else None)
        decrease = f - f_new
        theta, f, g = theta_new, f_new, g_new
        monitor.record(f)
        # A measured decrease this small is convergence. A step that f's rounding shows no
        # decrease for (accepted within ``rounding``) is not: the gradient, still accurate
        # there, leads on to tol (see the module's docstring). Once neither f nor max |g|
        # improves on its best for a while, the floats tell no more.
        if 0.0 < decrease <= _FTOL * max(abs(f), abs(f + decrease), 1.0):
            return SolverResult(theta, it, True, monitor.loss_curve)
        stalled = 0 if f < best_f or g_max < best_g else stalled + 1
        best_f, best_g = min(best_f, f), min(best_g, g_max)
        if stalled == _MAX_STALLED and g_max > tol:
            why = f"neither the loss nor its gradient improved in {_MAX_STALLED} steps"
            return SolverResult(theta, it, False, monitor.loss_curve, *_at_precision(why, single))
    return SolverResult(theta, max_iter, g_max <= tol, monitor.loss_curve, "max_iter was reached")
