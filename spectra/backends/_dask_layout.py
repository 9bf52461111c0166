"""How a Dask array is laid out for the Gram pass: panels, and whether ``A`` stays on the workers.

- A matrix is cut into **panels** of whole rows (the methods work on ``AᴴA``) or whole columns (on
  ``AAᴴ``, for wide matrices): :data:`PANELS_PER_THREAD` per worker thread, each between
  :data:`MIN_PANEL_BYTES` and :data:`MAX_PANEL_BYTES` (:func:`panel_bytes`). Every task of a step costs the
  scheduler a round of messages (measured ~13 ms per task on a loaded 2-core machine), so a step has a few
  large tasks per worker rather than many small ones. Chunks that already are such panels are kept;
  otherwise ``A`` is rechunked once (never per step).
- A stack ``(..., m, n)`` is cut along its batch axes only: each block holds whole matrices.
- ``A`` is **persisted** (kept in the workers' memory for the whole run) when it takes at most
  :data:`PERSIST_FRACTION` of the memory available to the workers (the cluster's memory limits under a
  ``distributed.Client``, this machine's available memory otherwise). A larger ``A`` (out of core: zarr,
  a memory-mapped ``.npy``) is re-read from its source on every pass, one panel per task at a time, so the
  memory used stays bounded by a few panels per worker thread.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import numpy as np

__all__ = ["MAX_PANEL_BYTES", "PERSIST_FRACTION", "Panels", "active_client", "lay_out", "panel_bytes"]

#: size of one panel (rows or columns of A, or whole matrices of a stack): PANELS_PER_THREAD per worker
#: thread, within [MIN_PANEL_BYTES, MAX_PANEL_BYTES] (the upper limit bounds a task's memory out of core)
MIN_PANEL_BYTES, MAX_PANEL_BYTES, PANELS_PER_THREAD = 64 << 20, 512 << 20, 2
#: existing row/column chunks are kept as panels unless they are this much smaller, or larger, than the target
SMALL_PANEL_FACTOR, LARGE_PANEL_FACTOR = 16, 4
#: A is kept on the workers when it takes at most this fraction of their memory
PERSIST_FRACTION = 0.5


@dataclass(eq=False)
class Panels:
    """A Dask array laid out for the Gram pass, with what has been computed about it.

    ``axis`` is the axis the panels split (0: row panels, 1: column panels) for a matrix, ``None`` for a
    stack (blocks of whole matrices). ``step_seconds``/``task_seconds`` record each Gram pass: wall time
    on the client and summed compute time of its tasks on the workers.
    """

    array: object
    axis: int | None
    persisted: bool
    stats: object = None
    step_seconds: list = field(default_factory=list)
    task_seconds: list = field(default_factory=list)

    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def ndim(self) -> int:
        return self.array.ndim


def active_client():
    """The ``distributed.Client`` that ``compute()`` would use now, or None (threads, processes, sync)."""
    if "distributed" not in sys.modules:
        return None
    import dask.base

    get = dask.base.get_scheduler()
    client = getattr(get, "__self__", None)
    return client if type(client).__name__ == "Client" else None


def worker_memory() -> float:
    """Bytes of memory the computation may use: the workers' limits, or this machine's available memory."""
    client = active_client()
    if client is not None:
        workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
        limits = [w.get("memory_limit") or 0 for w in workers]
        if limits and all(limits):
            return float(sum(limits))
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return 0.0


def worker_threads() -> int:
    """Threads that run tasks: the cluster's under a ``distributed.Client``, this machine's cores otherwise."""
    client = active_client()
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return os.cpu_count() or 1


def panel_bytes(nbytes: int) -> int:
    """Bytes per panel for an array of ``nbytes`` (see the module docstring)."""
    per_thread = nbytes // (PANELS_PER_THREAD * worker_threads())
    return int(min(MAX_PANEL_BYTES, max(MIN_PANEL_BYTES, per_thread)))


def lay_out(A, transposed: bool) -> Panels:
    """Panels of ``A`` for the Gram side ``transposed`` (see the module docstring), persisted when they fit."""
    itemsize = np.dtype(A.dtype).itemsize
    target = panel_bytes(A.nbytes)
    if A.ndim == 2:
        axis = 1 if transposed else 0
        other = 1 - axis
        size = int(max(1, min(A.shape[axis], target // max(1, A.shape[other] * itemsize))))
        split = len(A.chunks[other]) > 1
        tiny = len(A.chunks[axis]) > 1 and np.mean(A.chunks[axis]) * SMALL_PANEL_FACTOR < size
        huge = max(A.chunks[axis]) > LARGE_PANEL_FACTOR * size
        if split or tiny or huge:
            A = A.rechunk({axis: size, other: -1})
    else:
        axis = None
        whole = A.shape[-2] * A.shape[-1]
        if any(len(c) > 1 for c in A.chunks[-2:]):  # a matrix split across blocks
            per = max(1, target // max(1, whole * itemsize))
            # whole matrices per block, spread over the leading batch axes from the innermost one
            spec, left = {A.ndim - 2: -1, A.ndim - 1: -1}, per
            for ax in range(A.ndim - 3, -1, -1):
                spec[ax] = max(1, min(A.shape[ax], left))
                left = max(1, left // max(1, A.shape[ax]))
            A = A.rechunk(spec)
    persist = A.nbytes <= PERSIST_FRACTION * worker_memory()
    if persist:
        A = A.persist()
    return Panels(A, axis, persist)


def block_slices(chunks: tuple) -> list[tuple[tuple[int, ...], tuple[slice, ...]]]:
    """``(block index, slices)`` of every block of a chunk grid, in C order."""
    offsets = [np.concatenate([[0], np.cumsum(c)]).astype(int) for c in chunks]
    out = []
    for idx in np.ndindex(*[len(c) for c in chunks]):
        out.append((idx, tuple(slice(int(o[i]), int(o[i + 1])) for o, i in zip(offsets, idx, strict=True))))
    return out
