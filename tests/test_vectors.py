"""The singular-vector contract of ``return_vectors=True`` (docs/result.md, "Singular vectors").

``v`` is a unit right vector and ``u = A v / ||A v||``; where ``converged`` the vector's own quotient
``u^H A v = ||A v||`` meets the width test, ``||A v|| >= upper / (1 + rtol_effective)``, even when a deterministic
cap (``max_i ||e_i^T A||`` against Gershgorin) closes the interval before the iteration has found the vector.
Oracle: LAPACK's SVD.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

import spectra
from spectra._testing import matrix_with_singular_values, spectrum


def capped_matrix(m: int = 289, n: int = 40, seed: int = 0) -> np.ndarray:
    """Block-diagonal: row 0 is constant on columns 0..9 with norm 10, the other rows a sparse block of norm < 10.

    ``||A||_2 = 10`` is both the largest row norm (the deterministic lower cap) and the Gershgorin bound on
    ``|A|^T |A|`` (the upper cap), so the interval is closed before the first step; the top right singular
    vector is ``(1, ..., 1, 0, ..., 0) / sqrt(10)``, which no random start lies near.
    """
    rng = np.random.default_rng(seed)
    A = np.zeros((m, n))
    A[0, :10] = 10.0 / np.sqrt(10.0)
    block = rng.standard_normal((m - 1, n - 10)) * (rng.random((m - 1, n - 10)) < 0.1)
    A[1:, 10:] = block * (4.0 / np.linalg.norm(block, 2))
    return A


def check_vectors(A, r, certify: bool = True, sigma1: float | None = None) -> None:
    """The contract of docs/result.md: unit vectors, ``q = u^H A v = ||A v||`` (or ``||A^H u||``), and where
    converged ``q >= upper / (1 + rtol_effective)`` (``certify=True``) or the residual test on ``q``
    (``certify=False``, what ``power`` uses by default). ``sigma1``: LAPACK's largest singular value of ``A``,
    where the caller has already computed it (else computed here)."""
    dense = A.toarray() if sp.issparse(A) else np.asarray(A)
    if sigma1 is None:
        sigma1 = np.linalg.svd(dense, compute_uv=False)[0]
    np.testing.assert_allclose(np.linalg.norm(r.v), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(r.u), 1.0, rtol=1e-12)
    q = np.vdot(r.u, dense @ r.v)
    assert abs(q.imag) <= 1e-12 * sigma1
    q = q.real
    right, left = np.linalg.norm(dense @ r.v - q * r.u), np.linalg.norm(dense.conj().T @ r.u - q * r.v)
    assert min(right, left) <= 1e-12 * sigma1  # one of u, v is the normalised image of the other
    assert r.converged
    rtol = r.rtol_effective
    assert q <= sigma1 * (1.0 + 1e-13)
    if not certify and q < r.upper / (1.0 + rtol) * (1.0 - 1e-13):
        assert max(right, left) <= rtol * q * (1.0 + 1e-10)  # the residual test
        return
    assert q >= r.upper / (1.0 + rtol) * (1.0 - 1e-13)
    assert q >= sigma1 / (1.0 + rtol) * (1.0 - 1e-13)
    assert abs(r.value - q) <= rtol * q * (1.0 + 1e-10)
    # a quotient within rtol of sigma_1 bounds the other residual: ||A^H u||^2 - q^2 <= sigma_1^2 - q^2
    assert max(right, left) <= np.sqrt(2.0 * rtol) * sigma1 * (1.0 + 1e-10)


CASES = [(method, kind) for method in ("power", "lanczos", "randomized") for kind in ("dense", "sparse")]
CASES += [("gram", "dense"), ("svd", "dense")]  # dense arrays only


@pytest.mark.parametrize("method,kind", CASES)
@pytest.mark.parametrize("wide", [False, True], ids=["tall", "wide"])
def test_cap_closed_interval_still_returns_top_vectors(method, kind, wide):
    A = capped_matrix()
    if wide:
        A = A.T.copy()  # the cap is then the largest column norm
    if kind == "sparse":
        A = sp.csr_matrix(A)
    np.testing.assert_allclose(np.linalg.norm(A.toarray() if sp.issparse(A) else A, 2), 10.0, rtol=1e-14)
    plain = spectra.norm(A, method=method, seed=0)
    if method in ("power", "lanczos", "randomized"):
        assert plain.iterations == 1  # the caps close the interval at the first step: the case under test
    check_vectors(A, spectra.norm(A, method=method, seed=0, return_vectors=True), certify=method != "power")
    if method == "power":  # its default certify=False stops on the residual test; certify=True on the width
        check_vectors(A, spectra.norm(A, method=method, seed=0, return_vectors=True, certify=True))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("method", ["power", "lanczos", "randomized", "gram"])
def test_vector_contract_over_seeds(method, seed):
    """Random block-diagonal matrices where a row cap may or may not close the interval early."""
    rng = np.random.default_rng(100 + seed)
    m, n = int(rng.integers(20, 120)), int(rng.integers(5, 40))
    k = int(rng.integers(1, n))
    A = np.zeros((m, n))
    A[0, :k] = rng.choice([-1.0, 1.0], size=k)  # row norm sqrt(k), Gershgorin exact on this block
    rest = rng.standard_normal((m - 1, n - k)) if n > k else np.zeros((m - 1, 0))
    if rest.size:
        A[1:, k:] = rest * (rng.uniform(0.1, 0.99) * np.sqrt(k) / np.linalg.norm(rest, 2))
    r = spectra.norm(A, method=method, seed=seed, return_vectors=True)
    check_vectors(A, r, certify=method != "power")


@pytest.mark.parametrize("method", ["power", "lanczos", "randomized", "gram", "svd"])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_vector_contract_generic(method, dtype):
    M = matrix_with_singular_values(spectrum("outlier", 30), 50, 30, dtype=dtype, seed=4)
    check_vectors(M, spectra.norm(M, method=method, seed=0, return_vectors=True), certify=method != "power")


@pytest.mark.parametrize("method", ["power", "lanczos", "randomized", "gram", "svd"])
@pytest.mark.parametrize("backend", ["numba", "array_api"])
def test_cap_closed_stack_on_other_backends(method, backend):
    """A stack of capped matrices: per matrix on the generic path, through the small-stack kernel on numba."""
    A = capped_matrix(m=96, n=40, seed=1)
    S = np.stack([A, 2.0 * A, -A])
    r = spectra.norm(S, method=method, backend=backend, seed=0, return_vectors=True)
    for i in range(S.shape[0]):
        one = SimpleNamespace(**{f: getattr(r, f)[i] for f in ("u", "v", "value", "upper", "converged")})
        one.rtol_effective = r.rtol_effective[i]
        check_vectors(S[i], one, certify=method != "power")


@pytest.mark.parametrize(
    "method, kind",
    [
        (method, kind)
        for method in ("svd", "power", "lanczos", "randomized", "gram")
        for kind in ("dense", "sparse", "stack", "torch")
        if not (kind == "sparse" and method in ("svd", "gram"))  # dense-only methods
    ],
)
def test_a_zero_matrix_has_unit_vectors(method, kind):
    """Regression: an all-zero matrix returned u = v = 0, against the contract (unit vectors for every method,
    docs/result.md), while a zero matrix inside a stack with other matrices got unit vectors."""
    shape = (3, 20, 10) if kind == "stack" else (20, 10)
    A = np.zeros(shape, dtype=np.float32)
    if kind == "sparse":
        A = sp.csr_array((20, 10), dtype=np.float32)
    elif kind == "torch":
        import torch

        A = torch.zeros(shape, dtype=torch.float32)
    r = spectra.norm(A, method=method, return_vectors=True, seed=0)
    u, v = (np.asarray(x) for x in (r.u, r.v))
    assert u.dtype == v.dtype == np.float32
    assert u.shape == (*shape[:-2], 20) and v.shape == (*shape[:-2], 10)
    np.testing.assert_array_equal(np.linalg.norm(u, axis=-1), 1.0)
    np.testing.assert_array_equal(np.linalg.norm(v, axis=-1), 1.0)
    assert np.all(np.asarray(r.upper) == 0.0)


def _stack_with_zero_matrices(shape: tuple[int, int, int], zero: tuple[int, ...], dtype=np.float64) -> np.ndarray:
    """A stack of matrices with an outlying top singular value (fast, unambiguous vectors), ``zero`` all-zero."""
    B, m, n = shape
    S = np.stack(
        [matrix_with_singular_values(spectrum("outlier", min(m, n)), m, n, dtype=dtype, seed=i) for i in range(B)]
    )
    S[list(zero)] = 0.0
    return S


def _check_stack_vectors(S: np.ndarray, r, zero: tuple[int, ...], certify: bool) -> None:
    """``e_1`` (exactly, in ``S``'s dtype) for the zero matrices of the stack; the contract for the others."""
    B, m, n = S.shape
    u, v = np.asarray(r.u), np.asarray(r.v)
    assert u.shape == (B, m) and v.shape == (B, n) and u.dtype == v.dtype == S.dtype
    for i in range(B):
        if i in zero:
            np.testing.assert_array_equal(u[i], np.eye(m)[0])
            np.testing.assert_array_equal(v[i], np.eye(n)[0])
            assert r.upper[i] == 0.0
            continue
        one = SimpleNamespace(u=u[i], v=v[i], value=r.value[i], upper=r.upper[i], converged=r.converged[i])
        one.rtol_effective = r.rtol_effective[i]
        check_vectors(S[i], one, certify=certify)


@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized", "gram"])
@pytest.mark.parametrize("backend", ["numpy", "numba", "dask"])
@pytest.mark.parametrize("shape, dtype", [((4, 12, 9), np.float64), ((4, 9, 12), np.complex128)])
def test_zero_matrices_inside_a_stack_get_e1(method, backend, shape, dtype):
    """Regression: in a stack holding all-zero matrices among nonzero ones, lanczos, power and gram returned
    ``||u|| = ||v|| = 0`` for the zero ones, and randomized ``u = 0`` with an arbitrary unit ``v`` (svd, and a
    zero matrix alone, gave ``e_1``, as docs/result.md promises). Every method and backend now gives
    ``u = v = e_1`` there, tall and wide (the methods then run on ``A^H``); the other matrices keep vectors that
    meet the contract against LAPACK's SVD."""
    zero = (1, 3)
    S = _stack_with_zero_matrices(shape, zero, dtype)
    if backend == "dask":
        import dask.array as da

        A = da.from_array(S, chunks=(2, *shape[1:]))
    else:
        A = S
    r = spectra.norm(A, method=method, backend=backend, seed=0, return_vectors=True)
    _check_stack_vectors(S, r, zero, certify=method != "power")


@pytest.mark.parametrize("zero", [(5,), (0, 7, 299)])
def test_zero_matrices_in_the_stack_kernel_get_e1(zero):
    """Regression: numba's certificate kernel (``auto`` on a (300, 8, 8) stack) gave a zero matrix of the stack
    ``||u|| = 0`` (and a unit ``v``). It now gives ``u = v = e_1`` there, as every other route does, and the
    other 298-299 matrices keep vectors that meet the contract against LAPACK's SVD."""
    S = _stack_with_zero_matrices((300, 8, 8), zero)
    r = spectra.norm(S, seed=0, return_vectors=True)
    assert r.plan.stack == "certificate kernel"
    _check_stack_vectors(S, r, zero, certify=True)


@pytest.mark.parametrize("method", ["power", "lanczos", "randomized"])
@pytest.mark.parametrize("shape", [(7, 5), (5, 7), (60, 40)])
def test_an_operator_whose_products_vanish_gets_unit_vectors(method, shape):
    """Regression: a ``LinearOperator`` whose products are all zero (no entries prove it zero, so the methods
    run) returned a zero vector (``u`` for a tall one, ``v`` for a wide one; from power both) against the
    unit-vector contract of docs/result.md. A zero vector now becomes ``e_1``; a unit vector the method found
    stays (``A v = 0`` holds for it)."""
    m, n = shape
    op = LinearOperator(shape, matvec=lambda x: np.zeros(m), rmatvec=lambda y: np.zeros(n), dtype=np.float64)
    r = spectra.norm(op, method=method, return_vectors=True, seed=0)
    assert r.lower == 0.0
    for x, length in ((r.u, m), (r.v, n)):
        assert x.shape == (length,)
        assert np.linalg.norm(x) == pytest.approx(1.0, abs=1e-15)
    # the method runs on the smaller side: the vector of the other side is the image of the start, zero here
    assert np.array_equal(r.v, np.eye(n)[0]) if m < n else np.array_equal(r.u, np.eye(m)[0])
