"""BLAS thread pools, through threadpoolctl (one scan of the loaded libraries, reused).

OpenBLAS's worker threads spin while they wait. For products too small to share, they cost more than
they gain, and on a machine whose other cores are busy they collapse: a power iteration on a small
``LinearOperator`` took 16-18 s with BLAS's threads and 2.7 s with one (docs/performance.md).
"""

from __future__ import annotations

import functools

from threadpoolctl import ThreadpoolController

__all__ = ["all_blas_threads", "blas_threads", "one_blas_thread"]


@functools.cache
def _controller() -> ThreadpoolController:
    """The BLAS libraries loaded so far (NumPy's and SciPy's are loaded with spectra), inspected once.

    ``threadpool_limits()`` rescans every loaded library on each call (2-3 ms, measured), more than a
    norm of a 1000 x 1000 matrix takes; the controller keeps that scan.
    """
    return ThreadpoolController()


@functools.cache
def blas_threads() -> int:
    """BLAS's own thread count, read once before any limit is applied."""
    counts = [lib.num_threads for lib in _controller().lib_controllers if lib.user_api == "blas"]
    return max(counts, default=1)


def one_blas_thread():
    """Context in which BLAS runs on one thread."""
    blas_threads()  # read before the limit
    return _controller().limit(limits=1, user_api="blas")


def all_blas_threads():
    """Context in which BLAS has its own thread count back (e.g. inside :func:`one_blas_thread`)."""
    return _controller().limit(limits=blas_threads(), user_api="blas")
