"""Peak memory of spectra.norm on tall and wide hypersparse inputs, every method and backend.

A text-feature matrix: 2^20 rows, 100 columns, 2 000 nonzeros (a few kB). Memory must follow the nonzeros
and the short side, not the long side (docs/design.md, "Memory"). ``peakmem_norm`` is asv's peak resident
set size of the whole process (the matrix and the interpreter included); ``track_traced_peak`` is the
peak of Python-traced allocations during one call (tracemalloc), the number the budget in the docs bounds.
``svd`` is not run: it needs a dense array, and sparse inputs are never densified.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import scipy.sparse as sp

import spectra
from spectra.backends import available_backends

from .common import SMALL

METHODS = ["power", "lanczos", "randomized"]
BACKENDS = [b for b in ("numpy", "numba") if b in available_backends()]
LONG = 2**14 if SMALL else 2**20
SHAPES = {
    "tall-csc": (LONG, 100, "csc"),
    "tall-csr": (LONG, 100, "csr"),
    "wide-csr": (100, LONG, "csr"),
    "wide-csc": (100, LONG, "csc"),
}
NNZ = 2000


def hypersparse(shape: str):
    m, n, fmt = SHAPES[shape]
    rng = np.random.default_rng(0)
    A = sp.coo_array((rng.standard_normal(NNZ), (rng.integers(0, m, NNZ), rng.integers(0, n, NNZ))), shape=(m, n))
    return A.asformat(fmt)


def _call(A, method, backend, maxiter=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spectra.ConvergenceWarning)
        return spectra.norm(A, method=method, backend=backend, seed=0, maxiter=maxiter)


class HypersparseMemory:
    """Peak memory of one ``spectra.norm`` call on a hypersparse matrix with a long side of 2^20."""

    params = (METHODS, BACKENDS, list(SHAPES))
    param_names = ["method", "backend", "shape"]
    timeout = 600

    def setup(self, method, backend, shape):
        self.A = hypersparse(shape)
        _call(self.A, method, backend, maxiter=2)  # JIT compilation and imports outside the measurement

    def peakmem_norm(self, method, backend, shape):
        _call(self.A, method, backend)

    def track_traced_peak(self, method, backend, shape):
        tracemalloc.start()
        try:
            _call(self.A, method, backend)
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()

    track_traced_peak.unit = "MiB (tracemalloc peak of one call)"

    def time_norm(self, method, backend, shape):
        _call(self.A, method, backend)
