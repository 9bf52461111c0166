"""Global Lanczos (Lanczos in the Frobenius inner product on blocks) in the coordinates of a block Krylov basis.

The block Krylov space ``span{Omega, M Omega, ..., M^(k-1) Omega}`` of :class:`._gram_lanczos.GramLanczos`
contains every block ``q(M) Omega`` for a scalar polynomial ``q`` of degree ``< k``. The blocks
``P_j = p_j(M) Omega / ||Omega||_F`` that are orthonormal in ``<X, Y> = tr(X^H Y)`` obey a three-term
recurrence ``b_j P_j = (M - a_j) P_(j-1) - b_(j-1) P_(j-2)`` whose tridiagonal defines the Christoffel
bound of docs/bounds.md §4d. No product with ``A`` is needed: with ``M V_known = V K`` (the engine's
projection) a block ``V c`` of the known space has ``M V c = V (K c)``, and the Frobenius inner product of
two blocks is that of their coordinates (``V`` has orthonormal columns). All work is on the host, on
arrays of ``(kb) x b`` coordinates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GlobalLanczos"]


def _inner(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``tr(x^H y)`` per matrix of the batch (``(B, n, b)`` each)."""
    return np.einsum("bij,bij->b", np.conj(x), y)


class GlobalLanczos:
    """Tridiagonal of global Lanczos on ``M`` from the start block ``Omega = V_1 c0``, one step per block pass.

    Parameters
    ----------
    c0 : numpy.ndarray
        ``(B, b, b)`` coordinates of ``Omega`` in the first basis block (the ``R`` of its QR factorisation).
    """

    def __init__(self, c0: np.ndarray):
        self.norm = np.linalg.norm(c0.reshape(c0.shape[0], -1), axis=1)  # ||Omega||_F per matrix
        first = c0 / np.where(self.norm > 0, self.norm, 1.0)[:, None, None]
        self._blocks = first[:, None, :, :]  # (B, j, rows, b): the orthonormal blocks P_0 .. P_(j-1)
        self._a: list[np.ndarray] = []
        self._b: list[np.ndarray] = []

    @property
    def steps(self) -> int:
        return len(self._a)

    def extend(self, K: np.ndarray) -> None:
        """One step with the engine's projection ``K`` (``(B, nV, nK)``, ``M V_known = V K``).

        The newest block ``P_(k-1)`` lies in the known space (its rows beyond ``nK`` are zero); its image
        ``K c`` lies in the whole basis. Full reorthogonalisation (twice) against the earlier blocks keeps
        the computed tridiagonal that of an orthonormal system, as the engine's full reorthogonalisation
        does for the vectors themselves.
        """
        nV, nK = K.shape[1], K.shape[2]
        P = self._blocks
        if P.shape[2] < nV:
            grown = np.zeros((*P.shape[:2], nV, P.shape[3]), dtype=np.result_type(P, K))
            grown[:, :, : P.shape[2], :] = P
            P = grown
        c = P[:, -1]
        w = K @ c[:, :nK, :]
        a = np.real(_inner(c, w))
        w = w - a[:, None, None] * c
        for _ in range(2):
            w = w - np.einsum("bjik,bj->bik", P, np.einsum("bjik,bik->bj", np.conj(P), w))
        b = np.sqrt(np.maximum(np.real(_inner(w, w)), 0.0))
        self._a.append(a)
        self._b.append(b)
        nxt = w / np.where(b > 0, b, 1.0)[:, None, None]
        self._blocks = np.concatenate([P, nxt[:, None]], axis=1)

    def tridiagonal(self) -> tuple[np.ndarray, np.ndarray]:
        """Diagonal ``a`` and off-diagonal ``b`` (``(B, k)`` each; ``b_k`` couples to the next block)."""
        return np.stack(self._a, axis=1), np.stack(self._b, axis=1)
