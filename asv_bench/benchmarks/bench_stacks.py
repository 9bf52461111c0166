"""Stacks of many small matrices: spectra's certified path beside NumPy's batched SVD norm.

``numpy.linalg.norm(S, 2, axis=(-2, -1))`` computes every singular value of every matrix (LAPACK, one
matrix at a time) and gives no interval; spectra's ``auto`` runs the numba stack kernel (Lanczos on the
Gram matrix in cache, certified by a Cholesky factorisation, confidence 1). The width is tracked beside
the time, so a faster but wider answer cannot hide. Peers: ``np.linalg.norm``, the batched
``np.linalg.svd(S, compute_uv=False)`` and ``np.linalg.eigvalsh(S^H S)`` (none certified).
``StackRatio`` times spectra and ``np.linalg.norm`` alternately in one process, so the ratio does not
depend on how busy the machine was between benchmarks.
"""

from __future__ import annotations

import time

import numpy as np

import spectra
from spectra.backends import available_backends

from .common import SMALL

#: name -> (matrices, m, n); shrunk under SPECTRA_BENCH_SMALL so the suite's smoke test stays quick
STACKS = {"5000x32x32": (5000, 32, 32), "100000x8x8": (100_000, 8, 8), "2000x64x16": (2000, 64, 16)}
SOLVERS = ["spectra-auto", "spectra-svd", "numpy.linalg.norm", "numpy.linalg.svd", "numpy.linalg.eigvalsh(SᴴS)"]


def _stack(name: str) -> np.ndarray:
    B, m, n = STACKS[name]
    if SMALL:
        B = min(B, 64)
    return np.random.default_rng(0).standard_normal((B, m, n))


def _solve(solver: str, S: np.ndarray):
    if solver == "numpy.linalg.norm":
        return np.linalg.norm(S, 2, axis=(-2, -1)), None
    if solver == "numpy.linalg.svd":
        return np.linalg.svd(S, compute_uv=False)[..., 0], None
    if solver == "numpy.linalg.eigvalsh(SᴴS)":
        small = S if S.shape[-1] <= S.shape[-2] else np.swapaxes(S, -2, -1)
        gram = np.matmul(np.swapaxes(small, -2, -1).conj(), small)
        return np.sqrt(np.maximum(np.linalg.eigvalsh(gram)[..., -1], 0.0)), None
    method = "auto" if solver == "spectra-auto" else "svd"
    r = spectra.norm(S, method=method, rtol=1e-6, seed=0)
    return r.value, r


class StackNorm:
    """Time, worst certified width and worst error of a stack's norms, against NumPy in the same run."""

    params = (list(STACKS), SOLVERS)
    param_names = ["stack", "solver"]
    timeout = 300

    def setup(self, stack, solver):
        if solver == "spectra-auto" and "numba" not in available_backends():
            raise NotImplementedError("numba is not installed")
        self.S = _stack(stack)
        self.truth = np.linalg.svd(self.S, compute_uv=False)[..., 0]
        value, r = _solve(solver, self.S)  # warm up (JIT cache load) and check before timing
        self.result = r
        self.value = np.asarray(value)
        if r is not None and not (
            np.all(r.lower <= self.truth * (1 + 1e-14)) and np.all(self.truth <= r.upper * (1 + 1e-14))
        ):
            raise AssertionError("an interval missed the LAPACK norm")

    def time_norm(self, stack, solver):
        _solve(solver, self.S)

    def track_max_relative_width(self, stack, solver):
        if self.result is None:
            return float("nan")  # no interval
        return float(np.max(self.result.upper / self.result.lower - 1.0))

    def track_max_relative_error(self, stack, solver):
        return float(np.max(np.abs(self.value - self.truth) / self.truth))

    def track_method(self, stack, solver):
        """1 when spectra ran its stack kernel (confidence 1 from the Cholesky certificate), else 0."""
        if self.result is None:
            return float("nan")
        return float(self.result.method == "lanczos" and np.all(self.result.confidence == 1.0))


class StackRatio:
    """``np.linalg.norm`` time over spectra's (``auto``, certified ``rtol=1e-6``) time, alternating in one
    process: 5 pairs, the median of the per-pair ratios (above 1: spectra is faster)."""

    params = [list(STACKS), ["all", "1"]]
    param_names = ["stack", "numba_threads"]
    timeout = 600

    def setup(self, stack, numba_threads):
        if "numba" not in available_backends():
            raise NotImplementedError("numba is not installed")
        self.S = _stack(stack)
        _solve("spectra-auto", self.S)  # JIT cache load outside the timings

    def track_ratio_numpy_over_spectra(self, stack, numba_threads):
        import numba

        old = numba.get_num_threads()
        if numba_threads == "1":
            numba.set_num_threads(1)
        try:
            ratios = []
            for _ in range(5):
                t_numpy = _seconds(lambda: np.linalg.norm(self.S, 2, axis=(-2, -1)))
                t_spectra = _seconds(lambda: spectra.norm(self.S, rtol=1e-6, seed=0))
                ratios.append(t_numpy / t_spectra)
        finally:
            numba.set_num_threads(old)
        return float(np.median(ratios))

    track_ratio_numpy_over_spectra.unit = "numpy time / spectra time"


def _seconds(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0
