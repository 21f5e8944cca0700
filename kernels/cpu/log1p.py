"""A vectorizable log1p on [0, 1] for float32 and float64 (for log_sigmoid), and a log built on it.

log_sigmoid needs log1p(e) with e = exp(-|x|) in [0, 1]; ``math.log1p`` is a
scalar libm call that would block vectorization of the whole loop. This is
fdlibm's log reduction without its branches:

- u = 1 + e lies in [1, 2]; when u > sqrt(2), use log(u) = ln2 + log1p(f)
  with f = (e - 1) / 2, else f = e, so 1 + f lies in [sqrt(2)/2, sqrt(2)];
  f is exact in both cases (no rounding of 1 + e is ever taken);
- log1p(f) = f - f**2/2 + s*(f**2/2 + R(s**2)) with s = f / (2 + f) and
  R fdlibm's minimax polynomial (error below 2**-58 on this interval).

NaN propagates. Accuracy: within 1 ulp (tests sweep it against a long double
oracle). Bytes moved: none (a scalar function, inlined into kernels).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._typed import split_exponent
from .exp import LN2_HI, LN2_HI_F32, LN2_LO, LN2_LO_F32

# fdlibm e_log.c Lg7..Lg1, highest degree first (Horner order).
_LG = (
    1.479819860511658591e-01,
    1.531383769920937332e-01,
    1.818357216161805012e-01,
    2.222219843214978396e-01,
    2.857142874366239149e-01,
    3.999999999940941908e-01,
    6.666666666666735130e-01,
)
# FreeBSD e_logf.c Lg4..Lg1: error below 2**-34, enough for float32.
_LG_F32 = (0.24279078841, 0.28498786688, 0.40000972152, 0.66666662693)


def log1p_unit(e):
    """log(1 + e) for a float32 or float64 scalar e in [0, 1] or NaN (jitted code only)."""
    raise NotImplementedError("xpvec.kernels.cpu.log1p.log1p_unit runs inside numba-jitted code only")


def _make_log_scaled(ftype, coeffs, ln2_hi, ln2_lo):
    """log(2**k * (1 + e)) for e in [0, 1] and a whole-number k of the same float type.

    k joins fdlibm's own exponent (0 or 1) before the sum, so k*ln2 and
    log1p(f) never cancel: for x just below 1, log_normal has k = -1 and
    e near 1, the total exponent is 0 and the result is log1p(f) itself.
    k * ln2_hi is exact (ln2_hi has trailing zero bits).
    """
    head, tail = ftype(coeffs[0]), tuple(ftype(c) for c in coeffs[1:])
    ln2_hi, ln2_lo = ftype(ln2_hi), ftype(ln2_lo)
    sqrt2m1, zero, half, one, two = (ftype(v) for v in (np.sqrt(2) - 1, 0, 0.5, 1, 2))

    def log_scaled(e, k):
        big = e > sqrt2m1
        f = (e - one) * half if big else e
        k = k + (one if big else zero)
        s = f / (two + f)
        z = s * s
        p = head
        for coeff in tail:
            p = p * z + coeff
        hfsq = half * f * f
        return k * ln2_hi - ((hfsq - (s * (hfsq + z * p) + k * ln2_lo)) - f)

    return njit(error_model="numpy", fastmath={"contract"}, inline="always")(log_scaled)


_LOG_SCALED = {
    types.float64: (np.float64, _make_log_scaled(np.float64, _LG, LN2_HI, LN2_LO)),
    types.float32: (np.float32, _make_log_scaled(np.float32, _LG_F32, LN2_HI_F32, LN2_LO_F32)),
}


@overload(log1p_unit, jit_options={"error_model": "numpy", "fastmath": {"contract"}})
def _log1p_unit(e):
    if e not in _LOG_SCALED:
        return None
    ftype, log_scaled = _LOG_SCALED[e]
    zero = ftype(0)
    return lambda e: log_scaled(e, zero)


def log_normal(x):
    """log(x) for a float32 or float64 scalar x, positive and normal, or +inf or NaN (jitted code only).

    x = 2**k * u with u in [1, 2) (exponent bits, exact), so log(x) =
    k*ln2 + log1p(u - 1), u - 1 exact: within ~1 ulp, and vectorizable where
    ``math.log`` is a scalar libm call (column log_softmax takes one per
    column). Zero, subnormal and negative x are outside the domain.
    """
    raise NotImplementedError("xpvec.kernels.cpu.log1p.log_normal runs inside numba-jitted code only")


@overload(log_normal, jit_options={"error_model": "numpy", "fastmath": {"contract"}})
def _log_normal(x):
    if x not in _LOG_SCALED:
        return None
    ftype, log_scaled = _LOG_SCALED[x]
    one, inf = ftype(1), ftype(np.inf)

    def impl(x):
        k, u = split_exponent(x)
        r = log_scaled(u - one, k)
        return r if x < inf else x

    return impl
