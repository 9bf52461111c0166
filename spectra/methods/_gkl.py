"""Block Golub-Kahan-Lanczos bidiagonalisation with full reorthogonalisation and thick restart.

Shared by ``lanczos`` (block size 1) and ``randomized`` (block Krylov, block size b). After each
step the host holds ``K = U^H Â [V, V_next]`` (``nU x nV``, ``nV = nU + b``) built from the
Gram-Schmidt coefficients, so ``Â V = U K[:, :nU]`` and ``Â^H U = V_all K^H`` hold to rounding:
``sigma_max(K[:, :nU])`` is the Rayleigh-Ritz value over the whole Krylov space built so far, also
after a restart (docs/bounds.md §8).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from .._operand import Operand

__all__ = ["BlockGKL", "KrylovBasis"]


class KrylovBasis:
    """State and Gram-Schmidt helpers shared by the Krylov engines (one per batch of matrices)."""

    def __init__(self, op: Operand, V1, max_basis: int):
        self.op = op
        self.b = V1.shape[-1]
        self.V = V1
        self.steps = 0
        self.restarts = 0
        self.n_pending = self.b
        #: the right basis spans the whole space: the projection is A itself (exact Ritz values)
        self.exhausted = False
        self.max_basis = max(max_basis, 3 * self.b)
        self.breakdown = np.zeros(op.B, dtype=bool)
        self._xp = op.xp
        self._dtype = np.complex128 if op.is_complex else np.float64

    def right_vector(self, y: np.ndarray):
        """Device ``V[:, :k] y`` (``batch + (n, 1)``) for host coordinates ``y`` ``(B, k)``."""
        k = y.shape[1]
        return self._xp.matmul(self.V[..., :k], self.op.from_host(y[:, :, None]))

    def full(self) -> bool:
        return not self.exhausted and self.V.shape[-1] + self.b > self.max_basis

    # ---------------------------------------------------------------- linear algebra helpers
    def _project_out(self, W, Q):
        """``W - Q (Q^H W)`` twice (classical Gram-Schmidt with one reorthogonalisation); coefficients."""
        if Q is None:
            return W, None
        return self.op.backend.project_out(W, Q)

    def _orthonormalise(self, W, Q, cols: int):
        """Orthonormal basis of ``W`` against ``Q``: ``W = Q C + W_new R``; returns (W_new, C, R) with R on host.

        Only ``cols`` new directions are kept: when the complement of ``Q`` has fewer dimensions than
        ``W`` has columns, the rest is rounding noise.
        """
        op = self.op
        W, C = self._project_out(W, Q)
        if W.shape[-1] == 1:
            r = op.col_norms(W)[:, 0]
            tiny = r <= 0
            inv = np.where(tiny, 0.0, 1.0 / np.where(tiny, 1.0, r))
            Wn = W * op.from_host(inv[:, None, None])
            R = r[:, None, None]
        else:
            Wn, Rd = op.backend.qr(W)
            # a rank-deficient block leaves directions made of rounding noise: orthogonalise them again
            Wn, C2 = self._project_out(Wn, Q)
            Wn, Rd2 = op.backend.qr(Wn)
            Rd = self._xp.matmul(Rd2, Rd)
            R = op.host_batch(Rd)
            if C2 is not None:
                C = C + self._xp.matmul(C2, Rd) if C is not None else None
            Wn, R = Wn[..., :cols], R[:, :cols, :]
        Ch = None if C is None else op.host_batch(C)
        return Wn, Ch, R


class BlockGKL(KrylovBasis):
    """Block Golub-Kahan-Lanczos: bases ``U`` (left), ``V`` (right, last block pending), projection ``K``."""

    def __init__(self, op: Operand, V1, max_basis: int):
        super().__init__(op, V1, max_basis)
        self.U = None
        self.K = np.zeros((op.B, 0, self.b), dtype=self._dtype)

    # ---------------------------------------------------------------- one step
    def step(self) -> None:
        """One block step: ``Â V_pending`` against ``U``, then ``Â^H U_new`` against ``V``."""
        xp = self._xp
        op = self.op
        nU = 0 if self.U is None else self.U.shape[-1]
        nV = self.V.shape[-1]
        nP = self.n_pending
        P = op.matmat(self.V[..., nV - nP : nV])
        cu = min(nP, op.m - nU)
        Un, H, R = self._orthonormalise(P, self.U, cu)
        self.U = Un if self.U is None else xp.concat([self.U, Un], axis=-1)
        self.steps += 1
        if nV >= op.n:  # the right basis already spans C^n: nothing new can follow
            K = np.zeros((op.B, nU + cu, nV), dtype=self.K.dtype)
            K[:, :nU, :nV] = self.K
            if H is not None:
                K[:, :nU, nV - nP : nV] = H
            K[:, nU:, nV - nP : nV] = R
            self.K, self.n_pending, self.exhausted = K, 0, True
            self.breakdown[:] = True
            return
        cv = min(self.b, op.n - nV)
        Vn, _, R2 = self._orthonormalise(op.rmatmat(Un), self.V, cv)
        K = np.zeros((op.B, nU + cu, nV + cv), dtype=self.K.dtype)
        K[:, :nU, :nV] = self.K
        if H is not None:
            K[:, :nU, nV - nP : nV] = H
        K[:, nU:, nV - nP : nV] = R
        K[:, nU:, nV:] = np.conj(np.swapaxes(R2, -1, -2))
        self.V = xp.concat([self.V, Vn], axis=-1)
        self.K, self.n_pending = K, cv

    # ---------------------------------------------------------------- Ritz values
    @property
    def square(self) -> np.ndarray:
        """``U^H Â V`` without the pending block: its singular values are the Ritz values."""
        return self.K[:, :, : self.K.shape[1]]

    def ritz(self, need_all: bool = False):
        """Top Ritz value, its left/right coordinate vectors and (optionally) all Ritz values, per matrix.

        Block size 1 before any restart: the Lanczos tridiagonal ``T = K^H K`` is formed from the
        bidiagonal entries and solved in O(k^2) per matrix; otherwise a dense SVD of ``K``.
        """
        Ks = self.square
        B, k, _ = Ks.shape
        if self.b == 1 and self.restarts == 0 and B <= 8:
            theta = np.empty(B)
            y = np.empty((B, k))
            allv = np.empty((B, k)) if need_all else None
            alpha, beta = self.bidiagonal()
            for i in range(B):
                d = alpha[i] ** 2 + np.r_[0.0, beta[i, :-1] ** 2]
                e = alpha[i, :-1] * beta[i, :-1]
                if need_all:
                    w, vecs = sla.eigh_tridiagonal(d, e)
                    allv[i] = np.sqrt(np.maximum(w[::-1], 0.0))
                    theta[i], y[i] = allv[i, 0], vecs[:, -1]
                else:
                    w, vecs = sla.eigh_tridiagonal(d, e, select="i", select_range=(k - 1, k - 1))
                    theta[i], y[i] = np.sqrt(max(w[0], 0.0)), vecs[:, 0]
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.einsum("bij,bj->bi", Ks, y)
                x = x / np.where(theta > 0, theta, 1.0)[:, None]
            return theta, x, y, allv
        U_, s, Vh = np.linalg.svd(Ks)
        return s[:, 0], U_[:, :, 0], np.conj(Vh[:, 0, :]), (s if need_all else None)

    def bidiagonal(self) -> tuple[np.ndarray, np.ndarray]:
        """``alpha_1..alpha_k`` and ``beta_1..beta_k`` (block size 1, before any restart)."""
        if getattr(self, "_bidiag_at", None) == self.steps:
            return self._bidiag
        self._bidiag_at, self._bidiag = self.steps, self._bidiagonal()
        return self._bidiag

    def _bidiagonal(self) -> tuple[np.ndarray, np.ndarray]:
        k = self.K.shape[1]
        idx = np.arange(k)
        Kp = np.zeros((self.K.shape[0], k, k + 1), dtype=self.K.dtype)
        Kp[:, :, : self.K.shape[2]] = self.K  # an exhausted basis has no pending column: beta_k = 0
        return np.real(Kp[:, idx, idx]), np.real(Kp[:, idx, idx + 1])

    def pending(self) -> np.ndarray:
        """``U^H Â V_next``: the coupling of the basis to the block not yet multiplied."""
        return self.K[:, :, self.K.shape[1] :]

    def residual(self, x: np.ndarray, y=None) -> np.ndarray:
        """``||Â^H u - theta v||`` for the Ritz pair with left coordinates ``x`` (host, per matrix)."""
        r = np.einsum("bij,bi->bj", np.conj(self.pending()), x)
        return np.linalg.norm(r, axis=1)

    # ---------------------------------------------------------------- vectors and restart
    def singular_vectors(self, x: np.ndarray, y: np.ndarray):
        """Device left and right Ritz vectors for host coordinates ``x``, ``y``."""
        return self._xp.matmul(self.U, self.op.from_host(x[:, :, None])), self.right_vector(y)

    def restart(self, keep: int) -> None:
        """Thick restart: keep the top ``keep`` Ritz vectors and the pending block.

        With ``K_sq = X S Y^H``: ``U <- U X_l``, ``V <- [V Y_l, V_next]``, ``K <- [S_l, X_l^H K_pending]``.
        """
        xp = self._xp
        Ks = self.square
        nU = Ks.shape[1]
        X, s, Yh = np.linalg.svd(Ks)
        keep = min(keep, nU)
        nP = self.n_pending
        Xl = X[:, :, :keep]
        Yl = np.conj(np.swapaxes(Yh[:, :keep, :], -1, -2))
        self.U = xp.matmul(self.U, self.op.from_host(Xl))
        Vk = xp.matmul(self.V[..., :nU], self.op.from_host(Yl))
        self.V = xp.concat([Vk, self.V[..., nU:]], axis=-1)
        K = np.zeros((self.op.B, keep, keep + nP), dtype=self.K.dtype)
        K[:, np.arange(keep), np.arange(keep)] = s[:, :keep]
        K[:, :, keep:] = np.einsum("bij,bik->bjk", np.conj(Xl), self.pending())
        self.K = K
        self.restarts += 1
