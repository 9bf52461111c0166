"""method="gram": a deterministic upper bound that must never fall below the true norm (docs/bounds.md §13).

The sweeps use matrices whose spectral norm is known EXACTLY in floating point: ``A = H_m diag(s) H_n / sqrt(mn)``
with Sylvester-Hadamard factors (orthogonal up to the power-of-two factor), dyadic singular values and
power-of-two scales, so every entry is stored without rounding and ``||A||_2 = max(s) * scale`` exactly. A bound
below that value is a miss, with no oracle tolerance to hide it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import hadamard
from scipy.sparse.linalg import aslinearoperator

import spectra
from spectra._testing import matrix_with_singular_values, spectrum
from spectra.backends._base import ArrayAPIBackend

from .conftest import oracle, oracle_slack


@pytest.fixture
def gram_bound_only(monkeypatch):
    """Switch off the cheap entrywise caps (Frobenius, Gershgorin; docs/bounds.md §5), which are exact on
    some Hadamard matrices, so the sweeps see the Gram bound itself."""
    from spectra.methods import _common

    monkeypatch.setattr(_common, "deterministic_bounds", lambda op: (np.zeros(op.B), np.full(op.B, np.inf)))


SHAPES = [(16, 16), (64, 16), (16, 64), (32, 8), (4, 1), (1, 4), (2, 2), (64, 64)]


def _families(k: int) -> dict[str, np.ndarray]:
    """Dyadic singular values (multiples of 2^-10), largest exactly 1: the adversarial profiles."""
    i = np.arange(k)
    return {
        "flat": np.ones(k),  # every singular value on top: the Gram bound's worst case, rank^(1/2^(t+1))
        "repeated_top": np.r_[1.0, 1.0, np.floor(512 * (1 - i[2:] / k)) / 1024],
        "rank_one": np.r_[1.0, np.zeros(k - 1)],
        "outlier": np.r_[1.0, np.floor(512 * (1 - i[1:] / k)) / 1024],
        "near_flat": 1.0 - i / 1024.0,
        "two_levels": np.where(i < k // 2, 1.0, 0.5),
    }


def exact_matrix(s: np.ndarray, m: int, n: int, complex_: bool = False) -> np.ndarray:
    """``m x n`` matrix with singular values ``s`` (length ``min(m, n)``), every entry exact in float32."""
    k = min(m, n)
    assert math.isqrt(m * n) ** 2 == m * n and math.isqrt(m * n) & (math.isqrt(m * n) - 1) == 0, "sqrt(mn): 2^j"
    Hm = hadamard(m)[:, :k].astype(np.float64)
    Hn = hadamard(n)[:k, :].astype(np.float64)
    A = (Hm * s[:k]) @ Hn / math.sqrt(m * n)
    if complex_:  # a unitary diagonal of powers of i on the right: exact, singular values unchanged
        A = A * (1j ** np.arange(n))
    return A


def _sweep(dtype, scale_exp: int):
    """All families and shapes at one dtype and power-of-two scale; returns (misses, cases)."""
    complex_ = np.dtype(dtype).kind == "c"
    misses, cases = [], 0
    # NumPy's batched complex matmul does not use BLAS: the complex sweeps keep to the smaller shapes
    for m, n in [sh for sh in SHAPES if not complex_ or max(sh) <= 32]:
        fam = _families(min(m, n))
        stack = np.stack([exact_matrix(s, m, n, complex_) for s in fam.values()])
        stack = np.ldexp(stack.real, scale_exp) + (1j * np.ldexp(stack.imag, scale_exp) if complex_ else 0)
        stack = stack.astype(dtype)
        truth = np.array([np.ldexp(s.max(), scale_exp) for s in fam.values()])
        assert np.array_equal(stack.astype(np.complex128), stack.astype(np.complex128)), "entries must be exact"
        r = spectra.norm(stack.reshape(2, 3, m, n), method="gram")
        up, lo = np.asarray(r.upper).reshape(-1), np.asarray(r.lower).reshape(-1)
        assert np.all(np.asarray(r.confidence) == 1.0)
        for name, t, u_, l_ in zip(fam, truth, up, lo, strict=True):
            cases += 1
            if not (l_ <= t <= u_):
                misses.append((m, n, name, l_, t, u_))
        # single matrices take the scalar path
        for name, A, t in zip(fam, stack, truth, strict=True):
            r1 = spectra.norm(A, method="gram")
            cases += 1
            if not (r1.lower <= t <= r1.upper) or r1.confidence != 1.0:
                misses.append((m, n, name, r1.lower, t, r1.upper))
    return misses, cases


@pytest.mark.parametrize(
    ("dtype", "scale_exp"),
    [
        (np.float64, 0),
        (np.float64, 1000),  # entries up to 2^1000: squares would overflow without the rescaling
        (np.float64, 1022),  # at the overflow threshold
        (np.float64, -1000),
        (np.float64, -1045),  # subnormal entries, still exact
        (np.complex128, 0),
        (np.complex128, -1040),
        (np.float32, 0),
        (np.float32, 120),
        (np.float32, -120),
        (np.float32, -130),  # subnormal float32 entries
        (np.complex64, 0),
        (np.complex64, 126),
    ],
)
def test_never_below_the_true_norm(dtype, scale_exp, gram_bound_only):
    misses, cases = _sweep(dtype, scale_exp)
    assert cases >= 2 * 6 * 5
    assert misses == []


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_never_below_the_true_norm_with_single_precision_squaring(dtype, monkeypatch, gram_bound_only):
    """Where the namespace has no float64 (JAX's 32-bit mode) the squaring runs in float32: rounding is
    then large and the analysis has to carry the bound on its own. (Only single-precision arrays exist
    there, so the inputs are float32/complex64.)"""
    monkeypatch.setattr(
        ArrayAPIBackend, "wide_dtype", lambda self, like, complex_: np.complex64 if complex_ else np.float32
    )
    for scale_exp in (0, 100, -100):
        misses, cases = _sweep(dtype, scale_exp)
        assert cases > 0 and misses == []


@pytest.mark.parametrize("name", ["outlier", "repeated", "clustered", "flat", "rank_one", "decaying"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex64])
def test_random_spectra_against_lapack(name, dtype):
    """Haar-random singular vectors (not exact in floating point): checked against the float64 SVD."""
    for seed in range(5):
        for m, n in [(50, 30), (30, 50), (17, 17)]:
            A = matrix_with_singular_values(2.0 * spectrum(name, min(m, n)), m, n, dtype=dtype, seed=seed)
            r = spectra.norm(A, method="gram")
            truth = oracle(A)
            assert r.lower <= truth * (1 + oracle_slack(A)) and truth * (1 - oracle_slack(A)) <= r.upper
            assert r.converged and r.confidence == 1.0
            # single-precision input is squared and certified in float64: the default rtol is reached
            assert r.upper <= (1 + 1e-6) * r.lower


def test_stack_of_many_small_matrices():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((500, 8, 8)) * np.ldexp(1.0, rng.integers(-900, 900, 500))[:, None, None]
    r = spectra.norm(A, method="gram")
    truth = oracle(A)
    assert np.all(np.asarray(r.lower) <= truth * (1 + 1e-14)) and np.all(truth <= np.asarray(r.upper) * (1 + 1e-14))
    assert np.all(np.asarray(r.confidence) == 1.0) and np.all(np.asarray(r.converged))
    assert np.all(np.asarray(r.upper) <= (1 + 1e-6) * np.asarray(r.lower))


@pytest.mark.parametrize("r_top", [1, 2, 5, 16])
@pytest.mark.parametrize("t", [1, 2, 3, 5])
def test_width_matches_the_analysis(r_top, t):
    """With ``r`` equal top singular values (the rest 0) and ``t`` squarings the bound is exactly
    ``sigma_1 r^(1/2^(t+2))`` in exact arithmetic; the floating-point bound may exceed it only by its
    rounding terms (far below 1e-12 here), and must never go below it. Haar singular vectors keep the
    cheap entrywise caps (Frobenius, Gershgorin) above the Gram bound, so the Gram bound is what is seen."""
    n = 16
    s = np.r_[np.ones(r_top), np.zeros(n - r_top)]
    A = matrix_with_singular_values(s, 64, n, seed=r_top)
    r = spectra.norm(A, method="gram", maxiter=t, rtol=1e-14)
    predicted = r_top ** (1.0 / 2 ** (t + 2))
    assert r.iterations == (t if r_top > 1 else min(t, r.iterations))
    if r_top > 1:
        assert predicted * (1 - 1e-14) <= r.upper <= predicted * (1 + 1e-12)
    assert r.lower <= 1.0 <= r.upper


@pytest.mark.parametrize("name", ["flat", "repeated_top", "near_flat", "outlier"])
@pytest.mark.parametrize("n", [16, 64])
def test_rounding_floor(name, n, gram_bound_only):
    """Asking for less than the rounding floor converges at the floor (no warning), whose size is
    bounded by the analysis: the floor is about ``n (m + n) u / 2`` at most (flat spectrum, docs/bounds.md
    §13), rtol is raised to twice the floor plus the certificate's slack; checked with a factor 2 to spare."""
    m = 4 * n
    A = exact_matrix(_families(n)[name], m, n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = spectra.norm(A, method="gram", rtol=1e-16)
    assert r.converged
    assert r.lower <= 1.0 <= r.upper
    width = r.upper / r.lower - 1
    assert width <= 2 * n * (m + n) * 2.0**-53


def test_regression_floor_below_rtol_reports_converged():
    """Regression: at rtol below the floor, two equal top values ended with converged=False and a
    ConvergenceWarning because the certificate's norm rounding was missing from the floor."""
    n = 16
    A = hadamard(n) * np.r_[1, 1, np.linspace(0.5, 0, n - 2)] @ hadamard(n) / n
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = spectra.norm(A, method="gram", rtol=1e-15)
    assert r.converged and r.lower <= 1.0 <= r.upper and r.upper - r.lower < 1e-13


def test_wide_matrix_uses_the_smaller_gram():
    A = exact_matrix(_families(8)["outlier"], 8, 512)
    r = spectra.norm(A, method="gram")
    assert r.matvecs == 2 * 8 + 1  # Â^H Â on the 8-side, and the certificate's product
    assert r.lower <= 1.0 <= r.upper


def test_return_vectors():
    A = matrix_with_singular_values(3.0 * spectrum("outlier", 20), 30, 20, seed=2)
    r = spectra.norm(A, method="gram", return_vectors=True)
    assert r.u.shape == (30,) and r.v.shape == (20,)
    np.testing.assert_allclose(np.linalg.norm(A @ r.v) / np.linalg.norm(r.v), 3.0, rtol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(r.u), 1.0, rtol=1e-12)


def test_not_chosen_by_auto():
    assert spectra.norm(np.eye(3)).method == "svd"


@pytest.mark.parametrize(
    "A",
    [sp.random(20, 10, density=0.3, format="csr", random_state=0), aslinearoperator(np.eye(4))],
    ids=["sparse", "operator"],
)
def test_sparse_and_operator_are_rejected(A):
    with pytest.raises(ValueError, match="method='gram' needs a dense array"):
        spectra.norm(A, method="gram")


def test_v0_is_rejected():
    with pytest.raises(ValueError, match="v0 does not apply to method='gram'"):
        spectra.norm(np.eye(3), method="gram", v0=np.ones(3))
