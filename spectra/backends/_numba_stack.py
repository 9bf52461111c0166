"""Numba kernel for stacks of small matrices: one matrix at a time, the whole certificate in cache.

``small_gram_certify`` computes, for every matrix ``W`` of a stack (``W = A`` or ``W = A^H``, whichever
gives the smaller Gram matrix ``G = W^H W`` of order ``q``), in float64 (complex128):

1. ``W`` widened and scaled into a row-major work buffer, with an upper bound on every ``|w_ij|``
   (single-precision entries are widened exactly);
2. ``G`` (upper triangle, mirrored) from rank-one updates with the rows of ``W``, and in the same pass the
   Gershgorin sums of ``|W|^H |W|`` that bound the rounding of ``G`` (docs/bounds.md §7);
3. an *estimate* ``theta`` of ``lambda_max(G)`` from Lanczos on ``G`` (three-term recurrence, no
   reorthogonalisation: only the top Ritz value is used, and nothing about it needs to be proved);
4. a certified upper bound from a Cholesky factorisation of ``mu I - G`` with ``mu = theta (1 + rtol)``:
   if it runs to completion, ``lambda_max(G) <= mu`` up to the factorisation's backward error. A failed
   factorisation (an estimate still too low) means more Lanczos steps and another try;
5. a top eigenvector by inverse iteration with the same factor (``(mu I - G)^-1`` has the ratio
   ``(mu - lambda_1) / (mu - lambda_2) ~ rtol / gap`` between its two largest eigenvalues, so two solves
   suffice) and a certified lower bound ``||W x|| / ||x||`` from one product, with the rounding of the
   product and of the norms accounted for (docs/bounds.md §6c).

A matrix the certificate does not settle within ``rtol`` (the iteration budget ran out, or Lanczos
missed the top of the spectrum) gets ``upper = inf``; the caller solves it by the general path.

**Lanes.** A single 8 x 8 certificate is a few thousand flops in chains of dependent operations (the
Lanczos recurrence, the pivots, square roots and divisions), so one matrix at a time leaves the core
mostly waiting. For Gram orders ``q <= LANE_MAX_Q`` the kernel certifies ``LANES = 4`` matrices side by
side: every work array carries a last axis of four lanes, and the inner sums are written over tuples of
the four lanes (values in registers), which the compiler packs into vector instructions. Each lane runs
the operations of the one-matrix path on its own matrix (the same formulas, the same IEEE divisions and
square roots; only the order of the sums differs, which the analysis allows), in step: ``q`` Lanczos
steps with one projection each, the top Ritz value from the characteristic polynomial, one factorisation,
two to four solves. A lane that needs anything else (a zero matrix, an early invariant subspace, a
residual above the test, a failed factorisation: a retry) is redone from scratch by the one-matrix path,
so the lanes change the speed, never what is certified. Measured per 8 x 8 matrix (one core): 1.8 us
one at a time, 1.1 us in lanes (docs/performance.md).
Floating-point reassociation and contraction (FMA) are allowed where the analysis holds for any
summation order (Higham's inner-product bound); reciprocal approximations are not. The scaling by powers
of two is kept out of the reassociated code, so ``(a c1) c2`` never becomes ``a (c1 c2)``. Leaf module:
it only computes.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import overload

from ._numba_jit import njit_cached
from ._numba_kernels import _in, _out, _wide_abs, jit_kernel

__all__ = ["small_gram_certify", "stack_abs_stats"]

_U = 2.0**-53  # unit roundoff of the float64 work
_FM = {"reassoc", "nsz", "contract"}  # no "arcp"/"afn": every division and square root is one IEEE rounding
_TINY2 = 2.0**-1000  # under the square root of a complex modulus: covers squares that underflow
_u64 = numba.uint64


def _modulus_ub(w):  # plain Python (NUMBA_DISABLE_JIT); compiled kernels use the overload below
    if isinstance(w, complex):
        ub = math.sqrt(w.real * w.real + w.imag * w.imag + _TINY2) * (1.0 + 8.0 * _U)
        return ub if w != 0 else 0.0
    return abs(w)


@overload(_modulus_ub)
def _modulus_ub_impl(w):
    """An upper bound on ``|w|`` without a libm call: exact for real ``w``; for complex ``w``
    ``sqrt(re^2 + im^2 + 2^-1000) (1 + 8u)`` (each of the four roundings is at most ``u`` relative, and
    the ``2^-1000`` exceeds the underflow of both squares), and exactly 0 for ``w = 0``, so that the sum
    of these bounds is 0 exactly for a zero matrix (its certificate is then 0 without Lanczos)."""
    if isinstance(w, types.Complex):

        def impl(w):
            ub = math.sqrt(w.real * w.real + w.imag * w.imag + _TINY2) * (1.0 + 8.0 * _U)
            return ub if (w.real != 0.0) | (w.imag != 0.0) else 0.0

        return impl
    return lambda w: abs(w)


@njit_cached(nogil=True)
def _load(A, b, c1, c2, adjoint, Wt, Wabs):
    """``Wt = W^T`` for ``W = c1 c2 A[b]`` (``adjoint``: ``W = (c1 c2 A[b])^H``), a ``(q, p)`` row-major buffer
    whose rows are the columns of ``W``, and ``Wabs >= |Wt|`` entrywise. No reassociation here: ``(a c1) c2``
    is exact unless it underflows."""
    q, p = Wt.shape
    scaled = c1 != 1.0 or c2 != 1.0
    for j in range(q):
        for i in range(p):
            w = np.conj(A[b, j, i] * 1.0) if adjoint else A[b, i, j] * 1.0  # widened exactly
            if scaled:
                w = (w * c1) * c2
            Wt[j, i] = w
            Wabs[j, i] = _modulus_ub(w)


@njit_cached(nogil=True, fastmath=_FM)
def _gram(Wt, Wabs, G, rabs):
    """``G = W^H W`` (upper triangle by inner products of the columns of ``W``, then mirrored) and the
    Gershgorin bound ``max_j (|W|^T |W| 1)_j`` on ``|| |W|^H |W| ||_2``.

    Returns ``(gersh, zero)``; ``zero``: ``W = 0``. Unsigned indices where a loop starts inside a row:
    a signed index would carry Python's negative-index test, which keeps the loop from vectorising.
    """
    q, p = Wt.shape
    qq, one = _u64(q), _u64(1)
    for i in range(p):
        rabs[i] = 0.0
    for j in range(q):  # rabs = |W| 1 (row sums of |W|)
        for i in range(p):
            rabs[i] += Wabs[j, i]
    total = 0.0
    for i in range(p):
        total += rabs[i]
    gersh = 0.0
    for j in range(q):
        s = 0.0
        for i in range(p):
            s += Wabs[j, i] * rabs[i]
        gersh = max(gersh, s)
    for j in range(qq):
        for k in range(j, qq):
            s = np.conj(Wt[j, 0]) * 0.0  # a zero of G's type (G itself is not initialised)
            for i in range(p):
                s += np.conj(Wt[j, i]) * Wt[k, i]
            G[j, k] = s
        G[j, j] = G[j, j].real
        for k in range(j + one, qq):
            G[k, j] = np.conj(G[j, k])
    return gersh, total == 0.0


#: largest tridiagonal order for which :func:`_top_ritz` evaluates the characteristic polynomial directly
POLY_MAX_K = 32


@njit_cached(nogil=True)
def _top_ritz_poly(alpha, beta, k, theta0):
    """:func:`_top_ritz` for ``k <= POLY_MAX_K`` from the characteristic polynomial itself: ``p = det(T - x I)``,
    ``p'`` and ``p''`` by the three-term recurrence (multiply-adds only, three divisions per Laguerre step
    instead of a chain of ``k``). ``T`` is scaled by its Gershgorin bound first, so every factor is at most
    about 2 in modulus and ``|p| <= 3^k`` cannot overflow. The same Laguerre iteration from above; a
    polynomial that underflows hands over to the pivot form. ``y_k^2 = p_{k-1}(theta) / p_k'(theta)``."""
    hi = -np.inf
    for i in range(k):
        s = alpha[i] + (abs(beta[i - 1]) if i > 0 else 0.0) + (abs(beta[i]) if i < k - 1 else 0.0)
        hi = max(hi, s)
    scale = max(abs(hi), 1e-300)
    inv = 1.0 / scale
    x = hi * inv + 1e-12
    yk2 = 1.0
    for _ in range(60):
        pm, dm, em = 1.0, 0.0, 0.0  # p_{i-1}, p'_{i-1}, p''_{i-1}
        p, d, e = alpha[0] * inv - x, -1.0, 0.0
        for i in range(1, k):
            bs = beta[i - 1] * inv
            bb = bs * bs
            ax = alpha[i] * inv - x
            pn = ax * p - bb * pm
            dn = ax * d - p - bb * dm
            en = ax * e - 2.0 * d - bb * em
            pm, dm, em = p, d, e
            p, d, e = pn, dn, en
        if p == 0.0:
            if pm == 0.0 and d == 0.0:  # underflow, not a root: the pivot form decides
                return _top_ritz(alpha, beta, k, theta0)
            yk2 = abs(pm / d) if d != 0.0 else 1.0
            break
        g = d / p  # sum 1 / (x - lambda_i), positive above every root
        h = g * g - e / p
        yk2 = abs(pm / d) if d != 0.0 else 1.0
        if not (g > 0.0 and g < np.inf):
            if g != g:  # NaN: the pivot form decides
                return _top_ritz(alpha, beta, k, theta0)
            break
        disc = (k - 1.0) * (k * h - g * g)
        step = k / (g + math.sqrt(disc if disc > 0.0 else 0.0))
        if not (step > 1e-15 and step < np.inf):
            break
        x -= step
    return max(x * scale, theta0), math.sqrt(min(yk2, 1.0))


@njit_cached(nogil=True)
def _top_ritz(alpha, beta, k, theta0):
    """Largest eigenvalue ``theta`` of the ``k x k`` tridiagonal ``(alpha, beta)`` and ``|y_k|`` of its eigenvector.

    ``theta0`` is a lower bound on the root (e.g. that of a leading block, by interlacing). Laguerre's
    method from above the largest root of a polynomial with real roots (here from the Gershgorin bound)
    converges to it monotonically and cubically. ``p``, ``p'`` and ``p''`` come from the pivots ``r_i`` of
    the ``LDL^T`` factorisation of ``T - x I`` (``p = prod r_i``), which do not overflow. The last
    component of the unit eigenvector satisfies ``y_k^2 = p_{k-1}(theta) / p_k'(theta)``.
    """
    hi = -np.inf
    for i in range(k):  # Gershgorin: above every root
        s = alpha[i] + (abs(beta[i - 1]) if i > 0 else 0.0) + (abs(beta[i]) if i < k - 1 else 0.0)
        hi = max(hi, s)
    scale = max(abs(hi), 1e-300)
    x = hi + 1e-12 * scale
    yk2 = 1.0
    for _ in range(60):
        ir_prev, d1_prev, d2_prev = 1.0, 0.0, 0.0
        r = 1.0
        g, h = 0.0, 0.0
        exact = False
        for i in range(k):  # one division per pivot: the recurrence is a chain of dependent divisions
            if i > 0:
                bb = beta[i - 1] * beta[i - 1]
                r = (alpha[i] - x) - bb * ir_prev
                d1 = -1.0 + bb * d1_prev * ir_prev * ir_prev
                d2 = bb * (d2_prev * ir_prev * ir_prev - 2.0 * d1_prev * d1_prev * ir_prev * ir_prev * ir_prev)
            else:
                r, d1, d2 = alpha[0] - x, -1.0, 0.0
            if r == 0.0:  # x is an eigenvalue of a leading block, and x >= lambda_max(T_k): x is the root
                exact = True
                break
            ir = 1.0 / r
            q1 = d1 * ir
            g += q1
            h += q1 * q1 - d2 * ir
            ir_prev, d1_prev, d2_prev = ir, d1, d2
        if exact:
            yk2 = 1.0
            break
        # p_k'(x) / p_{k-1}(x) = r_k * (p'/p): gives y_k^2 at the root
        ratio = abs(r * g)
        yk2 = 1.0 / ratio if ratio > 0.0 else 1.0
        if not g > 0.0:  # at (or, by rounding, below) the root
            break
        disc = (k - 1.0) * (k * h - g * g)
        step = k / (g + math.sqrt(disc if disc > 0.0 else 0.0))
        if not (step > 1e-15 * scale and step < np.inf):
            break
        x -= step
    return max(x, theta0), math.sqrt(min(yk2, 1.0))


@njit_cached(nogil=True, fastmath=_FM)
def _lanczos_steps(G, V, alpha, beta, k0, k1):
    """Lanczos steps ``k0 .. k1 - 1`` on ``G`` (three-term recurrence, one local reorthogonalisation).

    ``V[0]`` holds ``v_{k0-1}`` and ``V[1]`` the unit ``v_{k0}``; ``V[2]`` is work space. Returns
    ``(steps done, invariant)``: it stops early at an invariant subspace (``beta`` at rounding level).
    """
    q = G.shape[0]
    for j in range(k0, k1):
        bprev = beta[j - 1] if j > 0 else 0.0
        for i in range(q):
            V[2, i] = -bprev * V[0, i]
        for c in range(q):  # G v_j as a sum of the rows of G (G is Hermitian): no horizontal sums
            vc = V[1, c]
            for i in range(q):
                V[2, i] += np.conj(G[c, i]) * vc
        a = 0.0
        for _sweep in range(2):  # alpha, then the same projection again (it restores local orthogonality)
            cf = V[2, 0] * 0.0
            for i in range(q):
                cf += np.conj(V[1, i]) * V[2, i]
            for i in range(q):
                V[2, i] -= cf * V[1, i]
            a += cf.real
        bsq = 0.0
        for i in range(q):
            bsq += abs(V[2, i]) ** 2
        b = math.sqrt(bsq)
        alpha[j] = a
        beta[j] = b
        if b <= 1e-14 * abs(a) or b == 0.0:
            return j + 1, True
        inv = 1.0 / b
        for i in range(q):
            V[0, i] = V[1, i]
            V[1, i] = V[2, i] * inv
    return k1, False


@njit_cached(nogil=True)
def _gamma(p):
    pu = p * _U
    return pu / (1.0 - pu) if pu < 1.0 else np.inf


@njit_cached(nogil=True, fastmath=_FM)
def _cholesky_upper(G, mu, R, cplx):
    """Upper bound on ``lambda_max(G)`` if the Cholesky factorisation ``R^H R`` of ``mu I - G`` completes, else ``inf``.

    Higham, *Accuracy and Stability*, Thm 10.3 (any order of the inner products): a completed factorisation
    satisfies ``R^H R = C + dC`` with ``|dC| <= gamma_{q+1} |R^H| |R|``, so ``C + dC`` is positive semidefinite
    and ``lambda_min(C) >= -||dC||_2 >= -gamma_{q+1} ||R||_F^2``. ``C = fl(mu I - G)`` differs from ``mu I - G``
    by at most ``u |c_ii|`` on the diagonal. ``R`` is upper triangular, row-major (right-looking updates
    with unit stride).
    """
    q = G.shape[0]
    qq, one = _u64(q), _u64(1)
    diag_err = 0.0
    for j in range(qq):
        for k in range(j + one, qq):
            R[j, k] = -G[j, k]
        d = mu - G[j, j].real
        R[j, j] = d
        diag_err = max(diag_err, abs(d))
    for j in range(qq):
        d = R[j, j].real
        if not d > 0.0:
            return np.inf
        rjj = math.sqrt(d)
        R[j, j] = rjj
        for k in range(j + one, qq):
            R[j, k] = R[j, k] / rjj
        for i in range(j + one, qq):  # right-looking update of the trailing rows, unit stride
            cji = np.conj(R[j, i])
            for k in range(i, qq):
                R[i, k] -= cji * R[j, k]
    fro2 = 0.0
    for j in range(qq):
        for k in range(j, qq):
            fro2 += abs(R[j, k]) ** 2
    fro2 *= 1.0 + _gamma(q * q + 2)
    g_chol = _gamma(2 * q + 2) if cplx else _gamma(q + 1)
    return (mu + _U * diag_err + g_chol * fro2) * (1.0 + 4.0 * _U)


@njit_cached(nogil=True, fastmath=_FM)
def _inverse_step(R, x, z, dinv):
    """``x <- (R^H R)^-1 x`` normalised (``z``, ``dinv``: work space). No analysis needed: ``x`` is only a
    candidate, so the solves multiply by reciprocals of the diagonal (no division in the dependency chain)."""
    q = R.shape[0]
    qq, one = _u64(q), _u64(1)
    for j in range(q):
        dinv[j] = 1.0 / R[j, j].real
        z[j] = x[j]
    for j in range(qq):  # R^H z = x, by columns of R^H (rows of R)
        zj = z[j] * dinv[j]
        z[j] = zj
        for k in range(j + one, qq):
            z[k] -= np.conj(R[j, k]) * zj
    nrm = 0.0
    for jj in range(q):  # R x = z, from the last row up
        j = _u64(q - 1 - jj)
        s = z[j]
        for k in range(j + one, qq):
            s -= R[j, k] * x[k]
        x[j] = s * dinv[j]
        nrm = max(nrm, abs(x[j]))
    if nrm > 0.0 and nrm < np.inf:
        inv = 1.0 / nrm
        for j in range(q):
            x[j] *= inv


@njit_cached(nogil=True, fastmath=_FM)
def _certified_lower(Wt, Wabs, x, y, t, cplx):
    """``(certified lower bound, estimate)`` of ``||W x|| / ||x||`` (docs/bounds.md §6c), in float64.

    ``|fl(W x) - W x| <= gamma_q |W| |x|`` for any summation order; ``Wabs`` and ``_modulus_ub`` bound
    ``|W|`` and ``|x|`` from above, so ``|| |W| |x| ||`` is over-estimated, never under. ``y`` and ``t``
    (length ``p``) are work space: ``W x`` and ``|W| |x|`` accumulated column by column.
    """
    q, p = Wt.shape
    for i in range(p):
        y[i] = 0.0
        t[i] = 0.0
    nx2 = 0.0
    for j in range(q):
        xj = x[j]
        aj = _modulus_ub(xj)
        nx2 += abs(xj) ** 2
        for i in range(p):
            y[i] += Wt[j, i] * xj
            t[i] += Wabs[j, i] * aj
    ny2 = 0.0
    na2 = 0.0
    for i in range(p):
        ny2 += abs(y[i]) ** 2
        na2 += t[i] * t[i]
    ny, na, nx = math.sqrt(ny2), math.sqrt(na2), math.sqrt(nx2)
    g_prod = _gamma(2 * q + 4) if cplx else _gamma(q)  # complex products: a safe majorant (bounds.md §7)
    num = ny * (1.0 - _gamma(p + 2)) - g_prod * na * (1.0 + _gamma(p + 2))
    den = nx * (1.0 + _gamma(q + 2))
    est = ny / nx if nx > 0 else 0.0
    if den <= 0.0 or num <= 0.0:
        return 0.0, est
    return num / den, est


#: Lanczos stops once the top Ritz pair's residual is below ``RESIDUAL_FACTOR sqrt(rtol)`` relative: with a
#: relative gap ``g`` the Ritz value is then within ``RESIDUAL_FACTOR^2 rtol / g`` of ``lambda_max``
RESIDUAL_FACTOR = 0.03
#: Lanczos steps between two convergence checks (and between two Cholesky attempts)
CHECK_EVERY = 2


@njit_cached(nogil=True)
def _certify_one(A, b, c1, c2, adjoint, v0, rtol, kmax, y, rwork, Wt, Wabs, G, R, V, alpha, beta, x, cplx):
    """The certificate for matrix ``b``: ``(lower, upper, estimate, steps)``; ``x`` gets the top vector."""
    q, p = Wt.shape
    t, rabs = rwork[0], rwork[1]
    _load(A, b, c1, c2, adjoint, Wt, Wabs)
    gersh, zero = _gram(Wt, Wabs, G, rabs)
    nrm = 0.0
    for i in range(q):
        nrm += abs(v0[i]) ** 2
    nrm = math.sqrt(nrm)
    for i in range(q):
        x[i] = v0[i] / nrm if nrm > 0.0 else 1.0
    if zero:  # W = 0 exactly: its norm is 0
        return 0.0, 0.0, 0.0, 0
    # rounding of G itself: |fl(G) - G| <= gamma_p |W|^H |W| (entrywise), spectral norm <= Gershgorin sums
    g_gram = _gamma(2 * p + 4) if cplx else _gamma(p)
    err_g = g_gram * gersh * (1.0 + _gamma(p + q + 2)) + q * p * 2.0**-1022
    for i in range(q):
        V[0, i] = 0.0
        V[1, i] = x[i]
    tau = RESIDUAL_FACTOR * math.sqrt(rtol)
    k, invariant = _lanczos_steps(G, V, alpha, beta, 0, min(kmax, q if q <= 8 else 6 + q // 6))
    theta = 0.0
    lam = np.inf
    while True:
        theta, yk = _top_ritz_poly(alpha, beta, k, theta) if k <= POLY_MAX_K else _top_ritz(alpha, beta, k, theta)
        final = invariant or k >= kmax
        if final or beta[k - 1] * yk <= tau * theta:
            lam = _cholesky_upper(G, theta * (1.0 + rtol), R, cplx)
            if lam < np.inf or final:
                break
        k, invariant = _lanczos_steps(G, V, alpha, beta, k, min(k + CHECK_EVERY, kmax))
    if lam == np.inf:  # no certificate: the general path takes this matrix
        lower, est = _certified_lower(Wt, Wabs, x, y, t, cplx)
        return lower, np.inf, est, k
    upper = math.sqrt((lam + err_g) * (1.0 + 2.0 * _U)) * (1.0 + 2.0 * _U)
    lower, est = 0.0, 0.0
    for it in range(4):  # inverse iteration with the certificate's factor: ~ (rtol / gap)^2 per two solves
        _inverse_step(R, x, y, t)
        if it >= 1:
            lower, est = _certified_lower(Wt, Wabs, x, y, t, cplx)
            if upper <= (1.0 + rtol) * lower:
                break
    return lower, upper, est, k


#: matrices certified side by side (the lanes of the module docstring) when the Gram order is at most
#: LANE_MAX_Q; the tuple helpers below are written for exactly four lanes
LANES = 4
LANE_MAX_Q = 8


@numba.njit(inline="always")
def _ld(a, i, j):
    """``a[i, j, :]`` as a tuple of the four lanes: values in registers, so the compiler can pack the lanes
    of a multiply-add into one vector instruction (stores to a work array would stop it: it cannot prove
    that they miss the next loads)."""
    return (a[i, j, 0], a[i, j, 1], a[i, j, 2], a[i, j, 3])


@numba.njit(inline="always")
def _st(a, i, j, v):
    a[i, j, 0] = v[0]
    a[i, j, 1] = v[1]
    a[i, j, 2] = v[2]
    a[i, j, 3] = v[3]


@numba.njit(inline="always")
def _ld2(a, i):
    """``a[i, :]`` as a tuple of the four lanes."""
    return (a[i, 0], a[i, 1], a[i, 2], a[i, 3])


@numba.njit(inline="always")
def _st2(a, i, v):
    a[i, 0] = v[0]
    a[i, 1] = v[1]
    a[i, 2] = v[2]
    a[i, 3] = v[3]


@numba.njit(inline="always")
def _conj(x):
    return (np.conj(x[0]), np.conj(x[1]), np.conj(x[2]), np.conj(x[3]))


@numba.njit(inline="always", fastmath=_FM)
def _fma(s, x, y):
    """``s + x y`` lane by lane."""
    return (s[0] + x[0] * y[0], s[1] + x[1] * y[1], s[2] + x[2] * y[2], s[3] + x[3] * y[3])


@numba.njit(inline="always", fastmath=_FM)
def _cfma(s, x, y):
    """``s + conj(x) y`` lane by lane."""
    return (
        s[0] + np.conj(x[0]) * y[0],
        s[1] + np.conj(x[1]) * y[1],
        s[2] + np.conj(x[2]) * y[2],
        s[3] + np.conj(x[3]) * y[3],
    )


@numba.njit(inline="always", fastmath=_FM)
def _axpy(y, c, x):
    """``y - c x`` lane by lane."""
    return (y[0] - c[0] * x[0], y[1] - c[1] * x[1], y[2] - c[2] * x[2], y[3] - c[3] * x[3])


@numba.njit(inline="always", fastmath=_FM)
def _scale(x, c):
    """``c x`` lane by lane (``c`` real)."""
    return (c[0] * x[0], c[1] * x[1], c[2] * x[2], c[3] * x[3])


@numba.njit(inline="always", fastmath=_FM)
def _abs2(s, x):
    """``s + |x|^2`` lane by lane."""
    return (s[0] + abs(x[0]) ** 2, s[1] + abs(x[1]) ** 2, s[2] + abs(x[2]) ** 2, s[3] + abs(x[3]) ** 2)


@njit_cached(error_model="numpy", nogil=True)
def _lanes_load(A, b0, c1, c2, adjoint, Wt, Wabs):
    """``Wt[:, :, ln] = W^T`` and ``Wabs >= |Wt|`` for matrix ``b0 + ln`` (as :func:`_load`, one lane per matrix)."""
    q, p, _ = Wt.shape
    for j in range(q):
        for i in range(p):
            for ln in range(LANES):
                w = np.conj(A[b0 + ln, j, i] * 1.0) if adjoint else A[b0 + ln, i, j] * 1.0
                w = (w * c1[b0 + ln]) * c2[b0 + ln]
                Wt[j, i, ln] = w
                Wabs[j, i, ln] = _modulus_ub(w)


@njit_cached(error_model="numpy", nogil=True, fastmath=_FM)
def _lanes_gram(Wt, Wabs, G, rabs, gersh, total, s):
    """``G[:, :, ln] = W^H W`` and the Gershgorin sums of :func:`_gram`, per lane."""
    q, p, _ = Wt.shape
    for i in range(p):
        for ln in range(LANES):
            rabs[i, ln] = 0.0
    for j in range(q):
        for i in range(p):
            for ln in range(LANES):
                rabs[i, ln] += Wabs[j, i, ln]
    for ln in range(LANES):
        total[ln] = 0.0
        gersh[ln] = 0.0
    for i in range(p):
        for ln in range(LANES):
            total[ln] += rabs[i, ln]
    for j in range(q):
        for ln in range(LANES):
            s[ln] = 0.0
        for i in range(p):
            for ln in range(LANES):
                s[ln] += Wabs[j, i, ln] * rabs[i, ln]
        for ln in range(LANES):
            gersh[ln] = max(gersh[ln], s[ln])
    z = Wt[0, 0, 0] * 0.0
    for j in range(q):
        for k in range(j, q):
            acc = (z, z, z, z)
            for i in range(p):
                acc = _cfma(acc, _ld(Wt, j, i), _ld(Wt, k, i))
            _st(G, j, k, acc)
    for j in range(q):
        for ln in range(LANES):
            G[j, j, ln] = G[j, j, ln].real
        for k in range(j + 1, q):
            for ln in range(LANES):
                G[k, j, ln] = np.conj(G[j, k, ln])


@njit_cached(error_model="numpy", nogil=True, fastmath=_FM)
def _lanes_lanczos(G, V, alpha, beta, k, early, last):
    """``k`` Lanczos steps per lane (as :func:`_lanczos_steps`); ``early[ln]``: lane ``ln`` reached an invariant
    subspace before the last step, ``last[ln]``: at the last step."""
    q = G.shape[0]
    z = V[0, 0, 0] * 0.0
    for ln in range(LANES):
        early[ln] = False
        last[ln] = False
    for j in range(k):
        if j > 0:
            bp = (-beta[0, j - 1], -beta[1, j - 1], -beta[2, j - 1], -beta[3, j - 1])
        else:
            bp = (0.0, 0.0, 0.0, 0.0)
        for i in range(q):  # G v_j as sums of the rows of G (Hermitian), each lane's sum in a register
            acc = _scale(_ld(V, 0, i), bp)
            for c in range(q):
                acc = _cfma(acc, _ld(G, c, i), _ld(V, 1, c))
            _st(V, 2, i, acc)
        # alpha, one projection: at most 8 steps lose little orthogonality, and a lane whose estimate falls
        # short (a failed factorisation) is redone by the one-matrix path, which projects twice
        cf = (z, z, z, z)
        for i in range(q):
            cf = _cfma(cf, _ld(V, 1, i), _ld(V, 2, i))
        for i in range(q):
            _st(V, 2, i, _axpy(_ld(V, 2, i), cf, _ld(V, 1, i)))
        a = (cf[0].real, cf[1].real, cf[2].real, cf[3].real)
        bsq = (0.0, 0.0, 0.0, 0.0)
        for i in range(q):
            bsq = _abs2(bsq, _ld(V, 2, i))
        for ln in range(LANES):
            b = math.sqrt(bsq[ln])
            alpha[ln, j] = a[ln]
            beta[ln, j] = b
            if b <= 1e-14 * abs(a[ln]) or b == 0.0:
                if j < k - 1:
                    early[ln] = True
                else:
                    last[ln] = True
        inv = (
            1.0 / beta[0, j] if beta[0, j] > 0.0 else 0.0,
            1.0 / beta[1, j] if beta[1, j] > 0.0 else 0.0,
            1.0 / beta[2, j] if beta[2, j] > 0.0 else 0.0,
            1.0 / beta[3, j] if beta[3, j] > 0.0 else 0.0,
        )
        for i in range(q):
            _st(V, 0, i, _ld(V, 1, i))
            _st(V, 1, i, _scale(_ld(V, 2, i), inv))


@njit_cached(error_model="numpy", nogil=True, fastmath=_FM)
def _lanes_top_ritz(alpha, beta, k, theta, yk, tri, w, act, pivot):
    """:func:`_top_ritz_poly` for every lane in step (``tri``: ``(2, k, LANES)`` work space for the scaled
    tridiagonals, ``w``: ``(3, LANES)``). The four polynomial recurrences run side by side; a lane whose
    iteration ended keeps its point. A lane whose polynomial underflows gets the pivot form."""
    x, yk2, sc = w[0], w[1], w[2]
    for ln in range(LANES):
        yk2[ln] = 1.0
        pivot[ln] = False
        hi = -np.inf
        for i in range(k):
            s = alpha[ln, i] + (abs(beta[ln, i - 1]) if i > 0 else 0.0) + (abs(beta[ln, i]) if i < k - 1 else 0.0)
            hi = max(hi, s)
        scale = max(abs(hi), 1e-300)
        inv = 1.0 / scale
        sc[ln] = scale
        x[ln] = hi * inv + 1e-12
        act[ln] = True
        for i in range(k):
            tri[0, i, ln] = alpha[ln, i] * inv
            bs = beta[ln, i - 1] * inv if i > 0 else 0.0
            tri[1, i, ln] = bs * bs
    for _ in range(60):
        xt = (x[0], x[1], x[2], x[3])
        pm = (1.0, 1.0, 1.0, 1.0)
        dm = (0.0, 0.0, 0.0, 0.0)
        em = (0.0, 0.0, 0.0, 0.0)
        p = _axpy(_ld2(tri[0], 0), (1.0, 1.0, 1.0, 1.0), xt)
        d = (-1.0, -1.0, -1.0, -1.0)
        e = (0.0, 0.0, 0.0, 0.0)
        for i in range(1, k):
            ax = _axpy(_ld2(tri[0], i), (1.0, 1.0, 1.0, 1.0), xt)
            bb = _ld2(tri[1], i)
            pn = _axpy(_scale(p, ax), bb, pm)
            dn = _axpy(_axpy(_scale(d, ax), (1.0, 1.0, 1.0, 1.0), p), bb, dm)
            en = _axpy(_axpy(_scale(e, ax), (2.0, 2.0, 2.0, 2.0), d), bb, em)
            pm, dm, em = p, d, e
            p, d, e = pn, dn, en
        more = False
        for ln in range(LANES):
            if not act[ln]:
                continue
            act[ln] = False
            if p[ln] == 0.0:
                if pm[ln] == 0.0 and d[ln] == 0.0:
                    pivot[ln] = True
                else:
                    yk2[ln] = abs(pm[ln] / d[ln]) if d[ln] != 0.0 else 1.0
                continue
            g = d[ln] / p[ln]
            h = g * g - e[ln] / p[ln]
            yk2[ln] = abs(pm[ln] / d[ln]) if d[ln] != 0.0 else 1.0
            if not (g > 0.0 and g < np.inf):
                pivot[ln] = g != g
                continue
            disc = (k - 1.0) * (k * h - g * g)
            step = k / (g + math.sqrt(disc if disc > 0.0 else 0.0))
            if not (step > 1e-15 and step < np.inf):
                continue
            x[ln] -= step
            act[ln] = True
            more = True
        if not more:
            break
    for ln in range(LANES):
        if pivot[ln]:
            theta[ln], yk[ln] = _top_ritz(alpha[ln], beta[ln], k, 0.0)
        else:
            theta[ln], yk[ln] = max(x[ln] * sc[ln], 0.0), math.sqrt(min(yk2[ln], 1.0))


@njit_cached(error_model="numpy", nogil=True, fastmath=_FM)
def _lanes_cholesky(G, mu, R, lam, cplx, dmax, ok):
    """:func:`_cholesky_upper` for every lane in step: ``lam[ln]`` the bound, ``inf`` where it broke down.
    Each lane's operations are those of the one-matrix factorisation (IEEE divisions and square roots)."""
    q = G.shape[0]
    for ln in range(LANES):
        ok[ln] = True
        dmax[ln] = 0.0
    for j in range(q):
        for k in range(j + 1, q):
            _st(R, j, k, _scale(_ld(G, j, k), (-1.0, -1.0, -1.0, -1.0)))
        for ln in range(LANES):
            d = mu[ln] - G[j, j, ln].real
            R[j, j, ln] = d
            dmax[ln] = max(dmax[ln], abs(d))
    for j in range(q):
        for ln in range(LANES):
            d = R[j, j, ln].real
            good = d > 0.0
            ok[ln] = ok[ln] and good
            R[j, j, ln] = math.sqrt(d if good else 1.0)
        rjj = (R[j, j, 0].real, R[j, j, 1].real, R[j, j, 2].real, R[j, j, 3].real)
        for k in range(j + 1, q):
            x = _ld(R, j, k)
            _st(R, j, k, (x[0] / rjj[0], x[1] / rjj[1], x[2] / rjj[2], x[3] / rjj[3]))
        for i in range(j + 1, q):  # right-looking update of the trailing rows
            cji = _conj(_ld(R, j, i))
            for k in range(i, q):
                _st(R, i, k, _axpy(_ld(R, i, k), cji, _ld(R, j, k)))
    fro2 = (0.0, 0.0, 0.0, 0.0)
    for j in range(q):
        for k in range(j, q):
            fro2 = _abs2(fro2, _ld(R, j, k))
    g_fro = 1.0 + _gamma(q * q + 2)
    g_chol = _gamma(2 * q + 2) if cplx else _gamma(q + 1)
    for ln in range(LANES):
        lam[ln] = (mu[ln] + _U * dmax[ln] + g_chol * (fro2[ln] * g_fro)) * (1.0 + 4.0 * _U) if ok[ln] else np.inf


@njit_cached(error_model="numpy", nogil=True, fastmath=_FM)
def _lanes_inverse_step(R, x, z, dinv):
    """:func:`_inverse_step` for every lane in step."""
    q = R.shape[0]
    for j in range(q):
        for ln in range(LANES):
            dinv[j, ln] = 1.0 / R[j, j, ln].real
        _st2(z, j, _ld2(x, j))
    for j in range(q):  # R^H z = x
        zj = _scale(_ld2(z, j), _ld2(dinv, j))
        _st2(z, j, zj)
        for k in range(j + 1, q):
            _st2(z, k, _axpy(_ld2(z, k), _conj(_ld(R, j, k)), zj))
    nrm = (0.0, 0.0, 0.0, 0.0)
    for jj in range(q):  # R x = z, from the last row up
        j = q - 1 - jj
        s = _ld2(z, j)
        for k in range(j + 1, q):
            s = _axpy(s, _ld(R, j, k), _ld2(x, k))
        s = _scale(s, _ld2(dinv, j))
        _st2(x, j, s)
        nrm = (max(nrm[0], abs(s[0])), max(nrm[1], abs(s[1])), max(nrm[2], abs(s[2])), max(nrm[3], abs(s[3])))
    inv = (
        1.0 / nrm[0] if nrm[0] > 0.0 and nrm[0] < np.inf else 1.0,
        1.0 / nrm[1] if nrm[1] > 0.0 and nrm[1] < np.inf else 1.0,
        1.0 / nrm[2] if nrm[2] > 0.0 and nrm[2] < np.inf else 1.0,
        1.0 / nrm[3] if nrm[3] > 0.0 and nrm[3] < np.inf else 1.0,
    )
    for j in range(q):
        _st2(x, j, _scale(_ld2(x, j), inv))


@njit_cached(error_model="numpy", nogil=True, fastmath=_FM)
def _lanes_lower(Wt, Wabs, x, ax, lower, est, cplx):
    """:func:`_certified_lower` for every lane in step (``ax``: work space for the bounds on ``|x|``)."""
    q, p, _ = Wt.shape
    nx2 = (0.0, 0.0, 0.0, 0.0)
    for j in range(q):
        for ln in range(LANES):
            ax[j, ln] = _modulus_ub(x[j, ln])
        nx2 = _abs2(nx2, _ld2(x, j))
    z = Wt[0, 0, 0] * 0.0  # a zero of the work type from a finite entry: lane 0's x may be inf (a zero matrix)
    ny2 = (0.0, 0.0, 0.0, 0.0)
    na2 = (0.0, 0.0, 0.0, 0.0)
    for i in range(p):  # (W x)_i and (|W| |x|)_i, each lane's sum in a register
        y = (z, z, z, z)
        t = (0.0, 0.0, 0.0, 0.0)
        for j in range(q):
            y = _fma(y, _ld(Wt, j, i), _ld2(x, j))
            t = _fma(t, _ld(Wabs, j, i), _ld2(ax, j))
        ny2 = _abs2(ny2, y)
        na2 = _fma(na2, t, t)
    g_prod = _gamma(2 * q + 4) if cplx else _gamma(q)
    g_p = _gamma(p + 2)
    g_q = _gamma(q + 2)
    for ln in range(LANES):
        ny, na, nx = math.sqrt(ny2[ln]), math.sqrt(na2[ln]), math.sqrt(nx2[ln])
        num = ny * (1.0 - g_p) - g_prod * na * (1.0 + g_p)
        den = nx * (1.0 + g_q)
        est[ln] = ny / nx if nx > 0 else 0.0
        lower[ln] = num / den if den > 0.0 and num > 0.0 else 0.0


@njit_cached(error_model="numpy", nogil=True)
def _certify_lanes(A, b0, c1, c2, adjoint, v0, rtol, kmax, cplx, out, steps, X, wk, sk):
    """Matrices ``b0 .. b0 + LANES - 1`` side by side; a matrix whose certificate needs anything beyond the
    common path (a zero matrix, an early invariant subspace, a retry) is redone by :func:`_certify_one`."""
    Wt, Wabs, G, R, V, alpha, beta, x, z, dz, t, lv, bw, t3 = wk
    q, p, _ = Wt.shape
    gersh, total, theta, yk, mu, lam, upper, lower, est = lv[0], lv[1], lv[2], lv[3], lv[4], lv[5], lv[6], lv[7], lv[8]
    f0 = lv[9]
    early, last, redo, done, ok = bw[0], bw[1], bw[2], bw[3], bw[4]
    _lanes_load(A, b0, c1, c2, adjoint, Wt, Wabs)
    _lanes_gram(Wt, Wabs, G, t, gersh, total, f0)
    for ln in range(LANES):
        nrm = 0.0
        for i in range(q):
            nrm += abs(v0[b0 + ln, i]) ** 2
        nrm = math.sqrt(nrm)
        for i in range(q):
            x[i, ln] = v0[b0 + ln, i] / nrm if nrm > 0.0 else 1.0
            V[0, i, ln] = 0.0
            V[1, i, ln] = x[i, ln]
        redo[ln] = total[ln] == 0.0
        done[ln] = False
    k = min(kmax, q)
    _lanes_lanczos(G, V, alpha, beta, k, early, last)
    tau = RESIDUAL_FACTOR * math.sqrt(rtol)
    _lanes_top_ritz(alpha, beta, k, theta, yk, t3, lv[10:13], ok, bw[5])
    for ln in range(LANES):
        final = last[ln] or k >= kmax
        redo[ln] = redo[ln] or early[ln] or not (final or beta[ln, k - 1] * yk[ln] <= tau * theta[ln])
        mu[ln] = theta[ln] * (1.0 + rtol)
    _lanes_cholesky(G, mu, R, lam, cplx, f0, ok)
    g_gram = _gamma(2 * p + 4) if cplx else _gamma(p)
    pad = 1.0 + _gamma(p + q + 2)
    for ln in range(LANES):
        redo[ln] = redo[ln] or lam[ln] == np.inf
        err_g = g_gram * gersh[ln] * pad + q * p * 2.0**-1022
        upper[ln] = math.sqrt((lam[ln] + err_g) * (1.0 + 2.0 * _U)) * (1.0 + 2.0 * _U)
    _lanes_inverse_step(R, x, z, dz)
    for it in range(1, 4):
        _lanes_inverse_step(R, x, z, dz)
        _lanes_lower(Wt, Wabs, x, dz, lower, est, cplx)
        left = False
        for ln in range(LANES):
            if redo[ln] or done[ln]:
                continue
            if upper[ln] <= (1.0 + rtol) * lower[ln] or it == 3:
                b = b0 + ln
                out[b, 0] = lower[ln]
                out[b, 1] = upper[ln]
                out[b, 2] = min(max(est[ln], lower[ln]), upper[ln])
                steps[b] = k
                for i in range(q):
                    X[b, i] = x[i, ln]
                done[ln] = True
            else:
                left = True
        if not left:
            break
    for ln in range(LANES):
        if redo[ln]:
            _certify_into(A, b0 + ln, c1, c2, adjoint, v0, rtol, kmax, cplx, out, steps, X, sk)


@njit_cached(nogil=True)
def _certify_into(A, b, c1, c2, adjoint, v0, rtol, kmax, cplx, out, steps, X, sk):
    """:func:`_certify_one` for matrix ``b`` with the work space ``sk``, written into the outputs."""
    y, rwork, Wt, Wabs, G, R, V, alpha, beta = sk
    lower, upper, est, k = _certify_one(
        A, b, c1[b], c2[b], adjoint, v0[b], rtol, kmax, y, rwork, Wt, Wabs, G, R, V, alpha, beta, X[b], cplx
    )
    out[b, 0] = lower
    out[b, 1] = upper
    out[b, 2] = min(max(est, lower), upper)
    steps[b] = k


@njit_cached(nogil=True)
def _lane_work(q, p, kmax, X):
    """Work space of :func:`_certify_lanes` (``X``: an array of the work type)."""
    dt = X.dtype
    return (
        np.empty((q, p, LANES), dtype=dt),  # Wt
        np.empty((q, p, LANES)),  # Wabs
        np.empty((q, q, LANES), dtype=dt),  # G
        np.empty((q, q, LANES), dtype=dt),  # R
        np.empty((3, q, LANES), dtype=dt),  # Lanczos vectors
        np.empty((LANES, kmax)),  # alpha
        np.empty((LANES, kmax)),  # beta
        np.empty((q, LANES), dtype=dt),  # x
        np.empty((q, LANES), dtype=dt),  # z
        np.empty((q, LANES)),  # reciprocal pivots
        np.empty((p, LANES)),  # row sums of |W|
        np.empty((13, LANES)),  # per-lane scalars
        np.empty((6, LANES), dtype=np.bool_),  # per-lane flags
        np.empty((2, kmax, LANES)),  # scaled tridiagonal
    )


def _signature(T, W):
    return types.void(
        _in(T, 3),  # A (B, r, c)
        _in(types.float64, 1),  # c1 (B,)
        _in(types.float64, 1),  # c2 (B,)
        types.boolean,  # adjoint: W = A^H
        _in(W, 2),  # v0 (B, q)
        types.float64,  # rtol (relative width of the sigma interval)
        types.int64,  # maxsteps
        _out(types.float64, 2),  # out (B, 3): lower, upper, estimate (of sigma)
        _out(types.int64, 1),  # steps (B,)
        _out(W, 2),  # X (B, q): the top vector
        types.boolean,  # complex data
        types.int64,  # chunks (tasks of consecutive matrices, each with its own work space)
    )


#: (data type, work type) of each signature: single-precision stacks are certified in double precision
_WORK_TYPES = (
    (types.float32, types.float64),
    (types.float64, types.float64),
    (types.complex64, types.complex128),
    (types.complex128, types.complex128),
)
_SIGNATURES = [_signature(T, W) for T, W in _WORK_TYPES]


@jit_kernel(_signature, dtypes=_WORK_TYPES, kinds=("dense", "stack"), error_model="python", fastmath=False)
def small_gram_certify(A, c1, c2, adjoint, v0, rtol, maxsteps, out, steps, X, cplx, chunks):
    """Certified interval of ``sigma_max`` for every matrix of the stack ``A`` (see the module docstring).

    ``out[b] = (lower, upper, estimate)`` for ``c1[b] c2[b] A[b]``; ``upper`` is ``inf`` where the
    certificate failed. ``X[b]`` receives the top vector (right side of ``W``), ``steps[b]`` the Lanczos
    steps taken. The stack is cut into ``chunks`` tasks of consecutive matrices; each allocates its work
    space once.
    """
    nmat = A.shape[0]
    q = X.shape[1]
    p = A.shape[2] if adjoint else A.shape[1]
    kmax = max(1, maxsteps)
    for ch in numba.prange(chunks):
        Wt = np.empty((q, p), dtype=X.dtype)
        Wabs = np.empty((q, p))
        G = np.empty((q, q), dtype=X.dtype)
        R = np.empty((q, q), dtype=X.dtype)
        V = np.empty((3, q), dtype=X.dtype)
        y = np.empty(max(p, q), dtype=X.dtype)
        rwork = np.empty((2, p))
        alpha, beta = np.empty(kmax), np.empty(kmax)
        b = ch * nmat // chunks
        end = (ch + 1) * nmat // chunks
        sk = (y, rwork, Wt, Wabs, G, R, V, alpha, beta)
        if q <= LANE_MAX_Q and end - b >= LANES:
            wk = _lane_work(q, p, kmax, X)
            while b + LANES <= end:
                _certify_lanes(A, b, c1, c2, adjoint, v0, rtol, kmax, cplx, out, steps, X, wk, sk)
                b += LANES
        for j in range(b, end):
            _certify_into(A, j, c1, c2, adjoint, v0, rtol, kmax, cplx, out, steps, X, sk)


@jit_kernel(lambda T, R: types.void(_in(T, 3), types.float64, _out(types.float64, 2), types.int64), kinds=("stack",))
def stack_abs_stats(A, s, out, chunks):
    """Entry statistics of ``s |A[b]|`` per matrix of a stack, in float64, one read: ``out[:, b] = (sum of
    squares, max_j (|A|^T |A| 1)_j, largest column sum of squares, largest row sum of squares)``.

    The sums are those of :func:`._numba_kernels.abs_stats_rows` with one block per matrix, in the same
    order (row sums first, then scattered while the row is in cache), without its ``(B, n)`` outputs and
    their reductions on the host; ``chunks`` tasks of consecutive matrices.
    """
    nmat, m, n = A.shape
    for ch in numba.prange(chunks):
        cs = np.empty(n)
        g = np.empty(n)
        for b in range(ch * nmat // chunks, (ch + 1) * nmat // chunks):
            for j in range(n):
                cs[j] = 0.0
                g[j] = 0.0
            fro2 = 0.0
            rmax = 0.0
            for i in range(m):
                r = 0.0
                rsq = 0.0
                for j in range(n):
                    a = _wide_abs(A[b, i, j]) * s
                    r += a
                    rsq += a * a
                for j in range(n):
                    a = _wide_abs(A[b, i, j]) * s
                    cs[j] += a * a
                    g[j] += a * r
                fro2 += rsq
                rmax = max(rmax, rsq)
            gmax = 0.0
            cmax = 0.0
            for j in range(n):
                gmax = max(gmax, g[j])
                cmax = max(cmax, cs[j])
            out[0, b] = fro2
            out[1, b] = gmax
            out[2, b] = cmax
            out[3, b] = rmax
