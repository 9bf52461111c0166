"""Numba kernel for stacks of small matrices: one matrix per task, the whole certificate in cache.

``small_gram_certify`` computes, for every matrix ``W`` of a stack (``W = A`` or ``W = A^H``, whichever
gives the smaller Gram matrix ``G = W^H W`` of order ``q``), in float64 (complex128):

1. ``G`` in one read of ``A`` (inputs in single precision are widened exactly);
2. Lanczos with full reorthogonalisation on ``G`` until the top Ritz pair's residual is below a
   fraction of ``rtol`` (at most ``q`` steps): an *estimate* ``theta`` of ``lambda_max(G)`` and its
   Ritz vector ``x``;
3. a certified lower bound ``||W x|| / ||x||`` from one more product, with the rounding of the
   product and of the norms accounted for (docs/bounds.md §6c);
4. a certified upper bound from a Cholesky factorisation of ``mu I - G`` with ``mu`` just above
   ``theta``: if it runs to completion, ``lambda_max(G) <= mu`` up to the factorisation's backward
   error, and the rounding of ``G`` itself is bounded by the Gershgorin sums of ``|W|^H |W|``
   (docs/bounds.md §7).

The estimate of step 2 needs no error analysis: a poor estimate only makes the Cholesky factorisation
fail (``ok = False``), and the caller then solves that matrix by the general path. Leaf module: it
only computes.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types

from ._numba_kernels import _in, _out

__all__ = ["small_gram_certify"]

_U = 2.0**-53  # unit roundoff of the float64 work


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz", "contract"})
def _gram(A, b, c1, c2, adjoint, G, rabs):
    """``G = W^H W`` for ``W = c1 c2 A[b]`` (``adjoint``: ``W = (c1 c2 A[b])^H``) and ``rabs = |W| 1``."""
    r, c = A.shape[1], A.shape[2]
    q = G.shape[0]
    G[:, :] = 0
    rabs[:] = 0
    if not adjoint:  # W = A: G = sum over rows i of a_i^H a_i, rabs_i = sum_j |a_ij|
        row = np.empty(c, dtype=G.dtype)
        for i in range(r):
            s = 0.0
            for j in range(c):
                row[j] = (A[b, i, j] * c1) * c2
                s += abs(row[j])
            rabs[i] = s
            for j in range(q):
                aj = np.conj(row[j])
                for k in range(j, q):
                    G[j, k] += aj * row[k]
    else:  # W = A^H: G = A A^H, G[j, k] = sum_i a_ji conj(a_ki); rabs = |A|^T 1 (column sums)
        rows = np.empty((r, c), dtype=G.dtype)
        for j in range(r):
            for i in range(c):
                rows[j, i] = (A[b, j, i] * c1) * c2
                rabs[i] += abs(rows[j, i])
        for j in range(q):
            for k in range(j, q):
                s = G[0, 0] * 0
                for i in range(c):
                    s += rows[j, i] * np.conj(rows[k, i])
                G[j, k] = s
    for j in range(q):
        G[j, j] = G[j, j].real
        for k in range(j + 1, q):
            G[k, j] = np.conj(G[j, k])


@numba.njit(cache=True, nogil=True)
def _gersh(A, b, c1, c2, adjoint, rabs):
    """``max_j (|W|^H |W| 1)_j``, a bound on ``|| |W|^H |W| ||_2`` (computed in float64, padded by the caller)."""
    r, c = A.shape[1], A.shape[2]
    best = 0.0
    if not adjoint:  # (|A|^T (|A| 1))_j = sum_i |a_ij| rabs_i
        for j in range(c):
            s = 0.0
            for i in range(r):
                s += abs((A[b, i, j] * c1) * c2) * rabs[i]
            best = max(best, s)
    else:  # W = A^H: (|A| (|A|^T 1))_j = sum_i |a_ji| rabs_i
        for j in range(r):
            s = 0.0
            for i in range(c):
                s += abs((A[b, j, i] * c1) * c2) * rabs[i]
            best = max(best, s)
    return best


@numba.njit(cache=True, nogil=True)
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
        r_prev, d1_prev, d2_prev = 1.0, 0.0, 0.0
        g, h = 0.0, 0.0
        exact = False
        for i in range(k):
            if i > 0:
                bb = beta[i - 1] * beta[i - 1]
                ir = 1.0 / r_prev
                r = (alpha[i] - x) - bb * ir
                d1 = -1.0 + bb * d1_prev * ir * ir
                d2 = bb * (d2_prev * ir * ir - 2.0 * d1_prev * d1_prev * ir * ir * ir)
            else:
                r, d1, d2 = alpha[0] - x, -1.0, 0.0
            if r == 0.0:  # x is an eigenvalue of a leading block, and x >= lambda_max(T_k): x is the root
                exact = True
                break
            q1 = d1 / r
            g += q1
            h += q1 * q1 - d2 / r
            r_prev, d1_prev, d2_prev = r, d1, d2
        if exact:
            yk2 = 1.0
            break
        # p_k'(x) / p_{k-1}(x) = r_k * (p'/p): gives y_k^2 at the root
        ratio = abs(r_prev * g)
        yk2 = 1.0 / ratio if ratio > 0.0 else 1.0
        if not g > 0.0:  # at (or, by rounding, below) the root
            break
        disc = (k - 1.0) * (k * h - g * g)
        step = k / (g + math.sqrt(disc if disc > 0.0 else 0.0))
        if not (step > 1e-15 * scale and step < np.inf):
            break
        x -= step
    return max(x, theta0), math.sqrt(min(yk2, 1.0))


@numba.njit(cache=True, nogil=True)
def _top_vector(alpha, beta, k, theta, y):
    """Unit eigenvector of the tridiagonal for its largest eigenvalue ``theta``: two steps of inverse iteration.

    The shift lies just above ``theta``, so ``T - sigma I`` is negative definite: ``LDL^T`` needs no pivoting.
    """
    sigma = theta + 1e-13 * max(abs(theta), 1e-300)
    d = np.empty(k)
    for i in range(k):
        y[i] = 1.0
    for _ in range(2):
        for i in range(k):
            bb = beta[i - 1] * beta[i - 1] if i > 0 else 0.0
            d[i] = (alpha[i] - sigma) - (bb / d[i - 1] if i > 0 else 0.0)
            if not abs(d[i]) >= 1e-300:  # a zero or subnormal pivot (the zero matrix: theta ~ 1e-312)
                d[i] = -1e-300
        for i in range(1, k):  # L z = y
            y[i] -= beta[i - 1] / d[i - 1] * y[i - 1]
        y[k - 1] /= d[k - 1]
        for i in range(k - 2, -1, -1):  # D L^T y = z
            y[i] = y[i] / d[i] - beta[i] / d[i] * y[i + 1]
        big = 0.0  # scale by the largest entry first: y_i^2 may overflow (tiny pivots, the zero matrix)
        for i in range(k):
            big = max(big, abs(y[i]))
        nrm = 0.0
        for i in range(k):
            y[i] /= big
            nrm += y[i] * y[i]
        nrm = math.sqrt(nrm)
        for i in range(k):
            y[i] /= nrm


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz", "contract"})
def _lanczos(G, v0, tol, maxsteps, V, alpha, beta, y, x):
    """Lanczos with full reorthogonalisation on ``G`` from ``v0``; the top Ritz vector goes to ``x``.

    ``V`` holds the Lanczos vectors as rows (unit stride in every inner loop). Returns ``(theta, steps)``.
    Stops once ``beta_k |y_k| <= tol theta`` (the Ritz pair's residual), at an invariant subspace, or
    after ``maxsteps`` steps.
    """
    q = G.shape[0]
    kmax = min(q, maxsteps)
    nrm = 0.0
    for i in range(q):
        nrm += abs(v0[i]) ** 2
    nrm = math.sqrt(nrm)
    for i in range(q):
        V[0, i] = v0[i] / nrm
    w = np.empty(q, dtype=G.dtype)
    theta = 0.0
    k = 0
    for j in range(kmax):
        for i in range(q):  # G is Hermitian: row i of G times v_j (no array views: they cost refcounts)
            s = G[i, 0] * 0
            for c in range(q):
                s += G[i, c] * V[j, c]
            w[i] = s
        a = 0.0
        before = 0.0
        for i in range(q):
            before += abs(w[i]) ** 2
        for _sweep in range(2):  # modified Gram-Schmidt; again only if it cancelled (DGKS, kappa = 1/sqrt 2)
            for c in range(j + 1):
                cf = w[0] * 0
                for i in range(q):
                    cf += np.conj(V[c, i]) * w[i]
                for i in range(q):
                    w[i] -= cf * V[c, i]
                if c == j:
                    a += cf.real
            bsq = 0.0
            for i in range(q):
                bsq += abs(w[i]) ** 2
            if bsq > 0.5 * before:
                break
            before = bsq
        alpha[j] = a
        b = math.sqrt(bsq)
        beta[j] = b
        k = j + 1
        if k == kmax:
            break
        if k >= min(kmax, 6) and k % 2 == 0:  # the convergence test costs O(k) divisions: every other step
            theta, yk = _top_ritz(alpha, beta, k, theta)
            if b * yk <= tol * abs(theta) or b <= 1e-14 * abs(theta):
                break
        elif b <= 1e-14 * abs(alpha[j]):  # invariant subspace
            break
        inv = 1.0 / b
        for i in range(q):
            V[j + 1, i] = w[i] * inv
    theta, _ = _top_ritz(alpha, beta, k, theta)
    _top_vector(alpha, beta, k, theta, y)
    for i in range(q):
        x[i] = V[0, 0] * 0
    for c in range(k):
        yc = y[c]
        for i in range(q):
            x[i] += V[c, i] * yc
    return theta, k


@numba.njit(cache=True, nogil=True)
def _gamma(p):
    pu = p * _U
    return pu / (1.0 - pu) if pu < 1.0 else np.inf


@numba.njit(cache=True, nogil=True)
def _certified_lower(A, b, c1, c2, adjoint, x, cplx):
    """``(certified lower bound, estimate)`` of ``||W x|| / ||x||`` (docs/bounds.md §6c), in float64."""
    r, c = A.shape[1], A.shape[2]
    q = x.shape[0]
    p = c if adjoint else r  # length of W x
    ny2 = 0.0
    na2 = 0.0
    for i in range(p):
        s = x[0] * 0
        t = 0.0
        for j in range(q):
            a = (A[b, j, i] * c1) * c2 if adjoint else (A[b, i, j] * c1) * c2
            if adjoint:
                a = np.conj(a)
            s += a * x[j]
            t += abs(a) * abs(x[j])
        ny2 += abs(s) ** 2
        na2 += t * t
    nx2 = 0.0
    for j in range(q):
        nx2 += abs(x[j]) ** 2
    ny, na, nx = math.sqrt(ny2), math.sqrt(na2), math.sqrt(nx2)
    g_prod = _gamma(2 * q + 4) if cplx else _gamma(q)  # complex products: a safe majorant (bounds.md §7)
    num = ny * (1.0 - _gamma(p + 2)) - g_prod * na * (1.0 + _gamma(p + 2))
    den = nx * (1.0 + _gamma(q + 2))
    est = ny / nx if nx > 0 else 0.0
    if den <= 0.0 or num <= 0.0:
        return 0.0, est
    return num / den, est


@numba.njit(cache=True, nogil=True)
def _cholesky_upper(G, mu, L, cplx):
    """Upper bound on ``lambda_max(G)`` if the Cholesky factorisation of ``mu I - G`` completes, else ``inf``.

    Higham, *Accuracy and Stability*, Thm 10.3: a completed factorisation satisfies
    ``R^H R = C + dC`` with ``|dC| <= gamma_{q+1} |R^H| |R|``, so ``C + dC`` is positive semidefinite and
    ``lambda_min(C) >= -||dC||_2 >= -gamma_{q+1} ||R||_F^2``. ``C = fl(mu I - G)`` differs from
    ``mu I - G`` by at most ``u |c_ii|`` on the diagonal.
    """
    q = G.shape[0]
    diag_err = 0.0
    for j in range(q):
        for k in range(q):
            L[j, k] = -G[j, k]
        L[j, j] = mu - G[j, j].real
        diag_err = max(diag_err, abs(L[j, j].real))
    for j in range(q):
        d = L[j, j].real
        for k in range(j):
            d -= abs(L[j, k]) ** 2
        if not d > 0.0:
            return np.inf
        ljj = math.sqrt(d)
        L[j, j] = ljj
        for i in range(j + 1, q):
            s = L[i, j]
            for k in range(j):
                s -= L[i, k] * np.conj(L[j, k])
            L[i, j] = s / ljj
    fro2 = 0.0
    for j in range(q):
        for k in range(j + 1):
            fro2 += abs(L[j, k]) ** 2
    fro2 *= 1.0 + _gamma(q * q + 2)
    g_chol = _gamma(2 * q + 2) if cplx else _gamma(q + 1)
    return (mu + _U * diag_err + g_chol * fro2) * (1.0 + 4.0 * _U)


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
        _out(W, 2),  # X (B, q): the Ritz vector
        types.boolean,  # complex data
    )


_SIGNATURES = [
    _signature(T, W)
    for T, W in (
        (types.float32, types.float64),
        (types.float64, types.float64),
        (types.complex64, types.complex128),
        (types.complex128, types.complex128),
    )
]


@numba.njit(_SIGNATURES, cache=True, nogil=True, parallel=True)
def small_gram_certify(A, c1, c2, adjoint, v0, rtol, maxsteps, out, steps, X, cplx):
    """Certified interval of ``sigma_max`` for every matrix of the stack ``A`` (see the module docstring).

    ``out[b] = (lower, upper, estimate)`` for ``c1[b] c2[b] A[b]``; ``upper`` is ``inf`` where the
    certificate failed. ``X[b]`` receives the Ritz vector (right side of ``W``), ``steps[b]`` the
    Lanczos steps taken.
    """
    nmat = A.shape[0]
    q = X.shape[1]
    p = A.shape[2] if adjoint else A.shape[1]
    for b in numba.prange(nmat):
        G = np.empty((q, q), dtype=X.dtype)
        rabs = np.empty(p)
        _gram(A, b, c1[b], c2[b], adjoint, G, rabs)
        V = np.empty((q, q), dtype=X.dtype)
        alpha, beta, y = np.empty(q), np.empty(q), np.empty(q)
        theta, k = _lanczos(G, v0[b], 0.05 * rtol, maxsteps, V, alpha, beta, y, X[b])
        steps[b] = k
        lower, est = _certified_lower(A, b, c1[b], c2[b], adjoint, X[b], cplx)
        # rounding of G itself: |fl(G) - G| <= gamma_p |W|^H |W| (entrywise), spectral norm <= Gershgorin sums
        g_gram = _gamma(2 * p + 4) if cplx else _gamma(p)
        err_g = g_gram * _gersh(A, b, c1[b], c2[b], adjoint, rabs) * (1.0 + _gamma(p + q + 2)) + q * p * 2.0**-1022
        rho = max(theta, est * est)
        upper = np.inf
        L = np.empty((q, q), dtype=X.dtype)
        for grow in (0.25, 0.5, 1.0):  # mu as close above the estimate as the certificate allows
            lam = _cholesky_upper(G, rho * (1.0 + grow * rtol), L, cplx)
            if lam < np.inf:
                upper = math.sqrt((lam + err_g) * (1.0 + 2.0 * _U)) * (1.0 + 2.0 * _U)
                break
        out[b, 0] = lower
        out[b, 1] = upper
        out[b, 2] = min(max(est, lower), upper)
