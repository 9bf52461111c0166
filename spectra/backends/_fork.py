"""Processes forked after GNU OpenMP was in use: no numba there.

GNU OpenMP is not fork-safe. A child forked after a parallel Numba kernel ran on the ``omp`` threading layer
with GNU's runtime (multiprocessing's default ``fork`` start method on Linux, PyTorch ``DataLoader`` workers)
aborts at its first parallel region ("Terminating: fork() called from a process already using GNU OpenMP,
this is unsafe."), and a ``multiprocessing.Pool`` waiting for it hangs. The runtime is shared: after PyTorch
(or another library linked to ``libgomp``) ran a parallel region in the parent, the child's first Numba kernel
on the ``omp`` layer waits forever for the parent's OpenMP threads. A hook registered with
:func:`os.register_at_fork` records that state in the child, where ``backend="auto"`` then stays on NumPy
and ``backend="numba"`` raises an error that says what to do. Whether another library's OpenMP threads ran
cannot be read from the outside, so ``libgomp`` loaded at the fork counts (where ``/proc/self/maps`` lists
the libraries: Linux). Leaf module: it never imports numba.
"""

from __future__ import annotations

import os
import sys

__all__ = ["fork_unsafe"]

_reason = ""

_FIXES = (
    "start worker processes with multiprocessing's 'spawn' or 'forkserver' method, or select a fork-safe layer "
    "before the first numba call (NUMBA_THREADING_LAYER=tbb with pip install tbb, or workqueue)"
)

#: threading layers Numba chooses without GNU OpenMP (``safe``: TBB only; ``forksafe``: TBB, Intel's OpenMP,
#: workqueue)
_LAYERS_WITHOUT_GNU_OPENMP = ("tbb", "workqueue", "safe", "forksafe")


def _gnu_openmp_loaded() -> bool:
    """Whether GNU's OpenMP runtime (``libgomp``, e.g. PyTorch's) is mapped in this process (Linux; else ``False``)."""
    try:
        with open("/proc/self/maps", "rb") as maps:
            return b"/libgomp" in maps.read()
    except OSError:
        return False


def _numba_layer() -> tuple[str | None, str]:
    """``(layer, vendor)`` of Numba's threading layer if a parallel region has run, else ``(None, configured)``:
    the layer asked for (``NUMBA_THREADING_LAYER``, ``"default"`` when not set)."""
    numba = sys.modules.get("numba")
    if numba is None:
        return None, os.environ.get("NUMBA_THREADING_LAYER", "default").lower()
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run: the layer is chosen at the first one
        return None, str(numba.config.THREADING_LAYER).lower()
    omppool = sys.modules.get("numba.np.ufunc.omppool")
    return layer, getattr(omppool, "openmp_vendor", "GNU")


def _after_fork_in_child() -> None:
    global _reason
    layer, detail = _numba_layer()
    if layer == "omp" and detail == "GNU":
        _reason = (
            "this process was forked from one that had run Numba's GNU OpenMP threading layer, which is not "
            f"fork-safe (a parallel kernel would abort the process); {_FIXES}"
        )
    elif layer is None and detail not in _LAYERS_WITHOUT_GNU_OPENMP and _gnu_openmp_loaded():
        _reason = (
            "this process was forked from one that had loaded GNU OpenMP (libgomp, e.g. with PyTorch), whose threads "
            "do not survive a fork: a parallel Numba kernel on the OpenMP threading layer, which shares that "
            f"runtime, would wait for them forever; {_FIXES}"
        )
    # TBB, workqueue and Intel's OpenMP are fork-safe


def fork_unsafe() -> str:
    """Why numba's parallel kernels cannot run in this process ("" when they can)."""
    return _reason


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
