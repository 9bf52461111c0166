"""The NumPy backend's BLAS thread policy, with the machine's other cores busy.

A LinearOperator power iteration on a small dense matrix is timed with spectra's policy (one BLAS thread
below ``BLAS_ONE_THREAD_BELOW`` entries) and with the policy switched off (BLAS's own threads), in the
same run, while a second process keeps one core busy. The ratio of the two is the point.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from scipy.sparse.linalg import aslinearoperator

import spectra
from spectra.backends import numpy as numpy_backend

from .common import SMALL

SIZES = {"1000x500": (1000, 500)} if SMALL else {"1000x500": (1000, 500), "3000x1000": (3000, 1000)}


class BusyMachinePower:
    params = (list(SIZES), ["one-thread-policy", "blas-threads"], ["idle", "one-core-busy"])
    param_names = ["size", "policy", "machine"]
    timeout = 300

    def setup(self, size, policy, machine):
        m, n = SIZES[size]
        self.op = aslinearoperator(np.random.default_rng(0).standard_normal((m, n)))
        self.saved = numpy_backend.BLAS_ONE_THREAD_BELOW
        if policy == "blas-threads":
            numpy_backend.BLAS_ONE_THREAD_BELOW = 0
        self.load = None
        if machine == "one-core-busy":
            self.load = subprocess.Popen([sys.executable, "-c", "while True: pass"])

    def teardown(self, size, policy, machine):
        numpy_backend.BLAS_ONE_THREAD_BELOW = self.saved
        if self.load is not None:
            self.load.kill()
            self.load.wait()

    def time_power_50_iterations(self, size, policy, machine):
        spectra.norm(self.op, method="power", maxiter=50, seed=0)


class BusyMachineDensePasses:
    """Certified Lanczos with the numba backend on a dense matrix, its passes scheduled (the parallel kernel or
    the same kernel on one thread, by their times) against every pass in parallel, alternating in one process,
    on an idle machine and with a second process keeping one core busy.

    ``track_parallel_only_over_scheduled`` above 1: scheduling is faster (docs/performance.md, "Dense passes on
    a busy machine"); on an idle machine it should stay near 1.
    """

    params = ["idle", "one-core-busy"]
    param_names = ["machine"]
    timeout = 600

    def setup(self, machine):
        if "numba" not in spectra.backends.available_backends():
            raise NotImplementedError("numba is not installed")
        n = 600 if SMALL else 3000
        self.A = np.random.default_rng(0).standard_normal((n, n))
        self.load = None
        self._call(True), self._call(False)  # compile and warm up outside the timings
        if machine == "one-core-busy":
            self.load = subprocess.Popen([sys.executable, "-c", "while True: pass"])

    def teardown(self, machine):
        if self.load is not None:
            self.load.kill()
            self.load.wait()

    def _call(self, scheduled: bool) -> float:
        import time

        import spectra.backends.numba as nb

        nb.SCHEDULE_DENSE_PASSES = scheduled
        try:
            t0 = time.perf_counter()
            spectra.norm(self.A, method="lanczos", backend="numba", rtol=1e-6, seed=0)
            return time.perf_counter() - t0
        finally:
            nb.SCHEDULE_DENSE_PASSES = True

    def track_parallel_only_over_scheduled(self, machine):
        ratios = []
        for i in range(5):
            first = i % 2 == 0
            a = self._call(first)
            b = self._call(not first)
            scheduled, parallel = (a, b) if first else (b, a)
            ratios.append(parallel / scheduled)
        return float(np.median(ratios))

    track_parallel_only_over_scheduled.unit = "parallel-only time / scheduled time (median of 5 pairs)"
