"""What the Dask workers run: per-panel Gram partials and entry statistics, and their tree sums.

Plain NumPy functions (no Dask import), shipped to the workers by reference. A panel is a block of
whole rows of ``A`` (or of whole columns, passed here as the rows of ``Aᵀ``), or, for a stack, a block of
whole matrices. The local product is the numba backend's fused one-read kernel when numba imports on the
worker, NumPy's BLAS otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import time

import numpy as np

from ._base import _row_chunks

__all__ = ["combine_gram", "combine_stats", "panel_gram", "panel_stats", "stack_stats", "wide_blocks"]

#: the lowest exponent a panel's statistics are scaled by: ``2^-e`` must be finite (``2^1029`` is not), and
#: entries below ``2^MIN_SCALE_EXPONENT`` (subnormal ones) scaled by ``2^-MIN_SCALE_EXPONENT`` are exact and
#: above ``2^-54``, so their squares stay normal
MIN_SCALE_EXPONENT = -1022


def _local_backend():
    """The fastest local backend this worker can run (numba if installed, else NumPy; NumPy in a process
    forked after Numba's GNU OpenMP layer ran, :mod:`._fork`)."""
    from . import _load
    from ._fork import fork_unsafe

    return _load("numpy") if fork_unsafe() else _importable_backend()


@functools.cache
def _importable_backend():
    from .._errors import BackendUnavailableError
    from . import _load

    try:
        return _load("numba")
    except BackendUnavailableError:
        return _load("numpy")


@contextlib.contextmanager
def _one_thread():
    """Numba kernels use one thread per task (Dask already runs one task per worker thread); the thread's own
    count is restored after, since a task may run in the caller's thread (a graph of one block), whose later
    numba calls must keep their threads."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is optional on the workers
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def panel_gram(block, X, inner, adjoint: bool, offset: int, rows: int):
    """``(pieces, Z_p, seconds)`` for one panel: ``pieces = [(offset, rows, Y_p)]`` and ``Z_p`` its Gram partial.

    Row panel ``A_p`` (``adjoint=False``): ``Y_p = A_p X``, ``Z_p = A_pᴴ (c Y_p)``. Column panel ``A_q``
    (``adjoint=True``): ``Y_q = A_qᴴ X``, ``Z_q = A_q (c Y_q)``. For a stack block ``X`` and ``inner`` are
    already the block's slices and ``Z_p`` is its part of ``Z`` (nothing to sum).
    """
    t0 = time.perf_counter()
    be = _local_backend()
    # no be.context(): its process-wide BLAS limit is not safe in concurrent tasks (threaded scheduler), and
    # the fused kernel uses no BLAS
    with _one_thread():
        Y, Z = be.gram(block, X, inner, adjoint=adjoint)
    return [(offset, rows, Y)], Z, time.perf_counter() - t0


def combine_gram(*parts):
    """Tree-sum node: concatenate the ``Y`` pieces, add the ``Z`` partials, add the task times."""
    pieces, Z, seconds = [], None, 0.0
    for p, z, s in parts:
        pieces += p
        Z = z if Z is None else Z + z
        seconds += s
    return pieces, Z, seconds


def wide_blocks(blocks, xs, adjoint: bool):
    """``Σ_j A_j X_j`` (``adjoint``: ``Σ_i A_iᴴ X_i``) over one row (column) of blocks, each product in double
    precision by the local backend's ``wide_product``: a single-precision block is read in place or in
    widened row chunks of about 8 MiB, never widened whole (the certificate of §6c on a float32 panel)."""
    be = _local_backend()
    total = None
    with _one_thread():
        for a, x in zip(blocks, xs, strict=True):
            part = be.wide_product(np.asarray(a), np.ascontiguousarray(x), adjoint)
            total = part if total is None else total + part
    return total


def _frexp_exponent(x: float) -> int:
    """The exponent the statistics of a panel whose largest entry is ``x`` are scaled by: ``frexp``'s, raised to
    :data:`MIN_SCALE_EXPONENT` for subnormal entries (``2^-e`` finite), 0 for a zero panel."""
    return max(int(np.frexp(x)[1]), MIN_SCALE_EXPONENT) if x > 0 else 0


def panel_stats(block, transposed: bool):
    """Entry statistics of one panel, in float64, scaled by the panel's own power of two.

    Returns ``(maxabs, e, fro2, colsq, gers, rowmax)`` for the panel's rows ``B`` (``block`` or, for a
    column panel, ``blockᵀ``) scaled by ``2^-e`` (``e`` the exponent of ``maxabs``): ``fro2 = ||B||_F²``,
    ``colsq`` the squared column norms, ``gers = |B|ᵀ |B| 1`` and ``rowmax`` the largest squared row norm.
    Sums over panels (:func:`combine_stats`) give the statistics of the whole matrix. ``maxabs`` is NaN
    (and the rest None) when an entry is NaN or infinite.
    """
    B = block.T if transposed else block
    kernels = _kernels_for(B)
    if kernels is not None:
        out = _panel_stats_numba(kernels, B)
        if out is not None:
            return out
    wide = np.complex128 if np.iscomplexobj(B) else np.float64
    mx = 0.0
    for chunk in _row_chunks(B):
        top = float(np.max(np.abs(chunk.astype(wide, copy=False)), initial=0.0))
        if not np.isfinite(top):  # (Python's max() would drop a NaN)
            return np.nan, 0, None, None, None, None
        mx = max(mx, top)
    e = _frexp_exponent(mx)
    s = np.ldexp(1.0, -e)
    n = B.shape[1]
    colsq, gers, rowmax = np.zeros(n), np.zeros(n), 0.0
    for chunk in _row_chunks(B):
        a = np.abs(chunk.astype(wide, copy=False)).astype(np.float64, copy=False) * s
        gers += a.T @ a.sum(axis=1)
        sq = a * a
        if sq.shape[0]:
            rowmax = max(rowmax, float(sq.sum(axis=1).max()))
        colsq += sq.sum(axis=0)
    return mx, e, float(colsq.sum()), colsq, gers, rowmax


def _kernels_for(B):
    """numba's entry-statistics kernels when the worker's local backend is numba and ``B`` is C-ordered."""
    be = _local_backend()
    if be.name != "numba" or be._rows_view(B) is None or not B.flags.c_contiguous:
        return None
    from . import _numba_kernels

    return _numba_kernels


def _panel_stats_numba(kernels, B):
    """:func:`panel_stats` with numba's one-read kernels (one thread: one task per worker thread)."""
    bounds = np.array([0, B.shape[0]], dtype=np.int64)
    out = np.empty((1, 2))
    with _one_thread():
        kernels.max_abs_rows(B, out, bounds)
    if not np.isfinite(out[0, 1]):  # NaN/Inf present, or a finite sum of |a_ij| that overflowed: NumPy tells
        return None
    mx = float(out[0, 0])
    e = _frexp_exponent(mx)
    n = B.shape[1]
    colsq, gers, rows = np.empty((1, n)), np.empty((1, n)), np.empty((1, 3))
    with _one_thread():
        kernels.abs_stats_rows(B, float(np.ldexp(1.0, -e)), colsq, gers, rows, bounds)
    return mx, e, float(rows[0, 0]), colsq[0], gers[0], float(rows[0, 1])


def combine_stats(*parts):
    """Tree-sum node of :func:`panel_stats` results: brought to the largest exponent, then added."""
    if any(not np.isfinite(p[0]) for p in parts):
        return np.nan, 0, None, None, None, None
    # the exponent of the largest nonzero part: a zero part's sums are zero at any scale, and its exponent 0
    # would scale the others' sums by 4^(pe - 0), to zero for entries below 1e-162
    e = max((p[1] for p in parts if p[0] > 0), default=0)
    mx, fro2, colsq, gers, rowmax = 0.0, 0.0, 0.0, 0.0, 0.0
    for pmx, pe, pfro2, pcol, pgers, prow in parts:
        # quadratic quantities scale with 4^(pe - e); a zero part's sums are zero (4^(0 - e) may overflow)
        f = np.ldexp(1.0, 2 * (pe - e)) if pmx > 0 else 0.0
        mx = max(mx, pmx)
        fro2 += pfro2 * f
        colsq = colsq + pcol * f
        gers = gers + pgers * f
        rowmax = max(rowmax, prow * f)
    return mx, e, fro2, colsq, gers, rowmax


def stack_stats(block):
    """Per-matrix ``(maxabs, e, AbsStats of 2^-e A_i)`` for a block of whole matrices ``(..., m, n)``."""
    be = _local_backend()
    B3 = block.reshape(-1, block.shape[-2], block.shape[-1])
    mx = np.asarray(be.max_abs(B3), dtype=np.float64).reshape(-1)
    ok = np.isfinite(mx)
    e = np.where(ok & (mx > 0), np.frexp(np.where(ok, mx, 1.0))[1], 0).astype(np.int64)
    if not ok.all():
        return mx, e, None
    return mx, e, be.abs_stats(B3, np.ldexp(1.0, -(e // 2)), np.ldexp(1.0, -(e - e // 2)))
