"""Bad input gets a clear error that names the problem and the fix; nothing is modified."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import special

import xpvec
from xpvec._registry import get_instance

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


@pytest.mark.parametrize("backend", ["numpy", "python", "numba"])
def test_sparse_matrices_are_refused_with_the_way_to_densify(backend):
    sparse = pytest.importorskip("scipy.sparse")
    if backend not in xpvec.available_backends():
        pytest.skip(f"{backend}: {xpvec.backend_report()[backend]}")
    dense = np.array([[0.0, 2.0], [-1.0, 0.0]])
    calls = (
        lambda x: xpvec.sigmoid(x, backend=backend),
        lambda x: xpvec.dot(x, np.ones(2), backend=backend),
        xpvec.to_numpy,
    )
    for x in (sparse.csr_matrix(dense), sparse.coo_array(dense)):
        # np.asarray would make a 0-d object array of it, refused as "an object array"
        for call in calls:
            with pytest.raises(TypeError, match=r"dense arrays, not a scipy\.sparse .*2 stored entries.*x\.toarray\(\)"):
                call(x)
        np.testing.assert_allclose(xpvec.dot(x.toarray(), np.ones(2), backend=backend), [2.0, -1.0])


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
        # NumPy refuses bools as axes; operator.index would take True as 1.
        for op in (xpvec.softmax, xpvec.log_softmax):
            for axis in (True, False, (0, True)):
                with pytest.raises(TypeError, match=r"xpvec\.\w+: axis must be an int, a tuple of ints or None, not bool$"):
                    self.call(backend, op, np.ones((2, 3)), axis=axis)
        expected = self.call(backend, xpvec.softmax, np.ones((2, 3)), axis=1)
        for axis in (np.int64(1), (np.int32(-1),)):  # NumPy integers are ints
            np.testing.assert_array_equal(
                xpvec.to_numpy(self.call(backend, xpvec.softmax, np.ones((2, 3)), axis=axis)), xpvec.to_numpy(expected)
            )
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
        (np.ones(3, dtype=np.complex128), r"complex input \(complex128\); pass its real part, xp\.real\(x\).*abs\(x\)"),
        (np.array([1, "a"], dtype=object), r"not an object array \(dtype object\)"),
        (np.array(["a", "b"]), r"not a string array \(dtype <U1\)"),
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


_NOT_NUMBERS = [
    (np.array(["abc"]), "a string array (dtype <U3)"),
    (np.array([b"ab"]), "a bytes array (dtype |S2)"),
    (np.array([1, "a"], dtype=object), "an object array (dtype object)"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "a datetime array (dtype datetime64[D])"),
    (np.array([1], dtype="timedelta64[s]"), "a timedelta array (dtype timedelta64[s])"),
    (np.zeros(1, dtype=[("a", "f8")]), "a structured array (dtype [('a', '<f8')])"),
    (np.zeros(1, dtype="V8"), "a raw-bytes (void) array (dtype |V8)"),
]


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("bad,named", _NOT_NUMBERS, ids=["str", "bytes", "object", "datetime", "timedelta", "structured", "void"])
def test_dtypes_that_are_no_numbers_are_named_readably_on_every_backend(backend, bad, named):
    # Not NumPy's internal names ("not str96", "not bytes16", "not void64"): one message, built
    # in xpvec._dtypes, whichever backend refuses the input.
    if backend == "cupy":
        pytest.skip("CuPy arrays cannot hold strings, objects, dates or structured records")
    # The array_api backend takes NumPy arrays (array-api-strict has none of these dtypes).
    x = to_backend(bad, backend) if backend == "dask" else bad
    message = (
        f"xpvec.sigmoid takes real numbers (float16/32/64, integer or bool), not {named}; "
        "convert the input, e.g. x.astype('float64')"
    )
    with pytest.raises(TypeError) as exc:
        xpvec.sigmoid(x, backend=backend)
    assert str(exc.value) == message
    with pytest.raises(TypeError, match=re.escape(f"not {named};")):
        xpvec.l2_loss(x, x, backend=backend)


def test_dtype_names_that_read_well_are_kept():
    from xpvec._dtypes import describe_dtype

    assert describe_dtype(np.dtype(np.complex128)) == "complex128"
    assert describe_dtype(np.dtype(np.longdouble)) == np.dtype(np.longdouble).name  # float128 or float64
    with pytest.raises(TypeError, match=r"does not take complex input \(complex64\)"):
        xpvec.sigmoid(np.ones(2, np.complex64))


def test_dask_unknown_chunk_sizes_say_to_compute_them():
    """After boolean indexing Dask knows no chunk sizes (NaN, and NaN != NaN): an op that
    needs them says so and how to get them, instead of "(nan,) != (nan,)"."""
    da = pytest.importorskip("dask.array")
    d = da.from_array(np.random.default_rng(0).standard_normal(20), chunks=5)
    du = d[d > 0]
    X = da.from_array(np.ones((20, 3)), chunks=(5, 3))[d > 0]
    fix = r"unknown chunk sizes \(shape \(.*nan.*boolean indexing.*\.compute_chunk_sizes\(\)"
    calls = [
        ("dot", lambda: xpvec.dot(du, du)),
        ("dot", lambda: xpvec.dot(X.T, X)),  # the inner dimension is unknown
        ("l1_loss", lambda: xpvec.l1_loss(du, du)),
        ("l2_loss", lambda: xpvec.l2_loss(X, X)),
        ("image2vector", lambda: xpvec.image2vector(du[None, :, None])),  # width unknown, in 4 blocks
    ]
    for op, call in calls:
        with pytest.raises(ValueError, match=rf"xpvec\.{op}: .*{fix}"):
            call()
    du.compute_chunk_sizes()
    assert xpvec.l2_loss(du, du).compute() == 0.0
    np.testing.assert_allclose(xpvec.dot(du, du).compute(), np.sum(du.compute() ** 2))


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_array_api_backend_reads_ndarray_subclasses_as_the_numpy_backend():
    # Masked arrays were computed on with the mask dropped; np.matrix broke softmax.
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(TypeError, match=r"masked arrays.*x\.filled"):
        xpvec.sigmoid(masked, backend="array_api")
    with pytest.raises(TypeError, match=r"masked arrays"):
        xpvec.dot(masked, np.ones(2), backend="array_api")
    m = np.matrix([[1.0, 2.0], [0.0, -1.0]])
    for op in (xpvec.softmax, xpvec.sigmoid, xpvec.normalize_rows):
        r = op(m, backend="array_api")
        assert type(r) is np.ndarray
        np.testing.assert_allclose(r, op(np.asarray(m), backend="numpy"), rtol=1e-15)


def test_dask_arrays_of_masked_or_sparse_chunks_are_refused_up_front():
    da = pytest.importorskip("dask.array")
    sparse = pytest.importorskip("scipy.sparse")
    masked = da.from_array(np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False]), chunks=2)
    for op in (xpvec.sigmoid, xpvec.softmax, lambda x: xpvec.l2_loss(x, x), xpvec.to_numpy):
        with pytest.raises(TypeError, match=r"masked chunks.*dask\.array\.ma\.filled"):
            op(masked)  # before any graph runs: not a numba typing error in a worker
    chunks = da.from_array(np.eye(3), chunks=2).map_blocks(sparse.csr_matrix)
    with pytest.raises(TypeError, match=r"scipy\.sparse chunks.*toarray"):
        xpvec.to_numpy(chunks)
    with pytest.raises(TypeError, match=r"scipy\.sparse chunks.*toarray") as refused:
        xpvec.sigmoid(chunks)
    # The advice, run as written, gives chunks xpvec takes.
    advice = re.search(r"pass (x\.map_blocks\(.*\)) for dense chunks", str(refused.value)).group(1)
    dense = eval(advice, {"x": chunks})
    np.testing.assert_allclose(xpvec.sigmoid(dense).compute(), 1 / (1 + np.exp(-np.eye(3))), rtol=1e-15)


def test_complex_input_advice_works_in_any_namespace():
    # x.real is no array-API spelling: the advice names calls every namespace has.
    xps = pytest.importorskip("array_api_strict")
    for x, xp in ((np.array([1 + 2j, -3j]), np), (xps.asarray([1 + 2j, -3j]), xps)):
        with pytest.raises(TypeError, match=r"does not take complex input .*xp\.real\(x\) \(np\.real\(x\) for NumPy\)") as e:
            xpvec.sigmoid(x)
        assert "x.real" not in str(e.value)
        for fixed in (xp.real(x), abs(x)):
            np.testing.assert_allclose(xpvec.to_numpy(xpvec.sigmoid(fixed)), xpvec.sigmoid(xpvec.to_numpy(fixed)))


def _run_advice(message: str, *modules, **operands):
    """The operands after running the assignments a message advises (``b = xpvec.to_device(b, 'dask')``)."""
    fixes = re.findall(r"\b(\w+) = ([\w.]+\((?:[^()]|\([^()]*\))*\))", message)
    assert fixes, message
    env = {"xpvec": xpvec, **{m.__name__: m for m in modules}, **operands}
    for name, call in fixes:
        env[name] = eval(call, env)
    return {name: env[name] for name in operands}


def test_mixed_operands_name_each_kind_and_a_move_that_works():
    da = pytest.importorskip("dask.array")
    xps = pytest.importorskip("array_api_strict")
    kinds = {
        "dask": (lambda x: da.from_array(x, chunks=2), "a dask array \\(dask\\.Array\\)"),
        "numpy": (np.asarray, "a host array \\(numpy\\.ndarray\\)"),
        "strict": (xps.asarray, "an array_api array \\(array_api_strict\\.Array\\)"),
    }
    cases = [  # (op, first, second, operand names, the operand to move, its target)
        ("dot", "dask", "numpy", ("a", "b"), "b", "dask"),
        ("dot", "numpy", "dask", ("a", "b"), "a", "dask"),
        ("dot", "dask", "strict", ("a", "b"), "b", "dask"),  # no blame on an unchosen 'array_api'
        ("dot", "strict", "dask", ("a", "b"), "a", "dask"),
        ("l1_loss", "dask", "numpy", ("yhat", "y"), "y", "dask"),
        ("l2_loss", "strict", "dask", ("yhat", "y"), "yhat", "dask"),
    ]
    for op, first, second, (n1, n2), mover, target in cases:
        (as1, k1), (as2, k2) = kinds[first], kinds[second]
        x1, x2 = as1(np.arange(6.0).reshape(3, 2)), as2(np.array([1.0, -2.0]) if op == "dot" else np.ones((3, 2)))
        fn = getattr(xpvec, op)
        with pytest.raises(
            TypeError,
            match=rf"^xpvec\.{op}: the operands are different kinds of array: {n1} is {k1}, {n2} {k2}; no backend "
            rf"takes both without copying, so move one explicitly, e\.g\. {mover} = xpvec\.to_device\({mover}, '{target}'\)$",
        ) as e:
            fn(x1, x2)
        message = str(e.value)
        fixed = _run_advice(message, **{n1: x1, n2: x2})
        got = fn(fixed[n1], fixed[n2])
        np.testing.assert_allclose(xpvec.to_numpy(got), fn(xpvec.to_numpy(x1), xpvec.to_numpy(x2)))


def test_mixed_operands_with_a_chosen_backend_name_the_one_it_cannot_take():
    da = pytest.importorskip("dask.array")
    xps = pytest.importorskip("array_api_strict")
    X, w = np.arange(6.0).reshape(3, 2), np.array([1.0, -2.0])
    dX, sw = da.from_array(X, chunks=2), xps.asarray(w)
    want = X @ w

    def check(call, match, expected=want, **operands):
        with pytest.raises(TypeError, match=match) as e:
            call(**operands)
        fixed = _run_advice(str(e.value), xps, **operands)
        np.testing.assert_allclose(xpvec.to_numpy(call(**fixed)), expected)

    check(
        lambda a, b: xpvec.dot(a, b, backend="numpy"),
        r"^xpvec\.dot: backend 'numpy' \(chosen by backend=\) cannot take a, a dask array \(dask\.Array\), without "
        r"copying it; b is a host array \(numpy\.ndarray\)\. Move a explicitly: a = xpvec\.to_device\(a, 'numpy'\)$",
        a=dX, b=w,
    )
    check(
        lambda a, b: xpvec.dot(a, b, backend="numpy"),
        r"cannot take a, a dask array \(dask\.Array\), nor b, an array_api array \(array_api_strict\.Array\), "
        r"without copying them: move them explicitly with a = xpvec\.to_device\(a, 'numpy'\) and "
        r"b = xpvec\.to_device\(b, 'numpy'\)$",
        a=dX, b=sw,
    )
    # to_device(a, 'array_api') would give NumPy, which the array_api backend will not mix with b's library.
    check(
        lambda a, b: xpvec.dot(a, b, backend="array_api"),
        r"backend 'array_api' \(chosen by backend=\) cannot take a, a dask array .*"
        r"Move a explicitly: a = array_api_strict\.asarray\(xpvec\.to_numpy\(a\), device=b\.device\)$",
        a=dX, b=sw,
    )
    with xpvec.use_backend("numpy"):
        check(
            xpvec.l2_loss,
            r"^xpvec\.l2_loss: backend 'numpy' \(set by use_backend\) cannot take yhat, a dask array .*"
            r"y is a host array .*yhat = xpvec\.to_device\(yhat, 'numpy'\)$",
            expected=2.0,
            yhat=da.from_array(w), y=w + 1,
        )
    previous = xpvec.set_backend("python")
    try:
        check(
            lambda a, b: xpvec.dot(a, b),
            r"^xpvec\.dot: backend 'python' \(set by set_backend or XPVEC_BACKEND\) cannot take b, an array_api "
            r"array \(array_api_strict\.Array\), without copying it; a is a host array \(numpy\.ndarray\)\. "
            r"Move b explicitly: b = xpvec\.to_device\(b, 'python'\)$",
            a=X, b=sw,
        )
    finally:
        xpvec.set_backend(previous)


def test_single_operand_refusals_keep_their_message_with_the_right_article():
    pytest.importorskip("dask.array")
    with pytest.raises(
        TypeError,
        match=r"^backend 'dask' cannot take a numpy\.ndarray input \(a host array\) without copying it: move the data "
        r"explicitly with xpvec\.to_device\(x, 'dask'\), or choose the 'numpy' backend for it$",
    ):
        xpvec.sigmoid(np.ones(2), backend="dask")
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(
        TypeError, match=r"cannot take an array_api_strict\.Array input \(an array_api array\) without copying it"
    ):
        xpvec.sigmoid(xps.asarray([1.0]), backend="numpy")
    # Two operands of one kind the backend refuses: the same message.
    with pytest.raises(TypeError, match=r"^backend 'numpy' cannot take an array_api_strict\.Array input"):
        xpvec.dot(xps.asarray([1.0]), xps.asarray([1.0]), backend="numpy")


# Input that is no array: (what was passed, the message's words for it, a fix that works or None).
_NOT_ARRAYS = [
    (lambda: None, r"not None; None holds no values to compute on", None),
    (lambda: {"a": 1.0, "b": -2.0}, r"not a dict; pass its numbers as a list .*list\(d\.values\(\)\)",
     lambda d: list(d.values())),
    (lambda: (v for v in (1.0, -2.0)), r"not a generator; pass list\(x\)", list),
    (lambda: 2**64, r"not an int of 65 bits, which NumPy holds only as a Python object; pass float\(x\)", float),
    (lambda: 10**400, r"not an int of 1329 bits.*beyond float64's range", None),
    (lambda: [1.0, None], r"not a list holding entries NumPy cannot read as numbers; pass numbers only", None),
]  # fmt: skip


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("make,named,fix", _NOT_ARRAYS, ids=["None", "dict", "generator", "int65", "int1329", "list"])
def test_input_that_is_no_array_is_named_with_a_fix(backend, make, named, fix):
    # NumPy reads these as 0-d object arrays: the error blamed "an object array (dtype object)".
    ops = {  # op name -> call on the input
        "sigmoid": lambda x: xpvec.sigmoid(x, backend=backend),
        "softmax": lambda x: xpvec.softmax(x, backend=backend),
        "dot": lambda x: xpvec.dot(x, [1.0, 1.0], backend=backend),
        "l2_loss": lambda x: xpvec.l2_loss([0.0, 0.0], x, backend=backend),
    }
    for op, call in ops.items():
        with pytest.raises(TypeError, match=rf"^xpvec(\.{op})? takes arrays, numbers and \(nested\) lists of numbers, {named}") as e:
            call(make())
        assert "dtype object" not in str(e.value)
    if fix is not None and "host" in get_instance(backend).accepts:
        data = fix(make())
        np.testing.assert_allclose(xpvec.to_numpy(xpvec.sigmoid(data, backend=backend)), special.expit(np.asarray(data, float)))


def test_ragged_lists_are_refused_with_the_op_named():
    for call, op in ((xpvec.softmax, "softmax"), (lambda x: xpvec.l1_loss(x, x), "l1_loss"), (xpvec.to_numpy, "to_numpy")):
        with pytest.raises(ValueError, match=rf"^xpvec\.{op}: NumPy cannot read a list as an array \(.*inhomogeneous"
                                             r".*\); nested lists must be rectangular"):  # fmt: skip
            call([[1.0, 2.0], [3.0]])


def test_data_movers_refuse_what_is_no_data_and_name_the_backends():
    with pytest.raises(TypeError, match=r"^xpvec\.to_numpy takes arrays, numbers .*not None"):
        xpvec.to_numpy(None)  # was a 0-d object array
    with pytest.raises(TypeError, match=r"^xpvec\.to_device takes arrays, numbers .*not a dict"):
        xpvec.to_device({"a": 1.0}, "numpy")
    names = r"\('numpy', 'python', 'numba', 'cupy', 'dask', 'array_api'\)"
    with pytest.raises(TypeError, match=rf"^backend must be a name {names} or a Backend object, not None$"):
        xpvec.warmup(None)  # was BackendUnavailableError "unknown backend None"
    with pytest.raises(TypeError, match=rf"^backend must be a name {names} or a Backend object, not an int$"):
        xpvec.to_device(np.ones(2), 3)
    np.testing.assert_array_equal(xpvec.to_numpy([[1, 2]]), np.array([[1, 2]]))


def test_operands_of_two_array_libraries_get_a_move_that_works():
    xps = pytest.importorskip("array_api_strict")
    X, w = np.arange(6.0).reshape(3, 2), np.array([1.0, -2.0])
    cases = [  # (call, operands, the assignment the message must advise)
        (xpvec.dot, {"a": xps.asarray(X), "b": w}, r"b = array_api_strict\.asarray\(b, device=a\.device\)"),
        (xpvec.dot, {"a": X, "b": xps.asarray(w)}, r"a = array_api_strict\.asarray\(a, device=b\.device\)"),
        (xpvec.dot, {"a": xps.asarray(X, device=xps.Device("device1")), "b": w}, r"b = array_api_strict\.asarray\(b, device=a\.device\)"),
        (xpvec.l2_loss, {"yhat": xps.asarray(w), "y": 2 * w}, r"y = array_api_strict\.asarray\(y, device=yhat\.device\)"),
    ]
    for call, operands, advice in cases:
        with pytest.raises(TypeError, match=rf"different array libraries .*{advice}$") as e:
            call(*operands.values())
        assert "to_device" not in str(e.value)  # to_device(b, 'array_api') gives NumPy back
        fixed = _run_advice(str(e.value), xps, **operands)
        got = call(*fixed.values())
        assert type(got) is type(xps.asarray(0.0))
        np.testing.assert_allclose(xpvec.to_numpy(got), call(*map(xpvec.to_numpy, operands.values())))


def test_python_lists_beside_another_librarys_array_join_its_library():
    # API.md: lists are accepted as NumPy takes them (np.dot(array, list) works): beside an
    # array of another library in host memory they are read into that library.
    xps = pytest.importorskip("array_api_strict")
    da = pytest.importorskip("dask.array")
    X, w = np.arange(6.0).reshape(3, 2), [1.0, -2.0]
    sX = xps.asarray(X)
    got = xpvec.dot(sX, w)
    assert type(got) is type(xps.asarray(0.0)) and got.dtype == xps.float64
    np.testing.assert_allclose(xpvec.to_numpy(got), np.dot(X, w))
    np.testing.assert_allclose(xpvec.to_numpy(xpvec.dot([1, 0, 2], sX)), np.dot([1, 0, 2], X))
    np.testing.assert_allclose(xpvec.to_numpy(xpvec.l1_loss(xps.asarray([1.0, 2.0]), [0, 0])), 3.0)
    # Beside an array on another device (array-api-strict's stands for an accelerator) that
    # would copy host data to it unasked: refused, with a move that works.
    on_device1 = xps.asarray(X, device=xps.Device("device1"))
    for backend in (None, "array_api"):
        with pytest.raises(TypeError, match=r"b = array_api_strict\.asarray\(b, device=a\.device\)") as e:
            xpvec.dot(on_device1, w, backend=backend)
    fixed = _run_advice(str(e.value), xps, a=on_device1, b=w)
    got = xpvec.dot(fixed["a"], fixed["b"])
    assert got.device == on_device1.device
    np.testing.assert_allclose(xpvec.to_numpy(got), np.dot(X, w))
    dX = da.from_array(X, chunks=(2, 1))
    got = xpvec.dot(dX, w)
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), np.dot(X, w))
    np.testing.assert_allclose(xpvec.l2_loss([1.0, 2.0, 3.0], dX[:, 0]).compute(), np.sum((np.array([1.0, 2, 3]) - X[:, 0]) ** 2))
    # A NumPy array is another library's data, not Python's: still refused (no silent moves).
    with pytest.raises(TypeError, match="different kinds of array"):
        xpvec.dot(dX, np.array(w))


def test_sparse_data_for_a_dense_backend_gets_a_move_that_works():
    pytest.importorskip("dask.array")
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    X = sparse.random(40, 3, density=0.5, format="csr", random_state=0)
    y = (rng.random(40) < 0.5).astype(int)
    with pytest.raises(TypeError, match=r"xpvec\.to_device\(x\.toarray\(\), 'dask'\).*'numpy', 'numba' or 'python'") as e:
        xpvec.LogisticRegression(backend="dask").fit(X, y)
    advised = re.search(r"with (xpvec\.to_device\(x\.toarray\(\), 'dask'\))", str(e.value)).group(1)
    fitted = xpvec.LogisticRegression(backend="dask").fit(eval(advised, {"xpvec": xpvec, "x": X}), y)
    reference = xpvec.LogisticRegression(backend="numpy").fit(X, y)  # trains on sparse X as it is
    np.testing.assert_allclose(fitted.coef_, reference.coef_, rtol=1e-4, atol=1e-6)
    # A sparse operand beside a Dask array: densified, then moved.
    import dask.array as da

    with pytest.raises(TypeError, match=r"b = xpvec\.to_device\(b\.toarray\(\), 'dask'\)") as e:
        xpvec.dot(da.from_array(np.ones((2, 40))), X)
    fixed = _run_advice(str(e.value), a=da.from_array(np.ones((2, 40))), b=X)
    np.testing.assert_allclose(xpvec.dot(fixed["a"], fixed["b"]).compute(), np.ones((2, 40)) @ X.toarray())
