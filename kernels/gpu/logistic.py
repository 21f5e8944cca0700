"""The fused logistic loss and gradient: X is read from DRAM once per evaluation.

For each row i (logits z_i = x_i W + b, K = 1 for binary, K classes for multinomial):
    binary:       loss_i = (max(z, 0) - y z) + log1p(exp(-|z|)),  r_i = sigmoid(z) - y
    multinomial:  loss_i = log(sum_k exp(z_k - m)) - sum_k y_k (z_k - m),  m = max_k z_k,
                  r_ik = exp(z_k - m) * (1 / sum) - y_ik
    loss = sum_i w_i loss_i,  grad_W = sum_i x_i^T (w_i r_i),  grad_b = sum_i w_i r_i.

Each block walks tiles of ``rows`` consecutive rows. A tile is copied once
from DRAM into shared memory (coalesced: the tile is contiguous in X), its
logits and residuals are computed there, and the thread that owns gradient
entry (j, k) adds sum_t tile[t, j] r[t, k] to its shared accumulator. So X
costs n * d * itemsize bytes per evaluation, one pass; W, b, Y and the
weights add (K + 1) * n * itemsize, small beside X for d >> K. Each block
writes its partial [grad_W.ravel(), grad_b] to a row of ``partials`` and its
partial loss to ``losses``, and ``reduce.sum_columns`` adds both up in one launch
(no atomics: deterministic). The loss is summed in float64 whatever the dtype
(per thread, across the block, across the blocks; see
``Backend.logistic_loss_grad``): a few float64 adds a row, beside its d * K
multiply-adds in the dtype.

Shared memory (dynamic, one buffer, in elements): tile rows * stride (the
stride is d rounded up to odd, so threads reading one column of consecutive
rows hit distinct banks), logits/residuals rows * K, gradient d * K + K; and
a static float64 scratch of ``threads`` for the loss. ``rows_per_tile`` picks
the tile height from a shared-memory budget; a problem whose tile would be too
short (a very wide X) gets 0 and the backend uses two cuBLAS passes instead.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numba
import numpy as np
from numba import cuda

from ._block import reducers
from ._jit import kernel_jit

SHARED_BYTES = 32 * 1024  # per block; leaves room for several resident blocks per SM
MIN_ROWS = 8  # below this a tile keeps too few threads busy: two cuBLAS passes do better
# Resident blocks per SM the compiler must fit (registers <= 65536 / (threads * blocks)). Four
# (64 registers at 256 threads) compile without spills in float32; at 128 registers the float64
# multinomial kernel spills 20 bytes with CUDA 13.5's ptxas (8 before its loss was summed in
# float64; within the compile test's budget).
BLOCKS_PER_SM = {4: 4, 8: 2}  # by itemsize


def row_stride(d: int) -> int:
    return d | 1


def rows_per_tile(d: int, k: int, itemsize: int, threads: int, budget: int = SHARED_BYTES) -> int:
    """Tile height whose block fits ``budget`` bytes of shared memory (``shared_bytes``), or 0
    if under ``MIN_ROWS``."""
    free = (budget - loss_scratch_bytes(threads)) // itemsize - (d * k + k)
    rows = max(free, 0) // (row_stride(d) + k)
    return rows if rows >= MIN_ROWS else 0


def loss_scratch_bytes(threads: int) -> int:
    """The static shared memory of a block: the float64 loss reduction's scratch."""
    return threads * 8


def dynamic_bytes(rows: int, d: int, k: int, itemsize: int) -> int:
    """The dynamic shared memory a launch with tiles of ``rows`` rows asks for."""
    return (rows * (row_stride(d) + k) + d * k + k) * itemsize


def shared_bytes(rows: int, d: int, k: int, itemsize: int, threads: int) -> int:
    """All the shared memory of a block: dynamic and static."""
    return dynamic_bytes(rows, d, k, itemsize) + loss_scratch_bytes(threads)


@functools.cache
def kernels(dtype: np.dtype, threads: int) -> SimpleNamespace:
    zero, one = dtype.type(0), dtype.type(1)
    nbtype = numba.from_dtype(dtype)
    jit_kernel = kernel_jit(threads, BLOCKS_PER_SM[dtype.itemsize])
    block_sum, _ = reducers(dtype, threads)

    @cuda.jit(device=True)
    def advance(t, j, d, dt, dj):
        """(t, j) moved on by ``threads`` = dt * d + dj flat elements in rows of d."""
        t += dt
        j += dj
        if j >= d:
            t += 1
            j -= d
        return t, j

    def loss_grad_kernel(name, binary):
        """The kernel for K = 1 (``binary``: sigmoid) or K > 1 (softmax). Two kernels, not one
        branching on K: each carries only its own transcendental code, so fewer registers."""

        def kernel(X, Y, W, b, sample_weight, partials, losses, weighted, rows):
            """One block's [grad_W.ravel(), grad_b] into partials[block] and its loss (float64)
            into losses[block]; reads its rows of X once.

            X (n * d,) flat, Y (n, K) (K = 1: 0/1 labels; else one-hot), W (d, K), b (K,),
            sample_weight (n,), read only when ``weighted``. Launch with
            ``dynamic_bytes(rows, d, K, itemsize)`` of dynamic shared memory.
            """
            sh = cuda.shared.array(0, dtype=nbtype)
            loss_scratch = cuda.shared.array(threads, dtype=numba.float64)
            tid = cuda.threadIdx.x
            n, k_out = Y.shape
            d = W.shape[0]
            stride = d | 1
            o_z = rows * stride  # logits, then residuals, of the tile: rows * K
            o_g = o_z + rows * k_out  # gradient accumulators: d * K for W, then K for b
            n_grad = d * k_out + k_out
            for e in range(tid, n_grad, threads):
                sh[o_g + e] = zero
            # The tile load walks flat offsets e = tid, tid + threads, ... of the tile (contiguous
            # in X) with four loads in flight, and places them at (row t, column j) by stepping,
            # not dividing: a 64-bit division per element would cost more than the load.
            t0, j0 = tid // d, tid - (tid // d) * d
            dt, dj = threads // d, threads - (threads // d) * d
            loss = numba.float64(0)  # whatever the dtype (a 0.0 would be float32 in the simulator: NEP 50)
            for row0 in range(cuda.blockIdx.x * rows, n, cuda.gridDim.x * rows):
                here = min(rows, n - row0)
                count = here * d
                x0 = row0 * d  # the tile's offset in flat X
                cuda.syncthreads()  # the previous tile is consumed (and the accumulators zeroed)
                t, j = t0, j0
                e = tid
                while e + 3 * threads < count:
                    i = x0 + e
                    v0, v1, v2, v3 = X[i], X[i + threads], X[i + 2 * threads], X[i + 3 * threads]
                    sh[t * stride + j] = v0
                    t, j = advance(t, j, d, dt, dj)
                    sh[t * stride + j] = v1
                    t, j = advance(t, j, d, dt, dj)
                    sh[t * stride + j] = v2
                    t, j = advance(t, j, d, dt, dj)
                    sh[t * stride + j] = v3
                    t, j = advance(t, j, d, dt, dj)
                    e += 4 * threads
                while e < count:
                    sh[t * stride + j] = X[x0 + e]
                    t, j = advance(t, j, d, dt, dj)
                    e += threads
                cuda.syncthreads()
                for e in range(tid, here * k_out, threads):
                    t = e // k_out
                    k = e - t * k_out
                    z = b[k]
                    for j in range(d):
                        z += sh[t * stride + j] * W[j, k]
                    sh[o_z + e] = z
                cuda.syncthreads()
                for t in range(tid, here, threads):
                    w = sample_weight[row0 + t] if weighted else one
                    base = o_z + t * k_out
                    if binary:  # a closure constant: the other branch is compiled out
                        z = sh[base]
                        y = Y[row0 + t, 0]
                        e_z = math.exp(-abs(z))
                        num = one if z >= zero else e_z
                        # max(z, 0) - y z first: exact for 0/1 labels, so a small loss keeps its precision.
                        loss += w * ((max(z, zero) - y * z) + math.log1p(e_z))
                        sh[base] = w * (num / (one + e_z) - y)
                    else:
                        m = sh[base]
                        for k in range(1, k_out):
                            m = max(m, sh[base + k])
                        s = zero
                        zy = zero
                        for k in range(k_out):
                            s += math.exp(sh[base + k] - m)
                            zy += Y[row0 + t, k] * (sh[base + k] - m)
                        loss += w * (math.log(s) - zy)
                        inv = one / s  # s >= 1: one division per row, not per class
                        for k in range(k_out):
                            sh[base + k] = w * (math.exp(sh[base + k] - m) * inv - Y[row0 + t, k])
                cuda.syncthreads()
                # Entry e is owned by thread e % threads in every tile: no two threads add to one.
                for e in range(tid, d * k_out, threads):
                    j = e // k_out
                    k = e - j * k_out
                    acc = zero
                    for t in range(here):
                        acc += sh[t * stride + j] * sh[o_z + t * k_out + k]
                    sh[o_g + e] += acc
                for k in range(tid, k_out, threads):
                    acc = zero
                    for t in range(here):
                        acc += sh[o_z + t * k_out + k]
                    sh[o_g + d * k_out + k] += acc
            cuda.syncthreads()
            for e in range(tid, n_grad, threads):
                partials[cuda.blockIdx.x, e] = sh[o_g + e]
            total = block_sum(loss_scratch, loss)
            if tid == 0:
                losses[cuda.blockIdx.x] = total

        kernel.__name__ = kernel.__qualname__ = name  # what profilers and compile errors show
        return jit_kernel(kernel)

    return SimpleNamespace(
        loss_grad_binary=loss_grad_kernel("loss_grad_binary", True),
        loss_grad_multinomial=loss_grad_kernel("loss_grad_multinomial", False),
    )
