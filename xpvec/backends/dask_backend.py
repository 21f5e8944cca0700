"""The ``dask`` backend: Dask arrays in, lazy Dask arrays out.

Design requirements:
- No scheduler of our own: every op builds a Dask graph; the threaded
  scheduler or a ``dask.distributed`` cluster runs it.
- Work inside a chunk is done by the chunk's own backend (numba for NumPy
  chunks when it is usable, else numpy; cupy for CuPy chunks), one fused
  kernel per block through ``map_blocks``.
- Reductions that span chunks (softmax over a chunked axis, normalize_rows
  over chunked columns, dot) are Dask reductions, never a silent rechunk to
  one block. Losses are a fused kernel per block pair, then a tree sum.
- Chunk functions are module-level and refer to backends by name, so graphs
  pickle to distributed workers; each runs under its backend's FP guard.
- Models: the data stays chunked on the workers; parameters live on the
  client in the chunks' namespace (NumPy, or CuPy for CuPy chunks). One
  evaluation of the loss and gradient runs the chunk backend's fused kernel
  per row block and tree-sums the packed (1 + d*K + K)-sized partials, so
  only parameter-sized vectors travel, and ``fetch`` computes it in one
  round trip.
"""

from __future__ import annotations

import math

import numpy as np

from .._arrays import DASK
from .._registry import get_instance, unusable_reason
from ._base import Backend


def _chunk_backend_name(x) -> str:
    """The backend that computes on ``x``'s chunks."""
    if type(x._meta).__module__.startswith("cupy"):
        return "cupy"
    return "numba" if unusable_reason("numba") is None else "numpy"


def _run_kernel(block, backend_name: str, kernel: str, *args):
    """One chunk backend kernel on one block, under that backend's FP guard."""
    b = get_instance(backend_name)
    with b.fp_guard():
        return getattr(b, kernel)(b.namespace(block), block, *args)


def _partial_sum(a, b, backend_name: str, kernel: str):
    """A loss kernel's partial sum over one block pair, shaped to stack into a grid of partials."""
    backend = get_instance(backend_name)
    xp = backend.namespace(a)
    with backend.fp_guard():
        return xp.reshape(xp.asarray(getattr(backend, kernel)(xp, a, b), dtype=a.dtype), (1,) * a.ndim)


def _block_dot(a, b, backend_name: str):
    """The chunk backend's dot of one (i, k) block with one (k, j) block, as (i, 1, j)."""
    backend = get_instance(backend_name)
    with backend.fp_guard():
        return backend._dot(backend.namespace(a), a, b)[:, None, :]


def _block_loss_grad(X, Y, sample_weight, W, b, backend_name: str):
    """The chunk backend's fused loss+gradient on one row block, packed as one
    row [loss, grad_W.ravel(), grad_b] so a Dask sum adds the partials."""
    backend = get_instance(backend_name)
    xp = backend.namespace(X)
    with backend.fp_guard():
        loss, grad_W, grad_b = backend._logistic_loss_grad(xp, X, Y, W, b, sample_weight)
    loss = xp.reshape(xp.asarray(loss, dtype=X.dtype), (1,))
    return xp.concat([loss, xp.reshape(grad_W, (-1,)), xp.reshape(grad_b, (-1,))])[None, :]


def _block_decision(X, W, b, backend_name: str):
    backend = get_instance(backend_name)
    with backend.fp_guard():
        return backend._decision(backend.namespace(X), X, W, b)


def _whole_rows(X):
    """X with each row in one block; the kernels below work on row blocks.
    Rows stay spread over the blocks (and workers) they are in."""
    return X if X.numblocks[1] == 1 else X.rechunk({1: -1})


def _astype(block, dtype):
    with np.errstate(all="ignore"):  # float32 -> float16 over/underflow is the intended rounding
        return block.astype(dtype)


def _minus(x, m):
    with np.errstate(all="ignore"):  # |x| near 1e308: x - max overflows to -inf, exp gives 0
        return x - m


class _DaskNamespace:
    """dask.array as the namespace the generic kernels use, with the few standard
    names it lacks (``astype``, ``isdtype``) and guarded versions of the calls
    whose FP flags would surface only later, at compute time."""

    def __init__(self):
        import dask.array as da

        self._da = da

    def __getattr__(self, name):
        return getattr(self._da, name)

    float16, float32, float64 = np.float16, np.float32, np.float64
    isdtype = staticmethod(np.isdtype)
    __name__ = "dask.array"

    def astype(self, x, dtype, copy=True):
        return x.map_blocks(_astype, np.dtype(dtype), dtype=dtype)

    def subtract(self, x, m):
        return self._da.map_blocks(_minus, x, m, dtype=x.dtype)


class DaskBackend(Backend):
    name = "dask"
    accepts = frozenset({DASK})
    unsupported_solvers = {
        "sgd": "each mini-batch of a few random rows would be one cluster round trip "
        "gathering rows from every chunk; use solver='lbfgs' (or 'gd') on Dask arrays",
    }

    @classmethod
    def probe(cls) -> str | None:
        try:
            import dask.array  # noqa: F401
        except ImportError:
            return "dask is not installed: pip install 'xpvec[dask]'"
        return None

    def __init__(self):
        self._ns = _DaskNamespace()

    def namespace(self, x):
        return self._ns

    def finish(self, result):
        import dask

        return dask.compute(result)[0]  # a lazy result's work is its computation

    def to_numpy(self, x):
        from .._convert import to_numpy

        return to_numpy(x.compute())

    def from_numpy(self, x):
        import dask.array as da

        return da.from_array(np.asarray(x))

    def parameter_namespace(self, X):
        backend = get_instance(_chunk_backend_name(X))
        return backend.namespace(X._meta)

    def fetch(self, *results) -> tuple:
        import dask

        return dask.compute(*results)

    def estimator_output(self, x):
        return x

    # ---- elementwise: the chunk backend's fused kernel on every block
    def _map(self, kernel: str, x, *args):
        return x.map_blocks(_run_kernel, _chunk_backend_name(x), kernel, *args, dtype=x.dtype)

    def _sigmoid(self, xp, x):
        return self._map("_sigmoid", x)

    def _sigmoid_grad(self, xp, x):
        return self._map("_sigmoid_grad", x)

    def _log_sigmoid(self, xp, x):
        return self._map("_log_sigmoid", x)

    # ---- along axes: per block when the axes are whole in every block, else Dask reductions
    def _within_blocks(self, x, axes) -> bool:
        # An empty array needs no reduction: each (empty) block maps to an empty block.
        return x.size == 0 or all(x.numblocks[a] == 1 for a in axes)

    @staticmethod
    def _drop_empty_chunks(x):
        """x without its empty chunks, along every axis, before a Dask max.

        Dask's per-block max (``chunk_max``) returns a (1, ..., 1, 0)-shaped
        placeholder for any empty block, whatever the reduced axes: it fits
        the other blocks' partials only by chance, and an empty chunk along a
        kept axis leaves the combine step a max over nothing. Empty chunks
        carry no data, so dropping them moves none (the other blocks pass
        through as aliases) and leaves no empty block to reduce.
        """
        drop = {a: tuple(c for c in chunks if c) for a, chunks in enumerate(x.chunks) if 0 in chunks}
        return x.rechunk(drop) if drop else x

    def _shifted(self, xp, x, axes):
        x = self._drop_empty_chunks(x)
        m = x.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.full_like(m, math.nan))
        return xp.subtract(x, m)

    def _softmax(self, xp, x, axes):
        if self._within_blocks(x, axes):
            return self._map("_softmax", x, axes)
        return super()._softmax(xp, x, axes)

    def _log_softmax(self, xp, x, axes):
        if self._within_blocks(x, axes):
            return self._map("_log_softmax", x, axes)
        return super()._log_softmax(xp, x, axes)

    def _normalize_rows(self, xp, x):
        if self._within_blocks(x, (1,)):
            return self._map("_normalize_rows", x)
        return super()._normalize_rows(xp, self._drop_empty_chunks(x))

    def _dot(self, xp, a, b):
        # Blockwise products over the inner dimension's blocks, kept apart on
        # axis 1 and summed by a Dask tree reduction. 1-D operands are viewed
        # as a row / a column and squeezed back after.
        import dask.array as da

        a2 = a if a.ndim == 2 else a[None, :]
        b2 = b if b.ndim == 2 else b[:, None]
        partial = da.blockwise(
            _block_dot, "ikj", a2, "ik", b2, "kj", _chunk_backend_name(a), None,
            adjust_chunks={"k": 1}, dtype=a.dtype,
        )  # fmt: skip
        out = partial.sum(axis=1)
        if a.ndim == 1:
            out = out[0]
        return out[..., 0] if b.ndim == 1 else out

    def _image2vector(self, xp, image):
        if image.size == 0:  # dask's reshape cannot plan an empty array
            return xp.zeros((0, 1), dtype=image.dtype)
        return image.reshape(-1, 1)

    # ---- losses: one fused kernel per block pair, then a tree sum of the partials
    def _loss_sum(self, kernel: str, yhat, y):
        if yhat.ndim == 0:
            return getattr(super(), kernel)(self._ns, yhat, y)
        import dask.array as da

        # map_blocks pairs the operands' blocks by index and does not align
        # them: give y yhat's chunks so block pairs match the partials' grid.
        if y.chunks != yhat.chunks:
            y = y.rechunk(yhat.chunks)
        partials = da.map_blocks(
            _partial_sum, yhat, y, _chunk_backend_name(yhat), kernel,
            dtype=yhat.dtype, chunks=tuple((1,) * n for n in yhat.numblocks),
        )  # fmt: skip
        return partials.sum()

    def _l1_loss(self, xp, yhat, y):
        return self._loss_sum("_l1_loss", yhat, y)

    def _l2_loss(self, xp, yhat, y):
        return self._loss_sum("_l2_loss", yhat, y)

    # ---- model primitives: chunk kernels per row block; W and b are client-side arrays
    def _logistic_loss_grad(self, xp, X, Y, W, b, sample_weight):
        import dask.array as da

        X = _whole_rows(X)
        labels = (Y, "i") if Y.ndim == 1 else (_whole_rows(Y), "ik")
        weights = (None, None) if sample_weight is None else (sample_weight, "i")
        size = 1 + W.size + b.size
        partials = da.blockwise(
            _block_loss_grad, "ip", X, "ij", *labels, *weights, W, None, b, None,
            _chunk_backend_name(X), None, new_axes={"p": size}, concatenate=True, meta=X._meta,
        )  # fmt: skip
        total = partials.sum(axis=0)  # a tree reduction of the per-block partials
        split = 1 + W.size
        return total[0], total[1:split].reshape(W.shape), total[split:]

    def _decision(self, xp, X, W, b):
        # meta= spares Dask from running the kernel on empty blocks to infer the output type.
        X = _whole_rows(X)
        if W.ndim == 1:
            return X.map_blocks(
                _block_decision, W, b, _chunk_backend_name(X), drop_axis=1, meta=X._meta.reshape(0)
            )
        return X.map_blocks(
            _block_decision, W, b, _chunk_backend_name(X),
            chunks=(X.chunks[0], (W.shape[1],)), meta=X._meta,
        )  # fmt: skip

    def check_grad(self, f, grad, x, *, eps=None) -> float:
        # Central differences step one element at a time: run them on the host
        # and hand f and grad Dask arrays chunked like x.
        import dask.array as da

        from .._convert import to_numpy

        chunks = x.chunks

        def on_dask(fn):
            return lambda v: fn(da.from_array(v, chunks=chunks))

        host_grad = on_dask(grad)
        return get_instance("numpy").check_grad(
            on_dask(f), lambda v: to_numpy(host_grad(v)), self.to_numpy(x), eps=eps
        )
