"""The Dask backend: same seed -> NumPy's interval, odd chunkings, a worker lost mid-run, bad input, out of core.

The method contract suite runs on Dask inputs through the ``dask`` flavour (tests/conftest.py); these are
the Dask-specific properties. ``threads`` tests run Dask's threaded scheduler without a Client; ``cluster``
tests run on the session's 2-worker LocalCluster.
"""

from __future__ import annotations

import os
import signal
import sys

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp

import spectra
from spectra import backends
from spectra._testing import matrix_with_singular_values, spectrum
from spectra.backends import _dask_layout
from spectra.backends.dask import DaskBackend

from .conftest import assert_interval, oracle, oracle_slack


def _matrix(shape, dtype=np.float64, name="outlier", seed=0):
    m, n = shape
    return matrix_with_singular_values(3.0 * spectrum(name, min(m, n)), m, n, dtype=dtype, seed=seed)


@pytest.fixture
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _same_as_numpy(A, D, method, rtol, **kw):
    ref = spectra.norm(A, method=method, seed=7, **kw)
    got = spectra.norm(D, method=method, seed=7, **kw)
    assert got.backend == "dask" and got.plan.backend == "dask"
    for field in ("value", "lower", "upper"):
        assert _rel(getattr(got, field), getattr(ref, field)) <= rtol, field
    np.testing.assert_array_equal(got.iterations, ref.iterations)
    np.testing.assert_array_equal(got.confidence, ref.confidence)
    assert_interval(got, oracle(A), oracle_slack(A))
    return got


# ---------------------------------------------------------------------------------------------- seeds
#: the largest relative difference to the NumPy backend seen on these problems: 2e-15 in double precision;
#: single precision differs in the last bits of the float32 Gram products (per-panel sums vs BLAS), <3e-8 here
#: (an upper bound may differ by up to the certified width: test_single_precision_upper_within_the_width)
RTOL = {np.float64: 1e-13, np.complex128: 1e-13, np.float32: 1e-6, np.complex64: 1e-6}


def test_single_precision_upper_within_the_width(threads):
    # a repeated top singular value in float32: the late Lanczos couplings are rounding-driven and differ between
    # the panel products and BLAS, so the Christoffel upper bounds differ by 3.1e-6 relative (docs/dask.md once
    # claimed 3e-8); both lie in the certified interval, so they differ by at most its width
    A = matrix_with_singular_values(2 * spectrum("repeated", 60), 300, 60, seed=1).astype(np.float32)
    ref = spectra.norm(A, method="lanczos", backend="numpy", seed=0)
    got = spectra.norm(da.from_array(A, chunks=(100, 60)), method="lanczos", seed=0)
    assert ref.converged and got.converged
    assert _rel(got.lower, ref.lower) <= 1e-13 and _rel(got.value, ref.value) <= 1e-13
    assert _rel(got.upper, ref.upper) <= max(ref.rtol_effective, got.rtol_effective)
    truth = np.linalg.norm(A.astype(np.float64), 2)
    for r in (ref, got):
        assert r.lower <= truth <= r.upper


@pytest.mark.parametrize("method", ["power", "lanczos", "randomized", "svd"])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
@pytest.mark.parametrize("shape", [(90, 40), (40, 90)])
def test_same_seed_same_interval_as_numpy(threads, method, dtype, shape):
    A = _matrix(shape, dtype)
    _same_as_numpy(A, da.from_array(A, chunks=(17, 13)), method, RTOL[dtype])


@pytest.mark.parametrize(
    "chunks",
    [(90, 40), (1, 40), (1, 1), (25, 40), (90, 7)],
    ids=["one-chunk", "1-row", "1x1", "ragged-last", "column-split"],
)
def test_odd_chunkings(threads, chunks, monkeypatch):
    monkeypatch.setattr(_dask_layout, "MAX_PANEL_BYTES", 8 * 40 * 10)  # panels of 10 rows: several per matrix
    A = _matrix((90, 40))
    _same_as_numpy(A, da.from_array(A, chunks=chunks), "lanczos", 1e-13)


def test_stack_chunked_along_batch(threads, monkeypatch):
    monkeypatch.setattr(_dask_layout, "MAX_PANEL_BYTES", 12 * 9 * 8 * 2)  # two matrices per block
    A = np.stack([_matrix((12, 9), seed=s) * (s + 1) for s in range(6)]).reshape(3, 2, 12, 9)
    for chunks in [(1, 2, 12, 9), (2, 1, 5, 9), (3, 2, 12, 9)]:
        for method in ("lanczos", "randomized", "svd"):
            r = _same_as_numpy(A, da.from_array(A, chunks=chunks), method, 1e-13)
            assert isinstance(r.value, np.ndarray) and r.value.shape == (3, 2)


def test_stack_layout_keeps_whole_matrices(monkeypatch):
    monkeypatch.setattr(_dask_layout, "MAX_PANEL_BYTES", 12 * 9 * 8 * 2)
    D = da.zeros((3, 2, 12, 9), chunks=(1, 1, 5, 4))
    P = _dask_layout.lay_out(D, transposed=False)
    assert P.axis is None and P.array.chunks[-2:] == ((12,), (9,))
    assert max(np.prod([len(c) for c in P.array.chunks[:-2]]), 1) == 3  # two whole matrices per block


def test_on_the_cluster_same_as_numpy(dask_client, monkeypatch):
    monkeypatch.setattr(_dask_layout, "MAX_PANEL_BYTES", 8 * 40 * 10)
    A = _matrix((90, 40), np.complex128)
    r = _same_as_numpy(A, da.from_array(A, chunks=(17, 40)), "lanczos", 1e-13)
    assert "dask" in repr(r) and "AᴴA" in repr(r)
    S = np.stack([_matrix((12, 9), seed=s) for s in range(4)])
    _same_as_numpy(S, da.from_array(S, chunks=(1, 12, 9)), "lanczos", 1e-13)


def test_one_step_is_one_graph_with_a_tree_sum(threads, monkeypatch):
    """The Gram pass: one compute per step, one task per panel plus the tree-sum nodes, X sent once."""
    monkeypatch.setattr(_dask_layout, "MAX_PANEL_BYTES", 8 * 40 * 4)  # 23 panels of 4 rows (the last 2)
    A = _matrix((90, 40))
    P = _dask_layout.lay_out(da.from_array(A, chunks=(90, 40)), transposed=False)
    assert len(P.array.chunks[0]) == 23 and P.persisted
    X = np.random.default_rng(0).standard_normal((40, 3))
    from dask.callbacks import Callback

    started = []
    with Callback(pretask=lambda key, dsk, state: started.append(key)):
        Y, Z = DaskBackend().gram(P, X)
    np.testing.assert_allclose(Y, A @ X, rtol=1e-13)
    np.testing.assert_allclose(Z, A.T @ (A @ X), rtol=1e-13)
    names = {k[0] if isinstance(k, tuple) else k for k in started}
    assert len(names) == 1, names  # nothing but the step's own layer: A is not re-read or rechunked
    assert sum(1 for k in started if k[1] == "part") == 23
    assert sum(1 for k in started if k[1] == "sum") == 3 + 1  # 23 -> 3 -> 1 with 8 inputs per node
    assert len(P.step_seconds) == 1 and P.task_seconds[0] > 0


@pytest.mark.parametrize("local", ["numba", "numpy"])
def test_entry_statistics_one_pass_reused(threads, local, monkeypatch):
    """On workers with numba the one-read kernels, else NumPy: the same statistics, in one pass."""
    from spectra.backends import _dask_tasks

    monkeypatch.setattr(_dask_tasks, "_local_backend", lambda: backends._load(local))
    A = _matrix((60, 45)) * 1e200  # scaled: the statistics combine panels of different exponents
    A[:7] *= 1e-150
    D = da.from_array(A, chunks=(7, 45))
    be = DaskBackend()
    P = _dask_layout.Panels(D, 0, False)
    from dask.callbacks import Callback

    calls = []
    with Callback(pretask=lambda key, dsk, state: calls.append(key)):
        mx = be.max_abs(P)
        e = -int(np.frexp(mx[0])[1])
        c1, c2 = np.ldexp(1.0, [e // 2]), np.ldexp(1.0, [e - e // 2])
        st = be.abs_stats(P, c1, c2)
    assert sum(1 for k in calls if k[1] == "part") == 9  # one pass over the 9 panels for both
    ref = backends._load("numpy").abs_stats(A, c1, c2)
    assert mx[0] == np.max(np.abs(A))
    for field in ("fro", "gersh", "maxcol", "maxrow"):
        np.testing.assert_allclose(getattr(st, field), getattr(ref, field), rtol=1e-13)


def test_wide_column_panels(threads, monkeypatch):
    monkeypatch.setattr(_dask_layout, "MAX_PANEL_BYTES", 8 * 40 * 10)
    A = _matrix((40, 90))
    r = _same_as_numpy(A, da.from_array(A, chunks=(13, 17)), "lanczos", 1e-13)
    assert r.plan.transposed and "AAᴴ" in str(r.plan)


# ---------------------------------------------------------------------------------------------- svd
def test_auto_takes_tsqr_only_for_tall_and_skinny(threads):
    tall = _matrix((400, 20))
    r = spectra.norm(da.from_array(tall, chunks=(50, 20)))
    assert r.method == "svd" and r.confidence == 1.0
    assert_interval(r, oracle(tall), oracle_slack(tall))
    square = _matrix((60, 60))
    r = spectra.norm(da.from_array(square, chunks=(20, 20)), seed=0)
    assert r.method == "lanczos" and "gather" in r.plan.why_method
    assert spectra.norm(square, seed=0).method == "svd"  # the NumPy backend's choice for the same matrix


# ---------------------------------------------------------------------------------------------- faults
def test_worker_killed_mid_run(dask_client, monkeypatch):
    """A worker process dies after the third Gram pass: Dask recomputes its lost panels, the run goes on."""
    monkeypatch.setattr(_dask_layout, "MAX_PANEL_BYTES", 8 * 120 * 20)
    A = _matrix((300, 120), name="clustered")
    D = da.from_array(A, chunks=(20, 120))
    pids = dask_client.run(os.getpid)
    gram = DaskBackend.gram
    calls = []

    def gram_then_kill(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
        return gram(self, *args, **kwargs)

    monkeypatch.setattr(DaskBackend, "gram", gram_then_kill)
    r = spectra.norm(D, method="lanczos", seed=2)
    ref = spectra.norm(A, method="lanczos", seed=2)
    assert len(calls) > 3 and r.converged
    assert _rel(r.upper, ref.upper) <= 1e-13 and _rel(r.lower, ref.lower) <= 1e-13
    assert_interval(r, oracle(A), oracle_slack(A))
    dask_client.wait_for_workers(2, timeout=60)


# ---------------------------------------------------------------------------------------------- bad input
def _no_task_runs():
    from dask.callbacks import Callback

    def fail(key, dsk, state):
        raise AssertionError(f"computed {key} although the error is known from the metadata")

    return Callback(pretask=fail)


def test_unknown_chunk_sizes_named_before_computing(threads):
    A = da.from_array(_matrix((30, 20)), chunks=10)
    B = A[A[:, 0] > 0]
    assert np.isnan(B.shape[0])
    with _no_task_runs(), pytest.raises(ValueError, match="compute_chunk_sizes"):
        spectra.norm(B)


def test_non_numeric_dtype_named_before_computing(threads):
    S = da.from_array(np.array([["a", "b"], ["c", "d"]]), chunks=1)
    with _no_task_runs(), pytest.raises(TypeError, match="numeric dtype.*astype"):
        spectra.norm(S)


@pytest.mark.parametrize("local", ["numba", "numpy"])
def test_nan_in_one_chunk(threads, local, monkeypatch):
    """Regression: a NaN in a later block of a panel was dropped by Python's max() (the run iterated on NaN)."""
    from spectra.backends import _dask_tasks

    monkeypatch.setattr(_dask_tasks, "_local_backend", lambda: backends._load(local))
    A = _matrix((60, 30))
    A[41, 7] = np.nan
    D = da.from_array(A, chunks=(20, 15))
    with pytest.raises(ValueError, match="NaN or Inf.*check_finite"):
        spectra.norm(D, method="lanczos")
    r = spectra.norm(D, method="lanczos", check_finite=False)
    assert np.isnan(r.value) and not r.converged


@pytest.mark.parametrize("chunk", ["csr_matrix", "csr_array"])
def test_sparse_chunks_are_a_clear_error(chunk):
    # regression: an internal SciPy TypeError (max() got an unexpected keyword argument 'initial')
    D = np.eye(200, 50)
    X = da.from_array(D, chunks=(50, 50)).map_blocks(getattr(sp, chunk))
    with pytest.raises(ValueError, match=r"sparse chunks.*map_blocks\(lambda b: b\.toarray\(\), dtype=A\.dtype\)"):
        spectra.norm(X, seed=0)
    r = spectra.norm(X.map_blocks(lambda b: b.toarray(), dtype=X.dtype), seed=0)  # the advice works
    assert r.lower <= 1.0 <= r.upper


def test_backend_dask_needs_a_dask_array():
    with pytest.raises(ValueError, match="from_array"):
        spectra.norm(np.eye(3), backend="dask")


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.delitem(backends._cache, "dask", raising=False)
    monkeypatch.delitem(sys.modules, "spectra.backends.dask", raising=False)
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(spectra.BackendUnavailableError, match=r'pip install "spectra-linalg\[dask\]"'):
        backends._load("dask")


def test_import_spectra_does_not_import_dask():
    import subprocess

    code = "import sys, numpy, spectra; spectra.norm(numpy.eye(3)); print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------- out of core
def test_zarr_out_of_core_is_reread_not_persisted(threads, tmp_path, monkeypatch):
    import zarr  # in the dask and test extras

    A = _matrix((120, 50))
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=A.shape, chunks=(30, 50), dtype=A.dtype)
    z[:] = A
    monkeypatch.setattr(_dask_layout, "PERSIST_FRACTION", 0.0)  # as if A were larger than the memory
    D = da.from_zarr(str(tmp_path / "a.zarr"))
    P = _dask_layout.lay_out(D, transposed=False)
    assert not P.persisted and P.array.chunks == D.chunks  # row panels already: used as they are on disk
    _same_as_numpy(A, D, "lanczos", 1e-13)


def test_npy_memmap(threads, tmp_path):
    A = _matrix((80, 30))
    np.save(tmp_path / "a.npy", A)
    mm = np.load(tmp_path / "a.npy", mmap_mode="r")
    _same_as_numpy(A, da.from_array(mm, chunks=(16, 30)), "lanczos", 1e-13)


def test_normalize_keeps_it_lazy(threads):
    A = _matrix((50, 20))
    W = spectra.normalize(da.from_array(A, chunks=10), method="lanczos", seed=0)
    assert isinstance(W, da.Array)
    assert np.linalg.norm(W.compute(), 2) <= 1.0


@pytest.mark.parametrize(
    "dtype, scale, batch",
    [
        (np.float32, 1e6, ()),
        (np.float32, 1e-8, ()),
        (np.float64, 1e30, ()),
        (np.float32, 3e37, ()),
        (np.float32, 1e37, (3,)),
    ],
)
def test_svd_of_entries_outside_the_safe_range(threads, dtype, scale, batch):
    """Regression: ``method="svd"`` (and ``auto``, which takes it for tall-and-skinny inputs) raised TypeError
    ("unsupported operand type(s) for *: 'Panels' and 'float'") whenever the entries needed the power-of-two
    rescaling: the copy for LAPACK was formed from the panel layout, not from the Dask array."""
    rng = np.random.default_rng(0)
    A = (rng.standard_normal((*batch, 40, 8)) * scale).astype(dtype)
    method = "svd" if batch else "auto"
    ref = spectra.norm(A, method=method, seed=0)
    got = spectra.norm(da.from_array(A, chunks=(*batch, 10, 8)), method=method, seed=0)
    assert got.backend == "dask" and got.plan.method == "svd"
    eps = float(np.finfo(dtype).eps)  # TSQR and LAPACK's SVD round differently
    np.testing.assert_allclose(got.lower, ref.lower, rtol=4 * eps)
    np.testing.assert_allclose(got.upper, ref.upper, rtol=4 * eps)
    truth = np.linalg.norm(A.astype(np.float64), 2, axis=(-2, -1))
    assert np.all(got.lower <= truth) and np.all(truth <= got.upper)


@pytest.mark.parametrize(
    "shape, chunks",
    [
        ((300, 120), (300, 50)),
        ((300, 120), (37, 50)),
        ((40, 30), (10, 10)),
        ((6, 40, 30), (3, 20, 30)),
        ((6, 40, 30), (3, 40, 10)),
    ],
)
def test_normalize_of_chunks_that_split_the_rows_or_the_matrices(threads, shape, chunks):
    """Regression: the entry statistics of ``normalize`` (read before any layout) were summed per block as if
    each block held whole rows or whole matrices. With blocks of different widths that raised ValueError; with
    equal widths the column sums of different columns were added, and for a stack split across its matrices
    each block's statistics overwrote the others': on all-ones matrices, where the Frobenius cap is the norm,
    ``||W||_2`` came out 1.41 and 1.73."""
    A = np.ones(shape)
    W = spectra.normalize(da.from_array(A, chunks=chunks), seed=0)
    assert isinstance(W, da.Array)
    norms = np.linalg.norm(W.compute(), 2, axis=(-2, -1))
    assert np.all(norms <= 1.0) and np.all(norms >= 0.999), norms


# ------------------------------------------------------------------ entries at the ends of the float64 range
def _entry_range_case(case: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    G = rng.standard_normal((400, 100))
    kind, _, scale = case.partition(" ")
    if kind.startswith("zero-panel"):  # 200 rows of tiny entries, 200 zero rows (the zero panel first or last)
        A = np.zeros((400, 100))
        A[:200] = G[:200] * float(scale)
        return A[::-1].copy() if kind == "zero-panel-first" else A
    if kind == "subnormal":
        return G * float(scale)
    if kind == "subnormal-or-zero":
        return np.where(G > 0, float(scale), 0.0)
    return G[:360, :40] * float(scale)  # huge: finite, its sum of |a_ij| overflows


ENTRY_RANGE_CASES = [
    "zero-panel-last 1e-200",
    "zero-panel-first 1e-170",
    "zero-panel-last 1e-300",
    "subnormal 1e-310",
    "subnormal-or-zero 5e-324",
    "huge 1e307",
]


@pytest.mark.parametrize("local", ["numba", "numpy"])
@pytest.mark.parametrize("case", ENTRY_RANGE_CASES)
def test_panel_statistics_at_the_ends_of_the_range(threads, local, case, monkeypatch):
    """Regression: the panels' entry statistics went wrong at the ends of float64's range, where NumPy's were right.
    A zero panel (exponent 0) beside panels of entries below 1e-162 scaled their sums by 4^(e - 0) to zero, so the
    Frobenius cap fell below the norm: [1.6035e-199, 1.6035e-199] at confidence 1.0 for 2.32993e-199. Subnormal
    entries scaled by 2^1029 = inf: [inf, inf] or NaN. A finite 1e307-scale matrix whose sum of |a_ij| overflows
    was refused as "NaN or Inf" (numba's sentinel was trusted). Every method now contains LAPACK's norm, as the
    NumPy backend does on the same array, with numba and with NumPy on the workers."""
    from spectra.backends import _dask_tasks

    monkeypatch.setattr(_dask_tasks, "_local_backend", lambda: backends._load(local))
    A = _entry_range_case(case)
    if case.startswith("huge"):
        truth = np.inf  # beyond float64: the documented interval is [largest float, inf]
    else:  # LAPACK on 2^k A (an exact scaling into the normal range), scaled back
        k = -int(np.frexp(np.max(np.abs(A)))[1])
        truth = float(np.ldexp(np.linalg.svd(np.ldexp(A, k), compute_uv=False)[0], -k))
    D = da.from_array(A, chunks=(200, A.shape[1]) if A.shape[0] == 400 else (120, 40))
    for method in ("lanczos", "power", "randomized", "gram"):
        r = spectra.norm(D, method=method, seed=0)
        ref = spectra.norm(A, method=method, seed=0)
        assert np.isfinite(r.lower) and not np.isnan(r.upper), (method, r)
        if truth == np.inf:
            assert r.lower == ref.lower == np.finfo(np.float64).max and r.upper == np.inf, (method, r)
            continue
        assert r.lower <= truth * (1 + 1e-12) and truth <= r.upper * (1 + 1e-12), (method, truth, r)
        assert r.lower <= ref.upper and ref.lower <= r.upper, (method, r, ref)


def test_float32_certificate_reads_blocks_in_pieces(threads):
    """Regression: the final double-precision certificate of a float32 Dask matrix widened whole blocks
    (``A.astype(float64)`` per block, then matmul): 294 MiB traced at that step against 50 MiB per Lanczos step
    for a 122 MiB float32 matrix. Each block is now read in place or in widened row chunks on its worker."""
    import tracemalloc

    A32 = np.random.default_rng(0).standard_normal((20000, 400), dtype=np.float32)  # 30.5 MiB, one block
    D = da.from_array(A32, chunks=A32.shape)
    peaks = []

    def report(p):
        peaks.append((p.final, tracemalloc.get_traced_memory()[1] / 2**20))
        if not p.final:
            tracemalloc.reset_peak()

    tracemalloc.start()
    try:
        r = spectra.norm(D, method="lanczos", seed=0, progress=report)
    finally:
        tracemalloc.stop()
    step = max(m for final, m in peaks[1:] if not final)
    certificate = peaks[-1][1]
    assert peaks[-1][0]
    assert certificate <= 2 * step + 16, (certificate, step)
    truth = float(np.linalg.svd(A32.astype(np.float64), compute_uv=False)[0])
    assert r.lower <= truth <= r.upper


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tasks_leave_the_callers_numba_threads(dtype):
    """Regression: the workers' tasks set numba to one thread for good; a task run in the caller's thread (the
    synchronous scheduler, or a graph of one block) left the caller's later numba calls on one thread (the pass
    schedule tests then saw no parallel pass). The thread's count is now restored after each task."""
    import numba

    full = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(full)
    A = _matrix((300, 40), dtype=dtype)
    with dask.config.set(scheduler="sync"):
        r = spectra.norm(da.from_array(A, chunks=(100, 40)), method="lanczos", seed=0)
    assert numba.get_num_threads() == full
    assert_interval(r, oracle(A), oracle_slack(A))
