"""Hostile inputs: empty stacks, operators of odd dtypes or shapes, non-canonical and read-only sparse matrices,
and the rounding of ``normalize``. Each class has a regression test with its right value and a sweep or property
test over the class (docs/design.md "Hostile inputs")."""

from __future__ import annotations

import math
import pickle
import warnings

import array_api_strict as xs
import ml_dtypes
import numpy as np
import pytest
import scipy.signal
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, aslinearoperator

import spectra
from spectra.methods.randomized import DEFAULT_BLOCK_SIZE

from .conftest import assert_interval, oracle, oracle_slack

METHODS = ["auto", "svd", "power", "lanczos", "randomized"]
ITERATIVE = ["power", "lanczos", "randomized"]
BACKENDS = ["numpy", "numba"]


def _quiet_norm(A, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spectra.ConvergenceWarning)
        return spectra.norm(A, **kw)


# ---------------------------------------------------------------------------------------------- 1. empty stacks
def _check_empty(r, batch, namespace):
    for x in (r.value, r.lower, r.upper, r.confidence, r.converged, r.iterations, r.matvecs):
        assert tuple(x.shape) == batch
        assert type(x).__module__.split(".")[0] == namespace
    assert np.asarray(r.converged).dtype == np.bool_
    assert np.asarray(r.iterations).dtype == np.int64 and np.asarray(r.matvecs).dtype == np.int64
    np.testing.assert_array_equal(np.asarray(r.upper), np.zeros(batch))


@pytest.mark.parametrize("shape", [(0, 3, 3), (0, 1, 1), (2, 0, 4, 4), (0, 5, 2), (3, 0, 1, 7)])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backend", ["numpy", "numba", "array_api", "strict"])
@pytest.mark.parametrize("return_vectors", [False, True])
def test_empty_stack(shape, method, backend, return_vectors):
    A = np.zeros(shape)
    if backend == "strict":
        A, backend, namespace = xs.asarray(A), "auto", "array_api_strict"
    else:
        namespace = "numpy"
    r = spectra.norm(A, method=method, backend=backend, return_vectors=return_vectors)
    batch = shape[:-2]
    assert np.linalg.norm(np.zeros(shape), 2, axis=(-2, -1)).shape == batch  # what NumPy returns
    _check_empty(r, batch, namespace)
    if return_vectors:
        assert tuple(r.u.shape) == (*batch, shape[-2]) and tuple(r.v.shape) == (*batch, shape[-1])
    W = spectra.normalize(A, method=method, backend=backend)
    assert tuple(W.shape) == shape


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    batch=st.lists(st.integers(0, 3), min_size=1, max_size=3),
    m=st.integers(0, 4),
    n=st.integers(0, 4),
    method=st.sampled_from(METHODS),
    backend=st.sampled_from(["numpy", "numba"]),
)
def test_empty_or_degenerate_stacks_have_the_stack_shape(batch, m, n, method, backend):
    """Any stack with a zero dimension anywhere: every field has the batch shape, the norm is exactly 0."""
    shape = (*batch, m, n)
    if math.prod(shape) != 0:
        shape = (0, *shape)
    r = spectra.norm(np.zeros(shape), method=method, backend=backend)
    _check_empty(r, shape[:-2], "numpy")
    assert np.all(np.asarray(r.confidence) == 1.0)


@pytest.mark.parametrize(
    "shape, method, kind",
    [
        (shape, method, kind)
        for shape in [(0, 3), (3, 0), (2, 0, 3), (2, 3, 0)]
        for method in METHODS
        for kind in ("dense", "strict", "csr", "coo", "operator")
        # sparse matrices and operators are 2-D, and svd takes dense input only
        if kind in ("dense", "strict") or (len(shape) == 2 and method != "svd")
    ],
)
def test_empty_matrix_vectors_empty_side_and_e1(shape, method, kind):
    """Regression: ``return_vectors=True`` on a (0, 3) matrix gave ``u = []`` and ``v = [0, 0, 0]``, and on a
    (3, 0) one ``u = [0, 0, 0]``: a vector neither empty nor of unit norm. The vector of a side of length 0 is
    empty and the other one is ``e_1`` (``A v = 0 = 0 u`` and ``A^H u = 0 = 0 v``), per matrix of a stack, for
    every input kind (docs/result.md, "Singular vectors")."""
    dense = np.zeros(shape)
    A = {
        "dense": lambda: dense,
        "strict": lambda: xs.asarray(dense),
        "csr": lambda: sp.csr_array(shape),
        "coo": lambda: sp.coo_array(shape),
        "operator": lambda: aslinearoperator(dense),
    }[kind]()
    r = spectra.norm(A, method=method, return_vectors=True, seed=0)
    *batch, m, n = shape
    for x, length in ((r.u, m), (r.v, n)):
        expected = np.broadcast_to(np.eye(max(length, 1))[0, :length], (*batch, length))
        assert tuple(x.shape) == expected.shape
        np.testing.assert_array_equal(np.asarray(x), expected)
        if length:
            np.testing.assert_array_equal(np.linalg.norm(np.asarray(x), axis=-1), 1.0)


# ---------------------------------------------------------------------------------------------- 2. operator dtypes
M_INT = np.array([[3, 1], [0, 2]])
NORM_M_INT = float(np.linalg.svd(M_INT.astype(np.float64), compute_uv=False)[0])  # 3.2566165379829...
D_INT = np.array([2, 3, 1])


def _diag_function_operator():
    """``diag(2, 3, 1)`` as functions: SciPy infers the dtype int64 from one product with an int8 vector."""
    return LinearOperator((3, 3), matvec=lambda x: D_INT * x, rmatvec=lambda x: D_INT * x)


@pytest.mark.parametrize("method", ["auto", *ITERATIVE])
@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_matrix_operator(method, backend):
    assert abs(NORM_M_INT - 3.2566165379829) < 1e-12
    op = aslinearoperator(M_INT)
    assert op.dtype.kind == "i"
    r = _quiet_norm(op, method=method, backend=backend, seed=0)
    assert_interval(r, NORM_M_INT, oracle_slack(M_INT))
    assert abs(r.value - NORM_M_INT) <= 1e-6 * NORM_M_INT or method == "power"


@pytest.mark.parametrize("method", ["auto", *ITERATIVE])
def test_integer_function_operator_exact_three(method):
    op = _diag_function_operator()
    assert op.dtype == np.int64  # SciPy's inference
    r = _quiet_norm(op, method=method, seed=0)
    assert r.lower <= 3.0 <= r.upper
    if method != "power":
        assert r.upper - r.lower <= 1e-12


@pytest.mark.parametrize("method", ITERATIVE)
def test_float16_operators(method):
    """float16 operators run in float32 (randomized's QR failed), and products rounded to float16 widen the pads."""
    r = _quiet_norm(aslinearoperator(M_INT.astype(np.float16)), method=method, seed=0)
    assert r.lower <= NORM_M_INT <= r.upper
    d16 = D_INT.astype(np.float16)
    op = LinearOperator(
        (3, 3), matvec=lambda x: (d16 * x).astype(np.float16), rmatvec=lambda x: (d16 * x).astype(np.float16)
    )
    assert op.dtype == np.float16
    r = _quiet_norm(op, method=method, seed=0)
    assert r.lower <= 3.0 <= r.upper  # an upper collapsed onto 2.99999821 with confidence 1 before


@pytest.mark.parametrize("method", ITERATIVE)
def test_an_operator_computing_in_float16_gets_a_finite_upper_bound(method):
    """Regression: an operator that rounds its input to float16 and multiplies in float16 got ``upper = inf``
    from lanczos (marked converged, confidence 1) on 53 of 60 such operators: the start vector's threshold
    ``t`` (2.3e-4 for N = 30, delta = 1e-3) was lowered by the products' unit roundoff (float16, 4.9e-4)
    instead of that of the vectors (float32), which left no probabilistic event. Oracle: LAPACK on the float16
    matrix in float64."""
    A16 = np.random.default_rng(0).standard_normal((50, 30)).astype(np.float16)
    op = LinearOperator(
        A16.shape,
        matvec=lambda x: A16 @ x.astype(np.float16),
        rmatvec=lambda y: A16.T @ y.astype(np.float16),
        dtype=np.float16,
    )
    truth = oracle(A16.astype(np.float64))
    for seed in range(4):
        r = _quiet_norm(op, method=method, seed=seed)
        assert r.lower <= truth <= r.upper < np.inf
        if method != "power":  # power stops on its residual and reports the honest, wider interval
            assert r.upper < 1.5 * truth


OPERATOR_DTYPES = [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.float16, np.float32, np.float64, np.complex64]


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from(OPERATOR_DTYPES),
    shape=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    seed=st.integers(0, 2**16),
    form=st.sampled_from(["aslinearoperator", "functions", "functions-dtype"]),
    method=st.sampled_from(ITERATIVE),
)
def test_operator_dtypes_property(dtype, shape, seed, form, method):
    """Every operator dtype gives an interval containing the LAPACK norm of the stored matrix."""
    rng = np.random.default_rng(seed)
    M = rng.integers(-4, 5, size=shape)
    if np.dtype(dtype).kind == "b":
        M = M > 0
    elif np.dtype(dtype).kind == "u":
        M = np.abs(M)
    M = M.astype(dtype)
    if form == "aslinearoperator":
        op = aslinearoperator(M)
    else:
        kw = {"dtype": dtype} if form == "functions-dtype" else {}
        op = LinearOperator(shape, matvec=lambda x: M @ x, rmatvec=lambda y: M.conj().T @ y, **kw)
    truth = oracle(M)
    r = _quiet_norm(op, method=method, seed=seed)
    slack = oracle_slack(M) + (1e-3 if np.dtype(dtype) == np.float16 else 0.0)
    assert_interval(r, truth, slack)


# ---------------------------------------------------------------------------------------------- 5. sparse input
def _fingerprint(A):
    """Everything about a sparse object: its pickle (arrays, flags' caches, attributes) and writeability."""
    arrays = {
        k: getattr(A, k) for k in ("data", "indices", "indptr", "row", "col", "coords", "offsets") if hasattr(A, k)
    }
    flags = {k: v.flags.writeable for k, v in arrays.items() if isinstance(v, np.ndarray)}
    return pickle.dumps(A), flags, sorted(vars(A))


def _identity_with_duplicates(cls):
    return cls((np.array([3.0, -2.0, 1.0]), np.array([0, 0, 1]), np.array([0, 2, 3])), shape=(2, 2))


@pytest.mark.parametrize("cls", [sp.csr_array, sp.csr_matrix, sp.csc_array, sp.csc_matrix])
@pytest.mark.parametrize("method", ["auto", *ITERATIVE])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("readonly", [False, True])
def test_noncanonical_identity(cls, method, backend, readonly):
    A = _identity_with_duplicates(cls)
    if readonly:
        for k in ("data", "indices", "indptr"):
            getattr(A, k).flags.writeable = False
    before = _fingerprint(A)
    r = _quiet_norm(A, method=method, backend=backend, seed=0)
    assert r.lower <= 1.0 <= r.upper and abs(r.value - 1.0) < 1e-12
    assert _fingerprint(A) == before
    assert A.nnz == 3 and A.indices.tolist() == [0, 0, 1]


def _sparse_variants(M, rng, fmt, cls_kind):
    """``M`` as format ``fmt`` (array or matrix class), with duplicated and shuffled entries where the format allows."""
    cls = getattr(sp, f"{fmt}_{cls_kind}")
    r, c = np.nonzero(M)
    v = M[r, c]
    if fmt in ("coo", "csr", "csc") and len(v):
        split = rng.uniform(-1, 2, size=len(v))  # each entry as a sum of two stored duplicates
        r, c, v = np.concatenate([r, r]), np.concatenate([c, c]), np.concatenate([v * split, v * (1 - split)])
        perm = rng.permutation(len(v))
        r, c, v = r[perm], c[perm], v[perm]
    if fmt == "coo":
        return cls((v, (r, c)), shape=M.shape)
    if fmt in ("csr", "csc"):
        major, minor = (r, c) if fmt == "csr" else (c, r)
        order = np.argsort(major, kind="stable")  # grouped by line, unsorted (and duplicated) inside each
        indptr = np.concatenate([[0], np.cumsum(np.bincount(major, minlength=M.shape[fmt == "csc"]))])
        return cls((v[order], minor[order], indptr), shape=M.shape)
    return cls(sp.csr_array(M).asformat(fmt))


@pytest.mark.parametrize("fmt", ["csr", "csc", "bsr", "coo", "lil", "dok", "dia"])
@pytest.mark.parametrize("cls_kind", ["array", "matrix"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_sweep_never_modified_readonly_ok(fmt, cls_kind, backend):
    """Every format, class and backend, duplicates/unsorted indices, read-only arrays: right norm, A untouched."""
    rng = np.random.default_rng(7)
    cases = 0
    trials = 2 if backend == "numba" else 6  # numba's threads on 9 x 6 matrices are slow on a loaded machine
    for trial in range(trials):
        M = sp.random(9, 6, density=0.4, random_state=trial).toarray()
        A = _sparse_variants(M, rng, fmt, cls_kind)
        for k in ("data", "indices", "indptr", "row", "col", "offsets"):
            if isinstance(getattr(A, k, None), np.ndarray) and trial % 2:
                getattr(A, k).flags.writeable = False
        before = _fingerprint(A)
        for method in ITERATIVE:
            r = _quiet_norm(A, method=method, backend=backend, seed=trial)
            assert_interval(r, oracle(M), oracle_slack(M) + 1e-12)
            cases += 1
        W = spectra.normalize(A, method="lanczos", backend=backend, seed=trial)
        assert type(W) is type(A) and oracle(W.toarray()) <= 1.0
        assert _fingerprint(A) == before
    assert cases == 3 * trials


@pytest.mark.parametrize("backend", BACKENDS)
def test_bsr_with_duplicate_blocks(backend):
    data = np.arange(1.0, 13.0).reshape(3, 2, 2)
    B = sp.bsr_array((data, np.array([1, 1, 0]), np.array([0, 2, 3])), shape=(4, 4))  # block (0, 1) twice
    for k in ("data", "indices", "indptr"):
        getattr(B, k).flags.writeable = False
    dense = np.zeros((4, 4))
    dense[0:2, 2:4] = data[0] + data[1]
    dense[2:4, 0:2] = data[2]
    before = _fingerprint(B)
    for method in ITERATIVE:
        r = _quiet_norm(B, method=method, backend=backend, seed=0)
        assert_interval(r, oracle(dense), oracle_slack(dense))
    assert _fingerprint(B) == before


def test_sparse_memory_mapped(tmp_path):
    A = _identity_with_duplicates(sp.csr_array)
    maps = {}
    for k in ("data", "indices", "indptr"):
        np.save(tmp_path / f"{k}.npy", getattr(A, k))
        maps[k] = np.load(tmp_path / f"{k}.npy", mmap_mode="r")
    B = sp.csr_array((maps["data"], maps["indices"], maps["indptr"]), shape=(2, 2))
    assert not B.data.flags.writeable
    for backend in BACKENDS:
        r = spectra.norm(B, method="lanczos", backend=backend, seed=0)
        assert r.lower <= 1.0 <= r.upper
    assert B.nnz == 3


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=st.integers(1, 8),
    n=st.integers(1, 8),
    entries=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(-3, 3)), max_size=30),
    fmt=st.sampled_from(["csr", "csc"]),
    backend=st.sampled_from(BACKENDS),
)
def test_compressed_from_raw_arrays_property(m, n, entries, fmt, backend):
    """Compressed matrices built from raw (data, indices, indptr) with any order and duplicates."""
    entries = [(i % m, j % n, float(v)) for i, j, v in entries]
    M = np.zeros((m, n))
    for i, j, v in entries:
        M[i, j] += v
    major = [e[0] if fmt == "csr" else e[1] for e in entries]
    order = np.argsort(major, kind="stable")
    minor = np.array([entries[p][1] if fmt == "csr" else entries[p][0] for p in order], dtype=np.int32)
    data = np.array([entries[p][2] for p in order])
    indptr = np.concatenate(
        [[0], np.cumsum(np.bincount(np.array(major, dtype=int), minlength=m if fmt == "csr" else n))]
    )
    A = getattr(sp, f"{fmt}_array")((data, minor, indptr.astype(np.int32)), shape=(m, n))
    for arr in (A.data, A.indices, A.indptr):
        arr.flags.writeable = False
    before = _fingerprint(A)
    r = _quiet_norm(A, method="lanczos", backend=backend, seed=0)
    assert_interval(r, oracle(M), oracle_slack(M) + 1e-13)
    assert _fingerprint(A) == before


def test_invalid_compressed_structure_is_a_clear_error():
    A = sp.csr_array((np.array([1.0]), np.array([5]), np.array([0, 1, 1])), shape=(2, 2))  # column 5 of 2
    with pytest.raises(ValueError, match="not a valid CSR matrix"):
        spectra.norm(A, method="lanczos")


# ---------------------------------------------------------------------------------------------- 6. normalize
def _norm64(W) -> np.ndarray:
    """LAPACK spectral norm of the stored entries, in float64 (complex128), per matrix."""
    W = np.asarray(W.float() if hasattr(W, "float") and hasattr(W, "dtype") and "torch" in str(type(W)) else W)
    if W.dtype.kind == "V":
        W = W.astype(np.float32)
    return oracle(W)


def _slack64(W) -> float:
    """Only float64 output needs room for the float64 measurement's own rounding."""
    return oracle_slack(W) if np.dtype(W.dtype) in (np.float64, np.complex128) else 0.0


NORMALIZE_DTYPES = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64, np.complex64, np.complex128]


def test_normalize_float16_gaussian_regression():
    """The issue's example: about half of these came out with ||W||_2 up to 1.0003."""
    for seed in range(40):
        A = np.random.default_rng(seed).standard_normal((64, 32)).astype(np.float16)
        W = spectra.normalize(A)
        assert W.dtype == np.float16
        assert _norm64(W) <= 1.0, seed


def test_normalize_float32_near_rank_one_power_regression():
    for seed in range(40):
        rng = np.random.default_rng(seed)
        A = np.outer(rng.standard_normal(40), rng.standard_normal(30)) + 1e-6 * rng.standard_normal((40, 30))
        A = A.astype(np.float32)
        W = _quiet_normalize(A, method="power", seed=seed)
        assert _norm64(W) <= 1.0, seed


def _quiet_normalize(A, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spectra.ConvergenceWarning)
        return spectra.normalize(A, **kw)


def _matrix(kind: str, dtype, rng, shape=(48, 24)):
    m, n = shape
    if kind == "gaussian":
        A = rng.standard_normal(shape)
    elif kind == "rank_one":
        A = np.outer(rng.standard_normal(m), rng.standard_normal(n)) + 1e-7 * rng.standard_normal(shape)
    elif kind == "nonnegative":
        A = rng.uniform(0, 1, shape)
    else:  # a few large entries among small ones
        A = rng.standard_normal(shape) * np.where(rng.uniform(size=shape) < 0.05, 1e3, 1e-2)
    if np.dtype(dtype).kind == "c":
        A = A + 1j * rng.standard_normal(shape)
    return A.astype(dtype)


def test_normalize_sweep_zero_misses():
    """Every dtype, matrix kind and method: ||W||_2 <= 1 whenever lower <= ||A||_2 <= upper; W close to that."""
    checked = 0
    for dtype in NORMALIZE_DTYPES:
        info = ml_dtypes.finfo(dtype) if dtype is ml_dtypes.bfloat16 else np.finfo(dtype)
        u = float(info.eps) / 2
        for kind in ["gaussian", "rank_one", "nonnegative", "spiky"]:
            for method in ["svd", "power", "lanczos"]:
                for seed in range(6):
                    rng = np.random.default_rng([seed, checked])
                    A = _matrix(kind, dtype, rng)
                    kw = {"method": method} if method == "svd" else {"method": method, "seed": seed}
                    r = _quiet_norm(A, **kw)
                    truth = _norm64(A)
                    W = _quiet_normalize(A, **kw)
                    assert W.dtype == A.dtype
                    w = _norm64(W)
                    if r.lower <= truth <= r.upper:
                        assert w <= 1.0 + _slack64(W), (dtype, kind, method, seed, w)
                    # documented loss: ||W|| >= (lower / upper) (1 - u (3 + 2 sqrt(min(m, n))))
                    loss = u * (3 + 2 * math.sqrt(min(A.shape))) + 1e-12
                    assert w >= (r.lower / r.upper) * (1 - loss) - _slack64(W), (dtype, kind, method, seed, w)
                    checked += 1
    assert checked == 6 * 4 * 3 * 6


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.complex64, "strict"])
def test_normalize_stacks(dtype):
    rng = np.random.default_rng(3)
    A = _matrix("gaussian", np.float32 if dtype == "strict" else dtype, rng, shape=(30, 20))
    A = np.stack([A, 2 * A, A[::-1]])
    if dtype == "strict":
        A = xs.asarray(A)
    W = spectra.normalize(A)
    assert W.dtype == A.dtype and W.shape == A.shape and type(W) is type(A)
    assert np.all(_norm64(np.asarray(W)) <= 1.0)


@pytest.mark.parametrize(
    ("A", "expected_first"),
    [
        (np.full((4, 4), 3e38, np.float32), 0.25),  # norm 1.2e39: beyond float32, 1/upper subnormal in float32
        (np.full((4, 4), 1e-310), 0.25),  # subnormal float64: 1/upper overflows float64
        (np.full((4, 4), 1e-6, np.float16), 0.25),  # 1/upper beyond float16's range
        (np.full((4, 4), 60000, np.float16), 0.25),
        # regression: a norm beyond float64 (6e308) has upper = inf, and A came back unchanged (norm inf)
        (np.full((4, 4), 1.5e308), 0.25),
        (np.full((4, 4), 1.5e308, np.complex128), 0.25),
    ],
)
def test_normalize_outside_the_output_range(A, expected_first):
    W = spectra.normalize(A, method="lanczos", seed=0)
    assert W.dtype == A.dtype and np.all(np.isfinite(W))
    assert _norm64(W) <= 1.0
    assert abs(float(np.real(W[0, 0])) - expected_first) <= 2e-3 * expected_first
    S = spectra.normalize(np.stack([A, np.eye(4, dtype=A.dtype)]), method="lanczos", seed=0)  # matrix by matrix
    assert _norm64(S[0]) <= 1.0 and abs(float(np.real(S[0, 0, 0])) - expected_first) <= 2e-3 * expected_first
    assert 0.99 <= _norm64(S[1]) <= 1.0


def test_normalize_of_an_operator_without_a_finite_bound_raises():
    """Regression: an operator whose norm is beyond float64 (its products overflow, so the upper bound is inf under
    ``check_finite=False``) came back unchanged, a factor of 1 and a norm of 6e308."""
    op = aslinearoperator(np.full((4, 4), 1.5e308))
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(ValueError, match="no factor keeps the result"):
        spectra.normalize(op, method="lanczos", seed=0, check_finite=False)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_normalize_keeps_a_numpy_matrix():
    """Regression: ``normalize(np.matrix)`` raised "shapes (3,3) and (1,1) not aligned" (``*`` is the matrix
    product of ``np.matrix``); it scales the entries and returns a ``np.matrix``, as ``norm`` accepts one."""
    M = np.asmatrix(np.diag([3.0, 2.0, 1.0]))
    W = spectra.normalize(M, method="svd")
    assert type(W) is np.matrix and _norm64(np.asarray(W)) <= 1.0
    np.testing.assert_allclose(np.asarray(W), np.diag([1.0, 2.0 / 3.0, 1.0 / 3.0]), rtol=1e-14)


def test_normalize_sparse_integer_and_lists():
    S = sp.random(200, 100, density=0.05, random_state=1, format="coo", dtype=np.float32)
    W = spectra.normalize(S)
    assert type(W) is type(S) and W.dtype == np.float32 and oracle(W.toarray()) <= 1.0
    W = spectra.normalize(np.array([[3, 1], [0, 2]]))
    assert W.dtype == np.float64 and oracle(W) <= 1.0 + oracle_slack(W)
    W = spectra.normalize([[1j, 0], [0, 1]])
    assert W.dtype == np.complex128 and oracle(W) <= 1.0 + oracle_slack(W)
    op = spectra.normalize(aslinearoperator(np.diag([4.0, 1.0])))
    assert float(np.max(np.abs(op.matvec(np.array([1.0, 0.0]))))) <= 1.0


# ---------------------------------------------------------------------------------------------- 8. caller's errors
N_OP = 6
_rng = np.random.default_rng(0)
_d = _rng.standard_normal(N_OP)
_h = np.array([1.0, -2.0, 0.5])


def _toeplitz_of(h, n):
    T = np.zeros((n + len(h) - 1, n))
    for i in range(n):
        T[i : i + len(h), i] = h
    return T


def _dft_scaled(n):
    C = np.exp(-2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n) / np.sqrt(n)
    return np.diag(np.arange(1, n + 1)) @ C


ONE_D_OPERATORS = {
    # broadcasting: d * x with x of shape (n, 1) is (n, n): "cannot reshape array of size 36 into shape (6,1)"
    "broadcast": (lambda x: _d * x, lambda y: _d * y, None, np.diag(_d)),
    "convolve": (lambda x: np.convolve(x, _h), lambda y: np.correlate(y, _h, "valid"), None, _toeplitz_of(_h, N_OP)),
    "fft": (
        lambda x: np.fft.fft(x, norm="ortho") * np.arange(1, N_OP + 1),
        lambda y: np.fft.ifft(np.arange(1, N_OP + 1) * y, norm="ortho"),
        complex,
        _dft_scaled(N_OP),
    ),
    "diff": (
        np.diff,
        lambda y: np.concatenate([[-y[0]], -np.diff(y), [y[-1]]]),
        None,
        np.diff(np.eye(N_OP), axis=0),
    ),
    # silently wrong before: lfilter filters along the last axis, a no-op on (n, 1) columns
    "lfilter": (
        lambda x: scipy.signal.lfilter([1.0, 0.5], [1.0], x),
        lambda y: scipy.signal.lfilter([1.0, 0.5], [1.0], y[::-1])[::-1],
        None,
        np.eye(N_OP) + 0.5 * np.eye(N_OP, k=-1),
    ),
    "cumsum": (
        lambda x: np.cumsum(x, axis=-1),
        lambda y: np.cumsum(y[::-1], axis=-1)[::-1],
        None,
        np.tril(np.ones((N_OP, N_OP))),
    ),
}


@pytest.mark.parametrize("name", sorted(ONE_D_OPERATORS))
@pytest.mark.parametrize("method", ITERATIVE)
def test_operators_written_for_1d_vectors(name, method):
    matvec, rmatvec, dtype, dense = ONE_D_OPERATORS[name]
    op = LinearOperator(dense.shape, matvec=matvec, rmatvec=rmatvec, dtype=dtype)
    r = _quiet_norm(op, method=method, seed=1)
    assert_interval(r, oracle(dense), oracle_slack(dense) + 1e-12)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    seed=st.integers(0, 2**16),
    form=st.sampled_from(["1d-only", "2d-only", "matmat", "broken-matmat", "sum-with-1d", "adjoint-of-1d"]),
    method=st.sampled_from(ITERATIVE),
)
def test_operator_forms_property(shape, seed, form, method):
    """However the caller wrote the products, the interval contains the true norm."""
    M = np.random.default_rng(seed).standard_normal(shape)

    def only(ndim, f):
        def g(x):
            if np.ndim(x) != ndim:
                raise ValueError(f"expects {ndim}-D input")
            return f(x)

        return g

    one_d = LinearOperator(shape, matvec=only(1, lambda x: M @ x), rmatvec=only(1, lambda y: M.T @ y))
    truth = oracle(M)
    if form == "1d-only":
        op = one_d
    elif form == "2d-only":
        op = LinearOperator(shape, matvec=only(2, lambda x: M @ x), rmatvec=only(2, lambda y: M.T @ y), dtype=float)
    elif form == "matmat":
        op = LinearOperator(shape, matvec=lambda x: M @ x, rmatvec=lambda y: M.T @ y, matmat=lambda X: M @ X)
    elif form == "broken-matmat":  # a matmat that returns the wrong shape for blocks
        op = LinearOperator(shape, matvec=lambda x: M @ x, rmatvec=lambda y: M.T @ y, matmat=lambda X: M @ X[:, :1])
    elif form == "sum-with-1d":
        op = one_d + aslinearoperator(M)
        truth = 2 * truth
    else:
        op = one_d.H
    r = _quiet_norm(op, method=method, seed=seed)
    assert_interval(r, truth, oracle_slack(M) + 1e-12)


_A_SCRATCH = np.random.default_rng(0).standard_normal((50, 30))
_CENTRE = np.eye(30) - 1.0 / 30


def _centring_matvec(x):
    x -= x.mean(axis=0)  # in place: centres the caller's vector (the map A P, P the centring projector)
    return _A_SCRATCH @ x


def _centring_rmatvec(y):
    z = _A_SCRATCH.T @ y
    return z - z.mean(axis=0)


def _zeroing_matvec(x):
    y = _A_SCRATCH @ x
    x[...] = 0  # the input used as scratch space after the product
    return y


def _zeroing_rmatvec(y):
    x = _A_SCRATCH.T @ y
    y[...] = 0
    return x


_RETURNED = np.empty(50)


def _buffer_matvec(x):
    np.matmul(_A_SCRATCH, x, out=_RETURNED)  # the same buffer returned on every call
    return _RETURNED


SCRATCH_OPERATORS = {
    # oracle: the dense matrix of each map
    "centres its input in place": (dict(matvec=_centring_matvec, rmatvec=_centring_rmatvec), _A_SCRATCH @ _CENTRE),
    "same, as matmat": (
        dict(matvec=_centring_matvec, rmatvec=_centring_rmatvec, matmat=_centring_matvec, rmatmat=_centring_rmatvec),
        _A_SCRATCH @ _CENTRE,
    ),
    "zeroes its input": (dict(matvec=_zeroing_matvec, rmatvec=_zeroing_rmatvec), _A_SCRATCH),
    "reuses its output buffer": (dict(matvec=_buffer_matvec, rmatvec=lambda y: _A_SCRATCH.T @ y), _A_SCRATCH),
}


@pytest.mark.parametrize("name", sorted(SCRATCH_OPERATORS))
@pytest.mark.parametrize("method", ITERATIVE)
def test_operators_that_use_their_input_as_scratch_space(name, method):
    """Regression: an operator that changed its input vector changed spectra's Krylov basis under it.
    ``A P`` with ``x -= x.mean()`` in ``matvec`` (norm 12.4542969): randomized returned
    ``[12.454143, 12.454143]`` at confidence 1.0 on 14 of 40 seeds, lanczos ``upper = inf`` on 86 of 100; an
    operator zeroing its input after the product raised ``ZeroDivisionError``. Products now take a private
    copy of the vectors, and what they return is copied."""
    kw, dense = SCRATCH_OPERATORS[name]
    op = LinearOperator(dense.shape, dtype=float, **kw)
    truth = oracle(dense)
    for seed in range(5):
        r = _quiet_norm(op, method=method, seed=seed)
        assert_interval(r, truth, oracle_slack(dense))
        assert r.upper < np.inf


def test_an_operator_written_for_columns_that_asserts_its_shape():
    """Regression: ``assert x.ndim == 2`` in an operator written for ``(n, 1)`` columns escaped as a bare
    AssertionError instead of the column form being tried, as it is for an IndexError."""

    def column_only(M):
        def f(x):
            assert x.ndim == 2, "expects a column"
            return M @ x

        return f

    op = LinearOperator(
        _A_SCRATCH.shape, matvec=column_only(_A_SCRATCH), rmatvec=column_only(_A_SCRATCH.T), dtype=float
    )
    assert_interval(_quiet_norm(op, seed=0), oracle(_A_SCRATCH), oracle_slack(_A_SCRATCH))


@pytest.mark.parametrize("method", ITERATIVE)
def test_an_operator_with_only_block_products(method):
    """Regression: ``LinearOperator(shape, matvec=None, matmat=f, rmatmat=g)`` (the guide: "matvec and rmatvec
    (or matmat/rmatmat)") was refused: single products went through the missing matvec ("'NoneType' object is
    not callable"). A declared block product now takes single columns too."""
    M = _A_SCRATCH
    op = LinearOperator(M.shape, matvec=None, matmat=lambda X: M @ X, rmatmat=lambda Y: M.T @ Y, dtype=float)
    assert_interval(_quiet_norm(op, method=method, seed=0), oracle(M), oracle_slack(M))


def test_missing_rmatvec_names_it():
    op = LinearOperator((4, 3), matvec=lambda x: np.arange(12.0).reshape(4, 3) @ x, dtype=float)
    with pytest.raises(TypeError, match="rmatvec"):
        spectra.norm(op)


def test_wrong_output_size_says_what_is_needed():
    op = LinearOperator((4, 3), matvec=lambda x: np.ones(5), rmatvec=lambda y: np.ones(3), dtype=float)
    with pytest.raises(ValueError, match=r"matvec failed .* needs 4 values back"):
        spectra.norm(op)


def test_complex_products_from_a_real_operator():
    M = np.arange(12.0).reshape(4, 3)
    op = LinearOperator((4, 3), matvec=lambda x: 1j * (M @ x), rmatvec=lambda y: M.T @ y, dtype=float)
    with pytest.raises(ValueError, match="dtype=complex"):
        spectra.norm(op)


def test_operator_errors_of_its_own_propagate():
    def fail(x):
        raise RuntimeError("solver diverged")

    with pytest.raises(RuntimeError, match="solver diverged"):
        spectra.norm(LinearOperator((3, 3), matvec=fail, rmatvec=fail, dtype=float))


class _SolverFailed(ValueError):
    """An operator's own error that happens to subclass ValueError (an inner solve that did not converge)."""


@pytest.mark.parametrize("error", [_SolverFailed, ValueError, IndexError, TypeError])
@pytest.mark.parametrize("at", [1, 5])
def test_an_operators_own_error_propagates_unchanged(error, at):
    """Regression: an operator's ValueError/TypeError/IndexError (subclasses too, at any product) came back as
    spectra's "could not be applied" ValueError about shapes (``except SolverFailed:`` no longer caught it), and
    a failing first product was called a second time with a column. Now a subclass propagates as raised, matvec
    called once; so does a built-in error of a form that worked before. A built-in error on the first product
    may be about the shape: the column form is tried then, and both failing is spectra's shape message."""
    M = _A_SCRATCH
    calls = []

    def matvec(x):
        calls.append(x.shape)
        if len(calls) >= at:
            raise error("inner solve did not converge")
        return M @ x

    op = LinearOperator(M.shape, matvec=matvec, rmatvec=lambda y: M.T @ y, dtype=float)
    if error is not _SolverFailed and at == 1:  # the first product: maybe a shape error
        with pytest.raises(ValueError, match="could not be applied") as info:
            spectra.norm(op, seed=0)
        assert type(info.value.__cause__) is error and len(calls) == 2
        return
    with pytest.raises(error, match="^inner solve did not converge$") as info:
        spectra.norm(op, seed=0)
    assert type(info.value) is error and len(calls) == at  # once per product
    assert all(shape == (M.shape[1],) for shape in calls)
    calls.clear()
    ok = LinearOperator(
        M.shape, matvec=lambda x: matvec(x) if len(calls) < at - 1 else M @ x, rmatvec=lambda y: M.T @ y
    )
    assert_interval(_quiet_norm(ok, seed=0), oracle(M), oracle_slack(M))


def test_a_declared_block_products_own_error_propagates_unchanged():
    """The same for ``matmat``: its own error is not taken for a shape error (it worked before)."""
    M = _A_SCRATCH
    calls = []

    def matmat(X):
        calls.append(X.shape)
        if len(calls) >= 3:
            raise _SolverFailed("inner solve did not converge")
        return M @ X

    op = LinearOperator(M.shape, matvec=None, matmat=matmat, rmatmat=lambda Y: M.T @ Y, dtype=float)
    with pytest.raises(_SolverFailed):
        spectra.norm(op, method="randomized", seed=0)
    assert len(calls) == 3


def test_a_wrong_output_size_at_a_later_product_keeps_the_shape_message():
    M = _A_SCRATCH
    calls = [0]

    def matvec(x):
        calls[0] += 1
        return M @ x if calls[0] < 4 else np.ones(M.shape[0] + 1)

    op = LinearOperator(M.shape, matvec=matvec, rmatvec=lambda y: M.T @ y, dtype=float)
    with pytest.raises(ValueError, match=rf"matvec failed .* needs {M.shape[0]} values back"):
        spectra.norm(op, seed=0)


_M = np.random.default_rng(5).standard_normal((5, 4))
_C = _M + 1j * np.random.default_rng(6).standard_normal((5, 4))
WRONG_ADJOINTS = {
    "rmatvec is matvec": LinearOperator((4, 4), matvec=lambda x: _M[:4] @ x, rmatvec=lambda y: _M[:4] @ y, dtype=float),
    "transpose without conj": LinearOperator(
        (5, 4), matvec=lambda x: _C @ x, rmatvec=lambda y: _C.T @ y, dtype=complex
    ),
    "scale factor missing": LinearOperator(
        (5, 4), matvec=lambda x: _M @ x, rmatvec=lambda y: 2 * _M.T @ y, dtype=float
    ),
    "wide, transpose without conj": LinearOperator(
        (4, 5), matvec=lambda x: _C.T.conj() @ x, rmatvec=lambda y: _C.conj() @ y, dtype=complex
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG_ADJOINTS))
@pytest.mark.parametrize("method", ITERATIVE)
def test_wrong_adjoint_is_named(name, method):
    """A wrong rmatvec gave confident wrong intervals; the first step's products recognise it."""
    with pytest.raises(ValueError, match="rmatvec is not the adjoint"):
        spectra.norm(WRONG_ADJOINTS[name], method=method, seed=0)


def test_wrong_adjoints_are_caught_at_the_documented_rate():
    """Over 299 random wrong adjoints the test catches at least 99% (docs/design.md: 3 misses in 2983 seeds;
    the single test pair it used before missed 8 of these 299, and 162 of the 2983)."""
    caught = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        m, n = rng.integers(3, 60, size=2)
        M = rng.standard_normal((m, n))
        P = rng.permutation(n)  # a wrong adjoint: the transpose with its output permuted
        op = LinearOperator((m, n), matvec=lambda x, M=M: M @ x, rmatvec=lambda y, M=M, P=P: (M.T @ y)[P])
        if np.all(P == np.arange(n)):
            continue
        try:
            _quiet_norm(op, method="lanczos", seed=seed, maxiter=2)
        except ValueError as exc:
            assert "not the adjoint" in str(exc)
            caught += 1
    assert caught >= 296


@pytest.mark.parametrize("method", ITERATIVE)
def test_adjoint_check_costs_no_product_and_can_be_turned_off(method):
    """The test reuses the scale probe and the first Gram step: a warm-started maxiter=1 call takes the probe, the
    step's products and the certificate's, and ``check_adjoint=False`` accepts a wrong adjoint at the same cost."""
    M = np.random.default_rng(3).standard_normal((50, 30))
    calls = {"A": 0, "AH": 0}

    def count(name, f):
        def g(x):
            calls[name] += 1
            return f(x)

        return g

    op = LinearOperator(M.shape, count("A", lambda x: M @ x), rmatvec=count("AH", lambda y: M.T @ y), dtype=float)
    v0 = None if method == "randomized" else np.ones(30)  # randomized takes no warm start
    r = spectra.norm(op, method=method, seed=1, maxiter=1, v0=v0, block_size=None)
    b = DEFAULT_BLOCK_SIZE if method == "randomized" else 1
    # the scale probe, one Gram step, the certificate: no product for the adjoint test
    assert calls == {"A": 1 + b + 1, "AH": b} and r.matvecs == 2 + 2 * b
    wrong = LinearOperator(M.shape, matvec=lambda x: M @ x, rmatvec=lambda y: 2.0 * (M.T @ y), dtype=float)
    with pytest.raises(ValueError, match="check_adjoint=False"):
        spectra.norm(wrong, method=method, seed=1, maxiter=1)
    r = spectra.norm(wrong, method=method, seed=1, maxiter=1, check_adjoint=False)
    assert r.matvecs == 2 + 2 * b
    with pytest.raises(TypeError, match="check_adjoint must be True or False"):
        spectra.norm(op, check_adjoint=None)


def test_adjoint_check_without_a_gram_step_takes_its_own_product():
    """The fallback for a caller that took no Gram step: one product with A^H and the probe."""
    from spectra._operand import make_operand
    from spectra._validate import standardize_matrix
    from spectra.backends.numpy import NumPyBackend

    M = np.random.default_rng(4).standard_normal((20, 12))
    for rm, fails in ((lambda y: M.T @ y, False), (lambda y: -(M.T @ y), True)):
        A, kind = standardize_matrix(LinearOperator(M.shape, matvec=lambda x: M @ x, rmatvec=rm, dtype=float))
        op = make_operand(A, kind, NumPyBackend(), check_finite=True, uses_gram=True)
        assert op.adjoint_probe is not None and op.matvecs == 1
        if fails:
            with pytest.raises(ValueError, match="not the adjoint"):
                op.settle_adjoint_check()
        else:
            op.settle_adjoint_check()
        assert op.adjoint_probe is None and op.matvecs == 2
        op.settle_adjoint_check()  # settled once: no further product
        assert op.matvecs == 2


# derandomized, like every hypothesis test here: the intervals checked are partly probabilistic (confidence 0.999),
# so fresh random examples on every run miss at that rate; a complex64 16 x 18 example failed CI once (its miss
# rate over 3000 start seeds: 5, against 3 expected at 0.001). The coverage tests measure the rate.
@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64, np.complex64, np.complex128]),
    decay=st.sampled_from([0.0, 1.0, 8.0]),
)
def test_true_adjoints_are_accepted(shape, seed, dtype, decay):
    """No false alarm on correct operators, in single precision, with rank-deficient or ill-conditioned A."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal(shape) * np.logspace(0, -decay, shape[1])
    if np.dtype(dtype).kind == "c":
        M = M + 1j * rng.standard_normal(shape)
    M = M.astype(dtype)
    op = LinearOperator(shape, matvec=lambda x: M @ x, rmatvec=lambda y: M.conj().T @ y, dtype=dtype)
    r = _quiet_norm(op, method="lanczos", seed=seed)
    assert_interval(r, oracle(M), 1e-12 if np.finfo(dtype).eps < 1e-10 else 1e-5)


def _diag_roll(d, dtype):
    """``A = diag(d) P`` (``P`` a cyclic shift), ``||A||_2 = max |d|``, products in ``dtype``."""
    d = d.astype(dtype)
    return lambda x: d * np.roll(x.astype(dtype), 1), lambda y: np.roll(d * y.astype(dtype), -1)


def _low_precision_operators():
    """(name, matvec, true rmatvec, working dtype, dense matrix) where the old threshold 100 u (m + n) exceeded 1."""
    n = 100_000  # float32: 100 u (m + n) = 1.2
    d = np.random.default_rng(1).uniform(0.5, 1, n)
    d[7] = 2.0
    yield "float32 diag-shift 1e5", *_diag_roll(d, np.float32), np.float32, None
    M = np.random.default_rng(0).standard_normal((50, 50)).astype(np.float16)  # float16 products: 4.9
    yield "float16 50 x 50", lambda x: M @ x.astype(np.float16), lambda y: M.T @ y.astype(np.float16), np.float32, M
    d16 = np.random.default_rng(2).uniform(0.5, 1, 300)
    yield "float16 diag-shift 300", *_diag_roll(d16, np.float16), np.float32, np.diag(d16.astype(np.float16))


@pytest.mark.parametrize("method", ITERATIVE)
@pytest.mark.parametrize("wrong", ["matvec", "zero", "half", "double"])
def test_wrong_adjoints_are_caught_in_low_precision(method, wrong):
    """Regression: the threshold ``max(0.05, 100 u (m + n))`` exceeded 1 for float32 from m + n = 1.7e5 and for
    float16 products from m + n = 20, which switched the test off: with ``rmatvec = matvec`` a float32 operator
    of norm 2 got [0.76, 1.09] at confidence 0.999, and a zero rmatvec [0, 0]. The threshold is now at most
    ``ADJOINT_TOL_MAX = 0.25``: rmatvec = matvec, 0, A^H / 2 and 2 A^H are caught at every size."""
    for name, mv, rmv, dtype, _ in _low_precision_operators():
        n = 100_000 if "1e5" in name else (50 if "50" in name else 300)
        bad = {
            "matvec": mv,
            "zero": lambda y, n=n, dtype=dtype: np.zeros(n, dtype),
            "half": lambda y, rmv=rmv: 0.5 * rmv(y),
            "double": lambda y, rmv=rmv: 2.0 * rmv(y),
        }[wrong]
        op = LinearOperator((n, n), matvec=mv, rmatvec=bad, dtype=dtype)
        with pytest.raises(ValueError, match="rmatvec is not the adjoint"):
            _quiet_norm(op, method=method, seed=0, maxiter=5)


@pytest.mark.parametrize("method", ITERATIVE)
def test_true_adjoints_in_low_precision_are_accepted(method):
    """No false alarm where the threshold now stays at 0.05 to 0.25: the same operators with their true adjoint
    give intervals that contain the norm (oracle: ``numpy.linalg.norm`` of the matrix as rounded, 2 for the
    diagonal-shift one)."""
    for name, mv, rmv, dtype, dense in _low_precision_operators():
        n = 100_000 if "1e5" in name else (50 if "50" in name else 300)
        truth = 2.0 if dense is None else oracle(dense.astype(np.float64))
        for seed in range(3):
            r = _quiet_norm(LinearOperator((n, n), matvec=mv, rmatvec=rmv, dtype=dtype), method=method, seed=seed)
            assert r.lower <= truth <= r.upper, (name, seed)


def test_adjoint_tolerance_is_below_a_lost_factor_one_half_at_every_size():
    """The threshold grows with the products' rounding ``u (m + n + 16 (sqrt m + sqrt n))`` from 0.05 and is
    capped at 0.25 < 1/2 (docs/design.md, "Hostile inputs")."""
    from spectra._linop import ADJOINT_TOL, ADJOINT_TOL_MAX, WorkingOperator

    for dtype, product_u in [(np.float64, 0.0), (np.float32, 0.0), (np.float32, 2.0**-11), (np.complex64, 0.0)]:
        for size in [1, 10, 100, 10**4, 10**6, 10**9]:
            op = WorkingOperator(LinearOperator((size, size), matvec=lambda x: x, rmatvec=lambda x: x), dtype)
            op.product_u = product_u
            assert ADJOINT_TOL <= op.adjoint_tolerance() <= ADJOINT_TOL_MAX < 0.5
    big = WorkingOperator(LinearOperator((10**5, 10**5), matvec=lambda x: x, rmatvec=lambda x: x), np.float32)
    assert big.adjoint_tolerance() == ADJOINT_TOL  # float32 at m + n = 2e5: rounding is far below 5%


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_adjoint_check_at_extreme_scales(scale):
    d = np.array([3.0, 1.0, 0.5]) * scale
    op = LinearOperator((3, 3), matvec=lambda x: d * x, rmatvec=lambda y: d * y, dtype=float)
    r = spectra.norm(op, method="lanczos", seed=0)
    assert r.lower <= 3.0 * scale <= r.upper


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_power_bound_of_a_vector_holds_at_every_scale(dtype, backend):
    """Regression: ``method="power"`` on a column or row vector (a Gram side of dimension one: ``t = 1``, so no
    random event and no slack) put ``upper`` below the norm for entries near 1e-20, for every seed: the bound
    was ``exp(sum(log nu)/i)``, rounded by ``|log nu| u`` ≈ 45 u (2.4165829552689875e-20 for a norm of
    2.41658295526898959e-20). Exact rational oracle: ``upper**2 >= sum |x_i|**2`` and ``lower**2 <=`` it."""
    from fractions import Fraction

    x = np.array(
        [
            8.928734947200031e-21,
            1.6155858201535607e-21,
            1.9435186417913988e-20,
            7.43391365781582e-21,
            -5.634582497049806e-21,
            6.075922101462377e-21,
        ]
    )
    rng = np.random.default_rng(0)
    vectors = [x] + [
        rng.standard_normal(int(rng.integers(2, 30))) * 2.0 ** float(rng.integers(-90, 90)) for _ in range(30)
    ]
    misses = []
    for k, v in enumerate(vectors):
        v = v.astype(dtype)
        if np.iscomplexobj(v):
            v = v + 1j * np.roll(v, 1)
        exact = sum(Fraction(float(a.real)) ** 2 + Fraction(float(a.imag)) ** 2 for a in v)
        for A in (v[:, None], v[None, :]):
            r = spectra.norm(A, method="power", backend=backend, seed=k)
            if not Fraction(r.lower) ** 2 <= exact <= Fraction(r.upper) ** 2:
                misses.append((k, A.shape, r.lower, r.upper))
    assert misses == []


@pytest.mark.parametrize(
    "form, backend", [(f, b) for f in ("dense", "csr", "unchecked") for b in BACKENDS] + [("torch", "auto")]
)
def test_complex64_entries_whose_modulus_overflows_float32(form, backend):
    """Regression: ``full((5, 3), 3e38 + 3e38j)`` in complex64 (finite parts, modulus 4.2e38 beyond float32)
    was refused as "A contains NaN or Inf" on the NumPy backend (dense, CSR, torch), and gave NaN bounds with
    ``check_finite=False``: the modulus was taken in float32. Oracle: complex128 LAPACK."""
    A = np.full((5, 3), 3e38 + 3e38j).astype(np.complex64)
    exact = oracle(A.astype(np.complex128))
    if form == "torch":
        import torch

        data = torch.from_numpy(A)
    else:
        data = sp.csr_array(A) if form == "csr" else A
    kw = {"check_finite": False} if form == "unchecked" else {}
    for method in ["svd", "lanczos", "power"] if form != "csr" else ["lanczos", "power"]:
        r = spectra.norm(data, method=method, seed=0, backend=backend, **kw)
        assert r.lower <= exact <= r.upper and r.upper <= exact * (1 + 1e-5), method
    with pytest.raises(ValueError, match="modulus exceeds float64's range"):
        spectra.norm(np.full((5, 3), 1.7e308 + 1.7e308j), backend=backend)
