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
  pickle to distributed workers; each task, reductions' steps included, runs
  under its backend's FP guard (tasks run at compute time, on worker threads,
  where the caller's ``np.errstate`` does not reach).
- Unknown chunk sizes (boolean indexing: ``x[x > 0]``): an op that needs the
  sizes (a dot's inner dimension, a loss's shapes) raises a ValueError saying
  to call ``x.compute_chunk_sizes()``; the others work without them.
- Models: the data stays chunked on the workers; parameters live on the
  client in the chunks' namespace (NumPy, or CuPy for CuPy chunks). One
  evaluation of the loss and gradient runs the chunk backend's fused kernel
  per row block and tree-sums the packed (1 + d*K + K)-sized partials, so
  only parameter-sized vectors travel, and ``fetch`` computes it in one
  round trip.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .._arrays import DASK, array_kind
from .._registry import get_instance, unusable_reason
from ._base import Backend, _known
from ._host import refuse_lossy


def _chunk_backend_name(x) -> str:
    """The backend that computes on ``x``'s chunks."""
    if type(x._meta).__module__.startswith("cupy"):
        return "cupy"
    return _host_chunk_backend_name()


def _host_chunk_backend_name() -> str:
    """The backend that computes on NumPy chunks."""
    return "numba" if unusable_reason("numba") is None else "numpy"


def _guarded(backend_name: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` under the chunk backend's FP guard. Every chunk task
    of this backend runs under it: Dask runs tasks at compute time, on worker
    threads, where the caller's ``np.errstate`` does not reach."""
    with get_instance(backend_name).fp_guard():
        return fn(*args, **kwargs)


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


def _matmul(a, b):
    """``a @ b`` of 1-D and 2-D operands (Dask arrays, or b a host array), every task under the
    chunk backend's FP guard: blockwise products over the inner dimension's blocks, kept apart
    on axis 1 and added by a tree reduction (``_add_partials``). 1-D operands are viewed as a
    row / a column and squeezed back after."""
    import dask.array as da

    a2 = a if a.ndim == 2 else a[None, :]
    b2 = b if b.ndim == 2 else b[:, None]
    backend_name = _chunk_backend_name(a)
    partials = da.blockwise(
        _block_dot, "ikj", a2, "ik", b2, "kj", backend_name, None,
        adjust_chunks={"k": 1}, dtype=a.dtype,
    )  # fmt: skip
    step = partial(_guarded, backend_name, _add_partials)
    out = da.reduction(partials, step, step, axis=1, dtype=a.dtype, concatenate=False)
    if a.ndim == 1:
        out = out[0]
    return out[..., 0] if b.ndim == 1 else out


def _add_partials(parts, axis, keepdims):
    """One step of the sum over the dot's inner blocks: its (i, 1, j) partial products added
    one onto another, never concatenated (Dask's matmul does the same). A tree reduction
    concatenated them first: for X @ X.T of 2000 x 1000 in 10 column blocks it copied ten
    2000 x 2000 partials into one array, 466 ms against Dask's matmul's 146 (now 162)."""
    if isinstance(parts, list):
        total = parts[0] + parts[1] if len(parts) > 1 else parts[0]
        for part in parts[2:]:
            total += part
        parts = total
    return parts if keepdims else parts.reshape(parts.shape[0], parts.shape[2])  # also Dask's empty probe


def _block_loss_grad(X, Y, sample_weight, W, b, backend_name: str):
    """The chunk backend's fused loss+gradient on one row block, packed as one float64
    row [loss, grad_W.ravel(), grad_b] so a Dask sum adds the partials (the loss stays
    the float64 sum the kernel made; see ``Backend.logistic_loss_grad``)."""
    backend = get_instance(backend_name)
    xp = backend.namespace(X)
    with backend.fp_guard():
        loss, grad_W, grad_b = backend._logistic_loss_grad(xp, X, Y, W, b, sample_weight)
    parts = [xp.reshape(xp.asarray(loss), (1,)), xp.reshape(grad_W, (-1,)), xp.reshape(grad_b, (-1,))]
    return xp.concat([xp.astype(part, xp.float64) for part in parts])[None, :]


def _block_decision(X, W, b, backend_name: str):
    backend = get_instance(backend_name)
    with backend.fp_guard():
        return backend._decision(backend.namespace(X), X, W, b)


def whole_rows(X):
    """X with each row in one block; the kernels below work on row blocks.
    Rows stay spread over the blocks (and workers) they are in."""
    return X if X.numblocks[1] == 1 else X.rechunk({1: -1})


def _astype(block, dtype):
    # Run under the FP guard: float32 -> float16 over/underflow is the intended rounding.
    return block.astype(dtype)


def _column(block):
    return block.reshape(-1, 1)


def _blocks(fn, *arrays):
    """``fn`` (a NumPy ufunc, which CuPy blocks dispatch to CuPy) over the arrays'
    blocks, broadcast like ``fn``, each task under the chunk backend's FP guard."""
    import dask.array as da

    x = arrays[0]
    return da.map_blocks(_guarded, _chunk_backend_name(x), fn, *arrays, dtype=x.dtype)


def _reduce_block(op: str, x, axis, keepdims, computing_meta=False):
    """One step (chunk, combine or aggregate) of a Dask ``sum`` or ``max`` reduction.

    An empty block's max is max's identity, -inf. Dask's own per-block max gives a
    (1, ..., 1, 0)-shaped placeholder instead, which fits the other blocks'
    partials only by chance; and empty blocks cannot be dropped beforehand where
    boolean indexing left the chunk sizes unknown.
    """
    if op == "max" and x.size == 0:
        shape = tuple(1 if a in axis else n for a, n in enumerate(x.shape) if keepdims or a not in axis)
        return np.full_like(x, -np.inf, shape=shape)
    return getattr(x, op)(axis=axis, keepdims=keepdims)


def _reduce(op: str, x, axis, keepdims=False):
    """A Dask tree reduction (``"sum"`` or ``"max"``) whose every task runs under the FP guard."""
    import dask.array as da

    step = partial(_guarded, _chunk_backend_name(x), _reduce_block, op)
    return da.reduction(x, step, step, axis=axis, keepdims=keepdims, dtype=x.dtype)


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
        if x.dtype == dtype:  # Dask arrays are immutable: x serves as its own copy
            return x
        return self._da.map_blocks(_guarded, _chunk_backend_name(x), _astype, x, np.dtype(dtype), dtype=dtype)

    # The generic kernels' (and the solvers') calls that can raise FP flags, each task under
    # the guard: on worker threads the caller's np.errstate does not reach.
    matmul = staticmethod(_matmul)

    def add(self, x, y):
        return _blocks(np.add, x, y)

    def subtract(self, x, m):
        return _blocks(np.subtract, x, m)

    def multiply(self, x, y):
        return _blocks(np.multiply, x, y)

    def divide(self, x, y):
        return _blocks(np.divide, x, y)

    def exp(self, x):
        return _blocks(np.exp, x)

    def log(self, x):
        return _blocks(np.log, x)

    def sqrt(self, x):
        return _blocks(np.sqrt, x)

    def abs(self, x):
        return _blocks(np.abs, x)

    def sum(self, x, axis=None, keepdims=False):
        return _reduce("sum", x, axis, keepdims)

    def max(self, x, axis=None, keepdims=False):
        return _reduce("max", x, axis, keepdims)


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

    def warmup(self) -> None:
        """Compile the kernels that NumPy chunks run on (numba's, where it is usable) in this
        process. Workers of a ``dask.distributed`` cluster are processes of their own:
        ``client.run(xpvec.warmup, "numba")`` compiles there (or loads the disk cache).
        CuPy chunks: ``xpvec.warmup("cupy")``, which is not done here, as it starts CUDA."""
        get_instance(_host_chunk_backend_name()).warmup()

    def namespace(self, x):
        return self._ns

    def asarray(self, x):
        if array_kind(x) != DASK:
            self._refuse_foreign(x)
        # The chunk kernels take plain NumPy or CuPy blocks: refuse masked or sparse
        # blocks here, not in a worker mid-compute (and not for some ops only).
        refuse_lossy(x._meta, chunks_of_dask=True)
        return x

    def finish(self, result):
        import dask

        return dask.compute(result)[0]  # a lazy result's work is its computation

    def to_numpy(self, x):
        from .._convert import to_numpy

        return to_numpy(self.asarray(x).compute())  # masked or sparse chunks refused before the graph runs

    def from_numpy(self, x):
        import dask.array as da

        x = np.asarray(x)
        # Dask sizes "auto" chunks by bytes, which it cannot know for Python
        # objects; to_device moves any array, so those go as one chunk.
        return da.from_array(x, chunks=-1 if x.dtype == object else "auto")

    def parameter_namespace(self, X):
        backend = get_instance(_chunk_backend_name(X))
        return backend.namespace(X._meta)

    def fetch(self, *results) -> tuple:
        import dask

        return dask.compute(*results)

    def estimator_output(self, x):
        return x

    def _unknown_sizes_error(self, op: str, name: str, shape) -> ValueError:
        return ValueError(
            f"xpvec.{op}: {name} has unknown chunk sizes (shape {shape}; e.g. after boolean "
            f"indexing like x[x > 0], or from a Dask DataFrame) and {op} needs them; call "
            f"{name}.compute_chunk_sizes() or use to_dask_array(lengths=True) first."
        )

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

    # Across blocks, the generic kernels on the guarded namespace (_DaskNamespace).
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
        return super()._normalize_rows(xp, x)

    def _dot(self, xp, a, b):
        return _matmul(a, b)

    def _image2vector(self, xp, image):
        # Row blocks flattened one after another are the image's C-order ravel
        # when width and channels are whole in every block. Unlike Dask's
        # reshape, this needs no row counts, which boolean indexing leaves unknown.
        if image.numblocks[1:] != (1, 1):
            if not all(map(_known, image.shape[1:])):
                raise self._unknown_sizes_error("image2vector", "image", image.shape)
            image = image.rechunk({1: -1, 2: -1})
        _, w, c = image.shape
        rows = tuple(h * w * c for h in image.chunks[0])
        return image.map_blocks(_column, chunks=(rows, (1,)), drop_axis=2, dtype=image.dtype)

    # ---- losses: one fused kernel per block pair, then a tree sum of the partials
    def _loss_sum(self, kernel: str, yhat, y):
        import dask.array as da

        if yhat.ndim == 0:
            yhat, y = yhat[None], y[None]
        # map_blocks pairs the operands' blocks by index and does not align
        # them: give y yhat's chunks so block pairs match the partials' grid.
        if y.chunks != yhat.chunks:
            y = y.rechunk(yhat.chunks)
        partials = da.map_blocks(
            _partial_sum, yhat, y, _chunk_backend_name(yhat), kernel,
            dtype=yhat.dtype, chunks=tuple((1,) * n for n in yhat.numblocks),
        )  # fmt: skip
        return _reduce("sum", partials, None)

    def _l1_loss(self, xp, yhat, y):
        return self._loss_sum("_l1_loss", yhat, y)

    def _l2_loss(self, xp, yhat, y):
        return self._loss_sum("_l2_loss", yhat, y)

    # ---- model primitives: chunk kernels per row block; W and b are client-side arrays
    def _logistic_loss_grad(self, xp, X, Y, W, b, sample_weight):
        import dask.array as da

        X = whole_rows(X)
        labels = (Y, "i") if Y.ndim == 1 else (whole_rows(Y), "ik")
        weights = (None, None) if sample_weight is None else (sample_weight, "i")
        size = 1 + W.size + b.size
        partials = da.blockwise(
            _block_loss_grad, "ip", X, "ij", *labels, *weights, W, None, b, None,
            _chunk_backend_name(X), None, new_axes={"p": size}, concatenate=True,
            meta=X._meta.astype(np.float64),
        )  # fmt: skip
        total = _reduce("sum", partials, (0,))  # a tree reduction of the per-block partials
        split = 1 + W.size
        # The float64 sums back to X's dtype through the guarded cast: float32 gradients can overflow there.
        return total[0], xp.astype(total[1:split].reshape(W.shape), X.dtype), xp.astype(total[split:], X.dtype)

    def _decision(self, xp, X, W, b):
        # meta= spares Dask from running the kernel on empty blocks to infer the output type.
        X = whole_rows(X)
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
        if not all(map(_known, x.shape)):  # from_array needs the sizes; x itself stays as it is
            chunks = x.copy().compute_chunk_sizes().chunks

        def on_dask(fn):
            return lambda v: fn(da.from_array(v, chunks=chunks))

        host_grad = on_dask(grad)
        return get_instance("numpy").check_grad(
            on_dask(f), lambda v: to_numpy(host_grad(v)), self.to_numpy(x), eps=eps
        )
