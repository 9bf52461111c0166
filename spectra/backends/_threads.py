"""BLAS thread pools, through threadpoolctl (one scan of the loaded libraries, reused).

OpenBLAS's worker threads spin while they wait. For products too small to share, they cost more than
they gain, and on a machine whose other cores are busy they collapse: a power iteration on a small
``LinearOperator`` took 16-18 s with BLAS's threads and 2.7 s with one (docs/performance.md).

BLAS's thread count is one setting for the whole process, and calls from several threads overlap. The
one-thread limit is therefore counted, under a lock: the first call that needs it saves the counts in force
(the caller's, which may be a limit of its own) and applies it, the last one to leave restores them. Inside the
limit, :func:`all_blas_threads` raises BLAS to those saved counts, never above them.
"""

from __future__ import annotations

import contextlib
import functools
import threading

from threadpoolctl import ThreadpoolController

try:  # threadpoolctl >= 3.8: the first thread that sets OpenBLAS's shared pool keeps control while it lives
    from threadpoolctl import OpenBLASController

    _release_control = getattr(OpenBLASController, "clear_controlling_thread", None)
except ImportError:  # older threadpoolctl: any thread sets it
    _release_control = None

__all__ = ["all_blas_threads", "blas_threads", "one_blas_thread"]

_LOCK = threading.Lock()
#: calls inside :func:`one_blas_thread`, those of them inside :func:`all_blas_threads`, and the per-library
#: counts saved when the first call entered (``None`` while no call is inside)
_STATE = {"one": 0, "all": 0, "saved": None}


@functools.cache
def _controller() -> ThreadpoolController:
    """The BLAS libraries loaded so far (NumPy's and SciPy's are loaded with spectra), inspected once.

    ``threadpool_limits()`` rescans every loaded library on each call (2-3 ms, measured), more than a
    norm of a 1000 x 1000 matrix takes; the controller keeps that scan.
    """
    return ThreadpoolController()


def _blas_libs() -> list:
    return [lib for lib in _controller().lib_controllers if lib.user_api == "blas"]


def blas_threads() -> int:
    """BLAS's thread count outside spectra's own limit: the counts in force when the first running call began,
    else those in force now (a caller's ``threadpool_limits`` included)."""
    with _LOCK:
        saved = _STATE["saved"]
        counts = saved if saved is not None else [lib.num_threads for lib in _blas_libs()]
    return max(counts, default=1)


def _apply() -> None:
    """Set BLAS to what the counts ask for (the caller holds :data:`_LOCK`): the saved counts when no call needs
    one thread or one is inside :func:`all_blas_threads`, else one thread."""
    saved = _STATE["saved"]
    if saved is None:
        return
    one = _STATE["one"] > 0 and _STATE["all"] == 0
    for lib, count in zip(_blas_libs(), saved, strict=False):
        want = 1 if one else count
        if lib.num_threads != want:
            lib.set_num_threads(want)
    if _release_control is not None:  # the last call to leave may run on another thread: it must be able to restore
        _release_control()


@contextlib.contextmanager
def one_blas_thread():
    """Context in which BLAS runs on one thread; the counts before the first of overlapping calls come back
    when the last one leaves."""
    with _LOCK:
        if _STATE["one"] == 0:
            _STATE["saved"] = [lib.num_threads for lib in _blas_libs()]
        _STATE["one"] += 1
        _apply()
    try:
        yield
    finally:
        with _LOCK:
            _STATE["one"] -= 1
            _apply()
            if _STATE["one"] == 0:
                _STATE["saved"] = None


@contextlib.contextmanager
def all_blas_threads():
    """Context in which BLAS has the counts back that were in force before :func:`one_blas_thread` (never more
    than the caller had); outside that limit it changes nothing."""
    with _LOCK:
        _STATE["all"] += 1
        _apply()
    try:
        yield
    finally:
        with _LOCK:
            _STATE["all"] -= 1
            _apply()
