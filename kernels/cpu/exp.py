"""A vectorizable exp for float32 and float64 (numba has no SIMD exp of its own).

numba lowers ``math.exp`` to a scalar libm call, so a loop over it runs one
element at a time and loses to NumPy's SIMD exp. This exp is branch-free
straight-line code that LLVM vectorizes (8 float64 / 16 float32 lanes with
AVX-512):

1. clamp x to [lo, hi], just past the underflow-to-zero and overflow points,
   so k below stays in range; NaN is restored at the end by a select;
2. Cody-Waite range reduction: k = round(x / ln2) (magic-number rounding),
   r = (x - k*ln2_hi) - k*ln2_lo with ln2_hi holding few enough bits that
   k*ln2_hi is exact, so |r| <= ln2/2 with a tiny error;
3. exp(r) by its Taylor polynomial in Horner form (degree 13 for float64,
   7 for float32: truncation error below 0.1 ulp on |r| <= ln2/2);
4. scale by 2**k in two exact steps 2**(k//2) * 2**(k - k//2), so results
   below the smallest normal round once into subnormals (one step would
   need 2**k below the normal range) and results past the top give +inf.

Accuracy: within 2 ulp of a correctly rounded exp over the whole range
(tests sweep it against a long double oracle), exp(-inf) = 0, exp(+inf) = inf,
exp(NaN) = NaN. Bytes moved: none (a scalar function, inlined into kernels).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import types
from numba.extending import overload

from ._typed import pow2


class _ExpConstants(NamedTuple):
    lo: float  # below: exp underflows to 0
    hi: float  # above: exp overflows to inf
    magic: float  # 1.5 * 2**mantissa_bits: adding it rounds to an integer
    log2e: float
    ln2_hi: float  # ln2 with trailing zero bits, so k * ln2_hi is exact
    ln2_lo: float  # ln2 - ln2_hi
    taylor: tuple  # 1/n! from the highest degree down to n = 0


def _constants(ftype, degree: int, lo: float, hi: float, magic: float, ln2_hi: float, ln2_lo: float):
    return _ExpConstants(
        lo=ftype(lo),
        hi=ftype(hi),
        magic=ftype(magic),
        log2e=ftype(1 / math.log(2)),
        ln2_hi=ftype(ln2_hi),
        ln2_lo=ftype(ln2_lo),
        taylor=tuple(ftype(1 / math.factorial(n)) for n in range(degree, -1, -1)),
    )


# ln2 split in two (fdlibm's for float64): the high part has trailing zero bits, so k * high is
# exact for the exponents k these functions meet (log1p uses the same splits).
LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
LN2_HI_F32, LN2_LO_F32 = 0.693145751953125, 1.428606765330187045e-06

_F64 = _constants(np.float64, 13, -746.0, 710.0, 6755399441055744.0, LN2_HI, LN2_LO)
_F32 = _constants(np.float32, 7, -104.0, 89.0, 12582912.0, LN2_HI_F32, LN2_LO_F32)


def exp(x):
    """e**x for a float32 or float64 scalar, vectorizable (usable in jitted code only)."""
    raise NotImplementedError("xpvec.kernels.cpu.exp.exp runs inside numba-jitted code only")


def _make_exp(c: _ExpConstants):
    lo, hi, magic, log2e, ln2_hi, ln2_lo = c.lo, c.hi, c.magic, c.log2e, c.ln2_hi, c.ln2_lo
    head, tail = c.taylor[0], c.taylor[1:]

    def impl(x):
        xc = x if x > lo else lo
        xc = xc if xc < hi else hi
        kf = (xc * log2e + magic) - magic
        r = (xc - kf * ln2_hi) - kf * ln2_lo
        p = head
        for coeff in tail:
            p = p * r + coeff
        k = np.int32(kf)
        half = k >> 1
        y = p * pow2(half, x) * pow2(k - half, x)
        return y if x == x else x

    return impl


@overload(exp, jit_options={"error_model": "numpy", "fastmath": {"contract"}})
def _exp(x):
    if x == types.float64:
        return _make_exp(_F64)
    if x == types.float32:
        return _make_exp(_F32)
    return None
