"""Gram-Schmidt of one host vector against a long orthonormal basis, in two reads of the basis.

Classical Gram-Schmidt with one reorthogonalisation (CGS2, :meth:`ArrayAPIBackend.project_out`) reads the
basis ``Q`` four times: two products with ``Q^H`` and two with ``Q``. For a basis of ``k`` vectors of
length ``n`` that is ``4 k n`` entries per step, memory bound, and for sparse matrices it costs as much as
the product with ``A`` itself (docs/performance.md). The Krylov engines' new vector ``w = M v_k`` lies,
up to rounding, in the span of the last two basis vectors and one new direction; so:

1. ``w`` is first orthogonalised against the last two columns of ``Q`` (two short products);
2. then once against all of ``Q`` (classical Gram-Schmidt, two reads);
3. a second full pass follows only when that pass cancelled more than ``1 - 1/sqrt(2)`` of the norm —
   the criterion of Daniel, Gragg, Kaufman and Stewart (Math. Comp. 30, 1976), as in ARPACK (``0.717``).

When the test passes, the computed ``Q^H w`` is at most a modest multiple of the unit roundoff times
``||w||`` (the error of one classical pass is relative to the norm of its input, which the test bounds by
``sqrt(2)`` times that of its output), i.e. orthogonality to working precision, the level CGS2 guarantees and
the rounding model of docs/bounds.md §6e assumes. The coefficients returned are the sum over all passes,
so ``W_in = Q C + W_out`` holds as for CGS2.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DGKS_ETA", "project_vector"]

#: a second full pass when ``||w after|| < DGKS_ETA ||w before||`` (Daniel et al. 1976)
DGKS_ETA = 1.0 / math.sqrt(2.0)


def _coefficients(Q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``Q^H w`` without conjugating (copying) the basis."""
    return np.conj(np.conj(w) @ Q) if np.iscomplexobj(Q) else w @ Q


def project_vector(W: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(W_out, C)`` with ``W_out`` orthogonal to ``Q`` to working precision and ``W = Q C + W_out``.

    ``W`` is ``(n, 1)``, ``Q`` is ``(n, k)`` with orthonormal columns and ``k >= 2``.
    """
    w = W[:, 0]
    C = np.zeros(Q.shape[1], dtype=np.result_type(W, Q))
    local = Q[:, -2:]
    c = _coefficients(local, w)
    w = w - local @ c
    C[-2:] = c
    before = np.linalg.norm(w)
    c = _coefficients(Q, w)
    w = w - Q @ c
    C += c
    if np.linalg.norm(w) < DGKS_ETA * before:  # cancellation: the pass left rounding errors of size u ||before||
        c = _coefficients(Q, w)
        w = w - Q @ c
        C += c
    return w[:, None], C[:, None]
