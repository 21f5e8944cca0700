"""The array_api backend on real array libraries (torch, jax) when installed:
every op returns the library's own array type with numpy's values, and
LogisticRegression trains on them to numpy's model. array-api-strict, the
proof that only standard calls are used, runs in the agreement suite."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

import xpvec

from .test_logistic_regression import TIGHT, standardized


def torch_arrays():
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat", reason="torch tensors need array-api-compat's namespace")
    return lambda a: torch.asarray(np.array(a))


def jax_arrays():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)  # float64 in, float64 out, as the dtype policy says
    return lambda a: jax.numpy.asarray(np.array(a))


@pytest.fixture(params=[torch_arrays, jax_arrays], ids=["torch", "jax"])
def asarray(request):
    """A converter from NumPy to the library's arrays; skips where the library is missing."""
    return request.param()


rng = np.random.default_rng(0)
X53 = rng.standard_normal((5, 3)) * 8
OPS = [
    pytest.param(xpvec.sigmoid, (X53,), {}, id="sigmoid"),
    pytest.param(xpvec.sigmoid_grad, (X53,), {}, id="sigmoid_grad"),
    pytest.param(xpvec.log_sigmoid, (X53,), {}, id="log_sigmoid"),
    pytest.param(xpvec.softmax, (X53,), {"axis": 0}, id="softmax"),
    pytest.param(xpvec.log_softmax, (X53,), {"axis": None}, id="log_softmax"),
    pytest.param(xpvec.dot, (X53, X53.T), {}, id="dot"),
    pytest.param(xpvec.normalize_rows, (X53,), {}, id="normalize_rows"),
    pytest.param(xpvec.image2vector, (X53.reshape(5, 3, 1),), {}, id="image2vector"),
    pytest.param(xpvec.l1_loss, (X53, X53[::-1]), {}, id="l1_loss"),
    pytest.param(xpvec.l2_loss, (X53, X53[::-1]), {}, id="l2_loss"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op, arrays, kwargs", OPS)
def test_ops_return_the_library_array_with_numpy_values(asarray, op, arrays, kwargs, dtype):
    inputs = [asarray(a.astype(dtype)) for a in arrays]
    result = op(*inputs, **kwargs)
    assert type(result) is type(inputs[0])
    expected = op(*(a.astype(dtype) for a in arrays), backend="numpy", **kwargs)
    got = xpvec.to_numpy(result)
    assert got.dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(got, expected, rtol=8 * np.finfo(dtype).eps * X53.size, atol=0)


def test_logistic_regression_trains_on_the_library_arrays(asarray):
    X, y = standardized(load_breast_cancer)
    reference = xpvec.LogisticRegression(backend="numpy", **TIGHT).fit(X, y)
    model = xpvec.LogisticRegression(**TIGHT).fit(asarray(X), asarray(y))
    scale = np.max(np.abs(reference.coef_))
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-8 * scale)
    np.testing.assert_allclose(model.predict_proba(asarray(X)), reference.predict_proba(X), atol=1e-10)
    assert model.score(asarray(X), asarray(y)) == reference.score(X, y)
