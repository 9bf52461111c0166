"""Every accepted input kind: sparse formats, LinearOperator, lists, memmaps, dtypes, extreme scales."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

import spectra
from spectra._testing import SPECTRA, matrix_with_singular_values, sparse_with_singular_values, spectrum

from .conftest import assert_interval, oracle, oracle_slack

ITERATIVE = ["power", "lanczos", "randomized"]
FORMATS = ["csr", "csc", "coo", "bsr", "dia", "dok", "lil"]


class _NoDensify:
    """Guard: fail loudly if a sparse matrix is ever densified."""

    def __init__(self, monkeypatch):
        for cls in (sp.csr_array, sp.csc_array, sp.csr_matrix, sp.csc_matrix, sp.bsr_array, sp.bsr_matrix):
            monkeypatch.setattr(cls, "toarray", self._fail, raising=False)
            monkeypatch.setattr(cls, "todense", self._fail, raising=False)

    @staticmethod
    def _fail(*args, **kwargs):
        raise AssertionError("a sparse matrix was densified")


@pytest.mark.parametrize("method", [*ITERATIVE, "auto"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["array", "matrix"])
def test_sparse_formats(method, fmt, kind, monkeypatch):
    S = sparse_with_singular_values(2.0 * spectrum("outlier", 40), 70, 50, density_extra=1.0, fmt=fmt)
    dense = S.toarray()
    if kind == "matrix":
        S = sp.csr_matrix(S).asformat(fmt)
    _NoDensify(monkeypatch)
    r = spectra.norm(S, method=method, seed=0)
    assert_interval(r, oracle(dense), oracle_slack(dense))
    assert abs(r.value - 2.0) <= 1e-5 * 2.0
    assert r.backend == "numpy"


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128, np.int64, np.bool_])
def test_sparse_dtypes(dtype):
    S = sparse_with_singular_values([3.0, 2.0, 1.0], 9, 6, fmt="csr").astype(dtype)
    r = spectra.norm(S, seed=0)
    assert_interval(r, oracle(S.toarray()), 1e-6)


def test_sparse_with_empty_rows_and_columns():
    S = sp.csr_array((np.array([4.0, -1.0]), (np.array([0, 7]), np.array([3, 3]))), shape=(10, 12))
    r = spectra.norm(S, method="lanczos", seed=0)
    assert abs(r.value - np.sqrt(17.0)) < 1e-12


@pytest.mark.parametrize("method", [*ITERATIVE, "auto"])
@pytest.mark.parametrize("shape", [(60, 35), (35, 60)])
def test_linear_operator(method, shape):
    A = matrix_with_singular_values(spectrum("outlier", min(shape)), *shape, seed=2)
    r = spectra.norm(aslinearoperator(A), method=method, seed=0)
    assert_interval(r, oracle(A), oracle_slack(A))


@pytest.mark.parametrize("method", ITERATIVE)
def test_linear_operator_bounds_are_probabilistic(method):
    """Without entries no deterministic cap exists: the confidence is the requested one."""
    A = matrix_with_singular_values(spectrum("decaying", 150), 200, 150, seed=2)
    r = spectra.norm(aslinearoperator(A), method=method, seed=0, maxiter=3, confidence=0.99)
    assert r.confidence == 0.99
    assert_interval(r, oracle(A), oracle_slack(A))


def test_linear_operator_without_rmatvec_is_a_clear_error():
    A = np.eye(3)
    op = LinearOperator((3, 3), matvec=lambda x: A @ x, dtype=np.float64)
    with pytest.raises((TypeError, NotImplementedError, ValueError), match="rmatvec|adjoint|rmatmat"):
        spectra.norm(op, method="lanczos")


def test_linear_operator_returning_nan():
    op = LinearOperator(
        (4, 4), matvec=lambda x: np.full(4, np.nan), rmatvec=lambda x: np.full(4, np.nan), dtype=np.float64
    )
    with pytest.raises(ValueError, match="check_finite"):
        spectra.norm(op, method="power")


def test_nested_list():
    r = spectra.norm([[3, 0], [0, 4]], method="lanczos", seed=0)
    assert abs(r.value - 4.0) < 1e-12


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint16, np.bool_, np.float16, np.longdouble])
def test_dtype_promotion(dtype):
    A = (np.arange(20).reshape(5, 4) % 3).astype(dtype)
    truth = oracle(A.astype(np.float64))
    for method in ("svd", "lanczos"):
        r = spectra.norm(A, method=method, seed=0)
        assert_interval(r, truth, 1e-6)


@pytest.mark.parametrize("dtype", [">f8", ">f4", ">c16"])
def test_big_endian_arrays_run_as_their_native_twins(dtype):
    """Big-endian data (FITS files, .npy written on such machines) is computed as its native-order copy: the
    same route and bitwise the same result. Regression: it stayed big-endian, which the numba kernels do not
    read, so stacks left the certificate kernel (confidence 0.999 for 1.0, 50-63x slower) and large dense
    matrices stayed on the NumPy backend under ``auto`` (9-13x slower)."""
    native = np.dtype(dtype).newbyteorder("=")
    rng = np.random.default_rng(5)
    S = rng.standard_normal((300, 8, 6)) + (1j * rng.standard_normal((300, 8, 6)) if native.kind == "c" else 0)
    D = rng.standard_normal((1500, 1400))
    for X, kw in ((S, {"seed": 0}), (D, {"method": "lanczos", "seed": 0})):
        ours, theirs = X.astype(native), X.astype(dtype)
        r0, r1 = spectra.norm(ours, **kw), spectra.norm(theirs, **kw)
        assert (r1.backend, r1.plan.stack) == (r0.backend, r0.plan.stack)
        for field in ("value", "lower", "upper", "confidence"):
            assert np.array_equal(getattr(r1, field), getattr(r0, field)), field
        assert theirs.dtype == np.dtype(dtype)  # the input is not changed
    assert np.all(spectra.norm(S.astype(dtype)).confidence == 1.0)  # the certificate kernel took the stack


@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized", "gram"])
@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e-310, 2.0**-1070])
def test_extreme_magnitudes(method, scale):
    A = matrix_with_singular_values(spectrum("outlier", 20), 30, 20, seed=4)
    As = A * scale
    r = spectra.norm(As, method=method, seed=0)
    truth = oracle(A) * scale if scale > 1e-305 else oracle(As / scale) * scale  # subnormal: exact in A*2^k
    if scale < 1e-305:  # the stored subnormal entries have lost bits: the truth is that of the stored matrix
        truth = float(oracle(np.ldexp(As, 1074))) * 2.0**-1074
    assert_interval(r, truth, 1e-10)
    assert np.isfinite(r.upper) and r.lower > 0


@pytest.mark.parametrize("method", ["svd", "lanczos", "gram"])
def test_float32_extremes(method):
    A = matrix_with_singular_values(spectrum("outlier", 10), 12, 10, dtype=np.float32, seed=1) * np.float32(1e37)
    r = spectra.norm(A, method=method, seed=0)
    assert_interval(r, oracle(A), 1e-5)


@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized", "gram"])
def test_input_never_modified_and_readonly_ok(method):
    A = matrix_with_singular_values(spectrum("outlier", 15), 20, 15, seed=3)
    keep = A.copy()
    A.setflags(write=False)
    r = spectra.norm(A, method=method, seed=0, return_vectors=True)
    np.testing.assert_array_equal(A, keep)
    assert abs(r.value - 1.0) < 1e-6


def test_memmap(tmp_path):
    A = matrix_with_singular_values(spectrum("outlier", 30), 40, 30, seed=1)
    path = tmp_path / "a.npy"
    np.save(path, A)
    M = np.load(path, mmap_mode="r")
    for method in ("svd", "power", "lanczos", "randomized"):
        r = spectra.norm(M, method=method, seed=0)
        assert_interval(r, oracle(A), oracle_slack(A))
    np.testing.assert_array_equal(np.load(path), A)


def test_sparse_input_not_modified():
    S = sparse_with_singular_values([2.0, 1.0], 8, 5, fmt="coo")
    data = S.data.copy()
    spectra.norm(S, method="lanczos", seed=0)
    np.testing.assert_array_equal(S.data, data)
    assert S.format == "coo"


def _exact_norm(A: np.ndarray) -> mpmath.mpf:
    """``||A||_2`` of a (complex) long double matrix from its exact entries, mpmath at 50 digits."""

    def exact(x) -> mpmath.mpf:
        mant, e = np.frexp(x)
        return mpmath.ldexp(mpmath.mpf(int(np.ldexp(mant, 64))), int(e) - 64)

    with mpmath.workdps(50):
        if A.dtype.kind == "c":
            M = mpmath.matrix([[mpmath.mpc(exact(a.real), exact(a.imag)) for a in row] for row in A])
            return mpmath.svd_c(M, compute_uv=False)[0]
        return mpmath.svd_r(mpmath.matrix([[exact(a) for a in row] for row in A]), compute_uv=False)[0]


@pytest.mark.skipif(np.finfo(np.longdouble).nmant <= 52, reason="long double is float64 on this platform")
@pytest.mark.parametrize("dtype", [np.longdouble, np.clongdouble])
@pytest.mark.parametrize("exponent", [-400, -320, 0, 310, 400])
def test_extended_precision_beyond_float64s_range(dtype, exponent):
    """Extended precision is scaled by a power of two into float64's range before it is rounded, and the
    rounding is added to both bounds. Oracle: mpmath's SVD of the exact long double entries. Regression: a plain
    cast flushed 1e-400 entries to zero ([0, 0] at confidence 1 for 3e-400), rounded 3.3e-324 up to 4.9e-324
    (a lower bound above the norm) and overflowed 1e400 ("A contains NaN or Inf")."""
    rng = np.random.default_rng(7)
    A = rng.standard_normal((6, 4)).astype(np.longdouble) * np.longdouble(10) ** exponent
    if dtype == np.clongdouble:
        A = A + 1j * rng.standard_normal((6, 4)).astype(np.longdouble) * np.longdouble(10) ** exponent
    A = A.astype(dtype)
    A[0, 0] += A[1, 1] / np.longdouble(3)  # entries that float64 cannot hold exactly
    truth = _exact_norm(A)
    keep = A.copy()
    for method in ("svd", "lanczos", "power", "randomized", "gram"):
        r = spectra.norm(A, method=method, seed=0)
        lower, upper = mpmath.mpf(r.lower), mpmath.mpf(r.upper)
        assert lower <= truth <= upper, (method, r.interval, truth)
        if method != "power" and 1e-300 < truth < 1e300:  # power stops on its residual test
            assert upper - lower <= 1e-4 * truth, method
        assert mpmath.mpf(r.lower) <= mpmath.mpf(r.value) <= mpmath.mpf(r.upper)
    assert np.array_equal(A, keep)
    S = np.stack([A, A * np.longdouble(2) ** -3000])  # a stack whose matrices differ in scale by 2^-3000
    r = spectra.norm(S, method="svd")
    assert mpmath.mpf(r.lower[0]) <= truth <= mpmath.mpf(r.upper[0])
    assert r.upper[1] > 0  # 2^-3000 times the norm: below float64, its upper bound the smallest subnormal


def test_extended_precision_in_dask_is_computed_as_in_numpy():
    """A Dask array of long doubles takes the same conversion. Regression: ``svd`` and ``randomized`` raised
    "array type float128 is unsupported in linalg", and ``lanczos`` returned a lower bound one ulp above the
    norm (the bound computed in long double was rounded to nearest)."""
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(8)
    A = rng.standard_normal((40, 30)).astype(np.longdouble) / np.longdouble(3)
    truth = _exact_norm(A)
    for method in ("svd", "lanczos", "randomized"):
        r = spectra.norm(da.from_array(A, chunks=(20, 15)), method=method, seed=0)
        assert mpmath.mpf(r.lower) <= truth <= mpmath.mpf(r.upper), method
        assert r.backend == "dask"


@pytest.mark.skipif(np.finfo(np.longdouble).nmant <= 52, reason="long double is float64 on this platform")
@pytest.mark.parametrize("exponent", [-400, -1, 0, 400])
def test_normalize_extended_precision(exponent):
    """``normalize`` of a long double matrix: ``||W||_2 <= 1`` exactly (mpmath on the stored entries), close
    to 1, in the input's dtype. Regressions: a matrix of norm below 1 never returned (the factor's steps were
    bounded by ``float()`` of long double's limits, 0 and inf); entries beyond float64's range came back
    unscaled (1e-400) or raised (1e400)."""
    rng = np.random.default_rng(9)
    for dtype in (np.longdouble, np.clongdouble):
        A = rng.standard_normal((6, 4)).astype(np.longdouble) * np.longdouble(10) ** exponent
        A = (A * (1 + 1j) if dtype == np.clongdouble else A).astype(dtype)
        for method in ("svd", "lanczos"):
            W = spectra.normalize(A, method=method, seed=0)
            assert W.dtype == dtype
            assert 1 - 1e-6 <= _exact_norm(W) <= 1, (dtype, method)


@pytest.mark.skipif(np.finfo(np.longdouble).nmant <= 52, reason="long double is float64 on this platform")
@pytest.mark.parametrize("kind", ["csr", "coo", "dok", "masked"])
@pytest.mark.parametrize("exponent", [-400, 0, 400])
def test_extended_precision_sparse_and_masked(kind, exponent):
    """SciPy sparse and masked long double matrices take the same power-of-two scaling as dense ones.
    Regression: a plain float64 cast gave [0, 0] at confidence 1 for 1e-400 entries (norm 3e-400) and "NaN or
    Inf" for 1e400 ones. Oracle: mpmath's SVD of the exact entries."""
    rng = np.random.default_rng(11)
    D = rng.standard_normal((7, 5)).astype(np.longdouble) * np.longdouble(10) ** exponent
    D[rng.random((7, 5)) < 0.4] = 0
    D[0, 0] += D[1, 1] / np.longdouble(3)
    truth = _exact_norm(D)
    A = np.ma.masked_array(D, mask=False) if kind == "masked" else sp.coo_array(D).asformat(kind)
    for method in ("svd", "lanczos") if kind == "masked" else ("lanczos", "power"):
        r = spectra.norm(A, method=method, seed=0)
        assert 0 <= mpmath.mpf(r.lower) <= truth <= mpmath.mpf(r.upper), (method, r.interval, truth)
    W = spectra.normalize(A, seed=0)
    dense = W.toarray() if sp.issparse(W) else np.asarray(W)
    assert dense.dtype == np.longdouble and 1 - 1e-6 <= _exact_norm(dense) <= 1


@pytest.mark.skipif(np.finfo(np.longdouble).nmant <= 52, reason="long double is float64 on this platform")
def test_extended_precision_at_the_ends_of_long_doubles_range():
    """A norm below float64's smallest subnormal has the interval [0, 5e-324] (regression: lower = -5e-324),
    also for entries below long double's smallest normal (regression: 2^-e overflowed, "NaN or Inf")."""
    for x in (np.longdouble(10) ** -400, np.ldexp(np.longdouble(3), -16400)):
        A = np.full((3, 2), x)
        for method in ("svd", "lanczos"):
            r = spectra.norm(A, method=method, seed=0)
            assert (r.lower, r.upper) == (0.0, 5e-324), (x, method, r.interval)


def test_normalize_of_big_endian_input_is_its_native_twin():
    """``normalize`` keeps the floating dtype in native byte order (documented in its Returns): the result is
    bitwise that of the native array, and ``||W||_2 <= 1``."""
    A = np.random.default_rng(3).standard_normal((40, 30))
    for dt in (">f8", ">f4", ">c16"):
        W, native = (spectra.normalize(X, seed=0) for X in (A.astype(dt), A.astype(np.dtype(dt).newbyteorder("="))))
        assert W.dtype == native.dtype and W.dtype.isnative and np.array_equal(W, native)
        assert np.linalg.norm(W.astype(np.complex128), 2) <= 1.0


@pytest.mark.parametrize("fmt", ["coo", "dia", "csr", "csc", "bsr"])  # DOK and LIL hold Python scalars
def test_big_endian_sparse_formats(fmt):
    """Regression: a big-endian COO matrix failed in SciPy's constructor ("does not support dtype >f8")."""
    D = sp.random_array((60, 40), density=0.1, rng=3).toarray()
    A = sp.coo_array(D).asformat(fmt)
    A.data = A.data.astype(">f8")  # as read from a big-endian file: SciPy's constructors refuse it, its arrays not
    r = spectra.norm(A, method="lanczos", seed=0)
    assert_interval(r, oracle(D), 1e-6)


def test_testing_generators_check_their_sizes():
    assert spectrum("rank_one", 0).shape == (0,)  # as every other profile, not numpy's "negative dimensions"
    assert all(spectrum(name, 0).shape == (0,) for name in SPECTRA)
    with pytest.raises(ValueError, match="k must be a non-negative int"):
        spectrum("flat", -1)
    with pytest.raises(ValueError, match="m must be a non-negative int, got -1"):
        matrix_with_singular_values([], -1, 3)
    with pytest.raises(ValueError, match="spectrum name must be one of"):
        spectrum("bogus", 3)
