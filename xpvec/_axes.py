"""Axis arguments of reductions, and laying reduced axes out as rows."""

from __future__ import annotations

import operator

import numpy as np


def normalize_axes(axis, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` (int, negative int, tuple of ints, or None for all) as sorted non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in items:
        if a is True or a is False:  # operator.index takes bools; NumPy refuses them as axes
            raise TypeError(f"xpvec.{op}: axis must be an int, a tuple of ints or None, not bool")
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(
                f"xpvec.{op}: axis must be an int, a tuple of ints or None, not {type(a).__name__}"
            ) from None
        if not -ndim <= a < ndim:
            hint = "; a 0-d input takes axis=None" if ndim == 0 else ""
            raise np.exceptions.AxisError(
                f"xpvec.{op}: axis {a} is out of bounds for an array of dimension {ndim}{hint}"
            )
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"xpvec.{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def check_reduced_not_empty(shape: tuple[int, ...], axes: tuple[int, ...], op: str) -> None:
    if any(shape[a] == 0 for a in axes):
        raise ValueError(
            f"xpvec.{op}: cannot normalize over an empty axis (input shape {shape}, axis "
            f"{axes if len(axes) != 1 else axes[0]}); a softmax of zero elements is undefined"
        )


def to_rows(x: np.ndarray, axes: tuple[int, ...]):
    """``x`` as a 2-D array with the reduced ``axes`` along each row, and the inverse map.

    Returns ``(rows, restore)``; ``restore(rows_out)`` gives an array of ``x``'s
    shape. ``rows`` is a view when the layout allows it, else a C-ordered copy.
    """
    nd, shape = x.ndim, x.shape
    n = 1
    for a in axes:
        n *= shape[a]
    if axes == tuple(range(nd - len(axes), nd)):
        # Trailing axes (the usual axis=-1) are rows already: a reshape, no transposes
        # (on small inputs the general path's bookkeeping costs more than the kernel).
        return x.reshape(-1, n), lambda rows_out: rows_out.reshape(shape)
    order = [a for a in range(nd) if a not in axes] + list(axes)
    moved = x.transpose(order)
    rows = moved.reshape(-1, n)
    inverse = np.argsort(order)

    def restore(rows_out: np.ndarray) -> np.ndarray:
        return rows_out.reshape(moved.shape).transpose(inverse)

    return rows, restore
