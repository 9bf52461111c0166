"""Every accepted input kind: sparse formats, LinearOperator, lists, memmaps, dtypes, extreme scales."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, aslinearoperator

import spectra
from spectra._testing import matrix_with_singular_values, sparse_with_singular_values, spectrum

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
