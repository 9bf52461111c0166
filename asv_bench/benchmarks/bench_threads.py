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
