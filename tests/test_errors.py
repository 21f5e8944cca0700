"""Bad input gets a clear error that names the problem and the fix; nothing is modified."""

from __future__ import annotations

import numpy as np
import pytest

import xpvec

from .conftest import backend_params, to_backend


def test_unknown_backend_name_suggests_the_closest():
    with pytest.raises(xpvec.BackendUnavailableError, match=r"unknown backend 'NUMPY'.*did you mean 'numpy'"):
        xpvec.sigmoid(1.0, backend="NUMPY")
    with pytest.raises(xpvec.BackendUnavailableError, match=r"unknown backend 'nunpy'.*did you mean 'numpy'"):
        xpvec.sigmoid(1.0, backend="nunpy")
    with pytest.raises(xpvec.BackendUnavailableError, match="choose one of: numpy, python"):
        xpvec.set_backend("gpu")
    with pytest.raises(xpvec.BackendUnavailableError):
        with xpvec.use_backend("bogus"):
            pass
    assert issubclass(xpvec.BackendUnavailableError, RuntimeError)


def test_backend_argument_of_the_wrong_type():
    with pytest.raises(TypeError, match="backend must be a name"):
        xpvec.sigmoid(1.0, backend=3)
    with pytest.raises(TypeError, match="backend must be a name"):
        xpvec.sigmoid(1.0, backend=["numpy"])


def test_unusable_backend_reports_why_and_how_to_fix(monkeypatch):
    from xpvec import _registry, _selection

    monkeypatch.setattr(_selection, "_by_name", {})  # forget earlier successful lookups

    monkeypatch.setitem(_registry._reasons, "python", "needs something: pip install something")
    monkeypatch.delitem(_registry._instances, "python", raising=False)
    assert xpvec.backend_report()["python"] == "needs something: pip install something"
    assert "python" not in xpvec.available_backends()
    with pytest.raises(xpvec.BackendUnavailableError, match="backend 'python' is unavailable: .*pip install"):
        xpvec.sigmoid(1.0, backend="python")


@pytest.mark.parametrize("backend", ["numpy", "python", "numba"])
def test_masked_arrays_are_refused_not_unmasked(backend):
    if backend not in xpvec.available_backends():
        pytest.skip(f"{backend}: {xpvec.backend_report()[backend]}")
    x = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    for call in (lambda: xpvec.sigmoid(x, backend=backend), lambda: xpvec.l2_loss(x, x.data, backend=backend)):
        with pytest.raises(TypeError, match=r"masked arrays.*x\.filled"):
            call()
    assert xpvec.sigmoid(x.filled(0.0), backend=backend).tolist() == [pytest.approx(0.7310585786300049), 0.5]


@pytest.mark.parametrize("backend", backend_params())
class TestBadInput:
    def call(self, backend, fn, *arrays, **kw):
        return fn(*(to_backend(np.asarray(a), backend) for a in arrays), backend=backend, **kw)

    def test_dot_shape_mismatch_shows_both_shapes(self, backend):
        with pytest.raises(ValueError, match=r"\(3, 4\) and \(5,\) not aligned: 4 \(dim 1 of a\) != 5"):
            self.call(backend, xpvec.dot, np.ones((3, 4)), np.ones(5))
        with pytest.raises(ValueError, match=r"1-D and 2-D operands, got shapes \(2, 2, 2\) and \(2,\)"):
            self.call(backend, xpvec.dot, np.ones((2, 2, 2)), np.ones(2))

    def test_softmax_over_an_empty_axis(self, backend):
        with pytest.raises(ValueError, match="empty axis"):
            self.call(backend, xpvec.softmax, np.ones((3, 0)))
        with pytest.raises(ValueError, match="empty axis"):
            self.call(backend, xpvec.log_softmax, np.ones((0, 3)), axis=None)
        assert self.call(backend, xpvec.softmax, np.ones((0, 3))).shape == (0, 3)  # nothing reduced empty

    def test_normalize_rows_without_features(self, backend):
        # An empty row has norm 0 and stays as it is, as an all-zero row does: (n, 0) out.
        for dtype, out in ((np.float32, np.float32), (np.int64, np.float64)):
            r = xpvec.to_numpy(self.call(backend, xpvec.normalize_rows, np.ones((3, 0), dtype)))
            assert r.shape == (3, 0) and r.dtype == out

    def test_bad_axes(self, backend):
        with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds"):
            self.call(backend, xpvec.softmax, np.ones((2, 3)), axis=2)
        with pytest.raises(ValueError, match="repeated axis"):
            self.call(backend, xpvec.softmax, np.ones((2, 3)), axis=(1, -1))
        with pytest.raises(TypeError, match="axis must be an int"):
            self.call(backend, xpvec.softmax, np.ones((2, 3)), axis=1.5)
        with pytest.raises(np.exceptions.AxisError, match="0-d input takes axis=None"):
            self.call(backend, xpvec.softmax, np.float64(1.0))

    def test_normalize_rows_needs_2d(self, backend):
        with pytest.raises(ValueError, match=r"2-D array \(rows, features\), got shape \(4,\).*x\[None, :\]"):
            self.call(backend, xpvec.normalize_rows, np.ones(4))

    def test_image2vector_needs_3d(self, backend):
        with pytest.raises(ValueError, match=r"\(height, width, channels\), got shape \(4, 4\).*image\[\.\.\., None\]"):
            self.call(backend, xpvec.image2vector, np.ones((4, 4)))

    def test_loss_shapes_must_match(self, backend):
        with pytest.raises(ValueError, match=r"same shape, got \(3, 1\) and \(3,\)"):
            self.call(backend, xpvec.l2_loss, np.ones((3, 1)), np.ones(3))


@pytest.mark.parametrize("backend", [b for b in ["numpy", "python"]])
@pytest.mark.parametrize(
    "bad,match",
    [
        (np.ones(3, dtype=np.complex128), r"complex input \(complex128\).*x\.real"),
        (np.array([1, "a"], dtype=object), "not object"),
        (np.array(["a", "b"]), "not <U1|not str"),
        (np.ones(2, dtype=np.longdouble), "not float128|not longdouble"),
    ],
    ids=["complex", "object", "string", "longdouble"],
)
@pytest.mark.parametrize("op", ["sigmoid", "softmax", "normalize_rows", "l1_loss", "dot", "image2vector"])
def test_unsupported_dtypes_raise_type_error(backend, bad, match, op):
    fn = getattr(xpvec, op)
    args = {"normalize_rows": (bad[None],), "l1_loss": (bad, bad), "dot": (bad, bad), "image2vector": (bad[None, None],)}
    with pytest.raises(TypeError, match=match):
        fn(*args.get(op, (bad,)), backend=backend)


def test_read_only_inputs_are_not_modified():
    x = np.linspace(-5, 5, 12).reshape(3, 4)
    x.flags.writeable = False
    keep = x.copy()
    for op in (xpvec.sigmoid, xpvec.sigmoid_grad, xpvec.log_sigmoid, xpvec.softmax, xpvec.log_softmax, xpvec.normalize_rows):
        op(x)
    xpvec.l2_loss(x, x)
    xpvec.dot(x, x.T)
    np.testing.assert_array_equal(x, keep)
