"""numba CPU kernels: fused, vectorized, parallel above a size threshold.

Modules: ``exp``/``log1p`` (vectorizable scalar math), ``elementwise``
(sigmoid family), ``softmax`` (rows), ``reductions`` (dot, l1/l2 losses),
``normalize`` (rows by L2 norm), ``_sums`` (reassociated sums). Importing this
package configures numba first (``_config``: threading layer, cache
location), then defines the kernels.
"""

from . import _config

with _config.kernel_cache_location():
    from . import elementwise, normalize, reductions, softmax

__all__ = ["elementwise", "normalize", "reductions", "softmax"]
