"""GPU kernels written with numba-cuda; the cupy backend launches them on CuPy arrays.

Design requirements:
- One module per kind of kernel: ``elementwise`` (sigmoid, sigmoid_grad,
  log_sigmoid), ``rows`` (softmax, log_softmax, normalize_rows: one block per
  row), ``columns`` (softmax, log_softmax over a middle axis, in place of a
  transposed copy), ``pieces`` (softmax, log_softmax, normalize_rows over
  lines too few to fill the device, each cut into pieces across blocks), ``reduce`` (the
  losses' block partials, and column sums that finish any per-block
  partials), ``logistic`` (the fused loss and gradient, binary and
  multinomial). Shared pieces: ``_lines`` (the four-loads pass over a row or a
  column), ``_online`` (softmax's one-read max and sum), ``_norm`` (normalize_rows' steps), ``_block``
  (shared-memory block reductions), ``_jit`` (the decorator that adds launch
  bounds). The host side: ``host`` (shapes arrays, sizes grids, finishes
  partials) and ``launch`` (numba-cuda compiles each kernel, nvJitLink links it,
  CuPy launches it with the parameters laid out in numba's ABI).
- Memory-bound passes keep four independent loads in flight per thread
  (grid-stride or block-stride, so each warp load stays coalesced), and the
  row, loss-partial and logistic kernels carry launch bounds that cap their
  registers, so enough threads are resident to stream HBM.
- Kernels are built per dtype (and, where they use shared memory, per block
  size) by cached factories: the dtype's constants are closure constants, so
  float32 kernels stay in float32 (numba types ``1 + float32`` as float64), and
  static shared arrays are sized by the block size at compile time.
- No fastmath anywhere: it flushes subnormals to zero and lets the compiler
  assume no NaN or inf, and both must survive every kernel.
- Reductions use shared memory only (no warp shuffles), so the very same code
  runs in numba-cuda's simulator (NUMBA_ENABLE_CUDASIM=1) on NumPy arrays:
  that is how CI, which has no GPU, tests every kernel. CI also compiles
  every kernel for sm_90 with NVVM and assembles it with nvJitLink (no GPU
  needed), and checks the PTX and the machine code's register spills.
- Every kernel takes C-contiguous arrays; the backend makes them so.
"""
