"""Processes forked after Numba's GNU OpenMP threading layer ran: no numba there.

GNU OpenMP is not fork-safe. A child forked after a parallel Numba kernel ran on the ``omp`` threading layer
with GNU's runtime (multiprocessing's default ``fork`` start method on Linux, PyTorch ``DataLoader`` workers)
aborts at its first parallel region ("Terminating: fork() called from a process already using GNU OpenMP,
this is unsafe."), and a ``multiprocessing.Pool`` waiting for it hangs. A hook registered with
:func:`os.register_at_fork` records that state in the child, where ``backend="auto"`` then stays on NumPy
and ``backend="numba"`` raises an error that says what to do. Leaf module: it never imports numba.
"""

from __future__ import annotations

import os
import sys

__all__ = ["fork_unsafe"]

_reason = ""


def _after_fork_in_child() -> None:
    global _reason
    numba = sys.modules.get("numba")
    if numba is None:
        return
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run in the parent: nothing was started
        return
    omppool = sys.modules.get("numba.np.ufunc.omppool")
    if layer != "omp" or getattr(omppool, "openmp_vendor", "GNU") != "GNU":
        return  # TBB, workqueue and Intel's OpenMP are fork-safe
    _reason = (
        "this process was forked from one that had run Numba's GNU OpenMP threading layer, which is not "
        "fork-safe (a parallel kernel would abort the process); start worker processes with multiprocessing's "
        "'spawn' or 'forkserver' method, or select a fork-safe layer before the first numba call "
        "(NUMBA_THREADING_LAYER=tbb with pip install tbb, or workqueue)"
    )


def fork_unsafe() -> str:
    """Why numba's parallel kernels cannot run in this process ("" when they can)."""
    return _reason


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
