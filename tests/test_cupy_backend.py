"""CuPy backend on a GPU: every kernel against NumPy for every dtype, layout, side and shape; inputs end to end.

Marked ``gpu`` (deselected by default); run with ``python -m pytest -m gpu`` where an NVIDIA GPU exists.
The method contract suite runs on CuPy inputs through the ``cupy`` flavour of tests/conftest.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import spectra
from spectra._testing import matrix_with_singular_values, spectrum
from spectra.backends.numpy import NumPyBackend

from .conftest import assert_interval, oracle, oracle_slack, to_numpy
from .conftest import random_matrix as _rand

pytestmark = pytest.mark.gpu

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
#: 1-row/column edge cases, sizes around the block size, and more rows than blocks
SHAPES = [(1, 1), (1, 9), (9, 1), (7, 5), (5, 7), (255, 257), (3000, 700), (700, 3000)]


@pytest.fixture(scope="module")
def cp():
    import cupy

    assert cupy.cuda.runtime.getDeviceCount() > 0
    return cupy


@pytest.fixture(scope="module")
def be():
    from spectra import backends

    return backends._load("cupy")


def _single(dtype) -> bool:
    return np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64))


def _tol(dtype):
    return 5e-5 if _single(dtype) else 1e-12


def _reference(A, X, c, adjoint):
    A, X = A.astype(np.complex128), X.astype(np.complex128)
    Ah = A.conj().swapaxes(-1, -2)
    Y = (Ah if adjoint else A) @ X
    return Y, (A if adjoint else Ah) @ (c * Y)


def _close(got, want, dtype, n):
    scale = max(float(np.abs(want).max()), 1.0)
    np.testing.assert_allclose(got, want, atol=_tol(dtype) * scale * np.sqrt(n) * 4, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("k", [1, 2, 7, 16, 17])
@pytest.mark.parametrize("side", ["fused", "other"])
def test_dense_gram_matches_numpy(cp, be, dtype, shape, order, k, side):
    A = np.asarray(_rand(shape, dtype), order=order)
    Ad = cp.asarray(A, order=order)
    fused = be.fused_gram_adjoint(Ad)
    adjoint = (order == "F") if side == "fused" else (order != "F")
    if side == "fused" and min(shape) > 1:
        assert fused is (order == "F")
    X = _rand((shape[0] if adjoint else shape[1], k), dtype, seed=1)
    c = cp.asarray(np.full((1, 1), 0.5, dtype=dtype))
    Y, Z = be.gram(Ad, cp.asarray(X), c, adjoint=adjoint)
    Yr, Zr = _reference(A, X, 0.5, adjoint)
    assert Y.dtype == A.dtype and Z.dtype == A.dtype and Y.shape == Yr.shape and Z.shape == Zr.shape
    _close(Y.get(), Yr, dtype, max(shape))
    _close(Z.get(), Zr, dtype, max(shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_pass_is_deterministic(cp, be, dtype):
    Ad = cp.asarray(_rand((4000, 1500), dtype))
    X = cp.asarray(_rand((1500, 3), dtype, seed=2))
    Y1, Z1 = be.gram(Ad, X)
    Y2, Z2 = be.gram(Ad, X)
    assert bool(cp.all(Y1 == Y2)) and bool(cp.all(Z1 == Z2))


def test_large_accumulator_falls_back_to_cublas(cp, be):
    """n x k beyond shared memory: the product is still right (two cuBLAS products)."""
    A = _rand((50, 200_000), np.float64)
    X = _rand((200_000, 4), np.float64, seed=1)
    Y, Z = be.gram(cp.asarray(A), cp.asarray(X))
    Yr, Zr = _reference(A, X, 1.0, False)
    _close(Y.get(), Yr, np.float64, 200_000)
    _close(Z.get(), Zr, np.float64, 200_000)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(32, 32), (5, 7), (7, 5), (1, 1)])
@pytest.mark.parametrize("k", [1, 4])
def test_stack_gram_matches_numpy(cp, be, dtype, shape, k):
    A = _rand((3, 50, *shape), dtype)
    X = _rand((3, 50, shape[1], k), dtype, seed=4)
    c = np.linspace(0.5, 2.0, 150).reshape(3, 50, 1, 1)
    assert be.fused_gram_adjoint(cp.asarray(A)) is False
    Y, Z = be.gram(cp.asarray(A), cp.asarray(X), cp.asarray(c.astype(dtype)))
    Yr, Zr = _reference(A, X, c, False)
    _close(Y.get(), Yr, dtype, max(shape))
    _close(Z.get(), Zr, dtype, max(shape))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_products_match_numpy(cp, be, dtype, fmt):
    import cupyx.scipy.sparse as csp
    import scipy.sparse as sp

    S = sp.random_array((300, 200), density=0.05, format=fmt, rng=2).astype(dtype)
    Sd = {"csr": csp.csr_matrix, "csc": csp.csc_matrix}[fmt](S)
    X = _rand((200, 3), dtype, seed=3)
    Y, Z = be.gram(Sd, cp.asarray(X), 2.0)
    Yr, Zr = _reference(S.toarray(), X, 2.0, False)
    _close(Y.get(), Yr, dtype, 300)
    _close(Z.get(), Zr, dtype, 300)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_entry_statistics_match_numpy(cp, be, dtype, shape, order):
    A = np.asarray(_rand(shape, dtype) * 3.0, order=order)
    ref = NumPyBackend()
    c1, c2 = np.array([0.5]), np.array([0.25])
    # the kernel takes |a| in double; NumPy's reference rounds |a| to the working precision first
    np.testing.assert_allclose(be.max_abs(cp.asarray(A, order=order)), ref.max_abs(A), rtol=_tol(dtype))
    got, want = be.abs_stats(cp.asarray(A, order=order), c1, c2), ref.abs_stats(A, c1, c2)
    for field in ("fro", "maxcol", "maxrow"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=1e-12)
    # Gershgorin of |A|^T|A| (C order) or |A||A|^T (F order): each is an upper bound of ||A||^2
    assert got.gersh[0] >= np.linalg.norm(A.astype(np.complex128) * 0.125, 2) * (1 - 1e-12)


def test_nan_is_reported(cp, be):
    A = np.ones((40, 30))
    A[3, 4] = np.nan
    assert np.isnan(be.max_abs(cp.asarray(A))[0])
    with pytest.raises(ValueError, match="NaN"):
        spectra.norm(cp.asarray(A))


@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["C", "F", "strided", "stack"])
def test_norm_on_cupy_inputs(cp, method, dtype, layout):
    base = matrix_with_singular_values(3.0 * spectrum("outlier", 60), 160, 90, dtype=dtype, seed=5)
    A = {
        "C": np.ascontiguousarray(base[:80, :60]),
        "F": np.asfortranarray(base[:80, :60]),
        "strided": base[::2, ::3],
        "stack": np.stack([base[:40, :30] * (s + 1) for s in range(5)]),
    }[layout]
    Ad = cp.asarray(A) if layout != "F" else cp.asfortranarray(cp.asarray(A))
    if layout == "strided":
        Ad = cp.asarray(base)[::2, ::3]
    r = spectra.norm(Ad, method=method, seed=0)
    assert r.backend == "cupy"
    truth = oracle(A)
    assert_interval(r, truth, oracle_slack(A))
    np.testing.assert_allclose(to_numpy(r.value), truth, rtol=1e-3 if _single(dtype) else 1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_norm_on_cupy_sparse_and_operator(cp, dtype):
    import cupyx.scipy.sparse as csp
    import cupyx.scipy.sparse.linalg as cspl
    import scipy.sparse as sp

    S = sp.random_array((400, 300), density=0.02, format="csr", rng=7).astype(dtype)
    truth = oracle(S.toarray())
    for A in (csp.csr_matrix(S), csp.csc_matrix(S), cspl.aslinearoperator(csp.csr_matrix(S))):
        r = spectra.norm(A, method="lanczos", seed=0)
        assert r.backend == "cupy"
        assert_interval(r, truth, oracle_slack(S))


def test_torch_cuda_tensor_through_dlpack(cp):
    torch = pytest.importorskip("torch", reason="PyTorch is an optional peer of the GPU suite")
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch build has no CUDA")
    A = matrix_with_singular_values(3.0 * spectrum("outlier", 30), 50, 30, dtype=np.float64, seed=1)
    r = spectra.norm(torch.as_tensor(A, device="cuda"), backend="cupy", method="lanczos", seed=0)
    assert r.backend == "cupy"
    assert_interval(r, oracle(A), oracle_slack(A))


@pytest.mark.parametrize("form", ["dense", "csr", "csc"])
def test_complex64_entries_whose_modulus_overflows_float32(cp, form):
    """The CuPy twin of tests/test_hostile_inputs.py's test: ``full((5, 3), 3e38 + 3e38j)`` in complex64 has
    finite parts and a modulus (4.2e38) beyond float32; the sparse entry statistics took the modulus in
    float32 (``cupy.abs`` of the stored entries) and so refused the matrix as non-finite. Oracle: complex128
    LAPACK."""
    import cupyx.scipy.sparse as csp

    A = np.full((5, 3), 3e38 + 3e38j).astype(np.complex64)
    exact = oracle(A.astype(np.complex128))
    data = cp.asarray(A)
    if form != "dense":
        data = {"csr": csp.csr_matrix, "csc": csp.csc_matrix}[form](data)
    for method in ["lanczos", "power"] + (["svd"] if form == "dense" else []):
        for kw in ({}, {"check_finite": False}):
            r = spectra.norm(data, method=method, seed=0, **kw)
            assert r.backend == "cupy"
            assert r.lower <= exact <= r.upper and r.upper <= exact * (1 + 1e-5), (method, kw)
