"""numba CPU kernels: fused, vectorized, parallel above a size threshold.

Modules: ``exp``/``log1p`` (vectorizable scalar math), ``elementwise``
(sigmoid family), ``softmax`` (rows and columns), ``reductions`` (dot, l1/l2 losses),
``normalize`` (rows by L2 norm), ``logistic`` (fused loss and gradient),
``_sums`` (reassociated sums). Importing this
package configures numba first (``_config``: threading layer, cache
location), then defines the kernels.

Compiled kernels are cached on disk (``cache=True``). numba invalidates a
cached kernel only when its own source file changes, not when a helper it
inlines does; ``_config`` therefore drops the package's cached kernels when
any of its source files changed (a digest kept beside the cache).
"""

from . import _config

with _config.kernel_cache_location():
    from . import elementwise, logistic, normalize, reductions, softmax

__all__ = ["elementwise", "logistic", "normalize", "reductions", "softmax"]
