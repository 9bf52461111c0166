"""(Block) Lanczos on ``M = Â^H Â`` with full reorthogonalisation and thick restart, one Gram pass per step.

One step costs one ``gram`` call (``Â^H (Â V_b)`` for the pending block of ``b`` vectors), which fused
backends compute in a single read of ``A`` for all ``b`` columns. The host keeps ``K = V^H M V_known``
(``nV x nK``, built from the Gram-Schmidt coefficients): ``M V_known = V K`` holds to rounding, its
leading ``nK x nK`` block is the (block) Lanczos tridiagonal of ``M`` before any restart (docs/bounds.md
§3), and its eigenvalues are the squared Ritz values. With ``keep_images=True`` the images
``Â V_known`` that the Gram pass computes on its way are kept too (the left Ritz vector then needs no
product); they cost no extra product, but as much memory as the basis on the long side.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sla

from .._operand import Operand
from ._krylov import ColumnStore, KrylovBasis

__all__ = ["GramLanczos", "top_eigenpair"]

#: a block is orthonormalised inside the backend's ``block_algebra`` context (numba: all BLAS threads)
#: once the basis takes this many bytes; below, the projection is too short to repay the idle BLAS
#: threads' spinning during the next kernel (measured in docs/performance.md)
_LARGE_BASIS = 32 << 20


#: LAPACK's float64 ``?stebz`` and ``?stein`` (looked up once)
_TRIDIAGONAL: list = []


def top_eigenpair(a: np.ndarray, e: np.ndarray, vector: bool = True) -> tuple[float, np.ndarray | None]:
    """Largest eigenvalue and its unit eigenvector of the real symmetric tridiagonal ``(a, e)``.

    The calls :func:`scipy.linalg.eigh_tridiagonal` makes for ``select="i"`` (LAPACK ``?stebz`` bisection,
    then ``?stein`` inverse iteration), without its argument checks: same result, a fraction of the
    Python work, which matters once per Lanczos step. ``vector=False`` skips ``?stein`` and returns
    ``None`` for the vector (the eigenvalue is ``?stebz``'s either way).
    """
    k = a.shape[0]
    if k == 1:
        return float(a[0]), (np.ones(1) if vector else None)
    if a.dtype != np.float64 or e.dtype != np.float64:
        a, e = a.astype(np.float64), e.astype(np.float64)
    if not _TRIDIAGONAL:
        _TRIDIAGONAL.extend(sla.get_lapack_funcs(("stebz", "stein"), (a, e)))
    stebz, stein = _TRIDIAGONAL
    m, w, iblock, isplit, info = stebz(a, e, 2, 0.0, 1.0, k, k, 0.0, "B")
    if info == 0 and m == 1 and not vector:
        return float(w[0]), None
    if info == 0 and m == 1:
        v, info = stein(a, e, w[:1], iblock, isplit)
        if info == 0:
            return float(w[0]), v[:, 0]
    w, v = sla.eigh_tridiagonal(a, e, select="i", select_range=(k - 1, k - 1))  # raises LAPACK's error
    return float(w[0]), v[:, 0]


class GramLanczos(KrylovBasis):
    """Block Lanczos on ``Â^H Â`` for a batch of matrices; block size ``b`` = columns of ``v1``."""

    def __init__(self, op: Operand, v1, max_basis: int, *, keep_images: bool = False):
        self._store = None
        super().__init__(op, v1, max_basis)
        self._store = ColumnStore(v1, self.max_basis + self.b, self._xp)
        self._images = None  # ColumnStore of Â V_known when keep_images
        self._keep_images = keep_images
        self._proj = np.zeros((op.B, self.b, 0), dtype=self._dtype)  # K is its leading block
        self._proj_shape = self._proj.shape[1:]
        #: the tridiagonal of K (b = 1, no restart), a column per step: ``(B, 2, capacity)``, and the columns set
        self._tri, self._tri_cols = np.zeros((op.B, 2, 0)), 0

    @property
    def K(self) -> np.ndarray:
        """The projection ``V^H M V_known`` (``(B, nV, nK)``, host): the leading block of a buffer that grows."""
        rows, cols = self._proj_shape
        return self._proj[:, :rows, :cols]

    @K.setter
    def K(self, value: np.ndarray) -> None:
        self._proj, self._proj_shape = value, value.shape[1:]
        self._tri_cols = 0

    def _grow_projection(self, rows: int, cols: int) -> np.ndarray:
        """``K`` enlarged to ``rows x cols`` (the new entries zero) in place in the buffer (doubled when full)."""
        cap_r, cap_c = self._proj.shape[1:]
        if rows > cap_r or cols > cap_c:
            grown = np.zeros((self.op.B, max(rows, 2 * cap_r), max(cols, 2 * cap_c)), dtype=self._dtype)
            old_r, old_c = self._proj_shape
            grown[:, :old_r, :old_c] = self.K
            self._proj = grown
        self._proj_shape = (rows, cols)
        return self.K

    @property
    def V(self):
        """The basis ``batch + (n, nV)`` (orthonormal columns; the last ``n_pending`` not yet multiplied)."""
        return self._V if self._store is None else self._store.array

    @V.setter
    def V(self, value) -> None:
        if self._store is None:
            self._V = value
        else:
            self._store.array = value

    @property
    def images(self):
        """``Â V_known`` (``batch + (m, nK)``) when ``keep_images``, else ``None``."""
        return None if self._images is None else self._images.array

    def _keep(self, Y) -> None:
        if self._images is None:
            self._images = ColumnStore(Y, self.max_basis, self._xp)
        else:
            self._images.append(Y)

    @property
    def known(self) -> int:
        return self._proj_shape[1]

    def step(self) -> None:
        op, V = self.op, self.V
        nV, nK, nP = V.shape[-1], self._proj_shape[1], self.n_pending
        block = V[..., nK : nK + nP]
        if self._keep_images:
            Y, W = op.gram(block, with_image=True)
            self._keep(Y)
        else:
            W = op.gram(block)
        self.steps += 1
        if nV >= op.n:  # V spans C^n: M is known on the whole space
            _, C = self._project_out(W, V)
            K = self._grow_projection(nV, nK + nP)
            K[:, :, nK:] = op.host_batch(C)
            # a matrix broken down earlier keeps the projection of its invariant subspace (as below): the
            # products of its noise vectors would corrupt it (a confidence-1 interval below the norm was seen)
            K[self.breakdown, :, nK:] = 0
            self._record_tridiagonal(nK, nP)
            self.n_pending, self.exhausted = 0, True
            self.spans = ~self.breakdown
            self.breakdown[:] = True
            return
        cv = min(self.b, op.n - nV)
        if nP < cv:  # a restart kept a pending block narrower than b: complete it with fresh directions
            W = self._xp.concat([W, op.from_host(op.random(np.random.default_rng(self.steps), cv - nP))], axis=-1)
        if W.shape[-1] > 1 and math.prod(V.shape) * op.np_dtype.itemsize >= _LARGE_BASIS:
            with op.backend.block_algebra():
                Wn, C, R = self._orthonormalise(W, V, cv)
        else:  # a single new vector lands in the basis store's next row
            Wn, C, R = self._orthonormalise(W, V, cv, self._store.slot() if cv == 1 else None)
        K = self._grow_projection(nV + cv, nK + nP)
        K[:, :nV, nK:] = C[:, :, :nP]  # (the fresh directions' coefficients are no part of M V)
        K[:, nV:, nK:] = R[:, :, :nP]
        if self.breakdown.any():
            # an invariant subspace was found for these matrices: the pending vectors are normalised rounding
            # noise, not orthogonal to working precision, and their products would corrupt the projection
            # (a confidence-1 interval below the norm was seen in float32). Their projection stays that of
            # the invariant subspace.
            K[self.breakdown, :, nK:] = 0
            K[self.breakdown, nV:, :] = 0
        self._record_tridiagonal(nK, nP)
        self._store.append(Wn)
        self.n_pending = cv

    def _record_tridiagonal(self, nK: int, nP: int) -> None:
        """Append the new column's diagonal and coupling to the tridiagonal record (b = 1, before a restart)."""
        if self.b != 1 or nP != 1 or self._tri_cols != nK:
            self._tri_cols = 0  # no record: :meth:`tridiagonal` reads K
            return
        if nK >= self._tri.shape[2]:
            grown = np.zeros((self.op.B, 2, max(64, 2 * nK)))
            grown[:, :, :nK] = self._tri[:, :, :nK]
            self._tri = grown
        K = self.K
        self._tri[:, 0, nK] = np.real(K[:, nK, nK])
        self._tri[:, 1, nK] = np.abs(K[:, nK + 1, nK]) if nK + 1 < K.shape[1] else 0.0
        self._tri_cols = nK + 1

    # ---------------------------------------------------------------- Ritz values
    def tridiagonal(self) -> tuple[np.ndarray, np.ndarray]:
        """Lanczos tridiagonal of ``M``: ``a_1..a_k`` and ``b_1..b_k`` (``b_k`` couples to the pending vector).

        Block size 1 only. Views of the record that :meth:`step` appends to (not to be modified).
        """
        nK = self.known
        if self._tri_cols == nK and nK:
            return self._tri[:, 0, :nK], self._tri[:, 1, :nK]
        idx = np.arange(nK)
        a = np.real(self.K[:, idx, idx])
        b = np.zeros_like(a)
        rows = np.minimum(idx + 1, self.K.shape[1] - 1)
        b[:, :] = np.where(idx + 1 < self.K.shape[1], np.abs(self.K[:, rows, idx]), 0.0)
        return a, b

    def ritz(self, need_all: bool = False, need_vector: bool = True):
        """``(theta, None, y, all_theta)``: top Ritz value of ``Â`` (sqrt of that of ``M``), its coordinates.

        ``need_vector=False`` lets an engine before its first restart skip ``y`` (``None``; for block size 1
        without ``need_all`` the top eigenvalue then comes from LAPACK's bisection alone, bitwise the same).
        """
        nK = self.known
        B = self.op.B
        if self.b == 1 and self.restarts == 0 and B <= 8:
            a, b = self.tridiagonal()
            theta, y = np.empty(B), np.empty((B, nK))
            allv = np.empty((B, nK)) if need_all else None
            for i in range(B):
                if need_all:
                    w, vecs = sla.eigh_tridiagonal(a[i], b[i, :-1])
                    allv[i] = np.sqrt(np.maximum(w[::-1], 0.0))
                    theta[i], y[i] = allv[i, 0], vecs[:, -1]
                else:
                    top, vec = top_eigenpair(a[i], b[i, :-1], vector=need_vector)
                    theta[i] = np.sqrt(max(top, 0.0))
                    if need_vector:
                        y[i] = vec
            return theta, None, (y if need_vector or need_all else None), allv
        if self.b > 1 and self.restarts == 0 and B <= 8:
            return self._banded_ritz(need_all, need_vector)
        T = self.K[:, :nK, :nK]
        w, vecs = np.linalg.eigh(0.5 * (T + np.conj(np.swapaxes(T, 1, 2))))
        allv = np.sqrt(np.maximum(w[:, ::-1], 0.0))
        return allv[:, 0], None, vecs[:, :, -1], (allv if need_all else None)

    def _banded_ritz(self, need_all: bool, need_vector: bool):
        """:meth:`ritz` for a block before any restart: the projection is block tridiagonal, a band of ``b``.

        ``M V_new = V_prev C + V_new D + V_next R`` with ``R`` upper triangular, so no entry lies more
        than ``b`` below the diagonal (the coefficients against older blocks are rounding noise, which
        the band drops; :func:`._common.gram_noise` covers it). The top eigenvalue comes from LAPACK's
        band eigensolver without vectors, its vector from two steps of inverse iteration with the banded
        LU factorisation: ``O(k b^2)`` instead of the ``O(k^3)`` of a dense eigensolver.
        """
        nK, b, B = self.known, self.b, self.op.B
        T = self.K[:, :nK, :nK]
        T = 0.5 * (T + np.conj(np.swapaxes(T, 1, 2)))
        w = min(b, nK - 1)
        lower = np.zeros((B, w + 1, nK), dtype=T.dtype)  # LAPACK's lower band storage
        full = np.zeros((B, 2 * w + 1, nK), dtype=T.dtype)  # general band storage for the solver
        for d in range(w + 1):
            lower[:, d, : nK - d] = np.diagonal(T, offset=-d, axis1=1, axis2=2)
            full[:, w + d, : nK - d] = lower[:, d, : nK - d]
            full[:, w - d, d:] = np.diagonal(T, offset=d, axis1=1, axis2=2)
        theta, y = np.empty(B), np.empty((B, nK), dtype=T.dtype)
        allv = np.empty((B, nK)) if need_all else None
        start = np.cos(np.arange(1, nK + 1))  # fixed, not orthogonal to any eigenvector in practice
        for i in range(B):
            if need_all:
                lam = sla.eigvals_banded(lower[i], lower=True)
                allv[i] = np.sqrt(np.maximum(lam[::-1], 0.0))
                top = lam[-1]
            else:
                top = sla.eigvals_banded(lower[i], lower=True, select="i", select_range=(nK - 1, nK - 1))[-1]
            theta[i] = np.sqrt(max(top, 0.0))
            if not need_vector:
                y = None
                continue
            shifted = full[i].copy()
            shifted[w] -= top + (abs(top) + np.max(np.abs(full[i]))) * 1e-13  # just above the top eigenvalue
            ab = np.zeros((3 * w + 1, nK), dtype=T.dtype)  # gbtrf's storage: w extra rows for the fill
            ab[w:] = shifted
            gbtrf, gbtrs = sla.get_lapack_funcs(("gbtrf", "gbtrs"), (ab,))
            lu, piv, _ = gbtrf(ab, w, w)
            v = start.astype(T.dtype)
            with np.errstate(all="ignore"):
                for _ in range(2):
                    v, _ = gbtrs(lu, w, w, v, piv)
                    v = v / np.linalg.norm(v)
            if not np.all(np.isfinite(v)):  # a singular shift (e.g. a zero matrix): the dense solver decides
                v = np.linalg.eigh(T[i])[1][:, -1]
            y[i] = v
        return theta, None, y, allv

    def trace(self) -> np.ndarray:
        """Trace of the projected ``M`` (the sum of its Ritz values ``theta_i^2``), per matrix."""
        nK = self.known
        if self._tri_cols == nK and nK:
            return self._tri[:, 0, :nK].sum(axis=1)
        return np.real(np.trace(self.K[:, :nK, :nK], axis1=1, axis2=2))

    def residual(self, x, y: np.ndarray) -> np.ndarray:
        """``||M V y - theta^2 V y||`` for the Ritz coordinates ``y`` (host, per matrix)."""
        nK = self.known
        if self._tri_cols == nK and nK and y.shape[1] == nK and self.K.shape[1] == nK + 1:
            return np.abs(self._tri[:, 1, nK - 1] * y[:, -1])  # the pending row of K holds only b_k
        rest = self.K[:, self.known :, :]
        return np.linalg.norm(np.einsum("bij,bj->bi", rest, y), axis=1)

    # ---------------------------------------------------------------- vectors and restart
    def singular_vectors(self, x, y: np.ndarray):
        """Right Ritz vector ``V y`` and the left one ``Â V y / ||Â V y||`` (from the images, else one product)."""
        v = self.right_vector(y)
        if self.images is not None:
            w = self._xp.matmul(self.images[..., : y.shape[1]], self.op.from_host(y[:, :, None]))
        else:
            w = self.op.matmat(v)
        nrm = self.op.col_norms(w)[:, 0]
        inv = np.where(nrm > 0, 1.0 / np.where(nrm > 0, nrm, 1.0), 0.0)
        return w * self.op.from_host(inv[:, None, None]), v

    def restart(self, keep: int) -> None:
        """Thick restart: ``V <- [V Y_l, V_pending]``, ``K <- [diag(lambda_l); K_pending Y_l]``.

        The images follow the basis: ``Â V Y_l = images Y_l``.
        """
        xp = self._xp
        nK = self.known
        T = self.K[:, :nK, :nK]
        w, vecs = np.linalg.eigh(0.5 * (T + np.conj(np.swapaxes(T, 1, 2))))
        keep = min(keep, nK)
        Y = vecs[:, :, ::-1][:, :, :keep]
        Yd = self.op.from_host(Y)
        Vk = xp.matmul(self.V[..., :nK], Yd)
        self.V = xp.concat([Vk, self.V[..., nK:]], axis=-1)
        if self._images is not None:
            self._images.array = xp.matmul(self.images, Yd)
        nP = self.K.shape[1] - nK
        K = np.zeros((self.op.B, keep + nP, keep), dtype=self._dtype)
        K[:, np.arange(keep), np.arange(keep)] = w[:, ::-1][:, :keep]
        K[:, keep:, :] = self.K[:, nK:, :] @ Y
        self.K = K
        if self.restarts == 0:
            self.steps_at_restart = self.steps
        self.restarts += 1
