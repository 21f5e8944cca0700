"""The dtype policy (API.md), written once for every array namespace.

    float32 -> float32, float64 -> float64
    float16 -> computed in float32, returned as float16
    non-native byte order ('>f8' on x86) -> as the native dtype (returned in native order)
    integer and bool -> computed and returned in float64 (no wrap-around)
    complex, object, string and other dtypes -> TypeError
"""

from __future__ import annotations

_cache: dict[tuple[object, object], tuple[object, object]] = {}

# NumPy's dtype kinds that are no numbers, as a reader would name them. Their
# ``dtype.name`` ("str96", "bytes16", "void64") counts bits, which reads oddly.
_KINDS = {
    "U": "a string array",
    "S": "a bytes array",
    "O": "an object array",
    "M": "a datetime array",
    "m": "a timedelta array",
    "V": "a raw-bytes (void) array",
}


def describe_dtype(dtype) -> str:
    """A refused dtype as an error message names it: ``a string array (dtype <U3)``, ``float128``.

    The one naming for every backend: NumPy, numba, Dask and CuPy arrays carry
    NumPy dtypes; other namespaces' dtypes (torch, array-api-strict) are named
    by their ``name`` or ``str``.
    """
    kind = _KINDS.get(getattr(dtype, "kind", None))
    if getattr(dtype, "names", None):  # fields, as np.dtype([("a", "f8")])
        kind = "a structured array"
    if kind is not None:  # str(dtype) is the spelling of NumPy's repr: dtype='<U3'
        return f"{kind} (dtype {dtype})"
    return str(getattr(dtype, "name", dtype))


def _policy(xp, dtype, op: str) -> tuple[object, object]:
    if getattr(dtype, "byteorder", None) in ("<", ">"):  # NumPy spells the native order "="
        # A dtype in the other byte order ('>f8' on x86) holds the same numbers, and compares
        # unequal to float64: take it as its native twin, so the input is converted.
        return _policy(xp, dtype.newbyteorder("="), op)
    name = describe_dtype(dtype)
    try:
        if dtype == xp.float32 or dtype == xp.float64:
            return dtype, dtype
        f16 = getattr(xp, "float16", None)
        if f16 is not None and dtype == f16:
            return xp.float32, dtype
        if xp.isdtype(dtype, ("integral", "bool")):
            return xp.float64, xp.float64
        is_complex = xp.isdtype(dtype, "complex floating")
    except TypeError:  # a dtype the namespace cannot classify (object, strings, ...)
        is_complex = False
    if is_complex:
        raise TypeError(
            f"xpvec.{op} does not take complex input ({name}); "
            "pass its real part, xp.real(x) (np.real(x) for NumPy), or its magnitude, abs(x)"
        )
    raise TypeError(
        f"xpvec.{op} takes real numbers (float16/32/64, integer or bool), not {name}; "
        "convert the input, e.g. x.astype('float64')"
    )


def compute_and_output(xp, dtype, op: str) -> tuple[object, object]:
    """``(dtype to compute in, dtype to return)`` for an input dtype, or TypeError."""
    key = (xp, dtype)
    found = _cache.get(key)
    if found is None:
        found = _policy(xp, dtype, op)
        _cache[key] = found
    return found
