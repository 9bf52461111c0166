"""Numba kernels: fused Gram passes that read A once. Leaf module: they only compute.

``dense_gram(B, X, c, Y, Z, nb)`` computes, for a C-ordered ``B`` (or the rows of a CSR matrix),

    Y = B X   and   Z = B^H (c Y)

in one read of every row, over ``nb`` row blocks (``nb`` is passed in: a kernel that asks Numba for its
thread count cannot be cached): each row's dot products are formed, scaled by ``c``, and immediately
scattered into a per-block accumulator of ``Z`` while the row is still in cache. Rows are processed four at
a time so every accumulator update serves four rows. Blocks run in parallel; their accumulators are
reduced in a fixed order, so the result is deterministic for a fixed thread count. The batched kernel
runs one small matrix per task. The adjoint products (``A (A^H X)`` for a Fortran-ordered ``A`` or a
CSC matrix) reuse the same kernels through ``conj(B conj(X))`` identities in :mod:`spectra.backends.numba`.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types

__all__ = ["csr_gram", "dense_gram", "dense_gram_batched", "jit_kernel"]

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


def jit_kernel(signature, index_types=(None,)):
    """The JIT policy in one place: explicit signatures for the four dtypes, on-disk cache, parallel, nogil.

    ``signature(T, R)`` (or ``signature(T, R, Ix)`` with ``index_types``) builds the signature for data
    type ``T`` with real type ``R`` (and index type ``Ix``). Floating-point reassociation is allowed so
    the inner products vectorise: the rounding analysis (docs/bounds.md §6c) holds for any summation order,
    and the order is fixed for a given build and thread count.
    """
    sigs = [signature(t, r) if i is None else signature(t, r, i) for t, r in _DTYPES for i in index_types]
    return numba.njit(
        sigs, cache=True, nogil=True, parallel=True, error_model="numpy", fastmath={"reassoc", "nsz", "contract"}
    )


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
    acc = np.zeros((nb, k, n), dtype=Z.dtype)
    for blk in numba.prange(nb):
        r0 = blk * m // nb
        r1 = (blk + 1) * m // nb
        for col in range(k):
            x = X[:, col]
            za = acc[blk, col]
            i = r0
            while i + 4 <= r1:
                b0, b1, b2, b3 = B[i], B[i + 1], B[i + 2], B[i + 3]
                s0 = s1 = s2 = s3 = za[0] * 0
                for j in range(n):
                    xj = x[j]
                    s0 += b0[j] * xj
                    s1 += b1[j] * xj
                    s2 += b2[j] * xj
                    s3 += b3[j] * xj
                Y[i, col], Y[i + 1, col], Y[i + 2, col], Y[i + 3, col] = s0, s1, s2, s3
                s0, s1, s2, s3 = s0 * c, s1 * c, s2 * c, s3 * c
                for j in range(n):
                    za[j] += np.conj(b0[j]) * s0 + np.conj(b1[j]) * s1 + np.conj(b2[j]) * s2 + np.conj(b3[j]) * s3
                i += 4
            while i < r1:
                bi = B[i]
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


@jit_kernel(
    lambda T, R, Ix: types.void(
        _in(Ix, 1), _in(Ix, 1), _in(T, 1), types.int64, _in(T, 2), R, _out(T, 2), _out(T, 2), types.int64
    ),
    index_types=(types.int32, types.int64),
)
def csr_gram(indptr, indices, data, n, X, c, Y, Z, nb):
    m = indptr.shape[0] - 1
    k = X.shape[1]
    acc = np.zeros((nb, k, n), dtype=Z.dtype)
    for blk in numba.prange(nb):
        r0 = blk * m // nb
        r1 = (blk + 1) * m // nb
        for col in range(k):
            za = acc[blk, col]
            for i in range(r0, r1):
                p0, p1 = indptr[i], indptr[i + 1]
                s = za[0] * 0
                for p in range(p0, p1):
                    s += data[p] * X[indices[p], col]
                Y[i, col] = s
                s = s * c
                for p in range(p0, p1):
                    za[indices[p]] += np.conj(data[p]) * s
    _reduce_blocks(acc, Z)
