"""Stacks of many small matrices: spectra's certified path beside NumPy's batched SVD norm.

``numpy.linalg.norm(S, 2, axis=(-2, -1))`` computes every singular value of every matrix (LAPACK, one
matrix at a time) and gives no interval; spectra's ``auto`` runs the numba one-matrix-per-task kernel
(Lanczos on the Gram matrix in cache, certified by a Cholesky factorisation, confidence 1). The width is
tracked beside the time, so a faster but wider answer cannot hide.
"""

from __future__ import annotations

import numpy as np

import spectra
from spectra.backends import available_backends

from .common import SMALL

#: name -> (matrices, m, n); shrunk under SPECTRA_BENCH_SMALL so the suite's smoke test stays quick
STACKS = {"5000x32x32": (5000, 32, 32), "100000x8x8": (100_000, 8, 8), "2000x64x16": (2000, 64, 16)}
SOLVERS = ["spectra-auto", "spectra-svd", "numpy.linalg.norm"]


def _stack(name: str) -> np.ndarray:
    B, m, n = STACKS[name]
    if SMALL:
        B = min(B, 64)
    return np.random.default_rng(0).standard_normal((B, m, n))


def _solve(solver: str, S: np.ndarray):
    if solver == "numpy.linalg.norm":
        return np.linalg.norm(S, 2, axis=(-2, -1)), None
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
