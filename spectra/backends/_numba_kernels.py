"""Numba kernels: fused Gram passes that read A once. Leaf module: they only compute.

``dense_gram(B, X, c, Y, Z, nb)`` computes, for a C-ordered ``B`` (CSR matrices: :mod:`._numba_sparse`),

    Y = B X   and   Z = B^H (c Y)

in one read of every row, over ``nb`` row blocks (``nb`` is passed in: a kernel that asks Numba for its
thread count cannot be cached): each row's dot products are formed, scaled by ``c``, and immediately
scattered into a per-block accumulator of ``Z`` while the row is still in cache. Rows are processed eight
at a time so every accumulator update serves eight rows, and each group of eight serves every column of
``X`` while it is in cache, so ``A`` is read once whatever the number of columns (float32: sixteen rows,
whose sums fill the vector registers better; complex and wide types keep eight). Blocks run in parallel;
their accumulators are reduced in a fixed order, so the result is deterministic for a fixed thread count.
The batched kernel runs one small matrix per task. The adjoint products (``A (A^H X)`` for a
Fortran-ordered ``A`` or a CSC matrix) reuse the same kernels through ``conj(B conj(X))`` identities in
:mod:`spectra.backends.numba`. The entry-statistics kernels read ``A`` once for ``max |a_ij|`` and for
the deterministic bounds' sums.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

__all__ = [
    "abs_stats_rows",
    "dense_gram",
    "dense_gram_batched",
    "jit_kernel",
    "max_abs_rows",
    "wide_product_rows",
]

_DTYPES = (
    (types.float32, types.float32),
    (types.float64, types.float64),
    (types.complex64, types.float32),
    (types.complex128, types.float64),
)


def _in(dtype, ndim):
    """Input arrays are typed read-only: read-only and memory-mapped inputs are accepted as they are."""
    return types.Array(dtype, ndim, "C", readonly=True)


def _out(dtype, ndim):
    return types.Array(dtype, ndim, "C")


_FASTMATH = {"reassoc", "nsz", "contract"}


def jit_kernel(signature, index_types=(None,), parallel: bool = True):
    """The JIT policy in one place: explicit signatures for the four dtypes, on-disk cache, parallel, nogil.

    ``parallel=False`` compiles a kernel that runs on the calling thread (no parallel region to start).

    ``signature(T, R)`` (or ``signature(T, R, Ix)`` with ``index_types``) builds the signature for data
    type ``T`` with real type ``R`` (and index type ``Ix``). Floating-point reassociation is allowed so
    the inner products vectorise: the rounding analysis (docs/bounds.md §6c) holds for any summation order,
    and the order is fixed for a given build and thread count.
    """
    sigs = [signature(t, r) if i is None else signature(t, r, i) for t, r in _DTYPES for i in index_types]
    return numba.njit(sigs, cache=True, nogil=True, parallel=parallel, error_model="numpy", fastmath=_FASTMATH)


@numba.njit(cache=True, nogil=True, parallel=True)
def _reduce_blocks(acc, Z):
    """``Z[j, col] = sum_blk acc[blk, col, j]`` in a fixed order (deterministic for a fixed block count)."""
    nb, k, n = acc.shape
    for j in numba.prange(n):
        for col in range(k):
            t = acc[0, col, j]
            for blk in range(1, nb):
                t += acc[blk, col, j]
            Z[j, col] = t


@jit_kernel(lambda T, R: types.void(_in(T, 2), _in(T, 2), R, _out(T, 2), _out(T, 2), types.int64))
def dense_gram(B, X, c, Y, Z, nb):
    m, n = B.shape
    k = X.shape[1]
    XT = np.ascontiguousarray(X.T)  # unit-stride columns of X let the dot products vectorise
    acc = np.zeros((nb, k, n), dtype=Z.dtype)
    for blk in numba.prange(nb):
        r0 = blk * m // nb
        r1 = (blk + 1) * m // nb
        i = r0
        while B.itemsize == 4 and i + 16 <= r1:  # float32: sixteen rows per sweep (measured 6-14 % faster)
            b0, b1, b2, b3 = B[i], B[i + 1], B[i + 2], B[i + 3]
            b4, b5, b6, b7 = B[i + 4], B[i + 5], B[i + 6], B[i + 7]
            e0, e1, e2, e3 = B[i + 8], B[i + 9], B[i + 10], B[i + 11]
            e4, e5, e6, e7 = B[i + 12], B[i + 13], B[i + 14], B[i + 15]
            for col in range(k):
                x = XT[col]
                za = acc[blk, col]
                s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = za[0] * 0
                t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = za[0] * 0
                for j in range(n):
                    xj = x[j]
                    s0 += b0[j] * xj
                    s1 += b1[j] * xj
                    s2 += b2[j] * xj
                    s3 += b3[j] * xj
                    s4 += b4[j] * xj
                    s5 += b5[j] * xj
                    s6 += b6[j] * xj
                    s7 += b7[j] * xj
                    t0 += e0[j] * xj
                    t1 += e1[j] * xj
                    t2 += e2[j] * xj
                    t3 += e3[j] * xj
                    t4 += e4[j] * xj
                    t5 += e5[j] * xj
                    t6 += e6[j] * xj
                    t7 += e7[j] * xj
                Y[i, col], Y[i + 1, col], Y[i + 2, col], Y[i + 3, col] = s0, s1, s2, s3
                Y[i + 4, col], Y[i + 5, col], Y[i + 6, col], Y[i + 7, col] = s4, s5, s6, s7
                Y[i + 8, col], Y[i + 9, col], Y[i + 10, col], Y[i + 11, col] = t0, t1, t2, t3
                Y[i + 12, col], Y[i + 13, col], Y[i + 14, col], Y[i + 15, col] = t4, t5, t6, t7
                s0, s1, s2, s3, s4, s5, s6, s7 = s0 * c, s1 * c, s2 * c, s3 * c, s4 * c, s5 * c, s6 * c, s7 * c
                t0, t1, t2, t3, t4, t5, t6, t7 = t0 * c, t1 * c, t2 * c, t3 * c, t4 * c, t5 * c, t6 * c, t7 * c
                for j in range(n):
                    za[j] += (
                        b0[j] * s0
                        + b1[j] * s1
                        + b2[j] * s2
                        + b3[j] * s3
                        + b4[j] * s4
                        + b5[j] * s5
                        + b6[j] * s6
                        + b7[j] * s7
                        + e0[j] * t0
                        + e1[j] * t1
                        + e2[j] * t2
                        + e3[j] * t3
                        + e4[j] * t4
                        + e5[j] * t5
                        + e6[j] * t6
                        + e7[j] * t7
                    )
            i += 16
        while i + 8 <= r1:  # eight rows per sweep, used for every column of X while in cache: A is read once
            b0, b1, b2, b3 = B[i], B[i + 1], B[i + 2], B[i + 3]
            b4, b5, b6, b7 = B[i + 4], B[i + 5], B[i + 6], B[i + 7]
            for col in range(k):
                x = XT[col]
                za = acc[blk, col]
                s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = za[0] * 0
                for j in range(n):
                    xj = x[j]
                    s0 += b0[j] * xj
                    s1 += b1[j] * xj
                    s2 += b2[j] * xj
                    s3 += b3[j] * xj
                    s4 += b4[j] * xj
                    s5 += b5[j] * xj
                    s6 += b6[j] * xj
                    s7 += b7[j] * xj
                Y[i, col], Y[i + 1, col], Y[i + 2, col], Y[i + 3, col] = s0, s1, s2, s3
                Y[i + 4, col], Y[i + 5, col], Y[i + 6, col], Y[i + 7, col] = s4, s5, s6, s7
                s0, s1, s2, s3, s4, s5, s6, s7 = s0 * c, s1 * c, s2 * c, s3 * c, s4 * c, s5 * c, s6 * c, s7 * c
                for j in range(n):
                    za[j] += (
                        np.conj(b0[j]) * s0
                        + np.conj(b1[j]) * s1
                        + np.conj(b2[j]) * s2
                        + np.conj(b3[j]) * s3
                        + np.conj(b4[j]) * s4
                        + np.conj(b5[j]) * s5
                        + np.conj(b6[j]) * s6
                        + np.conj(b7[j]) * s7
                    )
            i += 8
        while i < r1:
            bi = B[i]
            for col in range(k):
                x = XT[col]
                za = acc[blk, col]
                s = za[0] * 0
                for j in range(n):
                    s += bi[j] * x[j]
                Y[i, col] = s
                s = s * c
                for j in range(n):
                    za[j] += np.conj(bi[j]) * s
            i += 1
    _reduce_blocks(acc, Z)


@jit_kernel(lambda T, R: types.void(_in(T, 3), _in(T, 3), _in(R, 1), _out(T, 3), _out(T, 3)))
def dense_gram_batched(B, X, c, Y, Z):
    nmat, m, n = B.shape
    k = X.shape[2]
    for b in numba.prange(nmat):  # many small matrices: one per task, not a Python loop
        for col in range(k):
            z = Z[b, :, col]
            z[:] = 0
            for i in range(m):
                bi = B[b, i]
                s = z[0] * 0
                for j in range(n):
                    s += bi[j] * X[b, j, col]
                Y[b, i, col] = s
                s = s * c[b]
                for j in range(n):
                    z[j] += np.conj(bi[j]) * s


#: the double-precision type each kernel dtype is widened to (for the certified product, docs/bounds.md §6c)
_WIDE = {
    types.float32: types.float64,
    types.float64: types.float64,
    types.complex64: types.complex128,
    types.complex128: types.complex128,
}


def _widen(x):  # plain Python (NUMBA_DISABLE_JIT); compiled kernels use the overload below
    return np.complex128(x) if np.iscomplexobj(x) else np.float64(x)


@overload(_widen)
def _widen_impl(x):
    """``x`` exactly in double precision (every single-precision value is a double-precision value)."""
    if isinstance(x, types.Complex):
        return lambda x: np.complex128(x)
    return lambda x: np.float64(x)


@jit_kernel(
    lambda T, R: types.void(_in(T, 2), _in(_WIDE[T], 2), _out(_WIDE[T], 2), types.boolean, types.boolean, types.int64)
)
def wide_product_rows(B, X, Y, dot, conj, nb):
    """``Y = op(B) X`` in double precision with ``B`` read once in its own (single) precision.

    ``dot=True``: ``Y = B X`` (row dot products); ``dot=False``: ``Y = B^T X`` (each row scattered into a
    per-block accumulator, reduced in a fixed order). ``conj`` conjugates the entries of ``B``. Each entry
    is widened exactly before it is multiplied, so the products and sums round as in a double-precision
    product of the widened matrix (docs/bounds.md §6c), without a double-precision copy of ``B``.
    """
    m, n = B.shape
    k = X.shape[1]
    if dot:
        XT = np.ascontiguousarray(X.T)
        for blk in numba.prange(nb):
            for i in range(blk * m // nb, (blk + 1) * m // nb):
                row = B[i]
                for col in range(k):
                    x = XT[col]
                    s = x[0] * 0
                    if conj:
                        for j in range(n):
                            s += np.conj(_widen(row[j])) * x[j]
                    else:
                        for j in range(n):
                            s += _widen(row[j]) * x[j]
                    Y[i, col] = s
        return
    acc = np.zeros((nb, k, n), dtype=Y.dtype)
    for blk in numba.prange(nb):
        for i in range(blk * m // nb, (blk + 1) * m // nb):
            row = B[i]
            for col in range(k):
                xi = X[i, col]
                za = acc[blk, col]
                if conj:
                    for j in range(n):
                        za[j] += np.conj(_widen(row[j])) * xi
                else:
                    for j in range(n):
                        za[j] += _widen(row[j]) * xi
    _reduce_blocks(acc, Y)


def _wide_abs(x):  # plain Python (NUMBA_DISABLE_JIT); compiled kernels use the overload below
    return abs(np.complex128(x)) if np.iscomplexobj(x) else abs(np.float64(x))


@overload(_wide_abs)
def _wide_abs_impl(x):
    """``|x|`` in float64: complex64 entries are widened first, so the modulus carries no float32 rounding."""
    if isinstance(x, types.Complex):
        return lambda x: abs(np.complex128(x))
    return lambda x: abs(np.float64(x))


@jit_kernel(lambda T, R: types.void(_in(T, 2), _out(types.float64, 2), _in(types.int64, 1)))
def max_abs_rows(B, out, bounds):
    """``out[b] = (max |B_ij|, sentinel)`` over row block ``b``; the sentinel is NaN iff an entry is not finite.

    A vectorised ``max`` does not propagate NaN reliably, so the sentinel (``sum |B_ij| * 0``) tells the
    caller to recompute with NumPy's NaN-aware reduction on such (rare) inputs.
    """
    n = B.shape[1]
    for blk in numba.prange(bounds.shape[0] - 1):
        mx = 0.0
        bad = 0.0
        for i in range(bounds[blk], bounds[blk + 1]):
            row = B[i]
            for j in range(n):
                v = _wide_abs(row[j])
                mx = max(mx, v)
                bad += v * 0.0
        out[blk, 0] = mx
        out[blk, 1] = bad


@jit_kernel(
    lambda T, R: types.void(
        _in(T, 2),
        types.float64,
        _out(types.float64, 2),
        _out(types.float64, 2),
        _out(types.float64, 2),
        _in(types.int64, 1),
    )
)
def abs_stats_rows(B, s, colsq, gers, rows, bounds):
    """Entry statistics of ``s |B|`` in float64, one read of ``B``, per row block ``b``.

    ``colsq[b]``: column sums of squares; ``gers[b]``: ``|B|^T r`` with ``r`` the row sums of ``|B|``
    (so their total is ``|B|^T |B| 1``); ``rows[b] = (sum of squares, largest row sum of squares)``.
    Each row's sums are formed first, then scattered while the row is still in cache.
    """
    n = B.shape[1]
    for blk in numba.prange(bounds.shape[0] - 1):
        cs = colsq[blk]
        g = gers[blk]
        cs[:] = 0.0
        g[:] = 0.0
        fro2 = 0.0
        rmax = 0.0
        for i in range(bounds[blk], bounds[blk + 1]):
            row = B[i]
            r = 0.0
            rsq = 0.0
            for j in range(n):
                a = _wide_abs(row[j]) * s
                r += a
                rsq += a * a
            for j in range(n):
                a = _wide_abs(row[j]) * s
                cs[j] += a * a
                g[j] += a * r
            fro2 += rsq
            rmax = max(rmax, rsq)
        rows[blk, 0] = fro2
        rows[blk, 1] = rmax
