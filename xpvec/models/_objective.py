"""The training objective on flat parameter vectors, for solvers written once.

Design requirements:
- Solvers see one flat vector theta = [W.ravel(), b] and a function returning
  ``(f, grad)`` as arrays of the backend's parameter namespace (the data's
  own namespace, or for chunked Dask data the chunks' namespace on the
  client), so every solver runs where the data lives; only scalars reach the
  host (for line searches and the convergence test), never X-sized arrays.
  For chunked data only d-sized vectors travel, once per evaluation.
- f is scikit-learn's objective  C * sum_i w_i loss_i + 0.5 ||W||^2  divided by
  C * sum_i w_i: the same minimizer, but O(1) whatever n and C are, so ``tol``
  means what it means in scikit-learn (a bound on max |grad f|) and the
  loss curve reads as a mean loss.
- The data term comes from the backend's fused kernel
  (``Backend.logistic_loss_grad``); everything here is d-sized.
- FP flags: the solvers call these methods under the fit's FP guard (see
  ``LogisticRegression._solve``), which covers the arithmetic on the caller's
  thread. Arithmetic on the data goes through the namespace's functions
  (``dxp.add``, ``dxp.multiply``), not operators: Dask's namespace runs each
  of its tasks under the guard, on worker threads the caller's guard does not reach.
"""

from __future__ import annotations

import math

import numpy as np

from .._arrays import HOST, array_kind, on_device_of
from .._convert import to_numpy
from ..backends._base import Backend
from ..backends._host import is_sparse
from ._data import non_finite_error

EPS64 = float(np.finfo(np.float64).eps)


class LogisticObjective:
    """f(theta) = sum_i w_i loss_i / S + ||W||^2 / (2 C S), S = sum_i w_i, and its gradient.

    ``Y`` is (n,) of 0/1 for a binary problem, (n, K) one-hot for a multinomial
    one. Without an intercept, b stays in theta but its gradient is zero, so no
    solver ever moves it from 0.
    """

    def __init__(
        self,
        backend: Backend,
        X,
        Y,
        sample_weight,
        *,
        C: float,
        fit_intercept: bool,
        finite_unchecked: bool = False,
    ) -> None:
        self.backend = backend
        self.xp = backend.parameter_namespace(X)
        self.data_xp = backend.namespace(X)
        # Parameters and row indices are created on X's device; parameters of
        # chunked data live on the client, where their namespace's default is right.
        self.on_device = on_device_of(self.xp, X) if self.xp is self.data_xp else {}
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.n_samples, self.n_features = X.shape
        self.n_outputs = 1 if Y.ndim == 1 else Y.shape[1]
        self.fit_intercept = fit_intercept
        self.finite_unchecked = finite_unchecked
        if sample_weight is None:
            total_weight = self.n_samples
            self.effective_rows = float(self.n_samples)
        else:
            dxp = self.data_xp
            with backend.fp_guard():  # huge weights overflow the squares: see below
                sums = backend.fetch(dxp.sum(sample_weight), dxp.sum(dxp.multiply(sample_weight, sample_weight)))
                total_weight, squares = (float(v) for v in sums)
                # Kish's effective sample size: weight piled on a few rows counts as few rows.
                # Where the squares overflow, 1: the widest slack, as if one row held it all.
                effective = total_weight * total_weight / squares if squares > 0 else 1.0
            self.effective_rows = effective if 1.0 <= effective < math.inf else 1.0
        self.data_scale = 1.0 / total_weight
        self.alpha = 1.0 / (C * total_weight)
        self.size = self.n_features * self.n_outputs + self.n_outputs
        self.eps = float(self.xp.finfo(X.dtype).eps)
        # Softmax's Hessian in the logits is bounded by 1/2, the sigmoid's by 1/4.
        self.curvature = 0.25 if self.n_outputs == 1 else 0.5

    def zeros(self):
        return self.xp.zeros(self.size, dtype=self.X.dtype, **self.on_device)

    def pack(self, W: np.ndarray, b: np.ndarray):
        """theta from host parameters (W (d,) or (d, K), b), in X's dtype, where ``zeros`` puts it."""
        theta = np.concatenate([np.ravel(W), np.ravel(b)])
        return self.xp.asarray(theta, dtype=self.X.dtype, **self.on_device)

    def unpack(self, theta):
        """``(W, b)``: W (d,) or (d, K), b (1,) or (K,); views of theta where the namespace allows."""
        split = self.n_features * self.n_outputs
        W = theta[:split]
        if self.n_outputs > 1:
            W = self.xp.reshape(W, (self.n_features, self.n_outputs))
        return W, theta[split:]

    def __call__(self, theta, rows=None):
        """``(f, grad)`` at theta on all rows, or an unbiased estimate of them on ``rows``."""
        xp, dxp = self.xp, self.data_xp
        X, Y, sw, scale = self.X, self.Y, self.sample_weight, self.data_scale
        if rows is not None:
            X, Y = (X[rows] if is_sparse(X) else dxp.take(X, rows, axis=0)), dxp.take(Y, rows, axis=0)
            sw = None if sw is None else dxp.take(sw, rows, axis=0)
            scale = scale * self.n_samples / rows.shape[0]
        W, b = self.unpack(theta)
        loss, grad_W, grad_b = self.backend.fetch(*self.backend.logistic_loss_grad(X, Y, W, b, sw))
        if self.finite_unchecked:
            self._check_finite_input(theta, rows, loss)
        # Diverging parameters overflow here: the solver's finiteness checks report it.
        grad_W = scale * grad_W + self.alpha * W
        grad_b = scale * grad_b if self.fit_intercept else xp.zeros_like(grad_b)
        # f in float64, as the loss comes (see ``rounding``): the penalty too.
        W64 = xp.astype(W, xp.float64)
        f = scale * loss + 0.5 * self.alpha * xp.sum(W64 * W64)
        return f, xp.concat([xp.reshape(grad_W, (-1,)), grad_b])

    def rounding(self, f: float) -> float:
        """How far f may rise from rounding alone between two nearby points: what the solvers
        accept as "no increase" (near the optimum, f's rounding exceeds the decrease a good
        step makes, and a search that rejected every such step would stall short of ``tol``).

        f is a float64 sum of the rows' losses, each rounded in the data's dtype
        (``Backend.logistic_loss_grad``). Rows' errors of either sign mostly cancel: about
        eps / sqrt(n) of f (measured on digits in float32, n = 1797: a std of 1.9e-8 of f,
        6.8 eps / sqrt(n), so 8 of them accept most such steps), where a float32 sum would
        be off by about eps itself, 42x more. n counts the rows as the weights do (Kish's
        effective size); rows repeated many times round alike and cancel less, which a
        line search that rejects a step can afford (it tries a shorter one). Plus the
        float64 sum's own rounding, all of it for float64 data.
        """
        return 8.0 * (self.eps / math.sqrt(max(self.effective_rows, 1.0)) + EPS64) * abs(f)

    def _check_finite_input(self, theta, rows, loss) -> None:
        """X's values were left unchecked for this first evaluation: at theta = 0
        on all rows every logit is x_i . 0 + 0, which is NaN exactly when x_i
        holds a NaN or an inf, so the loss is finite exactly when X is."""
        self.finite_unchecked = False
        xp = self.xp
        at_zero = rows is None and not bool(xp.any(theta != 0))
        finite = math.isfinite(float(loss)) if at_zero else bool(self.data_xp.all(self.data_xp.isfinite(self.X)))
        if not finite:
            raise non_finite_error()

    def _matmul(self, A, B):
        """A @ B for the data's namespace, where scipy.sparse A (which NumPy's matmul takes
        for a 0-d object) multiplies with its own @."""
        return A @ B if is_sparse(A) else self.data_xp.matmul(A, B)

    def lipschitz(self) -> float:
        """An estimate of the Lipschitz constant of grad f (its largest curvature).

        The data term's Hessian is at most ``curvature * X1^T diag(w) X1 * data_scale``
        with X1 = [X, 1]; its top eigenvalue comes from a power iteration on the
        backend (20 products with X1 and X1^T, d-sized vectors otherwise), which
        approaches it from below: the gd solver guards against the shortfall.
        """
        xp, dxp, X, sw = self.xp, self.data_xp, self.X, self.sample_weight
        scale = self.data_scale
        if sw is not None:
            # The weights as shares of their total, each at most 1: weights near the float
            # range (1e300) would overflow the products, though L itself is of X's scale.
            sw, scale = dxp.multiply(sw, self.data_scale), 1.0
        ones = 1.0 if self.fit_intercept else 0.0
        v, v_b = xp.ones(self.n_features, dtype=X.dtype, **self.on_device), ones
        top = 0.0
        # X of extreme scale overflows the products: the solvers report an infinite L as too
        # badly scaled.
        for _ in range(20):
            u = dxp.add(self._matmul(X, v), v_b)
            if sw is not None:
                u = dxp.multiply(u, sw)
            # One round trip per product where X is chunked: v comes back d-sized.
            v, u_sum = self.backend.fetch(self._matmul(X.T, u), dxp.sum(u))
            u_sum, v_squared = self.read(u_sum, xp.vecdot(v, v))  # once per product, at setup
            v_b = u_sum * ones
            top = math.sqrt(v_squared + v_b * v_b)
            if not 0.0 < top < math.inf:
                break
            v, v_b = v / top, v_b / top
        return self.curvature * top * scale + self.alpha

    def read(self, *values) -> tuple:
        """Arrays of the parameter namespace on the host, read together: a 0-d one as a Python
        float, any other as a float64 NumPy array of its shape.

        On a device that is one copy to the host and one wait for the device,
        however many values: the solvers read what each step needs in one go
        (on a GPU each separate read would stall the launch queue). NumPy's
        values are on the host already.
        """
        if not values or array_kind(values[0]) == HOST:
            return tuple(float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64) for v in values)
        xp = self.xp
        flat = to_numpy(xp.concat([xp.reshape(v, (-1,)) for v in values])).astype(np.float64)
        out, at = [], 0
        for v in values:
            size = math.prod(v.shape)
            out.append(float(flat[at]) if v.ndim == 0 else flat[at : at + size].reshape(v.shape))
            at += size
        return tuple(out)

    def curvature_along(self, p):
        """The two sums of an upper bound on p^T H p at any theta, from one product with X:
        ``(sum_i w_i (x1_i . P)^2, ||P_W||^2)`` (P is p as (W, b)), as 0-d arrays of the
        parameter namespace (NumPy scalars on numpy), for the caller to read with what
        else it needs; ``curvature_bound`` combines them.
        """
        xp, dxp, sw = self.xp, self.data_xp, self.sample_weight
        P, p_b = self.unpack(p)
        u = dxp.add(self._matmul(self.X, P), p_b if self.fit_intercept else 0.0)
        u = dxp.multiply(u, u)
        if sw is not None:
            u = dxp.multiply(u, sw if u.ndim == 1 else sw[:, None])
        (data,) = self.backend.fetch(dxp.sum(u))
        return data, xp.sum(P * P)

    def curvature_bound(self, data: float, penalty: float) -> float:
        """The bound from ``curvature_along``'s sums, read as Python floats (combined in
        float64 whatever the data's dtype): ``curvature * data / S + alpha * penalty``.

        At theta = 0 every sigmoid'(z) is 1/4, its largest value, so for a binary
        problem the bound is the exact curvature there: -g.p / this is the Newton
        step along p, whatever the scale of X. inf where the product overflows.
        """
        return self.curvature * self.data_scale * data + self.alpha * penalty
