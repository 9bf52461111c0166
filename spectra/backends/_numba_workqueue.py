"""Numba's ``workqueue`` threading layer is not thread-safe: one parallel region at a time in the process.

Two threads that start a parallel region at once on ``workqueue`` (concurrent ``spectra.norm`` calls from a
``ThreadPoolExecutor``, a Dask threaded scheduler) end the process with SIGABRT ("Concurrent access has been
detected"), whatever each one's thread count. ``workqueue`` is the layer Numba falls back to without TBB or an
OpenMP runtime, and the fork-safe layer docs/design.md recommends. :class:`._numba_jit.LazyKernel` runs its
parallel kernels through :func:`run`: while the layer may be ``workqueue`` (it is chosen at the first parallel
region), a process-wide lock admits one parallel region at a time; a thread that finds it taken runs the
kernel's serial twin, which computes the same bits on the calling thread, or waits where the kernel has none.
On TBB and OpenMP (thread-safe) nothing is locked once the layer is known. Leaf module.
"""

from __future__ import annotations

import threading

import numba

__all__ = ["layer_is_threadsafe", "run"]

_LOCK = threading.Lock()
#: ``True`` once Numba's threading layer is known and is not ``workqueue``
_THREADSAFE = [False]


def layer_is_threadsafe() -> bool:
    """Whether parallel regions may start from several threads at once: the layer has been chosen (at the first
    parallel region in the process) and is not ``workqueue``."""
    if not _THREADSAFE[0]:
        try:
            _THREADSAFE[0] = numba.threading_layer() != "workqueue"
        except ValueError:  # no parallel region has run yet: the layer is not chosen
            return False
    return _THREADSAFE[0]


def run(parallel, serial, args: tuple):
    """``parallel(*args)`` while no other thread runs a parallel kernel; else ``serial(*args)`` at once, or, with
    ``serial=None``, ``parallel(*args)`` after the other thread's kernel ends.

    Parameters
    ----------
    parallel : callable
        The parallel kernel (a Numba dispatcher compiled with ``parallel=True``).
    serial : callable or None
        A kernel that computes the same bits from the same arguments on the calling thread, or ``None``.
    args : tuple
        The arguments of either.

    Returns
    -------
    object
        What the kernel that ran returned.
    """
    if _LOCK.acquire(blocking=serial is None):
        try:
            return parallel(*args)
        finally:
            _LOCK.release()
    return serial(*args)
