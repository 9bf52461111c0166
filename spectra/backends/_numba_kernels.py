"""Numba kernels: fused Gram passes that read A once. Leaf module: they only compute.

``dense_gram(B, X, c, Y, Z, nb)`` computes, for a C-ordered ``B`` (CSR matrices: :mod:`._numba_sparse`),

    Y = B X   and   Z = B^H (c Y)

in one read of every row, over ``nb`` row blocks (``nb`` is passed in: a kernel that asks Numba for its
thread count cannot be cached): each row's dot products are formed, scaled by ``c``, and immediately
scattered into a per-block accumulator of ``Z`` while the row is still in cache. Rows are processed eight
at a time so every accumulator update serves eight rows, and each group of eight serves every column of
``X`` while it is in cache, so ``A`` is read once whatever the number of columns. The sums are formed in
the data type (float32 in float32: half the vector work of widened sums). The rows of a group lie
``h`` apart (``h`` = the block's rows / 8): each of the eight read streams runs on into the next group's
row, so the hardware prefetchers keep fetching while the group is scattered. Blocks run in parallel;
their accumulators are reduced in a fixed order, so the result is deterministic for a fixed thread count.
The batched kernel runs one small matrix per task. The adjoint products (``A (A^H X)`` for a
Fortran-ordered ``A`` or a CSC matrix) reuse the same kernels through ``conj(B conj(X))`` identities in
:mod:`spectra.backends.numba`. The entry-statistics kernels read ``A`` once for ``max |a_ij|`` and for
the deterministic bounds' sums (real types: an integer maximum over the bits). One host kernel projects a
vector out of a basis stored as rows (the Krylov engines' Gram-Schmidt step).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

from ._numba_jit import lazy_kernel, njit_cached

__all__ = [
    "abs_stats_rows",
    "christoffel_value",
    "dense_gram",
    "dense_gram_batched",
    "jit_kernel",
    "max_abs_bits_rows",
    "max_abs_rows",
    "project_vector_rows",
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


def jit_kernel(
    signature,
    index_types=(None,),
    parallel: bool = True,
    *,
    dtypes=_DTYPES,
    key_args: tuple[int, ...] | None = None,
    kinds: tuple[str, ...] = ("dense",),
    **options,
):
    """The JIT policy in one place: explicit signatures for the four dtypes, compiled on first use, on-disk
    cache, parallel, nogil (:mod:`._numba_jit`).

    ``parallel=False`` compiles a kernel that runs on the calling thread (no parallel region to start).

    ``signature(T, R)`` (or ``signature(T, R, Ix)`` with ``index_types``) builds the signature for data
    type ``T`` with real type ``R`` (and index type ``Ix``), for each ``(T, R)`` in ``dtypes``. A call
    compiles (or loads from the cache) only the signature for the dtypes of its arguments at ``key_args``
    (the data argument, then the index argument; default: the first argument). ``kinds`` are the input
    kinds whose computations call the kernel (what ``python -m spectra compile --kinds`` builds). Floating-point
    reassociation is allowed so the inner products vectorise: the rounding analysis (docs/bounds.md §6c) holds
    for any summation order, and the order is fixed for a given build and thread count. ``options`` override
    those of :func:`numba.njit`.
    """
    entries = [
        ((t,), signature(t, r)) if i is None else ((t, i), signature(t, r, i)) for t, r in dtypes for i in index_types
    ]
    if key_args is None:
        key_args = (0,) if index_types == (None,) else (0, 1)
    flags = dict(nogil=True, parallel=parallel, error_model="numpy", fastmath=_FASTMATH)
    return lazy_kernel(entries, key_args=key_args, kinds=kinds, **{**flags, **options})


@njit_cached(nogil=True, parallel=True)
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
    zero = Z.dtype.type(0)  # sums in the data type (`za[0] * 0`, an int64 product, made float32 sums float64)
    for blk in numba.prange(nb):
        r0 = blk * m // nb
        r1 = (blk + 1) * m // nb
        # the rows of a sweep are h apart: each of the 8 row streams runs on into the next sweep's row, so the
        # hardware prefetchers stay trained through the scatter (measured 8-10 % faster than a sweep over
        # adjacent rows, docs/performance.md)
        h = (r1 - r0) // 8  # eight rows per sweep, used for every column of X while in cache: A is read once
        for g in range(r0, r0 + h):
            b0, b1, b2, b3 = B[g], B[g + h], B[g + 2 * h], B[g + 3 * h]
            b4, b5, b6, b7 = B[g + 4 * h], B[g + 5 * h], B[g + 6 * h], B[g + 7 * h]
            for col in range(k):
                x = XT[col]
                za = acc[blk, col]
                s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
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
                Y[g, col], Y[g + h, col], Y[g + 2 * h, col], Y[g + 3 * h, col] = s0, s1, s2, s3
                Y[g + 4 * h, col], Y[g + 5 * h, col], Y[g + 6 * h, col], Y[g + 7 * h, col] = s4, s5, s6, s7
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
        for i in range(r0 + 8 * h, r1):
            bi = B[i]
            for col in range(k):
                x = XT[col]
                za = acc[blk, col]
                s = zero
                for j in range(n):
                    s += bi[j] * x[j]
                Y[i, col] = s
                s = s * c
                for j in range(n):
                    za[j] += np.conj(bi[j]) * s
    _reduce_blocks(acc, Z)


@jit_kernel(lambda T, R: types.void(_in(T, 3), _in(T, 3), _in(R, 1), _out(T, 3), _out(T, 3)), kinds=("stack",))
def dense_gram_batched(B, X, c, Y, Z):
    nmat, m, n = B.shape
    k = X.shape[2]
    zero = Z.dtype.type(0)
    for b in numba.prange(nmat):  # many small matrices: one per task, not a Python loop
        for col in range(k):
            z = Z[b, :, col]
            z[:] = 0
            for i in range(m):
                bi = B[b, i]
                s = zero
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
    lambda T, R: types.void(_in(T, 2), _in(_WIDE[T], 2), _out(_WIDE[T], 2), types.boolean, types.boolean, types.int64),
    dtypes=_DTYPES[::2],  # single precision only (the certificate's double-precision product)
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


@jit_kernel(lambda T, R: types.void(_in(T, 2), _out(types.float64, 2), _in(types.int64, 1)), kinds=("dense", "stack"))
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
    lambda U, _: types.void(_in(U, 2), U, _out(U, 1), _in(types.int64, 1)),
    dtypes=((types.uint32, None), (types.uint64, None)),  # the bits of float32 and float64
    kinds=("dense", "stack"),
    error_model="python",
    fastmath=False,
)
def max_abs_bits_rows(B, mask, out, bounds):
    """``out[b] = max(B_ij & mask)`` over row block ``b``, for the bits of a real float32/float64 matrix.

    With the sign bit masked off, the bit patterns of non-negative floats are ordered as their values,
    and every NaN or infinity lies at or above the pattern of ``inf``: one integer maximum, which
    vectorises (a floating-point one with NaN semantics does not), gives ``max |a_ij|`` exactly and
    tells whether an entry is not finite.
    """
    n = B.shape[1]
    for blk in numba.prange(bounds.shape[0] - 1):
        mx = mask ^ mask  # zero of the unsigned type (an int literal would turn the maximum into a float)
        for i in range(bounds[blk], bounds[blk + 1]):
            row = B[i]
            for j in range(n):
                mx = max(mx, row[j] & mask)
        out[blk] = mx


@jit_kernel(
    lambda T, R: types.void(
        _in(T, 2),
        types.float64,
        _out(types.float64, 2),
        _out(types.float64, 2),
        _out(types.float64, 2),
        _in(types.int64, 1),
    ),
    fastmath=_FASTMATH - {"reassoc"},
)
def abs_stats_rows(B, s, colsq, gers, rows, bounds):
    """Entry statistics of ``s |B|`` in float64, one read of ``B``, per row block ``b``.

    ``colsq[b]``: column sums of squares; ``gers[b]``: ``|B|^T r`` with ``r`` the row sums of ``|B|``
    (so their total is ``|B|^T |B| 1``); ``rows[b] = (sum of squares, largest row sum of squares, largest
    entry)``. The largest entry is exact whenever the sum of squares is finite (a NaN or infinite entry makes
    that sum NaN or infinite), so with ``s = 1`` one read gives ``max |b_ij|`` as well (the caller checks).
    Rows are taken four at a time (``h`` apart, as in :func:`dense_gram`): their sums are formed first, then
    scattered together while the rows are still in cache, so each update of the two float64 accumulators
    serves four rows (1.2-1.7 times faster than row by row, docs/performance.md).

    Compiled without reassociation, as ``csr_abs_stats``: the sums run in source order. With it, the parallel
    build loaded from Numba's cache summed complex rows in another order than its serial twin (last bits of the
    statistics, hence of a result, depended on the pass schedule; docs/design.md "Kernels compiled or loaded
    from the cache").
    """
    n = B.shape[1]
    for blk in numba.prange(bounds.shape[0] - 1):
        cs = colsq[blk]
        g = gers[blk]
        cs[:] = 0.0
        g[:] = 0.0
        fro2 = 0.0
        rmax = 0.0
        top = 0.0
        r0 = bounds[blk]
        h = (bounds[blk + 1] - r0) // 4
        for i in range(r0, r0 + h):
            b0, b1, b2, b3 = B[i], B[i + h], B[i + 2 * h], B[i + 3 * h]
            t0 = t1 = t2 = t3 = 0.0
            q0 = q1 = q2 = q3 = 0.0
            for j in range(n):
                a0, a1 = _wide_abs(b0[j]) * s, _wide_abs(b1[j]) * s
                a2, a3 = _wide_abs(b2[j]) * s, _wide_abs(b3[j]) * s
                t0 += a0
                t1 += a1
                t2 += a2
                t3 += a3
                q0 += a0 * a0
                q1 += a1 * a1
                q2 += a2 * a2
                q3 += a3 * a3
                top = max(top, max(max(a0, a1), max(a2, a3)))
            for j in range(n):
                a0, a1 = _wide_abs(b0[j]) * s, _wide_abs(b1[j]) * s
                a2, a3 = _wide_abs(b2[j]) * s, _wide_abs(b3[j]) * s
                cs[j] += (a0 * a0 + a1 * a1) + (a2 * a2 + a3 * a3)
                g[j] += (a0 * t0 + a1 * t1) + (a2 * t2 + a3 * t3)
            fro2 += (q0 + q1) + (q2 + q3)
            rmax = max(rmax, max(max(q0, q1), max(q2, q3)))
        for i in range(r0 + 4 * h, bounds[blk + 1]):
            row = B[i]
            t = 0.0
            q = 0.0
            for j in range(n):
                a = _wide_abs(row[j]) * s
                t += a
                q += a * a
                top = max(top, a)
            for j in range(n):
                a = _wide_abs(row[j]) * s
                cs[j] += a * a
                g[j] += a * t
            fro2 += q
            rmax = max(rmax, q)
        rows[blk, 0] = fro2
        rows[blk, 1] = rmax
        rows[blk, 2] = top


# The projection's helpers are inlined in Numba's IR: as separate functions, the process that compiled
# project_vector_rows ran their own compilations and later processes the copies in its cached code, whose
# sums came out in other last bits (docs/design.md, "Kernels compiled or loaded from the cache").
@numba.njit(inline="always", nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _subtract_projection(Q, w, C, r0):
    """One classical Gram-Schmidt pass of ``w`` against the rows ``r0:`` of ``Q`` (the basis vectors, conjugated
    in the inner products): ``c = conj(Q) w``, ``w -= Q^T c``, ``C[r0:] = c``; two reads of those rows, four
    rows per sweep (four independent sums; one load and store of ``w`` serves four rows)."""
    k, n = Q.shape
    zero = C.dtype.type(0)  # sums in the data type (`w[0] * 0`, an int64 product, made float32 sums float64)
    r = r0
    while r + 4 <= k:
        q0, q1, q2, q3 = Q[r], Q[r + 1], Q[r + 2], Q[r + 3]
        s0 = s1 = s2 = s3 = zero
        for j in range(n):
            wj = w[j]
            s0 += np.conj(q0[j]) * wj
            s1 += np.conj(q1[j]) * wj
            s2 += np.conj(q2[j]) * wj
            s3 += np.conj(q3[j]) * wj
        C[r], C[r + 1], C[r + 2], C[r + 3] = s0, s1, s2, s3
        r += 4
    while r < k:
        q0 = Q[r]
        s0 = zero
        for j in range(n):
            s0 += np.conj(q0[j]) * w[j]
        C[r] = s0
        r += 1
    r = r0
    while r + 4 <= k:
        q0, q1, q2, q3 = Q[r], Q[r + 1], Q[r + 2], Q[r + 3]
        s0, s1, s2, s3 = C[r], C[r + 1], C[r + 2], C[r + 3]
        for j in range(n):
            w[j] -= q0[j] * s0 + q1[j] * s1 + q2[j] * s2 + q3[j] * s3
        r += 4
    while r < k:
        q0 = Q[r]
        s0 = C[r]
        for j in range(n):
            w[j] -= q0[j] * s0
        r += 1


@numba.njit(inline="always", nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _norm2(w, zero):
    """``||w||`` summed in the type of ``zero`` (the real type of ``w``: the working precision)."""
    s = zero
    for j in range(w.shape[0]):
        s += (w[j] * np.conj(w[j])).real
    return np.sqrt(s)


@jit_kernel(
    lambda T, R: types.void(_in(T, 2), _in(T, 1), _out(T, 1), _out(T, 1), _out(T, 1), R, types.boolean, _out(R, 1)),
    parallel=False,
    kinds=("dense", "sparse"),
)
def project_vector_rows(Q, w_in, w, C, c, eta, unit, norm):
    """``w = w_in - Q^T C`` orthogonal to the rows of ``Q`` (``k >= 2`` orthonormal basis vectors, a C-ordered
    ``(k, n)`` array) to working precision; ``c`` is work space of length ``k``. ``norm[0] = ||w||``, and with
    ``unit`` ``w`` is then divided by it (left zero when it is zero). Everything is computed in the data type
    (``eta`` and ``norm`` in its real type), as the NumPy backend's Gram-Schmidt and ``np.linalg.norm`` do.

    The same steps as :func:`spectra.backends._gram_schmidt.project_vector` (which documents them): the
    last two rows first, one full classical pass, a second one only when the first cancelled more than
    ``1 - eta`` of the norm (Daniel, Gragg, Kaufman and Stewart 1976), in one call instead of a dozen
    array operations.
    """
    k = Q.shape[0]
    zero = norm.dtype.type(0)  # float literals here would make float32 arithmetic float64
    w[:] = w_in
    C[:] = 0
    _subtract_projection(Q, w, C, k - 2)
    before = _norm2(w, zero)
    _subtract_projection(Q, w, c, 0)
    C += c
    after = _norm2(w, zero)
    if after < eta * before:
        _subtract_projection(Q, w, c, 0)
        C += c
        after = _norm2(w, zero)
    norm[0] = after
    if unit:
        inv = norm.dtype.type(1) / after if after > 0 else zero
        for j in range(w.shape[0]):
            w[j] = w[j] * inv


@njit_cached(types.float64(_in(types.float64, 1), _in(types.float64, 1), types.float64), nogil=True)
def christoffel_value(a, b, lam):
    """``C_k(lam)`` of the tridiagonal ``(a, b)``: the operations of :func:`spectra._bounds._christoffel_value`
    in the same order (no fast-math: bitwise its result), compiled for the per-step Lanczos stopping test."""
    p_prev, p, c, b_prev = 0.0, 1.0, 1.0, 0.0
    for j in range(a.shape[0]):
        p_new = ((lam - a[j]) * p - b_prev * p_prev) / b[j]
        p_prev, p = p, p_new
        c = c + p * p
        if c > 1e250:
            return np.inf
        b_prev = b[j]
    return c
