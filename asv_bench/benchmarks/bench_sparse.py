"""Certified Lanczos on large sparse matrices: the numba backend beside SciPy (spectra's numpy backend and
ARPACK), with the accuracy of each answer tracked.

Two 200 000 x 200 000 CSR matrices (2 000 x 2 000 with SPECTRA_BENCH_SMALL=1): ``random-2M``, 2 000 000
uniformly placed nonzeros (``sp.random_array``, seed 5), and ``graph-pa``, the adjacency matrix of a
preferential-attachment graph (``spectra._testing.preferential_attachment_graph``, m = 5, seed 0, about
2 000 000 nonzeros, power-law degrees). Reference norms come from ARPACK at ``tol=1e-14`` (``eigsh`` on the
symmetric graph, ``svds`` on the random matrix), computed once in ``setup_cache``.

``track_`` ratios are measured in one process with the contenders interleaved (A, B, B, A, ...), each call
after a short pause, the median of five rounds, so they do not depend on how busy the machine was between
benchmarks, nor on threads the call before left spinning.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh, svds

import spectra
from spectra._testing import preferential_attachment_graph
from spectra.backends import available_backends

from .common import SMALL, rel_error

BACKENDS = [b for b in ("numpy", "numba") if b in available_backends()]
N = 2000 if SMALL else 200_000
MATRICES = ["random-2M", "graph-pa"]


def sparse_matrix(name: str):
    if name == "graph-pa":
        return preferential_attachment_graph(N, 5, seed=0)
    return sp.random_array((N, N), density=10 / N, format="csr", rng=np.random.default_rng(5))


def _reference(name: str, A) -> float:
    if name == "graph-pa":  # symmetric: ||A||_2 = max |lambda|
        return float(np.abs(eigsh(A, k=1, which="LM", tol=1e-14, return_eigenvectors=False, v0=np.ones(N))).max())
    return float(svds(A, k=1, tol=1e-14, return_singular_vectors=False, random_state=0)[0])


def _lanczos(A, backend):
    return spectra.norm(A, method="lanczos", backend=backend, seed=0)


def _arpack(A):
    return svds(A, k=1, solver="arpack", return_singular_vectors=False, random_state=0)[0]


def _seconds(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


#: seconds of pause before every timed call of :func:`_interleaved_ratio`: OpenBLAS's workers spin for about
#: 0.1 s after a threaded product (the numpy backend's projections on ``random-2M``, 2e6 nonzeros), and a call
#: started at once shares a core with them (docs/performance.md, "asv and the script")
SETTLE = 0.25


def _settled_seconds(f) -> float:
    time.sleep(SETTLE)
    return _seconds(f)


def _interleaved_ratio(slow, fast, rounds: int = 5) -> float:
    """Median over rounds of time(slow) / time(fast): the two called one after the other, the order alternating
    between rounds, each call after a pause of :data:`SETTLE` seconds (as ``docs/scripts/sparse_lanczos.py``)."""
    ratios = []
    for r in range(rounds):
        if r % 2:
            t_fast = _settled_seconds(fast)
            t_slow = _settled_seconds(slow)
        else:
            t_slow = _settled_seconds(slow)
            t_fast = _settled_seconds(fast)
        ratios.append(t_slow / t_fast)
    return float(np.median(ratios))


class SparseLanczos:
    """``spectra.norm(A, method="lanczos")`` (certified, ``rtol=1e-6``) per backend: time, error, width."""

    params = (BACKENDS, MATRICES)
    param_names = ["backend", "matrix"]
    timeout = 900

    def setup_cache(self):
        outcomes = {}
        for name in self.params[1]:
            A = sparse_matrix(name)
            truth = _reference(name, A)
            for backend in self.params[0]:
                r = _lanczos(A, backend)
                outcomes[(backend, name)] = dict(
                    rel_error=rel_error(r.value, truth),
                    width=(r.upper - r.lower) / r.lower,
                    holds=float(r.lower <= truth * (1 + 1e-13) and truth <= r.upper * (1 + 1e-13)),
                )
        return outcomes

    def setup(self, outcomes, backend, matrix):
        self.outcome = outcomes[(backend, matrix)]
        self.A = sparse_matrix(matrix)
        _lanczos(self.A, backend)  # JIT cache load and thread start-up outside the timing

    def time_norm(self, outcomes, backend, matrix):
        _lanczos(self.A, backend)

    def track_rel_error(self, outcomes, backend, matrix):
        return self.outcome["rel_error"]

    track_rel_error.unit = "relative error"

    def track_certified_width(self, outcomes, backend, matrix):
        return self.outcome["width"]

    track_certified_width.unit = "(upper - lower) / lower"

    def track_interval_holds(self, outcomes, backend, matrix):
        return self.outcome["holds"]

    track_interval_holds.unit = "1 if lower <= ||A|| <= upper"


class SparseLanczosRatios:
    """Whole certified ``lanczos`` calls, numba backend against SciPy, interleaved in one process.

    ``track_numpy_over_numba``: spectra's numpy backend (SciPy's CSR/CSC products) time / numba backend time
    (the goal is >= 1.5, the condition for ``backend="auto"`` to move sparse inputs to numba);
    ``..._one_thread``: the same with Numba on one thread (per-core comparison: SciPy's products run on one
    core); ``track_parallel_only_over_scheduled``: every pass on the parallel kernel / the default schedule
    (parallel kernel or serial twin by their times); ``track_arpack_over_numba``: ``svds(A, k=1,
    solver="arpack")`` (no certificate) time / numba time.
    """

    params = MATRICES
    param_names = ["matrix"]
    timeout = 900

    def setup(self, matrix):
        if "numba" not in BACKENDS:
            raise NotImplementedError("numba is not installed")
        self.A = sparse_matrix(matrix)
        for backend in BACKENDS:
            _lanczos(self.A, backend)

    def track_numpy_over_numba(self, matrix):
        return _interleaved_ratio(lambda: _lanczos(self.A, "numpy"), lambda: _lanczos(self.A, "numba"))

    track_numpy_over_numba.unit = "numpy time / numba time"

    def track_numpy_over_numba_one_thread(self, matrix):
        import numba

        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return self.track_numpy_over_numba(matrix)
        finally:
            numba.set_num_threads(threads)

    track_numpy_over_numba_one_thread.unit = "numpy time / numba time"

    def track_arpack_over_numba(self, matrix):
        return _interleaved_ratio(lambda: _arpack(self.A), lambda: _lanczos(self.A, "numba"))

    track_arpack_over_numba.unit = "ARPACK time / numba time"

    def track_parallel_only_over_scheduled(self, matrix):
        """The numba backend with every pass on the parallel kernel / with passes choosing it or its serial twin
        by their times (the default; bitwise the same result)."""
        import spectra.backends.numba as nb

        def parallel_only():
            nb.SCHEDULE_SPARSE_PASSES = False
            try:
                _lanczos(self.A, "numba")
            finally:
                nb.SCHEDULE_SPARSE_PASSES = True

        return _interleaved_ratio(parallel_only, lambda: _lanczos(self.A, "numba"))

    track_parallel_only_over_scheduled.unit = "parallel-only time / scheduled time"


class SparseRtolBelowTheFloor:
    """``rtol`` a tenth of the certified lower bound's own floor ``2 (gamma_(m+2) + gamma_(n+2))`` (8.9e-10 at
    N = 200 000): the run must stop where the width stops shrinking, a few products after the ``rtol=1e-6``
    run, not at the end of its budget (671 products and 40x the time before docs/design.md's change of
    2026-12-02). Tracked against the ``rtol=1e-6`` run on the same matrix, numpy backend."""

    params = (["random-2M"],)
    param_names = ["matrix"]
    timeout = 900

    def setup(self, matrix):
        self.A = sparse_matrix(matrix)
        u = 2.0**-53
        self.rtol = 0.1 * 2.0 * 2.0 * ((N + 2) * u / (1 - (N + 2) * u))
        self.tight = spectra.norm(self.A, method="lanczos", rtol=self.rtol, seed=0)
        self.loose = spectra.norm(self.A, method="lanczos", rtol=1e-6, seed=0)

    def track_products_over_rtol_1e6(self, matrix):
        return self.tight.matvecs / self.loose.matvecs

    track_products_over_rtol_1e6.unit = "products / products at rtol=1e-6"

    def track_time_over_rtol_1e6(self, matrix):
        tight = lambda: spectra.norm(self.A, method="lanczos", rtol=self.rtol, seed=0)  # noqa: E731
        loose = lambda: spectra.norm(self.A, method="lanczos", rtol=1e-6, seed=0)  # noqa: E731
        return _interleaved_ratio(tight, loose, rounds=3)

    track_time_over_rtol_1e6.unit = "time / time at rtol=1e-6"

    def track_converged(self, matrix):
        return float(self.tight.converged)

    track_converged.unit = "1 if converged"


class BsrOneByOneBlocks:
    """A BSR matrix of 1 x 1 blocks (``random-2M`` converted) against the same CSR matrix, per backend: the time
    ratio, about 1 since such a BSR is read as CSR (it was 2.5x with SciPy's BSR products, 4x with numba's)."""

    params = (BACKENDS,)
    param_names = ["backend"]
    timeout = 900

    def setup(self, backend):
        self.csr = sparse_matrix("random-2M")
        self.bsr = sp.bsr_array(self.csr, blocksize=(1, 1))
        _lanczos(self.bsr, backend)
        _lanczos(self.csr, backend)

    def track_bsr_over_csr(self, backend):
        return _interleaved_ratio(lambda: _lanczos(self.bsr, backend), lambda: _lanczos(self.csr, backend), rounds=3)

    track_bsr_over_csr.unit = "time(BSR 1x1) / time(CSR)"
