"""Numba kernels for CSR matrices (CSC read as the CSR rows of ``A^T``). Leaf module: they only compute.

``csr_gram`` computes ``Y = B X`` and ``Z = B^H (c Y)`` in one read of the rows of ``B``, one block of rows
per thread (balanced by nonzeros), each into its own accumulator of ``Z``; the accumulators are summed in a
fixed order (deterministic for a fixed thread count). ``csr_gram_serial`` is its serial twin: the same
blocks on the calling thread, summed in the same order, so for the same ``bounds`` its result is bitwise that
of ``csr_gram``; it runs passes too small to repay starting the parallel region, and those whose parallel
region stalls on a busy machine (:mod:`._pass_schedule`). ``csr_abs_stats`` reads the nonzeros
once for the entry statistics behind the scaling and the deterministic bounds (docs/bounds.md §5).
The signatures and the JIT policy are those of :mod:`._numba_kernels`.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types

from . import _numba_serial
from ._numba_jit import LazyKernel, njit_cached
from ._numba_kernels import _FASTMATH, _in, _out, _reduce_blocks, _wide_abs, jit_kernel

__all__ = ["csr_abs_stats", "csr_abs_stats_serial", "csr_gram", "csr_gram_serial"]

_INDEX = (types.uint32, types.uint64)
_KEY = (2, 0)  # a signature is chosen by the dtypes of the values and of indptr
_KINDS = ("sparse",)


def _csr_signature(T, R, Ix, *extra):
    # the values may be any strided view: a matrix whose stored values are all equal passes one value with
    # stride 0 (``np.broadcast_to``), read from cache instead of memory (docs/performance.md)
    values = types.Array(T, 1, "A", readonly=True)
    return types.void(_in(Ix, 1), _in(Ix, 1), values, _in(T, 2), R, _out(T, 2), _out(T, 2), *extra)


@njit_cached(nogil=True, error_model="numpy", fastmath=_FASTMATH)
def _csr_rows(indptr, indices, data, X, c, Y, Z, r0, r1):
    """Rows ``r0:r1`` of a CSR matrix: ``Y[i] = a_i X`` and ``Z += a_i^H (c Y[i])`` (``Z`` zeroed by the caller).

    Each row is read once for all ``k`` columns of ``X``; its products are scattered while it is in cache.
    """
    k = X.shape[1]
    if k == 1:  # the iterative methods' case: scalar accumulators, no inner loop over columns
        x, y, z = X[:, 0], Y[:, 0], Z[:, 0]
        zero = Z.dtype.type(0)  # sums in the data type (`z[0] * 0`, an int64 product, made float32 sums float64)
        for i in range(r0, r1):
            p0, p1 = indptr[i], indptr[i + 1]
            t = zero
            for p in range(p0, p1):
                t += data[p] * x[indices[p]]
            y[i] = t
            t = t * c
            for p in range(p0, p1):
                z[indices[p]] += np.conj(data[p]) * t
        return
    s = np.empty(k, dtype=Z.dtype)
    for i in range(r0, r1):
        p0, p1 = indptr[i], indptr[i + 1]
        s[:] = 0
        for p in range(p0, p1):
            xp = X[indices[p]]
            for col in range(k):
                s[col] += data[p] * xp[col]
        Y[i] = s
        s *= c
        for p in range(p0, p1):
            zp = Z[indices[p]]
            a = np.conj(data[p])
            for col in range(k):
                zp[col] += a * s[col]


@jit_kernel(lambda T, R, Ix: _csr_signature(T, R, Ix, _in(types.int64, 1)), _INDEX, key_args=_KEY, kinds=_KINDS)
def csr_gram(indptr, indices, data, X, c, Y, Z, bounds):
    """CSR rows ``bounds[b]:bounds[b+1]`` per task, each into its own accumulator; the blocks are then summed.

    Index arrays are passed as unsigned views: Numba then skips the negative-index wraparound test on every
    gather and scatter, which otherwise costs more than the memory traffic (measured: 1.7x on one core).
    """
    nb = bounds.shape[0] - 1
    n, k = Z.shape
    acc = np.empty((nb, n, k), dtype=Z.dtype)  # (row block, column of A, column of X): scatters are contiguous
    for blk in numba.prange(nb):
        za = acc[blk]
        za[:] = 0  # zeroed by the thread that uses it
        _csr_rows(indptr, indices, data, X, c, Y, za, bounds[blk], bounds[blk + 1])
    _reduce_blocks(acc.transpose(0, 2, 1), Z)


#: :func:`csr_gram` without a parallel region (:func:`._numba_serial.serial_twin`): no worker threads to wake
#: (tens of milliseconds each on a loaded machine, docs/performance.md), and bitwise the same result
csr_gram_serial = _numba_serial.serial_twin(csr_gram, _reduce_blocks=_numba_serial._reduce_blocks)


@jit_kernel(
    lambda T, R, Ix: types.void(
        _in(Ix, 1),
        _in(Ix, 1),
        _in(T, 1),
        types.float64,
        _out(types.float64, 2),
        _out(types.float64, 2),
        _out(types.int64, 2),
        _out(types.float64, 2),
        _in(types.int64, 1),
    ),
    index_types=_INDEX,
    key_args=_KEY,
    kinds=_KINDS,
    fastmath=_FASTMATH - {"reassoc"},
)
def csr_abs_stats(indptr, indices, data, s, colsq, gers, count, rows, bounds):
    """Entry statistics of ``s |B|`` in float64 for the CSR rows ``bounds[b]:bounds[b+1]`` of block ``b``.

    ``colsq[b]``: column sums of squares; ``gers[b]``: ``|B|^T r`` with ``r`` the row sums of ``|B|`` (their
    total is ``|B|^T |B| 1``); ``count[b]``: nonzeros per column; ``rows[b] = (sum of squares, largest row
    sum of squares)``. Each row's sums are formed first, then scattered while it is in cache.

    Compiled without reassociation: the sums run in source order. With it, the parallel build loaded from
    Numba's on-disk cache summed some rows in another order than the freshly compiled one and its serial twin,
    so the statistics, and through them a result's last bits, depended on the pass schedule in a process with
    a warm cache. The kernel reads each nonzero once per call, so the order costs little.
    """
    for blk in numba.prange(bounds.shape[0] - 1):
        cs, g, cnt = colsq[blk], gers[blk], count[blk]
        cs[:] = 0.0
        g[:] = 0.0
        cnt[:] = 0
        fro2 = 0.0
        rmax = 0.0
        for i in range(bounds[blk], bounds[blk + 1]):
            p0, p1 = indptr[i], indptr[i + 1]
            r = 0.0
            rsq = 0.0
            for p in range(p0, p1):
                a = _wide_abs(data[p]) * s
                r += a
                rsq += a * a
            for p in range(p0, p1):
                a = _wide_abs(data[p]) * s
                j = indices[p]
                cs[j] += a * a
                g[j] += a * r
                cnt[j] += 1
            fro2 += rsq
            rmax = max(rmax, rsq)
        rows[blk, 0] = fro2
        rows[blk, 1] = rmax


#: :func:`csr_abs_stats` on the calling thread: the same blocks, so bitwise the same statistics; it runs where the
#: pass schedule found the serial twin of the Gram pass faster (a busy machine, docs/performance.md)
csr_abs_stats_serial = _numba_serial.serial_twin(csr_abs_stats)

if isinstance(csr_gram, LazyKernel):  # the twins compute their kernels' bits: they run while another thread
    csr_gram.fallback = csr_gram_serial  # runs a parallel region on Numba's workqueue layer
    csr_abs_stats.fallback = csr_abs_stats_serial
