"""Lanczos on ``M = Â^H Â`` with full reorthogonalisation and thick restart, one Gram pass per step.

One step costs one ``gram`` call (``Â^H (Â v)``), which fused backends compute in a single read of
``A``. The host keeps ``K = V^H M V_known`` (``nV x nK``, built from the Gram-Schmidt coefficients):
``M V_known = V K`` holds to rounding, its leading ``nK x nK`` block is the Lanczos tridiagonal of ``M``
before any restart (docs/bounds.md §3), and its eigenvalues are the squared Ritz values.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from .._operand import Operand
from ._gkl import KrylovBasis

__all__ = ["GramLanczos"]

#: rows the basis buffer starts with (it doubles when full)
_FIRST_ROWS = 64


class GramLanczos(KrylovBasis):
    """Single-vector Lanczos on ``Â^H Â`` for a batch of matrices."""

    def __init__(self, op: Operand, v1, max_basis: int):
        self._rows = None
        super().__init__(op, v1, max_basis)
        if isinstance(v1, np.ndarray):
            # NumPy: the basis vectors are the rows of a buffer, appended in place instead of copying the
            # whole basis at every step; the buffer doubles when full, up to the basis limit, so it never
            # holds much more than the vectors computed
            self._rows = np.empty((*v1.shape[:-2], min(self.max_basis + 1, _FIRST_ROWS), v1.shape[-2]), v1.dtype)
            self.V = v1
        self.K = np.zeros((op.B, 1, 0), dtype=self._dtype)
        self._tridiagonal = None

    @property
    def V(self):
        """The basis ``batch + (n, nV)``: a view of the row buffer on NumPy."""
        if self._rows is None:
            return self._V
        return np.swapaxes(self._rows[..., : self._nV, :], -1, -2)

    @V.setter
    def V(self, value) -> None:
        if self._rows is None:
            self._V = value
            return
        self._nV = value.shape[-1]
        self._rows[..., : self._nV, :] = np.swapaxes(value, -1, -2)

    def _append(self, w) -> None:
        if self._rows is None:
            self.V = self._xp.concat([self.V, w], axis=-1)
            return
        cap = self._rows.shape[-2]
        if self._nV == cap:
            shape = (*self._rows.shape[:-2], min(2 * cap, self.max_basis + 1), self._rows.shape[-1])
            grown = np.empty(shape, dtype=self._rows.dtype)
            grown[..., :cap, :] = self._rows
            self._rows = grown
        self._rows[..., self._nV, :] = w[..., 0]
        self._nV += 1

    @property
    def known(self) -> int:
        return self.K.shape[2]

    def step(self) -> None:
        op = self.op
        nV, nK = self.V.shape[-1], self.known
        W = op.gram(self.V[..., nK : nK + 1])
        W, C = self._project_out(W, self.V)
        C = op.host_batch(C)
        self.steps += 1
        if nV >= op.n:  # V spans C^n: M is known on the whole space
            K = np.zeros((op.B, nV, nK + 1), dtype=self._dtype)
            K[:, :, :nK] = self.K
            K[:, :, nK] = C[:, :, 0]
            self.K, self.exhausted = K, True
            self.breakdown[:] = True
            return
        beta = op.col_norms(W)[:, 0]
        inv = np.where(beta > 0, 1.0 / np.where(beta > 0, beta, 1.0), 0.0)
        K = np.zeros((op.B, nV + 1, nK + 1), dtype=self._dtype)
        K[:, :nV, :nK] = self.K
        K[:, :nV, nK] = C[:, :, 0]
        K[:, nV, nK] = beta
        self._append(W * op.from_host(inv[:, None, None]))
        self.K = K

    # ---------------------------------------------------------------- Ritz values
    def tridiagonal(self) -> tuple[np.ndarray, np.ndarray]:
        """Lanczos tridiagonal of ``M``: ``a_1..a_k`` and ``b_1..b_k`` (``b_k`` couples to the pending vector)."""
        if self._tridiagonal is not None and self._tridiagonal[0] is self.K:
            return self._tridiagonal[1]  # K is replaced, never modified, by step() and restart()
        nK = self.known
        idx = np.arange(nK)
        a = np.real(self.K[:, idx, idx])
        b = np.zeros_like(a)
        rows = np.minimum(idx + 1, self.K.shape[1] - 1)
        b[:, :] = np.where(idx + 1 < self.K.shape[1], np.abs(self.K[:, rows, idx]), 0.0)
        self._tridiagonal = (self.K, (a, b))
        return a, b

    def ritz(self, need_all: bool = False):
        """``(theta, None, y, all_theta)``: top Ritz value of ``Â`` (sqrt of that of ``M``), its coordinates."""
        nK = self.known
        B = self.op.B
        if self.restarts == 0 and B <= 8:
            a, b = self.tridiagonal()
            theta, y = np.empty(B), np.empty((B, nK))
            allv = np.empty((B, nK)) if need_all else None
            for i in range(B):
                if need_all:
                    w, vecs = sla.eigh_tridiagonal(a[i], b[i, :-1])
                    allv[i] = np.sqrt(np.maximum(w[::-1], 0.0))
                    theta[i], y[i] = allv[i, 0], vecs[:, -1]
                else:
                    w, vecs = sla.eigh_tridiagonal(a[i], b[i, :-1], select="i", select_range=(nK - 1, nK - 1))
                    theta[i], y[i] = np.sqrt(max(w[0], 0.0)), vecs[:, 0]
            return theta, None, y, allv
        T = self.K[:, :nK, :nK]
        w, vecs = np.linalg.eigh(0.5 * (T + np.conj(np.swapaxes(T, 1, 2))))
        allv = np.sqrt(np.maximum(w[:, ::-1], 0.0))
        return allv[:, 0], None, vecs[:, :, -1], (allv if need_all else None)

    def residual(self, x, y: np.ndarray) -> np.ndarray:
        """``||M V y - theta^2 V y||`` for the Ritz coordinates ``y`` (host, per matrix)."""
        rest = self.K[:, self.known :, :]
        return np.linalg.norm(np.einsum("bij,bj->bi", rest, y), axis=1)

    # ---------------------------------------------------------------- vectors and restart
    def singular_vectors(self, x, y: np.ndarray):
        """Right Ritz vector ``V y`` and the left one ``Â V y / ||Â V y||`` (one product)."""
        v = self.right_vector(y)
        w = self.op.matmat(v)
        nrm = self.op.col_norms(w)[:, 0]
        inv = np.where(nrm > 0, 1.0 / np.where(nrm > 0, nrm, 1.0), 0.0)
        return w * self.op.from_host(inv[:, None, None]), v

    def restart(self, keep: int) -> None:
        """Thick restart: ``V <- [V Y_l, v_pending]``, ``K <- [diag(lambda_l); K_pending Y_l]``."""
        xp = self._xp
        nK = self.known
        T = self.K[:, :nK, :nK]
        w, vecs = np.linalg.eigh(0.5 * (T + np.conj(np.swapaxes(T, 1, 2))))
        keep = min(keep, nK)
        Y = vecs[:, :, ::-1][:, :, :keep]
        Vk = xp.matmul(self.V[..., :nK], self.op.from_host(Y))
        self.V = xp.concat([Vk, self.V[..., nK:]], axis=-1)
        K = np.zeros((self.op.B, keep + 1, keep), dtype=self._dtype)
        K[:, np.arange(keep), np.arange(keep)] = w[:, ::-1][:, :keep]
        K[:, keep, :] = np.einsum("bj,bjk->bk", self.K[:, nK, :], Y)
        self.K = K
        self.restarts += 1
