"""Jit-time helpers that let one kernel source serve float32 and float64.

``like(value, x)`` is ``value`` in the float type of ``x``: a Python float
literal would promote float32 arithmetic to float64 (numba types it as
float64), doubling the SIMD work and rounding twice. ``pow2(k, x)`` builds
2**k in the float type of ``x`` by writing the exponent bits directly, so a
loop that scales by 2**k stays in vector registers (``math.ldexp`` is a
scalar libm call and blocks vectorization). ``wide_vectors()`` lets LLVM use
full-width (512-bit) vectors in the function that calls it.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload


def like(value, x):
    """``value`` converted to the float type of ``x``, a float scalar or a float array (jitted code only)."""
    raise NotImplementedError("xpvec.kernels.cpu._typed.like runs inside numba-jitted code only")


@overload(like, inline="always")
def _like(value, x):
    if isinstance(x, types.Array):
        x = x.dtype
    if isinstance(x, types.Float):
        cast = np.float32 if x.bitwidth == 32 else np.float64
        return lambda value, x: cast(value)
    return None


@intrinsic
def pow2(typingctx, k, x):
    """2.0**k in the float type of ``x``, for integer k in the normal range.

    The biased exponent ``k + bias`` shifted into the exponent field is
    reinterpreted as a float: exact, branch-free, vectorizable. Valid for
    -1022 <= k <= 1023 (float64) and -126 <= k <= 127 (float32).
    """
    if not isinstance(k, types.Integer) or not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        bits = x.bitwidth
        ity = ir.IntType(bits)
        mantissa, bias = (52, 1023) if bits == 64 else (23, 127)
        kv = args[0]
        if k.bitwidth > bits:
            kv = builder.trunc(kv, ity)
        elif k.bitwidth < bits:
            kv = builder.sext(kv, ity) if k.signed else builder.zext(kv, ity)
        biased = builder.add(kv, ir.Constant(ity, bias))
        field = builder.shl(biased, ir.Constant(ity, mantissa))
        return builder.bitcast(field, context.get_value_type(x))

    return x(k, x), codegen


@intrinsic
def wide_vectors(typingctx):
    """Vectorize the calling function with 512-bit registers where the CPU has them.

    LLVM tunes AVX-512 Intel CPUs to prefer 256-bit vectors (a hedge against
    the clock drop of the first AVX-512 generations). These kernels are dense
    arithmetic, and full width measured 1.6x faster (serial float64 sigmoid,
    1e7 elements, 2-core Xeon). The hint is a function attribute: no
    instruction is emitted, and CPUs without AVX-512 ignore it. A parallel
    kernel must call it inside its ``prange`` body, which numba outlines into
    a function of its own.
    """

    def codegen(context, builder, signature, args):
        # llvmlite validates attribute names against a fixed list that lacks
        # LLVM's string attributes; the set itself renders any entry verbatim.
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def nan_max(typingctx, a, b):
    """The larger of a and b, NaN when either is NaN (LLVM's ``llvm.maximum``).

    A compare-and-select max drops a NaN or not depending on argument order,
    and LLVM will not vectorize a max reduction written that way without
    fastmath's no-NaN promise; a reduction over ``llvm.maximum`` vectorizes
    and keeps NaN sticky, which is what row maxima need.
    """
    if not isinstance(a, types.Float) or a != b:
        return None

    def codegen(context, builder, signature, args):
        t = args[0].type
        fn = builder.module.declare_intrinsic("llvm.maximum", [t], ir.FunctionType(t, [t, t]))
        return builder.call(fn, args)

    return a(a, b), codegen


@intrinsic
def split_exponent(typingctx, x):
    """(k, u) with x = 2**k * u, u in [1, 2), for a positive normal float x.

    Bit manipulation, branch-free and vectorizable (``math.frexp`` is a scalar
    libm call): k is the unbiased exponent field (as a float of x's type), u
    is x with its exponent field set to the bias. Not meaningful for zero,
    subnormal, negative or non-finite x; callers select those out.
    """
    if x not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        bits = x.bitwidth
        ity = ir.IntType(bits)
        fty = context.get_value_type(x)
        mantissa, bias = (52, 1023) if bits == 64 else (23, 127)
        raw = builder.bitcast(args[0], ity)
        field = builder.lshr(raw, ir.Constant(ity, mantissa))
        exponent = builder.sub(builder.and_(field, ir.Constant(ity, 2 * bias + 1)), ir.Constant(ity, bias))
        k = builder.sitofp(exponent, fty)
        frac = builder.and_(raw, ir.Constant(ity, (1 << mantissa) - 1))
        u = builder.bitcast(builder.or_(frac, ir.Constant(ity, bias << mantissa)), fty)
        return context.make_tuple(builder, signature.return_type, (k, u))

    return types.UniTuple(x, 2)(x), codegen
