"""One Gram pass ``A^H (A x)`` per backend, against NumPy's two products and a parallel read of A.

An iterative method costs (passes over A) x (time of one pass), and one pass cannot beat reading A
once. ``track_`` benchmarks report the ratios measured in the same process, so they do not depend on
how busy the machine was between benchmarks.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

try:
    import numba
except ImportError:  # no numba: NumPy's integer maximum (SIMD, memory bound) over the words, in threads
    numba = None

from spectra.backends import available_backends
from spectra.backends.numpy import NumPyBackend

from .common import SMALL, sparse_problem

_CORES = os.cpu_count() or 1
_POOL = ThreadPoolExecutor(max_workers=_CORES)


def _words(a) -> np.ndarray:
    """The bytes of ``a`` (any dtype, C or F order) as 64-bit words: a read that costs the same per byte for
    float32 and float64 (the trailing bytes that do not fill a word are left out)."""
    raw = a.reshape(-1, order="A").view(np.uint8)
    return raw[: raw.size // 8 * 8].view(np.uint64)


def _sum_words(u, nb):
    """Integer sum of ``u`` in ``nb`` blocks (one per thread): one load and one vector add per word, memory bound
    for every dtype (NumPy's float32 ``sum`` is pairwise and bound by arithmetic, ~24 GB/s against ~31)."""
    out = np.zeros(nb, dtype=np.uint64)
    for b in numba.prange(nb):
        v = u[b * u.size // nb : (b + 1) * u.size // nb]  # a slice: indices from 0, so the loop vectorises
        s = np.uint64(0)
        for i in range(v.size):
            s += v[i]
        out[b] = s
    return out.sum()


if numba is not None:  # compiled like the passes: parallel with Numba's threads, and a serial twin
    from spectra.backends._numba_serial import serial_twin

    _sum_words_parallel = numba.njit(parallel=True, nogil=True, cache=True)(_sum_words)
    _sum_words_serial = serial_twin(_sum_words_parallel)


def _serial_read(u):
    return _sum_words_serial(u, 1) if numba is not None else u.max()


def _parallel_read(u):
    """One read of the words ``u``, split over all threads (Numba's, as in a pass; else a thread pool)."""
    if numba is not None:
        return _sum_words_parallel(u, numba.get_num_threads())
    return max(_POOL.map(np.max, np.array_split(u, _CORES)))


def _read_time(a) -> float:
    """Best of a single-threaded and an all-core read of ``a``'s bytes: the floor for one pass over ``a``."""
    u = _words(a)
    return min(_best(lambda: _serial_read(u)), _best(lambda: _parallel_read(u)))


BACKENDS = [b for b in ("numpy", "numba") if b in available_backends()]
SHAPES = {
    "3000x3000-C": (3000, 3000, "C"),
    "3000x3000-F": (3000, 3000, "F"),
    "8000x2000-C": (8000, 2000, "C"),
    "2000x8000-C": (2000, 8000, "C"),
}
if SMALL:
    SHAPES = {k: (m // 10, n // 10, o) for k, (m, n, o) in SHAPES.items()}


def _backend(name):
    if name == "numba":
        from spectra.backends.numba import NumbaBackend

        return NumbaBackend()
    return NumPyBackend()


def _best(f, repeat=15):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


class _BackendContext:
    """The backend's context (BLAS limited to one thread for numba) is entered in ``setup``, as
    ``spectra.norm`` does around a computation; reference products are timed OUTSIDE it, with the thread
    pools they normally have."""

    def _enter(self):
        self.ctx = self.be.context()
        self.ctx.__enter__()

    def teardown(self, *params):
        self.ctx.__exit__(None, None, None)

    def _reference_best(self, f, repeat: int = 15) -> float:
        self.ctx.__exit__(None, None, None)
        try:
            return _best(f, repeat)
        finally:
            self._enter()


class DenseGramPass(_BackendContext):
    """One Gram pass per layout, shape and dtype (float32 reads half the bytes of float64)."""

    params = (BACKENDS, list(SHAPES), ["float64", "float32"])
    param_names = ["backend", "shape", "dtype"]

    def setup(self, backend, shape, dtype):
        m, n, order = SHAPES[shape]
        self.A = np.asarray(np.random.default_rng(0).standard_normal((m, n)).astype(dtype), order=order)
        self.be = _backend(backend)
        fused = self.be.fused_gram_adjoint(self.A)
        self.adjoint = bool(fused)
        self.x = np.random.default_rng(1).standard_normal((m if self.adjoint else n, 1)).astype(dtype)
        self._enter()
        self.be.gram(self.A, self.x, adjoint=self.adjoint)  # warm the JIT cache

    def time_gram(self, backend, shape, dtype):
        self.be.gram(self.A, self.x, adjoint=self.adjoint)

    def track_speedup_vs_numpy_two_products(self, backend, shape, dtype):
        ref = NumPyBackend()
        t_ref = self._reference_best(lambda: ref.gram(self.A, self.x, adjoint=self.adjoint))
        return t_ref / _best(lambda: self.be.gram(self.A, self.x, adjoint=self.adjoint))

    track_speedup_vs_numpy_two_products.unit = "x"

    def track_fraction_of_read_bandwidth(self, backend, shape, dtype):
        return _read_time(self.A) / _best(lambda: self.be.gram(self.A, self.x, adjoint=self.adjoint))

    track_fraction_of_read_bandwidth.unit = "read time / pass time"


class DenseBlockGramPass(_BackendContext):
    """One pass ``A^H (A X)`` with ``X`` of k columns (3000 x 3000, C order) against NumPy's two products.

    The kernel reads ``A`` once for all columns; as k grows the pass turns from memory-bound to
    compute-bound, where BLAS matrix products catch up.
    """

    params = (BACKENDS, [1, 4, 16])
    param_names = ["backend", "columns"]

    def setup(self, backend, k):
        m = 300 if SMALL else 3000
        self.A = np.random.default_rng(0).standard_normal((m, m))
        self.X = np.random.default_rng(1).standard_normal((m, k))
        self.be = _backend(backend)
        self._enter()
        self.be.gram(self.A, self.X)

    def time_gram(self, backend, k):
        self.be.gram(self.A, self.X)

    def track_speedup_vs_numpy_two_products(self, backend, k):
        ref = NumPyBackend()
        return self._reference_best(lambda: ref.gram(self.A, self.X)) / _best(lambda: self.be.gram(self.A, self.X))

    track_speedup_vs_numpy_two_products.unit = "x"


class ReadBandwidth:
    """GB/s of reading a 3000 x 3000 float64 matrix once (best of one core and all cores): a pass's floor."""

    def setup(self):
        m = 300 if SMALL else 3000
        self.a = np.random.default_rng(0).standard_normal(m * m)
        self.u = _words(self.a)
        _serial_read(self.u), _parallel_read(self.u)  # compile (or load) the read kernels

    def time_read(self):
        _parallel_read(self.u)

    def track_gbytes_per_second(self):
        return self.a.nbytes / _read_time(self.a) / 1e9

    track_gbytes_per_second.unit = "GB/s"


def _sparse_matrix(name):
    if name == "graph":
        return sparse_problem("graph")[0]
    n = 2000 if SMALL else 200_000  # 200 000 x 200 000 with exactly 2 000 000 uniformly placed nonzeros
    return sp.random_array((n, n), density=10 / n, format="csr", rng=np.random.default_rng(5))


class SparseGramPass(_BackendContext):
    """One fused pass over a CSR/CSC matrix against SciPy's ``A.T @ (A @ x)`` with a 1-D ``x``."""

    params = (BACKENDS, ["csr", "csc"], ["graph", "random-2M"])
    param_names = ["backend", "format", "matrix"]

    def setup(self, backend, fmt, matrix):
        self.A = _sparse_matrix(matrix).asformat(fmt)
        self.be = _backend(backend)
        self.adjoint = bool(self.be.fused_gram_adjoint(self.A))
        self.x = np.random.default_rng(1).standard_normal((self.A.shape[0], 1))
        self._enter()
        self.be.gram(self.A, self.x, adjoint=self.adjoint)

    def time_gram(self, backend, fmt, matrix):
        self.be.gram(self.A, self.x, adjoint=self.adjoint)

    def track_speedup_vs_scipy_two_products(self, backend, fmt, matrix):
        A_csr, x = sp.csr_array(self.A), self.x[:, 0]  # SciPy's fastest path: CSR matvec, then CSC matvec
        t_ref = self._reference_best(lambda: A_csr.T @ (A_csr @ x), repeat=7)
        return t_ref / _best(lambda: self.be.gram(self.A, self.x, adjoint=self.adjoint), repeat=7)

    track_speedup_vs_scipy_two_products.unit = "x"


class NumbaParallelLaunch:
    """Microseconds to start one parallel region of Numba (a two-iteration ``prange``), back to back.

    An iterative method starts several per step, so this is the threading layer's share of each step: about
    2 us with OpenMP or TBB on the development machine, about 80 us with ``workqueue`` (docs/performance.md,
    "Numba's threading layer"), so the number also tells which layer the run had.
    """

    def setup(self):
        if "numba" not in BACKENDS:
            raise NotImplementedError("numba is not installed")
        import numba

        @numba.njit(parallel=True, nogil=True)
        def touch(a):
            for i in numba.prange(a.shape[0]):
                a[i] += 1.0

        self.kernel, self.a = touch, np.zeros(2)
        touch(self.a)

    def track_microseconds_per_launch(self):
        runs = 2000
        t0 = time.perf_counter()
        for _ in range(runs):
            self.kernel(self.a)
        return (time.perf_counter() - t0) / runs * 1e6

    track_microseconds_per_launch.unit = "us per parallel region"
