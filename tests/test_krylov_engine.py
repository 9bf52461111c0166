"""The block Golub-Kahan-Lanczos engine: orthogonality, exact projection, restart, breakdown."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import spectra
from spectra._operand import make_operand
from spectra._testing import matrix_with_singular_values, spectrum
from spectra.backends.numpy import NumPyBackend
from spectra.methods import lanczos
from spectra.methods._common import Options
from spectra.methods._gram_lanczos import GramLanczos
from spectra.methods._lanczos_single import SingleMatrixTest

from .conftest import oracle


def _options(*, rtol, confidence, maxiter, block_size=None):
    """Method options as :func:`spectra.norm` builds them, for calling a method's ``run`` directly."""
    return Options(
        rtol=rtol,
        certify=True,
        confidence=confidence,
        maxiter=maxiter,
        maxiter_given=True,
        block_size=block_size,
        v0=None,
        rng=np.random.default_rng(0),
        return_vectors=False,
        progress=False,
    )


def _gapped_matrix():
    """A huge gap: plain Lanczos loses orthogonality after a few steps (Paige) and produces ghosts."""
    s = np.r_[1.0, 1e-3 * np.linspace(1.0, 0.1, 199)]
    return matrix_with_singular_values(s, 260, 200, seed=0)


def _run_engine(A, steps, b=1):
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    rng = np.random.default_rng(0)
    V1, _ = np.linalg.qr(rng.standard_normal((A.shape[1], b)))
    g = GramLanczos(op, V1, max_basis=10_000, keep_images=True)
    for _ in range(steps):
        g.step()
    return g


def _orthogonality_loss(g):
    V = g.V
    return np.max(np.abs(V.T @ V - np.eye(V.shape[1])))


@pytest.mark.parametrize("b", [1, 4])
def test_bases_stay_orthonormal_and_projection_exact(b):
    A = _gapped_matrix()
    g = _run_engine(A, 30, b)
    assert _orthogonality_loss(g) < 1e-13
    nK = g.known
    np.testing.assert_allclose(A.T @ A @ g.V[:, :nK], g.V @ g.K[0], atol=1e-14)
    np.testing.assert_allclose(g.images, A @ g.V[:, :nK], atol=1e-14)  # the images are A V_known
    theta = g.ritz()[0]
    assert theta[0] <= 1.0 * (1 + 1e-14)


def test_guard_fails_without_reorthogonalisation(monkeypatch):
    """The orthogonality test above has teeth: with local orthogonalisation only, it fails."""

    def local_only(self, W, Q):
        if Q is None:
            return W, None
        last = Q[..., -1:]
        c = last.conj().swapaxes(-1, -2) @ W
        full = np.zeros((*Q.shape[:-2], Q.shape[-1], W.shape[-1]))
        full[..., -1:, :] = c
        return W - last @ c, full

    monkeypatch.setattr(GramLanczos, "_project_out", local_only)
    g = _run_engine(_gapped_matrix(), 30)
    assert _orthogonality_loss(g) > 1e-3


def test_restart_keeps_bounds_valid_and_converges():
    A = matrix_with_singular_values(spectrum("flat", 400, seed=3), 500, 400, seed=1)
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    opts = _options(rtol=1e-9, confidence=0.999, maxiter=400)
    res = lanczos.run(op, opts, max_basis=40, keep=8)
    truth = oracle(A)
    assert res.lower[0] <= truth <= res.upper[0]
    assert abs(res.value[0] - truth) < 1e-12
    assert res.iterations > 40  # it did restart


@pytest.mark.parametrize("method", ["lanczos", "randomized"])
@pytest.mark.parametrize(("m", "n"), [(5, 5), (9, 4), (4, 9), (1, 6), (6, 1)])
def test_exhausted_space_gives_exact_value(method, m, n):
    A = matrix_with_singular_values(spectrum("flat", min(m, n)), m, n, seed=2)
    r = spectra.norm(A, method=method, seed=0, rtol=1e-15)
    assert r.converged
    assert abs(r.value - oracle(A)) <= 1e-14 * oracle(A)
    assert r.upper <= r.lower * (1 + 1e-12)


@pytest.mark.parametrize("method", ["lanczos", "randomized"])
def test_repeated_top_singular_value(method):
    A = matrix_with_singular_values(spectrum("repeated", 200), 300, 200, seed=9)
    r = spectra.norm(A, method=method, seed=0)
    assert r.lower <= 1.0 <= r.upper and r.converged


def test_gaussian_3000_certifies_in_250_products():
    """Issue target: certified width <= 1e-6 with <= 250 products on a 3000 x 3000 Gaussian matrix."""
    A = np.random.default_rng(0).standard_normal((3000, 3000))
    r = spectra.norm(A, method="lanczos", rtol=1e-6, seed=0)
    assert r.converged and r.upper <= (1 + 1e-6) * r.lower
    assert r.matvecs <= 250


@pytest.mark.parametrize("kind", ["outlier", "low_rank", "flat", "decaying"])
@pytest.mark.parametrize("shape", [(60, 40), (40, 200)])
def test_deflation_gate_changes_no_result(monkeypatch, kind, shape):
    """Skipping the full Ritz spectrum when Frobenius deflation cannot help leaves every number unchanged."""
    s = spectrum(kind, min(shape)) if kind != "low_rank" else np.r_[3.0, 2.0, 1.0, np.zeros(min(shape) - 3)]
    A = matrix_with_singular_values(s, *shape, seed=7)
    calls = []
    # a single matrix's gate is SingleMatrixTest's float twin of the array function
    gate, single_gate = lanczos.deflation_may_help, SingleMatrixTest.deflation_may_help
    monkeypatch.setattr(lanczos, "deflation_may_help", lambda *a: calls.append(gate(*a)) or calls[-1])
    monkeypatch.setattr(SingleMatrixTest, "deflation_may_help", lambda *a: calls.append(single_gate(*a)) or calls[-1])
    gated = spectra.norm(A, method="lanczos", seed=1, maxiter=25)
    monkeypatch.setattr(lanczos, "deflation_may_help", lambda *a: True)
    monkeypatch.setattr(SingleMatrixTest, "deflation_may_help", lambda *a: True)
    full = spectra.norm(A, method="lanczos", seed=1, maxiter=25)
    assert (gated.value, gated.lower, gated.upper, gated.matvecs) == (full.value, full.lower, full.upper, full.matvecs)
    if kind == "low_rank":
        assert any(calls)  # the Krylov space captures the whole spectrum: deflation matters and is computed
    if kind == "flat":
        assert not all(calls)  # ... and the gate does skip steps where it cannot


@pytest.mark.parametrize("storage", ["row buffer", "concatenated"])
@pytest.mark.parametrize("max_basis", [25, 150])
def test_gram_lanczos_basis_orthonormal_across_restart(monkeypatch, storage, max_basis):
    """The Lanczos basis (kept as rows of a buffer on NumPy, concatenated elsewhere) stays orthonormal,
    and ``M V_known = V K`` holds, before and after a thick restart."""
    from spectra.methods import _krylov

    monkeypatch.setattr(_krylov, "RESERVE_BYTES", 0)  # as for a huge n: start small and double
    A = _gapped_matrix()
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    v1 = np.random.default_rng(0).standard_normal((A.shape[1], 1))
    v1 /= np.linalg.norm(v1)
    if storage == "concatenated":
        monkeypatch.setattr(GramLanczos, "__init__", _concat_init(GramLanczos.__init__))
    g = GramLanczos(op, v1, max_basis=max_basis)
    rows = lambda: g._store._rows  # noqa: E731
    assert (rows() is None) == (storage == "concatenated")
    if rows() is not None:  # regression: the buffer once reserved max_basis rows up front (24 GB for n = 1e7)
        assert rows().shape[-2] <= 64
    M = A.T @ A
    for step in range(90):
        if g.full():
            g.restart(8)
        g.step()
        V, nK = g.V, g.known
        assert np.max(np.abs(V.T @ V - np.eye(V.shape[1]))) < 1e-13, step
        np.testing.assert_allclose(M @ V[:, :nK], V @ g.K[0], atol=1e-13)
    assert g.restarts >= (1 if max_basis == 25 else 0)
    if rows() is not None and max_basis == 150:
        assert rows().shape[-2] == 128  # grew by doubling, past its first 64 rows


def _concat_init(init):
    def wrapped(self, op, v1, max_basis):
        init(self, op, v1, max_basis)
        V = self.V.copy()
        self._store._rows = None
        self.V = V

    return wrapped


@pytest.mark.parametrize("b", [3, 8])
def test_block_gram_lanczos_restart_keeps_projection_and_images(b):
    """Block engine (randomized): ``M V_known = V K`` and ``images = Â V_known`` hold across thick restarts."""
    A = _gapped_matrix()
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    V1, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((A.shape[1], b)))
    g = GramLanczos(op, V1, max_basis=6 * b, keep_images=True)
    M = A.T @ A
    for step in range(12):
        if g.full():
            g.restart(2 * b)
        g.step()
        V, nK = g.V, g.known
        assert V.shape[1] == nK + g.n_pending
        assert np.max(np.abs(V.T @ V - np.eye(V.shape[1]))) < 1e-13, step
        np.testing.assert_allclose(M @ V[:, :nK], V @ g.K[0], atol=1e-13)
        np.testing.assert_allclose(g.images, A @ V[:, :nK], atol=1e-13)
    assert g.restarts >= 2
    theta = g.ritz()[0][0]
    assert abs(theta - oracle(A)) <= 1e-12 * oracle(A)


@pytest.mark.parametrize("store_kind", ["buffer", "concatenated"])
def test_column_store_matches_concatenation(store_kind):
    """Appends (chunked transposing copies, doubling growth up to the limit) give the concatenated columns."""
    from spectra.methods._krylov import FIRST_ROWS, ColumnStore

    rng = np.random.default_rng(5)
    n = 10_000  # more rows than one copy chunk
    blocks = [rng.standard_normal((2, n, k)) for k in (3, 1, 40, 16, 30)]
    store = ColumnStore(blocks[0], limit=90, xp=np)
    if store_kind == "concatenated":
        store._rows, store._cols = None, blocks[0]
    for blk in blocks[1:]:
        store.append(blk)
    np.testing.assert_array_equal(store.array, np.concatenate(blocks, axis=-1))
    if store_kind == "buffer":
        assert store._rows.shape[-2] == 90  # the whole limit (2 x 90 x 10 000 x 8 bytes) was reserved at once
        assert FIRST_ROWS == 64
    store.array = blocks[2]  # replacing (a restart) keeps the buffer
    np.testing.assert_array_equal(store.array, blocks[2])


def test_column_store_reserves_only_what_fits(monkeypatch):
    """Regression: the limit is reserved at once only within RESERVE_BYTES (24 GB once for n = 1e7)."""
    from spectra.methods import _krylov

    first = np.zeros((1000, 1))
    assert _krylov.ColumnStore(first, 300, np)._rows.shape[-2] == 300
    monkeypatch.setattr(_krylov, "RESERVE_BYTES", 300 * 1000 * 8 - 1)
    store = _krylov.ColumnStore(first, 300, np)
    assert store._rows.shape[-2] == 64
    for _ in range(70):
        store.append(np.ones((1000, 1)))
    assert store._rows.shape[-2] == 128 and store.array.shape == (1000, 71)


@pytest.mark.parametrize("rank", [5, 200])
def test_block_engine_qr_paths(monkeypatch, rank):
    """Every block goes through Householder QR twice (no host decision, one transfer), full-rank or
    rank-deficient: the basis stays orthonormal and ``M V_known = V K`` exact to rounding."""
    s = np.r_[np.linspace(2.0, 1.0, rank), np.zeros(200 - rank)]
    A = matrix_with_singular_values(s, 260, 200, seed=4)
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    householder = []
    qr = op.backend.qr
    monkeypatch.setattr(op.backend, "qr", lambda X: householder.append(1) or qr(X))
    V1, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((200, 8)))
    g = GramLanczos(op, V1, max_basis=10_000)
    M = A.T @ A
    for _ in range(3):
        g.step()
        V, nK = g.V, g.known
        assert np.max(np.abs(V.T @ V - np.eye(V.shape[1]))) < 1e-13
        np.testing.assert_allclose(M @ V[:, :nK], V @ g.K[0], atol=1e-13 * 4)
    assert len(householder) == 2 * 3
    theta = g.ritz()[0][0]
    assert theta <= 2.0 * (1 + 1e-14)
    if rank == 5:  # the block of 8 captured the whole range at the first step
        assert abs(theta - 2.0) <= 1e-12 * 2


@pytest.mark.parametrize("b", [1, 3, 8])
def test_global_lanczos_matches_the_explicit_recurrence(b):
    """The tridiagonal that :class:`GlobalLanczos` computes from the projection equals global Lanczos run
    on explicit ``n x b`` blocks with ``M`` itself (Frobenius inner product, full reorthogonalisation)."""
    from spectra.methods._global_lanczos import GlobalLanczos

    A = matrix_with_singular_values(spectrum("flat", 120, seed=5), 150, 120, seed=6)
    M = A.T @ A
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    omega = np.random.default_rng(7).standard_normal((120, b))
    V1, R0 = np.linalg.qr(omega)
    g = GramLanczos(op, V1, max_basis=10_000)
    glz = GlobalLanczos(R0[None])
    for _ in range(6):
        g.step()
        glz.extend(g.K)
    a, beta = glz.tridiagonal()
    P = [omega / np.linalg.norm(omega)]
    a_ref, b_ref = [], []
    for _ in range(6):
        W = M @ P[-1]
        a_ref.append(np.sum(P[-1] * W))
        for _ in range(2):
            W = W - sum(np.sum(Q * W) * Q for Q in P)
        b_ref.append(np.linalg.norm(W))
        P.append(W / b_ref[-1])
    scale = np.linalg.norm(M, 2)
    np.testing.assert_allclose(a[0], a_ref, atol=1e-11 * scale)
    np.testing.assert_allclose(beta[0], b_ref, atol=1e-11 * scale)
    assert abs(glz.norm[0] - np.linalg.norm(omega)) <= 1e-13 * np.linalg.norm(omega)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_banded_ritz_matches_the_dense_eigensolver(dtype):
    """Before a restart the block projection is a band of width ``b``: the banded top Ritz pair (and all
    Ritz values) equal those of the dense eigensolver on the whole projection."""
    A = matrix_with_singular_values(spectrum("clustered", 100, seed=1), 130, 100, dtype=dtype, seed=2)
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    rng = np.random.default_rng(3)
    omega = rng.standard_normal((100, 4)) + (1j * rng.standard_normal((100, 4)) if dtype == np.complex128 else 0)
    g = GramLanczos(op, np.linalg.qr(omega)[0], max_basis=10_000)
    for _ in range(7):
        g.step()
    theta, _, y, allv = g.ritz(need_all=True)
    T = g.K[0, : g.known, : g.known]
    w = np.linalg.eigvalsh(0.5 * (T + T.conj().T))
    np.testing.assert_allclose(allv[0], np.sqrt(np.maximum(w[::-1], 0)), atol=1e-12)
    assert abs(theta[0] - np.sqrt(w[-1])) <= 1e-13
    assert np.linalg.norm(T @ y[0] - w[-1] * y[0]) <= 1e-10 * abs(w[-1])


def test_project_out_skips_only_blocks_already_orthogonal():
    """``project_out(..., tol)`` returns a block orthogonal to ``Q`` within ``tol`` untouched (C = 0) and
    projects every other block as without ``tol``."""
    rng = np.random.default_rng(8)
    Q, _ = np.linalg.qr(rng.standard_normal((300, 20)))
    W = rng.standard_normal((300, 4))
    inside = W - Q @ (Q.T @ W)
    inside -= Q @ (Q.T @ inside)
    backend = NumPyBackend()
    out, C = backend.project_out(inside, Q, tol=1e-14)
    assert out is inside and not C.any()
    out, C = backend.project_out(W, Q, tol=1e-14)
    ref, Cref = backend.project_out(W, Q)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(C, Cref)
    assert np.max(np.abs(Q.T @ out)) < 1e-14


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("new", [1.0, 1e-9])
def test_one_vector_projection_reads_the_basis_twice_unless_it_cancels(monkeypatch, dtype, new):
    """One vector against a long basis: a local pass on the last two columns, one full pass, and a second full
    pass only when the first cancelled (DGKS test). Either way the result is orthogonal to working precision
    and ``W = Q C + W_out``."""
    from spectra.backends import _gram_schmidt

    full = []
    coefficients = _gram_schmidt._coefficients
    monkeypatch.setattr(_gram_schmidt, "_coefficients", lambda Q, w: full.append(Q.shape[1] > 2) or coefficients(Q, w))
    rng = np.random.default_rng(11)
    cplx = np.dtype(dtype).kind == "c"

    def draw(*shape):
        return rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if cplx else 0)

    Q, _ = np.linalg.qr(draw(400, 30))
    # mostly in the span of Q (as M v_k is, on the last two columns, plus small older components)
    W = Q[:, -2:] @ draw(2, 1) + 1e-6 * Q @ draw(30, 1) + new * draw(400, 1)
    out, C = NumPyBackend().project_out(W, Q)
    assert sum(full) == (1 if new == 1.0 else 2)  # the second full pass only after cancellation
    assert np.max(np.abs(Q.conj().T @ out)) <= 20 * np.finfo(np.float64).eps * np.linalg.norm(out)
    np.testing.assert_allclose(Q @ C + out, W, atol=1e-15 * np.linalg.norm(W) * 10)
    assert C.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize(("n", "b"), [(38, 7), (13, 4), (17, 2)])
def test_block_restart_with_a_pending_block_narrower_than_b(dtype, n, b):
    """Regression: when the basis has just come to span ``C^n`` its pending block has ``n mod b < b`` columns;
    a restart kept that narrow block and the next step met a new block of ``b`` with a shape error. The
    engine now completes the block with fresh orthonormal directions: the basis stays orthonormal, ``M V_known
    = V K`` and ``images = Â V_known`` hold, the block is ``b`` wide again, and running on until the space is
    exhausted gives LAPACK's norm."""
    A = matrix_with_singular_values(spectrum("flat", n, seed=3), n + 12, n, dtype=dtype, seed=1)
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    rng = np.random.default_rng(0)
    omega = rng.standard_normal((n, b)) + (1j * rng.standard_normal((n, b)) if dtype == np.complex128 else 0)
    g = GramLanczos(op, np.linalg.qr(omega)[0], max_basis=10_000, keep_images=True)
    while g.n_pending == b:
        g.step()
    assert g.V.shape[1] == n and g.n_pending == n % b  # the narrow pending block
    g.restart(b + 1)
    assert g.n_pending == n % b
    M = A.conj().T @ A
    scale = oracle(A) ** 2
    for _ in range(n):
        g.step()
        V, nK = g.V, g.known
        assert V.shape[1] == nK + g.n_pending
        assert np.max(np.abs(V.conj().T @ V - np.eye(V.shape[1]))) < 1e-13
        np.testing.assert_allclose(M @ V[:, :nK], V @ g.K[0], atol=1e-13 * scale)
        np.testing.assert_allclose(g.images, A @ V[:, :nK], atol=1e-13)
        assert g.ritz()[0][0] <= oracle(A) * (1 + 1e-14)  # a Ritz value never exceeds the norm
        if g.exhausted:
            break
        assert g.n_pending == min(b, n - V.shape[1] + g.n_pending)  # the block is b wide again
    assert g.exhausted
    assert abs(g.ritz()[0][0] - oracle(A)) <= 1e-13 * oracle(A)


def _small_basis(monkeypatch, vectors: int):
    """``lanczos.basis_size`` (and randomized's basis, twice it) as for a huge matrix, on a small one."""
    monkeypatch.setattr(lanczos, "MIN_BASIS", vectors)
    monkeypatch.setattr(lanczos, "MAX_BASIS", vectors)


@pytest.mark.parametrize(("n", "b"), [(38, 7), (39, 5), (37, 3), (40, 6)])
def test_randomized_does_not_restart_a_basis_that_spans_the_space(monkeypatch, n, b):
    """Regression through ``spectra.norm``: randomized's basis cap (40 vectors here, rounded up to whole blocks)
    lies between ``n`` and ``n + b``, so the basis spans ``C^n`` with a narrow pending block just when it is
    full. That restart raised a shape error; the next step adds no vector and makes the projection exact, so
    the engine no longer restarts there and the result is LAPACK's norm with confidence 1."""
    _small_basis(monkeypatch, 20)
    A = matrix_with_singular_values(spectrum("flat", n, seed=3), 50, n, seed=1)
    r = spectra.norm(A, method="randomized", block_size=b, seed=0, rtol=1e-15)
    truth = oracle(A)
    assert r.converged and r.confidence == 1.0
    assert r.lower <= truth <= r.upper
    assert abs(r.value - truth) <= 1e-13 * truth


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("kind", ["flat", "clustered"])
@pytest.mark.parametrize("b", [3, 4])
def test_randomized_bounds_after_a_restart(monkeypatch, dtype, kind, b):
    """docs/bounds.md §8: after a restart the block recurrence is lost, so no Christoffel bound is evaluated on
    a restarted projection (it stays frozen), and the interval still holds the LAPACK norm."""
    from spectra.methods import randomized

    _small_basis(monkeypatch, 20)  # randomized keeps at most 40 vectors: restarts on a 300-column matrix
    restarted = []
    restart = GramLanczos.restart
    monkeypatch.setattr(GramLanczos, "restart", lambda g, keep: restarted.append(g) or restart(g, keep))
    evaluated = []
    for name in ("christoffel_root", "christoffel_check"):
        bound = getattr(randomized, name)

        def guarded(*args, _bound=bound):
            evaluated.append(len(restarted))
            return _bound(*args)

        monkeypatch.setattr(randomized, name, guarded)
    A = matrix_with_singular_values(spectrum(kind, 300, seed=2), 320, 300, dtype=dtype, seed=5)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        r = spectra.norm(A, method="randomized", block_size=b, seed=1, rtol=1e-10, maxiter=80)
    truth = oracle(A)
    # a run the restart stopped short of rtol says so (not that its budget ran out)
    assert r.converged or any("cannot tighten after a restart" in str(w.message) for w in record)
    assert restarted and evaluated
    assert max(evaluated) == 0, "a Christoffel bound evaluated on a restarted projection"
    assert r.lower <= truth <= r.upper


def _tridiagonal_of(K):
    """The Lanczos tridiagonal read off the projection ``K`` (``(B, nV, nK)``) the way the engine did before it
    kept a record: diagonal ``real(K_jj)``, couplings ``|K_(j+1)j|`` (zero past the last row)."""
    nK = K.shape[2]
    idx = np.arange(nK)
    a = np.real(K[:, idx, idx])
    rows = np.minimum(idx + 1, K.shape[1] - 1)
    b = np.where(idx + 1 < K.shape[1], np.abs(K[:, rows, idx]), 0.0)
    return a, b


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("n", [12, 90])
def test_tridiagonal_record_is_the_projections(dtype, n):
    """The tridiagonal that :class:`GramLanczos` records a column per step equals, bitwise and at every step, the
    one read off its projection ``K`` (also once the basis spans the space and the projection is exact), and
    the trace and the residual it derives from the record are those of ``K``."""
    A = matrix_with_singular_values(spectrum("clustered", n), n + 7, n, dtype=dtype, seed=2)
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    V1 = op.from_host(op.random(np.random.default_rng(1), 1))
    V1 = V1 / np.linalg.norm(V1)
    g = GramLanczos(op, V1, max_basis=10_000)
    for _ in range(min(n, 40)):
        g.step()
        a, b = g.tridiagonal()
        a_ref, b_ref = _tridiagonal_of(g.K)
        assert np.array_equal(a, a_ref) and np.array_equal(b, b_ref)
        np.testing.assert_allclose(g.trace(), np.real(np.trace(g.K, axis1=1, axis2=2)), rtol=1e-13)
        _, _, y, _ = g.ritz()
        rest = g.K[:, g.known :, :]
        want = np.linalg.norm(np.einsum("bij,bj->bi", rest, y), axis=1)
        np.testing.assert_allclose(g.residual(None, y), want, rtol=1e-15, atol=0)
        if g.exhausted:
            break
    assert g.exhausted == (n == 12)


def test_skipping_the_ritz_vector_changes_no_result(monkeypatch):
    """The certified run asks the top Ritz value without its vector (LAPACK ``?stebz`` without ``?stein``) while
    only the residual would read it: with the vector forced at every step, every number is the same."""
    A = matrix_with_singular_values(spectrum("clustered", 300), 320, 300, seed=4)
    skipped = spectra.norm(A, method="lanczos", seed=2, rtol=1e-8)
    ritz = GramLanczos.ritz
    monkeypatch.setattr(GramLanczos, "ritz", lambda g, need_all=False, need_vector=True: ritz(g, need_all, True))
    full = spectra.norm(A, method="lanczos", seed=2, rtol=1e-8)
    numbers = [(r.value, r.lower, r.upper, r.matvecs) for r in (skipped, full)]
    assert numbers[0] == numbers[1]


def _low_rank_beside_full_rank(n, rank, dtype):
    """Ten n x n matrices of norm 1 (before rounding to ``dtype``): rank ``rank`` (even indices) beside flat
    full-rank ones (odd)."""
    mats = []
    for i in range(10):
        if i % 2 == 0:
            s = np.r_[np.linspace(1.0, 0.5, rank), np.zeros(n - rank)]
        else:
            s = spectrum("flat", n, seed=i)
        A = matrix_with_singular_values(s, n, n, seed=i)
        if np.dtype(dtype).kind == "c":  # a unitary phase keeps the singular values
            A = A * np.exp(1j * np.random.default_rng(i).uniform(0, 2 * np.pi, (n, 1)))
        mats.append(A.astype(dtype))
    return np.stack(mats)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("method", ["lanczos", "randomized"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_breakdown_before_the_space_is_exhausted_keeps_its_bounds(dtype, method, backend):
    """Regression: in a stack, a low-rank matrix whose Krylov space broke down early was then treated as
    exhausted when the full-rank ones exhausted theirs: its noise vectors' products entered its projection and it
    got the confidence-1 interval [0.847, 0.847] for a norm of 1 (Gram orders 8 to 32; float32 to complex128;
    NumPy, torch and Dask stacks; ``normalize`` returned norms up to 1.22). Zero misses at any confidence."""
    misses = []
    for n in (4, 8, 16, 32):
        for rank in (1, 2, 3):
            S = _low_rank_beside_full_rank(n, rank, dtype)
            truth = np.linalg.norm(S.astype(np.complex128), 2, axis=(-2, -1))  # of the stored (rounded) entries
            for seed in range(2):
                r = spectra.norm(S, method=method, backend=backend, seed=seed)
                bad = (np.asarray(r.lower) > truth) | (np.asarray(r.upper) < truth)
                misses += [(n, rank, seed, int(i)) for i in np.flatnonzero(bad)]
    assert misses == []
