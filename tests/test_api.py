"""Behaviour of the public API: warnings, seeds, warm starts, vectors, progress, normalize, the result object."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

import spectra
from spectra._testing import matrix_with_singular_values, spectrum

from .conftest import oracle

A = matrix_with_singular_values(2.0 * spectrum("flat", 60, seed=1), 80, 60, seed=7)


def test_public_names():
    assert sorted(spectra.__all__) == sorted(
        [
            "BackendUnavailableError",
            "ConvergenceWarning",
            "NormEstimate",
            "Progress",
            "SpectraError",
            "compile_numba_kernels",
            "conv_norm",
            "norm",
            "normalize",
        ]
    )


def test_convergence_warning_only_with_the_default_budget():
    with pytest.warns(spectra.ConvergenceWarning, match="default budget"):
        r = spectra.norm(A, method="power", certify=True, seed=0)
    assert not r.converged and r.lower <= 2.0 <= r.upper
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = spectra.norm(A, method="power", certify=True, seed=0, maxiter=5)
    assert not r.converged and r.iterations == 5


def test_no_warning_when_converged():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = spectra.norm(A, method="lanczos", seed=0)
    assert r.converged


@pytest.mark.parametrize("method", ["power", "lanczos", "randomized"])
def test_same_seed_same_result(method):
    r1 = spectra.norm(A, method=method, seed=123, maxiter=2)
    r2 = spectra.norm(A, method=method, seed=123, maxiter=2)
    assert r1 == r2
    r3 = spectra.norm(A, method=method, seed=np.random.default_rng(124), maxiter=2)
    assert r3.value != r1.value


def test_seed_gives_same_estimate_on_every_backend():
    import array_api_strict as xs

    r1 = spectra.norm(A, method="lanczos", seed=5, maxiter=6)
    r2 = spectra.norm(xs.asarray(A), method="lanczos", seed=5, maxiter=6)
    assert r2.backend == "array_api"
    assert r1.value == pytest.approx(r2.value, rel=1e-13)
    assert r1.upper == pytest.approx(r2.upper, rel=1e-10)


@pytest.mark.parametrize("method", ["power", "lanczos"])
def test_certify_false_stops_earlier_with_valid_bounds(method):
    rc = spectra.norm(A, method=method, seed=0, certify=True, maxiter=300)
    rf = spectra.norm(A, method=method, seed=0, certify=False, maxiter=300)
    assert rf.matvecs <= rc.matvecs
    assert rf.lower <= 2.0 <= rf.upper


def test_rtol_controls_cost_and_width():
    loose = spectra.norm(A, method="lanczos", seed=0, rtol=1e-2)
    tight = spectra.norm(A, method="lanczos", seed=0, rtol=1e-10)
    assert loose.matvecs < tight.matvecs
    assert loose.upper <= (1 + 1e-2) * loose.lower
    assert tight.upper <= (1 + 1e-10) * tight.lower


def test_confidence_is_reported_and_changes_the_bound():
    r3 = spectra.norm(aslinearoperator(A), method="lanczos", seed=0, maxiter=5, confidence=0.9)
    r9 = spectra.norm(aslinearoperator(A), method="lanczos", seed=0, maxiter=5, confidence=0.999999)
    assert (r3.confidence, r9.confidence) == (0.9, 0.999999)
    assert r3.upper < r9.upper


@pytest.mark.parametrize("method", ["power", "lanczos", "randomized"])
@pytest.mark.parametrize("confidence", [1e-20, 1e-300])
def test_a_confidence_near_zero_still_gives_the_guaranteed_lower_bound(method, confidence):
    """Regression: ``randomized`` raised "math domain error" for a confidence whose complement rounds to 1 (the
    Christoffel threshold t became infinite, and log(1/t^2) of 0 was taken). For t >= 1 the Christoffel bound is
    the Ritz value itself (C_k >= 1 everywhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spectra.ConvergenceWarning)  # an upper bound below lower is expected here
        r = spectra.norm(A, method=method, confidence=confidence, seed=0)
    truth = oracle(A)
    assert 0 < r.lower <= truth and r.lower <= r.upper


@pytest.mark.parametrize("scale", [1e300, 1e-300])
@pytest.mark.parametrize("wide", [False, True])
def test_a_warm_start_with_huge_or_tiny_entries_is_used_as_its_direction(scale, wide):
    """Regression: v0 = full(n, 1e300) warned "overflow encountered in multiply" (an error here) and was
    then dropped (its norm was inf), and 1e-300 underflowed; only the direction of v0 counts."""
    B = A.T if wide else A
    n = B.shape[1]
    ref = spectra.norm(B, method="lanczos", seed=0, maxiter=3, v0=np.ones(n))
    got = spectra.norm(B, method="lanczos", seed=0, maxiter=3, v0=np.full(n, scale))
    cold = spectra.norm(B, method="lanczos", seed=0, maxiter=3)
    np.testing.assert_allclose([got.lower, got.upper], [ref.lower, ref.upper], rtol=1e-12)
    assert (got.lower, got.upper) != (cold.lower, cold.upper)  # the warm start was used


@pytest.mark.parametrize("method", ["power", "lanczos"])
def test_warm_start_helps_and_keeps_bounds_honest(method):
    first = spectra.norm(A, method=method, seed=0, return_vectors=True)
    cold = spectra.norm(A, method=method, seed=1, maxiter=2)
    warm = spectra.norm(A, method=method, seed=1, maxiter=2, v0=first.v)
    truth = oracle(A)
    assert warm.lower <= truth <= warm.upper
    assert abs(warm.value - truth) <= abs(cold.value - truth)


def test_randomized_refuses_a_warm_start():
    """Regression: ``method="randomized"`` dropped ``v0`` silently (the result bitwise that of the call
    without it); its block bound needs a Gaussian start block, so it says so, as ``gram`` and ``svd`` do."""
    v = spectra.norm(A, method="lanczos", seed=0, return_vectors=True).v
    with pytest.raises(ValueError, match="v0 does not apply to method='randomized'.*method='lanczos'"):
        spectra.norm(A, method="randomized", seed=0, v0=v)
    with pytest.raises(ValueError, match="v0 does not apply to method='randomized'"):
        spectra.norm(A, block_size=4, seed=0, v0=v)  # auto picks randomized for a block size


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_a_warm_start_that_cancels_the_random_start_claims_no_probability(method):
    """Regression: ``v0 = -b`` (``b`` the seed's own start; e.g. minus the ``v`` of an orthogonal matrix, whose
    Krylov answer is the start itself) made ``x0 = v0/||v0|| + b = 0``, a NaN start, and a ValueError that
    blamed ``A``. Now the start is ``b`` and no probabilistic bound is claimed (the event cannot hold): the
    interval is the deterministic one, at confidence 1, and holds ``||W||_2`` (LAPACK)."""
    n = 30
    Q = np.linalg.qr(np.random.default_rng(5).standard_normal((n, n)))[0]
    b = spectra.norm(Q, method="lanczos", seed=0, return_vectors=True).v  # the seed-0 start itself
    W = np.random.default_rng(1).standard_normal((2 * n, n))
    r = spectra.norm(W, method=method, seed=0, v0=-b)
    truth = oracle(W)
    assert np.isfinite(r.value) and r.lower <= truth <= r.upper and r.confidence == 1.0


def test_a_warm_start_that_nearly_cancels_the_random_start_claims_no_probability():
    """Regression: ``v0 = -b + eps d`` (``b`` the seed's own start, ``d`` orthogonal to the top singular vector)
    left ``||x0||`` just above ``t``, so ``t_eff = t/||x0||`` claimed a start well aligned with the top vector:
    ``lanczos`` returned ``[5.27, 5.27]`` at confidence 0.999 for a norm of 10. Below ``||x0|| = 1/2`` no
    probabilistic bound is claimed; the interval holds the prescribed norm."""
    rng = np.random.default_rng(5)
    m, n = 60, 40
    U = np.linalg.qr(rng.standard_normal((m, n)))[0]
    V = np.linalg.qr(rng.standard_normal((n, n)))[0]
    M = U @ np.diag(np.r_[10.0, np.linspace(1.0, 0.5, n - 1)]) @ V.T  # ||M||_2 = 10
    b = spectra.norm(np.eye(n), method="lanczos", seed=7, return_vectors=True).v  # the seed-7 start on n = 40
    d = rng.standard_normal(n)
    d -= (d @ V[:, 0]) * V[:, 0]
    d /= np.linalg.norm(d)
    for eps in (1e-3, 1e-2, 0.3):
        r = spectra.norm(M, method="lanczos", seed=7, v0=-b + eps * d)
        assert r.lower <= 10.0 <= r.upper * (1 + 1e-15), (eps, r.interval)


def test_warm_start_wide_matrix_and_stack():
    W = A.T.copy()
    first = spectra.norm(W, method="power", seed=0, return_vectors=True)
    warm = spectra.norm(W, method="power", seed=1, maxiter=3, v0=first.v)
    assert warm.lower <= oracle(W) <= warm.upper
    S = np.stack([A, 2 * A])
    v0 = spectra.norm(S, method="lanczos", seed=0, return_vectors=True).v
    assert v0.shape == (2, 60)
    r = spectra.norm(S, method="power", seed=0, v0=v0, maxiter=2)
    assert np.all(r.lower <= oracle(S)) and np.all(oracle(S) <= r.upper)


@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized"])
@pytest.mark.parametrize("shape", [(80, 60), (60, 80)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_return_vectors(method, shape, dtype):
    M = matrix_with_singular_values(spectrum("outlier", 60), *shape, dtype=dtype, seed=3)
    r = spectra.norm(M, method=method, seed=0, return_vectors=True)
    assert r.u.shape == (shape[0],) and r.v.shape == (shape[1],)
    np.testing.assert_allclose(np.linalg.norm(r.u), 1.0, rtol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(r.v), 1.0, rtol=1e-10)
    np.testing.assert_allclose(M @ r.v, r.value * r.u, atol=1e-5)
    assert spectra.norm(M, method=method, seed=0).u is None


def test_progress_prints_to_stderr(capsys):
    spectra.norm(A, method="lanczos", seed=0, progress=True)
    err = capsys.readouterr().err
    assert "spectra lanczos" in err and "width=" in err


def test_result_object():
    r = spectra.norm(A, method="svd")
    assert dataclasses.is_dataclass(r)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.value = 1.0
    assert float(r) == r.value
    text = repr(r)
    for part in ("value=", "interval=(", "confidence=", "method='svd'", "backend='numpy'", "matvecs="):
        assert part in text
    stack = spectra.norm(np.stack([A, A]), method="svd")
    with pytest.raises(TypeError, match="stack"):
        float(stack)


@pytest.mark.parametrize("method", ["svd", "lanczos"])
def test_normalize(method):
    W = spectra.normalize(A, method=method, seed=0)
    assert isinstance(W, np.ndarray)
    assert oracle(W) <= 1.0
    assert oracle(W) >= 1.0 - 1e-5
    S = spectra.normalize(sp.csr_array(A), seed=0)
    assert sp.issparse(S) and oracle(S.toarray()) <= 1.0
    stack = spectra.normalize(np.stack([A, 3 * A]), method="svd")
    assert np.all(oracle(stack) <= 1.0)
    Z = spectra.normalize(np.zeros((3, 3)))
    assert np.all(Z == 0)


def test_auto_method_choice():
    assert spectra.norm(A).method == "svd"
    big = matrix_with_singular_values(spectrum("outlier", 480), 500, 480, seed=0)
    assert spectra.norm(big, seed=0).method == "lanczos"
    assert spectra.norm(sp.csr_array(A), seed=0).method == "lanczos"
    assert spectra.norm(aslinearoperator(A), seed=0).method == "lanczos"
    assert spectra.norm(A, block_size=4, seed=0).method == "randomized"


def test_block_size_is_used():
    r4 = spectra.norm(A, method="randomized", block_size=4, seed=0, maxiter=2)
    r2 = spectra.norm(A, method="randomized", block_size=2, seed=0, maxiter=2)
    assert r4.matvecs > r2.matvecs


def test_svd_reads_no_entry_statistics(monkeypatch):
    """Regression (performance): ``method="svd"`` computed the entry statistics of the deterministic caps
    (row/column sums and squares), which it never uses: 1.78 s of a 2.24 s call on a 10⁷ × 2 matrix, 6.1× the
    time of ``np.linalg.norm``. It now reads ``max |a_ij|`` only (scale, finiteness, zero matrices)."""
    from spectra.backends.numpy import NumPyBackend

    def refuse(self, *args):
        raise AssertionError("abs_stats read")

    monkeypatch.setattr(NumPyBackend, "abs_stats", refuse)
    M = np.random.default_rng(0).standard_normal((400, 3)) * 1e200  # scaled: the statistics would be read apart
    S = np.stack([M[:30], np.zeros((30, 3)), M[30:60]])
    r = spectra.norm(M, method="svd", backend="numpy")
    assert r.lower <= np.linalg.norm(M, 2) <= r.upper
    rs = spectra.norm(S, method="svd", backend="numpy", return_vectors=True)
    assert float(rs.upper[1]) == 0.0 and rs.u[1][0] == 1.0 and rs.v[1][0] == 1.0
    with pytest.raises(AssertionError, match="abs_stats read"):
        spectra.norm(M, method="lanczos", backend="numpy", seed=0)


@pytest.mark.parametrize("method", ["lanczos", "randomized"])
@pytest.mark.parametrize("maxiter", [None, 400])
def test_a_restart_that_froze_the_upper_bound_is_named(monkeypatch, method, maxiter):
    """Regression: a 90 000-node grid Laplacian ran 852 steps (20 s) after its basis filled 256 MiB at step 372,
    and the warning said it "used its default budget of 1000 iterations" and to "pass a larger maxiter", which
    cannot help: after a restart the probabilistic upper bound is frozen (docs/bounds.md §8). The warning now
    names the restart, with or without a maxiter given; the interval still holds (exact norm of the path
    Laplacian: 4 sin²(πn / (2(n + 1))))."""
    from spectra.methods import lanczos

    monkeypatch.setattr(lanczos, "MIN_BASIS", 12)
    monkeypatch.setattr(lanczos, "BASIS_BYTES", 1)
    n = 3000
    L = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")
    exact = 4 * np.sin(np.pi * n / (2 * (n + 1))) ** 2
    with pytest.warns(spectra.ConvergenceWarning, match=r"restarted.*cannot tighten after a restart") as record:
        r = spectra.norm(L, method=method, rtol=1e-9, seed=0, maxiter=maxiter)
    assert not any("default budget" in str(w.message) for w in record)
    assert not r.converged
    assert r.lower <= exact <= r.upper
