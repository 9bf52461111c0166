"""GPU benchmarks of the CuPy backend, each beside its peer measured in the same run.

Without a CUDA device every ``setup`` raises ``NotImplementedError`` with the reason, which asv
reports as skipped (not failed). The device is synchronised before and after every timed call.

- ``FusedPass``: the fused Gram pass ``A^H (A x)`` against a device-to-device copy of ``A`` (bandwidth
  reference) and against two cuBLAS gemv (``A @ x``, then ``A^T @ y``);
- ``CertifiedGaussian``: certified ``rtol=1e-6`` on a float32 Gaussian against
  ``cupyx.scipy.sparse.linalg.svds(k=1)`` (which certifies nothing); the peer's error is tracked against
  spectra's certified interval;
- ``SmallStack``: stacks of 100 000 matrices of 32 x 32 and 8 x 8 against
  ``cupy.linalg.norm(stack, 2, axis=(-2, -1))``: ``method="lanczos"`` (the certificate kernel
  ``small_gram_certify``, one warp per matrix, confidence 1) and ``method="auto"`` (batched cuSOLVER SVD);
  ``track_speedup_vs_cupy`` is the ratio of the two medians, timed interleaved in one process (target >= 5).

``SPECTRA_BENCH_SMALL=1`` shrinks every problem (smoke runs).
"""

from __future__ import annotations

import os

import numpy as np

SMALL = os.environ.get("SPECTRA_BENCH_SMALL") == "1"
#: side of the square dense problems and size of the stack
DENSE_N = 2_000 if SMALL else 20_000
STACK = (1_000 if SMALL else 100_000, 32, 32)
#: matrices per stack of the small-stack benchmarks, and the matrix sizes
STACK_COUNT = STACK[0]
STACK_SIZES = ["32x32", "8x8"]


def require_gpu():
    """CuPy with a usable device, or ``NotImplementedError`` (asv: skipped) saying why not."""
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # ImportError, or CUDARuntimeError without a driver
        raise NotImplementedError(f"skipped: no usable CUDA device ({type(exc).__name__}: {exc})") from None
    if count == 0:
        raise NotImplementedError("skipped: no CUDA device")
    return cupy


def sync() -> None:
    import cupy

    cupy.cuda.Device().synchronize()


def _gaussian(cp, shape, dtype, seed=0):
    rng = cp.random.default_rng(seed)
    return rng.standard_normal(shape, dtype=dtype)


class FusedPass:
    params = (["float32", "float64"],)
    param_names = ["dtype"]
    timeout = 300

    def setup(self, dtype):
        cp = require_gpu()
        from spectra import backends

        self.be = backends._load("cupy")
        self.A = _gaussian(cp, (DENSE_N, DENSE_N), dtype)
        self.x = _gaussian(cp, (DENSE_N, 1), dtype, seed=1)
        self.copy = cp.empty_like(self.A)
        self.be.gram(self.A, self.x)  # compile the module outside the timing
        sync()

    def time_fused_gram(self, dtype):
        self.be.gram(self.A, self.x)
        sync()

    def time_two_gemv(self, dtype):
        y = self.A @ self.x
        self.A.T @ y
        sync()

    def time_device_copy(self, dtype):
        import cupy

        cupy.copyto(self.copy, self.A)
        sync()

    def track_bytes_of_A(self, dtype):
        return float(self.A.nbytes)


class CertifiedGaussian:
    params = (["float32"],)
    param_names = ["dtype"]
    timeout = 600

    def setup(self, dtype):
        cp = require_gpu()
        import cupyx.scipy.sparse.linalg as cspl

        import spectra

        self.A = _gaussian(cp, (DENSE_N, DENSE_N), dtype)
        self.op = cspl.aslinearoperator(self.A)
        self.svds = cspl.svds
        self.norm = spectra.norm
        self.result = spectra.norm(self.A, rtol=1e-6, seed=0)  # also compiles the kernels
        sync()

    def time_spectra_certified(self, dtype):
        self.norm(self.A, rtol=1e-6, seed=0)
        sync()

    def time_svds_k1(self, dtype):
        self.svds(self.op, k=1, return_singular_vectors=False)
        sync()

    def track_spectra_width(self, dtype):
        r = self.result
        return (r.upper - r.lower) / r.lower

    def track_svds_error(self, dtype):
        """Distance of svds's value outside spectra's certified interval, relative (0 when inside)."""
        s = float(self.svds(self.op, k=1, return_singular_vectors=False).get().max())
        r = self.result
        return max(0.0, r.lower - s, s - r.upper) / r.lower


class SmallStack:
    params = (["float32", "float64"], STACK_SIZES)
    param_names = ["dtype", "size"]
    timeout = 600

    def setup(self, dtype, size):
        cp = require_gpu()
        import spectra

        m, n = (int(x) for x in size.split("x"))
        self.cp = cp
        self.A = _gaussian(cp, (STACK_COUNT, m, n), dtype)
        self.norm = spectra.norm
        self.result = spectra.norm(self.A, method="lanczos", rtol=1e-6, seed=0)  # compiles the kernel
        self.norm(self.A, rtol=1e-6, seed=0)
        self.cp.linalg.norm(self.A, 2, axis=(-2, -1))
        sync()

    def time_spectra_certificate(self, dtype, size):
        self.norm(self.A, method="lanczos", rtol=1e-6, seed=0)
        sync()

    def time_spectra_auto(self, dtype, size):
        self.norm(self.A, rtol=1e-6, seed=0)
        sync()

    def time_cupy_linalg_norm(self, dtype, size):
        self.cp.linalg.norm(self.A, 2, axis=(-2, -1))
        sync()

    def track_speedup_vs_cupy(self, dtype, size):
        """Median time of cupy.linalg.norm / median time of the certificate, 7 interleaved repeats."""
        import time

        def timed(f):
            sync()
            t0 = time.perf_counter()
            f(dtype, size)
            return time.perf_counter() - t0

        ours, peer = [], []
        for _ in range(7):
            ours.append(timed(self.time_spectra_certificate))
            peer.append(timed(self.time_cupy_linalg_norm))
        return float(np.median(peer) / np.median(ours))

    def track_cupy_error(self, dtype, size):
        """Largest distance of cupy.linalg.norm outside spectra's certified intervals, relative."""
        peer = self.cp.linalg.norm(self.A, 2, axis=(-2, -1)).get().astype(np.float64)
        lo, up = (np.asarray(x.get(), dtype=np.float64) for x in (self.result.lower, self.result.upper))
        return float(np.max(np.maximum(0.0, np.maximum(lo - peer, peer - up)) / lo))

    def track_spectra_width(self, dtype, size):
        lo, up = (np.asarray(x.get(), dtype=np.float64) for x in (self.result.lower, self.result.upper))
        return float(np.max((up - lo) / lo))

    def track_certified_fraction(self, dtype, size):
        """Fraction of matrices with confidence 1 (settled by the kernel's certificate, or its fallback's)."""
        return float(np.mean(np.asarray(self.result.confidence.get()) == 1.0))
