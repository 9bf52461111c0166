"""A single matrix's Lanczos stopping arithmetic on Python floats (spectra/methods/_lanczos_single.py) is bitwise
the array code's: the same intervals, values and step counts, and the same numbers out of every float twin."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

import spectra
from spectra._operand import make_operand
from spectra._testing import matrix_with_singular_values, spectrum
from spectra.backends.numba import NumbaBackend, _one_numba_thread  # both runs on one thread: the same pass order
from spectra.backends.numpy import NumPyBackend
from spectra.methods import _krylov, lanczos
from spectra.methods._common import Options, Stopper, gram_noise
from spectra.methods._gram_lanczos import GramLanczos
from spectra.methods._lanczos_single import SingleMatrixTest, SingleStopper

from .test_krylov_engine import _options as _engine_options

DTYPES = [np.float64, np.float32, np.complex128]
SHAPES = [(90, 90), (130, 40), (40, 130)]


def _both_paths(monkeypatch, A, **kw):
    """``(single, array)``: the result of ``spectra.norm(A, method="lanczos", **kw)`` by each path."""
    out = []
    for single in (True, False):
        monkeypatch.setattr(lanczos, "SINGLE_MATRIX_PATH", single)
        out.append(spectra.norm(A, method="lanczos", **kw))
    return out


def _same(r1, r2) -> None:
    fields = ("value", "lower", "upper", "iterations", "matvecs", "converged", "confidence", "rtol_effective")
    for f in fields:
        a, b = getattr(r1, f), getattr(r2, f)
        assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), (f, a, b)
    for f in ("u", "v"):
        a, b = getattr(r1, f), getattr(r2, f)
        assert (a is None and b is None) or np.array_equal(a, b), f


def _matrix(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        A = A + 1j * rng.standard_normal(shape)
    return A.astype(dtype)


OPTIONS = [
    {},
    {"certify": False},
    {"rtol": 1e-12, "maxiter": 300},
    {"progress": lambda info: None},
    {"maxiter": 6},
    {"return_vectors": True},
]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_single_matrix_path_is_the_array_path_bitwise(monkeypatch, backend, dtype, shape):
    """Gaussian matrices, several seeds and options: interval, value, steps and vectors are identical."""
    with _one_numba_thread():
        for seed in range(3):
            A = _matrix(shape, dtype, seed)
            for kw in OPTIONS:
                fast, ref = _both_paths(monkeypatch, A, backend=backend, seed=seed, **kw)
                _same(fast, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["low_rank", "flat", "clustered", "decaying"])
def test_single_matrix_path_on_adversarial_spectra(monkeypatch, dtype, kind):
    """Breakdowns (low rank), flat and clustered spectra, the deflation cap (decaying): the same results."""
    s = spectrum(kind, 60) if kind != "low_rank" else np.r_[3.0, 2.0, 1.0, np.zeros(57)]
    with _one_numba_thread():
        for seed in range(3):
            A = matrix_with_singular_values(s, 80, 60, dtype=dtype, seed=seed)
            for kw in ({}, {"rtol": 1e-12, "maxiter": 200}, {"certify": False}, {"confidence": 1 - 1e-12}):
                fast, ref = _both_paths(monkeypatch, A, seed=seed, **kw)
                _same(fast, ref)
                assert fast.lower <= np.linalg.norm(A.astype(np.complex128), 2) * (1 + 1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("certify", [True, False])
def test_single_matrix_path_across_a_restart(monkeypatch, dtype, certify):
    """A basis of 30 vectors restarts: the frozen upper bound and the later steps are the same."""
    monkeypatch.setattr(lanczos, "basis_size", lambda op: 30)
    A = matrix_with_singular_values(np.r_[1.0, 1 - 1e-6, np.linspace(0.99, 0.1, 198)], 220, 200, dtype=dtype, seed=1)
    restarts = []
    restart = GramLanczos.restart
    monkeypatch.setattr(GramLanczos, "restart", lambda g, keep: restarts.append(1) or restart(g, keep))
    with _one_numba_thread(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "spectra.norm.*cannot tighten after a restart", spectra.ConvergenceWarning)
        fast, ref = _both_paths(monkeypatch, A, seed=2, rtol=1e-9, maxiter=150, certify=certify)
    assert restarts
    _same(fast, ref)


def _options(**kw) -> Options:
    """The options of a run with ``kw`` changed (the engine tests' defaults)."""
    return dataclasses.replace(_engine_options(rtol=1e-6, confidence=0.999, maxiter=100), **kw)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("certify", [True, False])
@pytest.mark.parametrize("return_vectors", [True, False])
def test_single_stopper_update_is_the_array_update(dtype, certify, return_vectors):
    """:class:`SingleStopper` against :class:`Stopper` over random update sequences: every field bitwise."""
    A = _matrix((50, 30), dtype, 0)
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    rng = np.random.default_rng(5)
    for trial in range(40):
        opts = _options(certify=certify, return_vectors=return_vectors, rtol=10.0 ** rng.uniform(-12, -1))
        ref, fast = Stopper(op, opts, "lanczos"), SingleStopper(op, opts, "lanczos")
        norm = float(np.linalg.norm(A.astype(np.float64), 2))
        for step in range(12):
            est = norm * (1 - 10.0 ** rng.uniform(-16, -1)) if rng.random() > 0.1 else 0.0
            prob = [None, norm * (1 + 10.0 ** rng.uniform(-16, -1)), math.inf][rng.integers(3)]
            det = None if rng.random() < 0.7 else np.array([norm * (1 + rng.uniform(0, 1e-3))])
            res = None if rng.random() < 0.5 else np.array([10.0 ** rng.uniform(-16, 0)])
            kw = dict(
                lower_est=np.array([est]),
                det_upper=det,
                residual=res,
                products=int(rng.integers(0, 5000)),
            )
            done_ref = ref.update(prob_upper=None if prob is None else np.array([prob]), **kw)
            done_fast = fast.update(prob_upper=prob, **kw)
            assert np.array_equal(done_ref, done_fast)
            for f in ("lower", "upper", "prob_upper", "det_upper", "vector_lower", "residual", "lower_for_width"):
                assert np.array_equal(getattr(ref, f), getattr(fast, f)), (trial, step, f)
            products = kw["products"]
            lower = float(fast.lower[0])
            assert fast.effective_rtol_float(products, lower) == ref.effective_rtol(products)[0]
            assert fast.safe_lower_float(est) == ref.safe_lower(np.array([est]))[0]


@pytest.mark.parametrize("stats", [True, False])
def test_single_matrix_floats_match_the_array_formulas(stats):
    """The floor (:func:`gram_noise`, ``worst=False``) and the deflation gate, bitwise, over many inputs; with
    entry statistics and without (as for a LinearOperator)."""
    rng = np.random.default_rng(3)
    A = matrix_with_singular_values(spectrum("decaying", 40), 60, 40, seed=0)
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    if not stats:
        op.stats = None
    opts = _options()
    stop = SingleStopper(op, opts, "lanczos")
    v = np.random.default_rng(1).standard_normal((1, 40, 1))
    v /= np.linalg.norm(v)
    gkl = GramLanczos(op, v, 100)
    single = SingleMatrixTest(op, stop, np.array([0.01]))
    fro = float(op.fro_bound()[0]) if op.stats is not None else 1.0
    for _ in range(25):
        gkl.step()
        for _ in range(20):
            theta = 10.0 ** rng.uniform(-20, 1) * fro
            k = gkl.known
            assert single.floor(k, theta) == gram_noise(op, k, np.array([theta]), worst=False)[0]
            upper = fro * rng.uniform(0.0, 1.2)
            assert single.deflation_may_help(gkl, upper, theta) == lanczos.deflation_may_help(
                gkl, op, np.array([upper]), np.array([theta])
            )


def test_single_check_rebuilds_its_couplings_when_asked_out_of_order():
    """The Christoffel check keeps the couplings it passes up to date step by step, and copies them afresh when
    it is asked about a tridiagonal that is not the record's next column (the array check is the reference)."""
    A = matrix_with_singular_values(spectrum("flat", 50), 60, 50, seed=2)
    op = make_operand(A, "dense", NumPyBackend(), check_finite=True)
    stop = SingleStopper(op, _options(), "lanczos")
    v = np.random.default_rng(1).standard_normal((1, 50, 1))
    gkl = GramLanczos(op, v / np.linalg.norm(v), 100)
    single = SingleMatrixTest(op, stop, np.array([0.05]))
    rng = np.random.default_rng(0)
    for step in range(30):
        gkl.step()
        if step % 7 == 3:
            single._valid = 0  # as after a skipped step
        theta = float(gkl.ritz(need_vector=False)[0][0])
        floor = float(gram_noise(op, gkl.known, np.array([theta]), worst=False)[0])
        for lam in theta * theta * (1 + 10.0 ** rng.uniform(-14, 0, size=4)):
            expect = lanczos.christoffel_check(gkl, np.array([0.05]), np.array([lam]), np.array([floor]), op.backend)
            assert single.check(gkl, float(lam), floor) == bool(expect[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_projection_into_the_store_slot_is_the_copy(dtype):
    """The fused projection writes into the basis store's next row: the same vector, coefficients and norm as
    into a fresh array, and appending it then copies nothing."""
    rng = np.random.default_rng(4)
    n = 300
    Q, _ = np.linalg.qr(_matrix((n, 12), dtype, 1))
    store = _krylov.ColumnStore(np.ascontiguousarray(Q[:, :1]), 40, np)
    for j in range(1, 12):
        store.append(np.ascontiguousarray(Q[:, j : j + 1]))
    W = _matrix((n, 1), dtype, 2)
    be = NumbaBackend()
    fresh = be.project_out_unit(W, store.array)
    slot = store.slot()
    before = slot.ctypes.data
    into = be.project_out_unit(W, store.array, slot)
    assert into[0].ctypes.data == before  # written into the slot
    for x, y in zip(fresh, into, strict=True):
        assert np.array_equal(x, y)
    store.append(into[0])
    assert store.array.shape == (n, 13)
    assert np.array_equal(store.array[:, 12], fresh[0][:, 0])
    other = rng.standard_normal((n, 1)).astype(dtype)  # an ordinary column is copied as before
    store.append(other)
    assert np.array_equal(store.array[:, 13], other[:, 0])
