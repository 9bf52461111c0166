"""Stacks of small matrices: the one-matrix-per-task certificate kernel (numba) and its fallback.

Every interval is deterministic (confidence 1), so every sweep here must show zero misses against the
float64/complex128 LAPACK oracle of the stored matrices.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import spectra
from spectra._testing import matrix_with_singular_values, spectrum
from spectra.backends.numba import NumbaBackend
from spectra.methods import _small_stack

from .conftest import oracle

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
PROFILES = ["flat", "repeated", "rank_one", "clustered", "outlier", "decaying", "geometric"]


def _stack(profile: str, B: int, m: int, n: int, dtype, seed: int = 0, scales=None) -> np.ndarray:
    k = min(m, n)
    mats = []
    for b in range(B):
        s = spectrum(profile, k, seed=seed + b)
        if scales is not None:
            s = s * scales[b % len(scales)]
        mats.append(matrix_with_singular_values(s, m, n, dtype=dtype, seed=seed + b))
    return np.stack(mats)


def _assert_contains(r, A):
    truth = oracle(A)
    lower, upper = np.asarray(r.lower), np.asarray(r.upper)
    slack = 4.0 * max(A.shape[-2:]) * 2.0**-53  # the oracle's own rounding
    assert np.all(lower <= truth * (1 + slack)), np.max(lower / truth)
    assert np.all(truth <= upper * (1 + slack)), np.min(upper / truth)
    return truth


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(32, 32), (40, 9), (9, 40), (1, 6), (6, 1), (64, 64), (3, 2)])
def test_certified_interval_sweep(dtype, shape):
    """Adversarial spectra, both sides, every dtype: confidence 1 and zero misses."""
    m, n = shape
    for profile in PROFILES:
        A = _stack(profile, 6, m, n, dtype, seed=11)
        r = spectra.norm(A, method="lanczos", backend="numba", seed=1)
        assert np.all(np.asarray(r.confidence) == 1.0)
        _assert_contains(r, A)
        assert np.all(np.asarray(r.converged))
        width = np.asarray(r.upper) / np.asarray(r.lower) - 1
        assert np.all(width <= 1e-6), (profile, width.max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_scales_per_matrix(dtype):
    """Matrices near overflow and underflow in one stack (each gets its own power-of-two scale)."""
    single = np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64))
    scales = [1e30, 1e-30, 1.0] if single else [1e300, 1e-300, 1.0]
    A = _stack("outlier", 6, 12, 10, dtype, seed=3, scales=scales)
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    truth = _assert_contains(r, A)
    assert np.all(np.isfinite(np.asarray(r.upper)))
    np.testing.assert_allclose(np.asarray(r.value), truth, rtol=1e-6)


def test_known_values():
    """Exact norms: ones(m, n) has norm sqrt(m n); diag(3, 2, 1) has norm 3; a zero matrix in the stack."""
    A = np.stack([np.ones((9, 4)), np.pad(np.diag([3.0, 2.0, 1.0, 0.5]), ((0, 5), (0, 0))), np.zeros((9, 4))])
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    lower, upper = np.asarray(r.lower), np.asarray(r.upper)
    assert lower[0] <= 6.0 <= upper[0] and upper[0] - lower[0] <= 6e-6
    assert lower[1] <= 3.0 <= upper[1] and upper[1] - lower[1] <= 3e-6
    assert lower[2] == 0.0 and upper[2] <= 1e-300


def test_kernel_matches_oracle_directly():
    """The kernel's own output (before any fallback) against LAPACK, on both sides."""
    be = NumbaBackend()
    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        A = rng.standard_normal((50, 7, 13))
        if np.dtype(dtype).kind == "c":
            A = A + 1j * rng.standard_normal(A.shape)
        A = A.astype(dtype)
        truth = oracle(A)
        for adjoint in (False, True):
            q = 7 if adjoint else 13
            ones = np.ones(50)
            out, steps, _ = be.small_gram_certify(A, ones, ones, adjoint, rng.standard_normal((50, q)), 1e-6, q)
            assert np.all(out[:, 0] <= truth) and np.all(truth <= out[:, 1])
            assert np.all(out[:, 1] <= (1 + 1e-6) * out[:, 0])
            assert np.all(steps <= q)


def test_fallback_solves_what_the_certificate_leaves(monkeypatch):
    """Matrices whose certificate fails go through the general Lanczos path (its own bounds and confidence)."""
    real = NumbaBackend.small_gram_certify

    def failing(self, A, *args):
        out, steps, X = real(self, A, *args)
        out[::2, 1] = np.inf  # every other certificate "failed"
        return out, steps, X

    monkeypatch.setattr(NumbaBackend, "small_gram_certify", failing)
    A = _stack("outlier", 6, 64, 60, np.float64, seed=2)
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    _assert_contains(r, A)
    conf = np.asarray(r.confidence)
    assert np.all(conf[1::2] == 1.0)  # certified by the kernel
    assert np.all(conf[::2] < 1.0)  # the general path's probabilistic bound (it stops before exhausting C^60)
    assert np.all(np.asarray(r.converged))


def test_explicit_budget_and_vectors():
    """An explicit maxiter limits the kernel's Lanczos; return_vectors gives unit singular vectors."""
    A = _stack("outlier", 5, 16, 11, np.complex128, seed=4)
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0, return_vectors=True)
    truth = _assert_contains(r, A)
    u, v = np.asarray(r.u), np.asarray(r.v)
    assert u.shape == (5, 16) and v.shape == (5, 11)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-12)
    Av = np.einsum("bij,bj->bi", A, v)
    np.testing.assert_allclose(np.linalg.norm(Av, axis=1), truth, rtol=1e-6)
    r1 = spectra.norm(A, method="lanczos", backend="numba", seed=0, maxiter=1)
    _assert_contains(r1, A)


def test_matvec_count_and_repr():
    A = _stack("outlier", 4, 10, 6, np.float64)
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    assert np.all(np.asarray(r.matvecs) == 2 * 6 + 1)  # G = A^H (A I) and one certifying product


def test_stack_statistics_kernels_match_generic():
    """The numba stack path of max_abs/abs_stats equals the generic array-API statistics."""
    from spectra.backends._base import ArrayAPIBackend

    rng = np.random.default_rng(0)
    for dtype in DTYPES:
        A = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
        ones = np.ones(12)
        fast, ref = NumbaBackend(), ArrayAPIBackend()
        np.testing.assert_allclose(fast.max_abs(A), ref.max_abs(A), rtol=0)
        s_fast, s_ref = fast.abs_stats(A, ones, ones), ref.abs_stats(A, ones, ones)
        for name in ("fro", "gersh", "maxcol", "maxrow"):
            np.testing.assert_allclose(getattr(s_fast, name), getattr(s_ref, name), rtol=1e-12)
        assert (s_fast.p_row, s_fast.p_col) == (s_ref.p_row, s_ref.p_col)


def test_floor_and_applicability():
    assert _small_stack.certificate_floor(32, 32) < 1e-12
    A = np.ones((3, 70, 70))
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0)  # q > SMALL_GRAM_MAX: general path
    assert np.all(np.asarray(r.confidence) < 1.0) or np.all(np.asarray(r.converged))


def _mixed_stack(m: int, n: int, dtype, seed: int) -> np.ndarray:
    """Adversarial matrices in one stack: every profile, a near-tie at the top (gap 1e-9, far below rtol), an
    exact tie, rank one, a zero matrix, and per-matrix scales near the ends of the dtype's range."""
    single = np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64))
    k = min(m, n)
    spectra_ = [spectrum(p, k, seed=seed + i) for i, p in enumerate(PROFILES)]
    tie = np.linspace(1.0, 0.1, k)
    tie[: min(2, k)] = 1.0
    near = tie.copy()
    if k > 1:
        near[1] = 1.0 - 1e-9
    spectra_ += [tie, near, np.r_[1.0, np.zeros(k - 1)]]
    mats = [matrix_with_singular_values(s, m, n, dtype=dtype, seed=seed + i) for i, s in enumerate(spectra_)]
    mats.append(np.zeros((m, n), dtype=dtype))
    big, tiny = (1e30, 1e-30) if single else (1e300, 1e-300)
    mats += [(mats[0] * big).astype(dtype), (mats[1] * tiny).astype(dtype)]
    return np.stack(mats)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape",
    [(2, 2), (8, 8), (33, 5), (5, 33), (70, 66)]
    + [pytest.param(s, marks=pytest.mark.slow) for s in ((96, 96), (130, 128))],  # 15-20 s each
)
@pytest.mark.parametrize("rtol", [1e-6, 1e-15])
def test_zero_miss_sweep_mixed_stacks(dtype, shape, rtol):
    """Zero misses on adversarial stacks, at the default rtol and at the certificate's floor; confidence 1 where
    the certificate settles every matrix. Below its floor (1e-15) the batched Lanczos iteration finishes them,
    and a 2 x 2 member with a tie breaks down at its first step: it keeps the bounds of its invariant subspace
    (confidence 1 - delta), not the exhausted space's (docs/bounds.md §6e)."""
    A = _mixed_stack(*shape, dtype, seed=7)
    r = spectra.norm(A, method="lanczos", backend="numba", seed=3, rtol=rtol)
    conf = np.asarray(r.confidence)
    if rtol == 1e-6:
        assert np.all(conf == 1.0)
    assert np.all(np.isin(conf, (1.0, 0.999)))
    _assert_contains(r, A)
    width = np.asarray(r.upper) / np.maximum(np.asarray(r.lower), 1e-300) - 1
    nonzero = oracle(A) > 0
    assert np.all(width[nonzero] <= np.asarray(r.rtol_effective)[nonzero])
    assert np.asarray(r.upper)[~nonzero].max() == 0.0  # the zero matrix: exactly 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("q", [2, 8, 32, 64, 128])
def test_kernel_settles_gaussian_stacks(dtype, q):
    """The kernel itself certifies Gaussian stacks (no matrix left to the general path), both sides."""
    be = NumbaBackend()
    rng = np.random.default_rng(q)
    A = rng.standard_normal((40, q, q + 3))
    if np.dtype(dtype).kind == "c":
        A = A + 1j * rng.standard_normal(A.shape)
    A = A.astype(dtype)
    truth = oracle(A)
    ones = np.ones(40)
    out, steps, _ = be.small_gram_certify(A, ones, ones, True, rng.standard_normal((40, q)), 1e-6, 2 * q + 8)
    assert np.all(out[:, 0] <= truth) and np.all(truth <= out[:, 1])
    assert np.all(out[:, 1] <= (1 + 1e-6) * out[:, 0])
    assert steps.max() <= 2 * q + 8


def test_auto_follows_the_crossover_rule():
    """backend="auto" runs the stack kernel exactly where docs/performance.md's crossover table puts it."""
    from spectra import backends
    from spectra._plan import make_plan

    assert (backends.STACK_KERNEL_MIN_MATRICES, backends.STACK_KERNEL_MAX_ORDER) == (256, 128)  # the table's rule
    assert (backends.STACK_KERNEL_MIN_MATRICES_LARGE, backends.STACK_KERNEL_LARGE_ORDER) == (64, 32)
    for B in (1, 16, 63, 64, 255, 256, 5000):
        for m, n in ((2, 2), (8, 8), (31, 40), (32, 32), (64, 20), (20, 64), (96, 96), (128, 128), (129, 129)):
            A = np.zeros((B, m, n))
            plan = make_plan(A, "dense", method="auto", backend="auto", block_size=None)[0]
            q = min(m, n)
            kernel = q <= 128 and (B >= 256 or (q >= 32 and B >= 64))
            assert (plan.backend == "numba" and plan.method == "lanczos") == kernel, (B, m, n, plan)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_gram_ignores_the_work_buffer_contents(dtype):
    """Regression: the Gram matrix was accumulated from a zero taken from its own uninitialised buffer, so
    a NaN left in freshly allocated memory made every certificate of that task fail (nondeterministically)."""
    from spectra.backends._numba_stack import _gram

    rng = np.random.default_rng(0)
    Wt = rng.standard_normal((5, 9)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        Wt = Wt + 1j * rng.standard_normal((5, 9))
    G = np.full((5, 5), np.nan, dtype=dtype)
    gersh, zero = _gram(Wt, np.abs(Wt), G, np.empty(9))
    W = Wt.T
    np.testing.assert_allclose(G, W.conj().T @ W, rtol=1e-13, atol=1e-13)
    assert not zero and gersh >= np.linalg.norm(W, 2) ** 2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("q", [1, 2, 5, 8])
def test_lane_path_zero_miss_and_agrees_with_one_matrix_path(dtype, q):
    """Gram orders <= LANE_MAX_Q go four matrices at a time through the lane path (the remainder and every lane
    that needs a retry through the one-matrix path): adversarial stacks (ties, rank one, zero, scales near the
    ends of the range) on both sides, zero misses against LAPACK, and the same certified width as the
    one-matrix path, which runs on a stack too short for a lane group."""
    from spectra.backends import _numba_stack

    assert q <= _numba_stack.LANE_MAX_Q and _numba_stack.LANES == 4
    be = NumbaBackend()
    for m, n, adjoint in ((q, q + 3, True), (q + 3, q, False)):
        A = _mixed_stack(m, n, dtype, seed=q)
        A = np.concatenate([A, A[:3]])  # 16 + 3 matrices: four lane groups and a remainder of three
        B = A.shape[0]
        truth = oracle(A)
        big = np.max(np.abs(A.reshape(B, -1)), axis=1)  # per-matrix power-of-two scale, as the driver sets it
        e = np.where(big > 0, -np.frexp(np.where(big > 0, big, 1.0))[1], 0)
        c1, c2 = np.ldexp(1.0, e // 2), np.ldexp(1.0, e - e // 2)
        v0 = np.random.default_rng(q).standard_normal((B, q))
        out, _, _ = be.small_gram_certify(A, c1, c2, adjoint, v0, 1e-6, 2 * q + 8)
        scale = c1 * c2
        lower, upper = out[:, 0] / scale, out[:, 1] / scale
        slack = 4.0 * max(m, n) * 2.0**-53
        assert np.all(lower <= truth * (1 + slack)), (m, n, np.flatnonzero(lower > truth * (1 + slack)))
        assert np.all(truth <= upper * (1 + slack)), (m, n, np.flatnonzero(truth > upper * (1 + slack)))
        nonzero = truth > 0
        assert np.all(out[~nonzero] == 0.0)  # a zero matrix (complex ones too) is settled in the kernel: exactly 0
        assert np.all(out[nonzero, 1] <= (1 + 1e-6) * out[nonzero, 0])  # every matrix settled in the kernel
        for b in range(B):  # the one-matrix path on the same matrix: also settled, the same width to rtol
            one, _, _ = be.small_gram_certify(
                A[b : b + 1], c1[b : b + 1], c2[b : b + 1], adjoint, v0[b : b + 1], 1e-6, 2 * q + 8
            )
            assert np.isfinite(one[0, 1]) == np.isfinite(out[b, 1])
            if nonzero[b]:
                assert one[0, 0] <= truth[b] * scale[b] * (1 + slack) <= one[0, 1] * (1 + slack) ** 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_matrix_in_a_stack_is_settled_by_the_kernel(dtype, monkeypatch):
    """Regressions. (1) The modulus bound of a complex zero entry was 2^-500 rather than 0, so a complex zero
    matrix was not recognised as zero: its certificate failed (upper = inf) and it went through the general path.
    (2) On the lane path (Gram order <= 8) a zero matrix in the first lane of a group of four overflowed its own
    inverse iteration, and the lower-bound step took its zero from that lane (``inf * 0``): the three other
    matrices of the group got lower = 0 and went through the general path, with confidence < 1 (3000 x 5 x 5
    float64 with every fourth matrix zero: 552 matrices, 43 ms against 7.6 ms now). Now a zero matrix's interval
    is exactly [0, 0] from the kernel, every other matrix is settled there, and all keep LAPACK's norm."""
    from spectra.methods import lanczos

    run, calls = lanczos.run, []
    monkeypatch.setattr(lanczos, "run", lambda op, opts, **kw: calls.append(op.B) or run(op, opts, **kw))
    rng = np.random.default_rng(3)
    B = 23  # five lane groups and a remainder of three
    for q, p in ((8, 8), (5, 11), (12, 12)):  # lanes (q <= 8) and the one-matrix path (q > 8)
        A = rng.standard_normal((B, p, q))
        if np.dtype(dtype).kind == "c":
            A = A + 1j * rng.standard_normal(A.shape)
        A = A.astype(dtype)
        zeros = [0, 9, 22]  # in a lane group and in the remainder
        A[zeros] = 0
        ones, v0 = np.ones(B), rng.standard_normal((B, q))
        out, _, _ = NumbaBackend().small_gram_certify(A, ones, ones, False, v0, 1e-6, 2 * q + 8)
        assert np.all(out[zeros] == 0.0), out[zeros]
        assert np.all(out[:, 1] <= (1 + 1e-6) * out[:, 0]), np.flatnonzero(out[:, 1] > (1 + 1e-6) * out[:, 0])
        calls.clear()
        r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
        assert calls == [B]  # one call for the whole stack: no matrix went on to the general path
        value = np.asarray(r.value)
        assert np.all(value[zeros] == 0.0) and np.all(np.asarray(r.upper)[zeros] == 0.0)
        assert np.all(np.asarray(r.confidence) == 1.0) and np.all(np.asarray(r.matvecs) == 2 * q + 1)
        truth = _assert_contains(r, A)
        rest = np.setdiff1d(np.arange(B), zeros)
        np.testing.assert_allclose(value[rest], truth[rest], rtol=2e-6)


def test_progress_reports_a_stack_the_kernel_settles(capsys):
    """Regression: a stack settled by the kernel made no progress report at all (progress=True printed nothing,
    a callback was never called). Now one final report: the widest interval, every matrix done."""
    S = np.random.default_rng(0).standard_normal((300, 16, 16))
    calls = []
    r = spectra.norm(S, method="lanczos", backend="numba", progress=calls.append)
    lower, upper = np.asarray(r.lower), np.asarray(r.upper)
    worst = int(np.argmax((upper - lower) / lower))
    assert len(calls) == 1 and calls[0].final
    info = calls[0]
    assert (info.lower, info.upper) == (lower[worst], upper[worst])
    assert (info.done, info.total, info.products, info.method) == (300, 300, int(np.max(r.matvecs)), "lanczos")
    assert info.matrix == (worst,)  # which matrix the interval belongs to
    assert info.lower <= oracle(S[worst]) <= info.upper * (1 + 1e-12)
    spectra.norm(S, method="lanczos", backend="numba", progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and re.search(r" matrix=\d+ done=300/300 ", lines[0]), lines  # another start vector


def test_progress_of_the_fallback_counts_the_whole_stack():
    """Matrices the kernel leaves (a budget of 3 steps settles none) go to Lanczos: its reports count the whole
    stack (total, the kernel's products) and only the very last report is final."""
    S = np.random.default_rng(1).standard_normal((20, 16, 16))
    calls = []
    r = spectra.norm(S, method="lanczos", backend="numba", maxiter=3, progress=calls.append)
    assert len(calls) >= 2 and [c.final for c in calls] == [False] * (len(calls) - 1) + [True]
    assert all(c.total == 20 for c in calls)
    assert all(c.products > 2 * 16 + 1 for c in calls)  # the kernel's 2q + 1 products come first
    assert calls[-1].products == int(np.max(r.matvecs))
    products = [c.products for c in calls]
    assert products == sorted(products)


def test_progress_of_the_fallback_names_matrices_of_the_whole_stack():
    """Regression: the fallback's reports named no matrix; they now give its index in the whole stack, not in
    the sub-stack of matrices the kernel left. Rank-one matrices (even indices) settle in the kernel's first
    steps, so every relayed report must name an odd index."""
    rng = np.random.default_rng(2)
    S = rng.standard_normal((20, 16, 16))
    S[::2] = rng.standard_normal((10, 16, 1)) * rng.standard_normal((10, 1, 16))
    calls = []
    r = spectra.norm(S, method="lanczos", backend="numba", maxiter=3, progress=calls.append)
    assert np.all(np.asarray(r.converged)[::2]) and not np.any(np.asarray(r.converged)[1::2])
    relayed = [c.matrix for c in calls[:-1]]
    assert relayed and all(m is not None and len(m) == 1 and m[0] % 2 == 1 for m in relayed), relayed
    (worst,) = calls[-1].matrix
    assert (calls[-1].lower, calls[-1].upper) == (np.asarray(r.lower)[worst], np.asarray(r.upper)[worst])


@pytest.mark.parametrize("method", ["svd", "power", "lanczos"])
def test_progress_names_the_widest_matrix_by_its_stack_index(method):
    """For a stack with two leading dimensions, the final report's ``matrix`` is the index of the matrix with
    the widest interval, and its interval is that matrix's in the result; a single matrix names none."""
    rng = np.random.default_rng(3)
    S = rng.standard_normal((3, 4, 30, 30))
    calls = []
    r = spectra.norm(S, method=method, backend="numpy", seed=0, progress=calls.append)
    lower, upper = np.asarray(r.lower), np.asarray(r.upper)
    width = (upper - lower) / lower
    worst = np.unravel_index(int(np.argmax(width)), width.shape)
    info = calls[-1]
    assert info.final and info.matrix == tuple(int(i) for i in worst)
    assert (info.lower, info.upper) == (lower[worst], upper[worst])
    assert info.lower <= oracle(S[worst]) * (1 + 1e-12) and oracle(S[worst]) <= info.upper * (1 + 1e-12)
    single = []
    spectra.norm(S[0, 0], method=method, backend="numpy", seed=0, progress=single.append)
    assert single[-1].matrix is None and "matrix=" not in str(single[-1])


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.float64])
def test_a_zero_matrix_of_a_stack_is_zero_exactly_under_the_batched_svd(dtype):
    """Regression: under the batched SVD a zero matrix of a stack got ``[0, 5.7e-42]`` (complex64: the underflow
    slack of the LAPACK interval) with ``converged=True``, against ``upper <= (1 + rtol_effective) lower``; every
    other method, and the zero matrix alone, gave ``[0, 0]``."""
    S = np.random.default_rng(0).standard_normal((300, 8, 8)).astype(dtype)
    S[0] = 0
    for backend in ("numpy", "numba"):
        r = spectra.norm(S, method="svd", backend=backend)
        assert (r.lower[0], r.upper[0], r.value[0], bool(r.converged[0])) == (0.0, 0.0, 0.0, True)
        assert np.all(np.asarray(r.lower)[1:] > 0)


@pytest.mark.parametrize("method", ["lanczos", "power", "gram"])
def test_a_zero_matrix_does_not_hide_the_widest_interval(method):
    """Regression: the reports of the numpy backend's batched methods took ``[0, 0]`` as the widest interval
    (``lower == 0`` counted as infinitely wide), so a zero matrix in a stack was shown at every step with
    ``width=0``. A settled ``[0, 0]`` now has width 0, as :attr:`spectra.Progress.width` says."""
    S = np.random.default_rng(0).standard_normal((4, 20, 20))
    S[2] = 0
    calls = []
    r = spectra.norm(S, method=method, backend="numpy", seed=0, progress=calls.append)
    assert calls and all(c.matrix != (2,) for c in calls), [c.matrix for c in calls]
    lower, upper = np.asarray(r.lower), np.asarray(r.upper)
    assert (lower[2], upper[2]) == (0.0, 0.0)
    (worst,) = calls[-1].matrix
    assert (calls[-1].lower, calls[-1].upper) == (lower[worst], upper[worst])


@pytest.mark.parametrize(
    "A",
    [np.zeros((3, 5, 5)), np.zeros((5, 5)), np.zeros((300, 5, 5)), np.zeros((0, 5, 5)), "sparse"],
    ids=["stack", "matrix", "stack-kernel", "empty-stack", "sparse"],
)
def test_zero_inputs_make_their_final_report(A):
    """Regression: an all-zero or empty input (answered exactly, without products) never called the progress
    callback, though every run reports once more with ``final=True`` at the end. It now makes that report."""
    import scipy.sparse as sp

    A = sp.csr_array((50, 50)) if isinstance(A, str) else A
    calls = []
    r = spectra.norm(A, seed=0, progress=calls.append)
    assert len(calls) == 1 and calls[0].final
    info = calls[0]
    assert (info.lower, info.upper, info.products, info.done, info.total) == (
        0.0,
        0.0,
        0,
        np.size(r.lower),
        np.size(r.lower),
    )
    assert info.method == r.method and info.matrix == ((0,) if A.ndim == 3 and A.shape[0] else None)


def test_a_warm_start_in_the_null_space_of_a_wide_stack_still_settles():
    """Regression: for a wide stack the kernel's start is ``A v0``; with ``A v0 = 0`` (``v0`` on a zero column)
    it divided by ``||A v0|| = 0``, and the NaN start left all 64 matrices to the batched Lanczos fallback (30×
    slower). The start is then the random one, and the kernel settles the stack as for any other ``v0``."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((64, 10, 16))
    A[:, :, -1] = 0.0
    v0 = np.zeros(16)
    v0[-1] = 1.0
    r = spectra.norm(A, method="lanczos", backend="numba", v0=v0, seed=0)
    assert "not settled" not in str(r.plan)
    truth = oracle(A)
    assert np.all(r.lower <= truth) and np.all(truth <= r.upper) and np.all(r.converged)
