"""State and Gram-Schmidt helpers of the Krylov engines (:mod:`._gram_lanczos`)."""

from __future__ import annotations

import numpy as np

from .._operand import Operand

__all__ = ["ColumnStore", "KrylovBasis"]

#: rows a column store starts with (it doubles when full) ...
FIRST_ROWS = 64
#: ... unless its whole limit fits in this many bytes: then the limit is reserved at once. The pages are
#: only committed when written, and no growth copies the stored columns again.
RESERVE_BYTES = 1 << 30
#: rows of the source copied at a time when a block is transposed into the store (cache-sized chunks)
_CHUNK = 4096


class ColumnStore:
    """Columns ``batch + (n, k)`` appended over time, e.g. a Krylov basis.

    On NumPy the columns are the rows of a buffer, appended in place instead of copying every column at
    each append. The buffer reserves ``limit`` rows when they fit in :data:`RESERVE_BYTES`; otherwise it
    starts with :data:`FIRST_ROWS` and doubles when full, up to ``limit``, so it never holds much more
    than the columns stored. Other namespaces concatenate.
    """

    def __init__(self, first, limit: int, xp):
        self._xp, self._limit = xp, limit
        self._rows = None
        if isinstance(first, np.ndarray):
            whole = limit * first.size // max(first.shape[-1], 1) * first.dtype.itemsize
            rows = limit if whole <= RESERVE_BYTES else min(limit, max(FIRST_ROWS, first.shape[-1]))
            self._rows = np.empty((*first.shape[:-2], rows, first.shape[-2]), first.dtype)
        self.array = first

    @property
    def array(self):
        """The columns ``batch + (n, k)``: a view of the row buffer on NumPy."""
        if self._rows is None:
            return self._cols
        return np.swapaxes(self._rows[..., : self._k, :], -1, -2)

    @array.setter
    def array(self, value) -> None:
        if self._rows is None:
            self._cols = value
            return
        self._k = 0
        self.append(value)

    def _reserve(self, new: int) -> None:
        """Room for ``new`` more rows (the buffer doubled when full)."""
        cap = self._rows.shape[-2]
        if self._k + new > cap:
            rows = min(max(2 * cap, self._k + new), max(self._limit, self._k + new))
            grown = np.empty((*self._rows.shape[:-2], rows, self._rows.shape[-1]), dtype=self._rows.dtype)
            grown[..., : self._k, :] = self._rows[..., : self._k, :]
            self._rows = grown

    def slot(self):
        """The row the next single column will occupy (``(n,)``, writable) for a NumPy store of one matrix,
        else ``None``. A column computed into it is appended without a copy."""
        if self._rows is None or self._rows.ndim != 2:
            return None
        self._reserve(1)
        return self._rows[self._k]

    def append(self, w) -> None:
        if self._rows is None:
            self._cols = self._xp.concat([self._cols, w], axis=-1)
            return
        new = w.shape[-1]
        self._reserve(new)
        dest = self._rows[..., self._k : self._k + new, :]
        if new == 1 and dest.ctypes.data == w.ctypes.data and dest.strides[-1] == w.strides[-2]:
            self._k += 1  # computed in place (:meth:`slot`): copying it onto itself would change nothing
            return
        step = max(w.shape[-2], 1) if new == 1 else _CHUNK  # one column is a plain copy
        for i in range(0, w.shape[-2], step):  # a transposing copy in cache-sized chunks (3x faster)
            dest[..., i : i + step] = np.swapaxes(w[..., i : i + step, :], -1, -2)
        self._k += new


class KrylovBasis:
    """State and Gram-Schmidt helpers shared by the Krylov engines (one per batch of matrices)."""

    def __init__(self, op: Operand, V1, max_basis: int):
        self.op = op
        self.b = V1.shape[-1]
        self.V = V1
        self.steps = 0
        self.restarts = 0
        #: steps taken when the basis was first restarted (``None``: never), after which the bounds that need the
        #: unrestarted recurrence are frozen (docs/bounds.md §8)
        self.steps_at_restart: int | None = None
        self.n_pending = self.b
        #: the right basis spans the whole space: the projection is A itself (exact Ritz values)
        self.exhausted = False
        #: per matrix, once exhausted: its basis is orthonormal on the whole space. A matrix whose Krylov space
        #: broke down earlier is not: its vectors beyond the invariant subspace are normalised rounding noise
        #: with zeroed projections, so its projection is not ``A`` and its Ritz values are not exact.
        self.spans = np.zeros(op.B, dtype=bool)
        self.max_basis = max(max_basis, 3 * self.b)
        self.breakdown = np.zeros(op.B, dtype=bool)
        self._xp = op.xp
        self._dtype = np.complex128 if op.is_complex else np.float64

    def right_vector(self, y: np.ndarray):
        """Device ``V[:, :k] y`` (``batch + (n, 1)``) for host coordinates ``y`` ``(B, k)``."""
        k = y.shape[1]
        return self._xp.matmul(self.V[..., :k], self.op.from_host(y[:, :, None]))

    def full(self) -> bool:
        """Would the next step grow the basis past ``max_basis``? (It adds ``min(b, n - nV)`` vectors: none
        once the basis spans the whole space, where the next step makes the projection exact.)"""
        nV = self.V.shape[-1]
        return not self.exhausted and nV + min(self.b, self.op.n - nV) > self.max_basis

    # ---------------------------------------------------------------- linear algebra helpers
    def _project_out(self, W, Q, tol: float | None = None):
        """``W - Q (Q^H W)`` twice (classical Gram-Schmidt with one reorthogonalisation); coefficients."""
        if Q is None:
            return W, None
        return self.op.backend.project_out(W, Q, tol)

    def _orthonormalise(self, W, Q, cols: int, out=None):
        """Orthonormal basis of ``W`` against ``Q``: ``W = Q C + W_new R``; returns (W_new, C, R) with R on host.

        Only ``cols`` new directions are kept: when the complement of ``Q`` has fewer dimensions than
        ``W`` has columns, the rest is rounding noise. A single host vector may be written into ``out``
        (see :meth:`~spectra.backends._base.ArrayAPIBackend.project_out_unit`).
        """
        op, xp = self.op, self._xp
        fused = op.backend.project_out_unit(W, Q, out) if Q is not None and op.B == 1 and W.ndim == 2 else None
        if fused is not None:  # projected and normalised in one backend call
            Wn, C, r = fused
            op.check_norms(r)
            return Wn, C[None], r[:, None, None]
        W, C = self._project_out(W, Q)
        if W.shape[-1] == 1 and isinstance(W, np.ndarray) and isinstance(C, np.ndarray):  # already on the host
            r_dev = np.linalg.norm(W, axis=-2, keepdims=True)
            r = r_dev.reshape(op.B).astype(np.float64)
            op.check_norms(r)
            inv = np.divide(1.0, r_dev, out=np.zeros_like(r_dev), where=r_dev > 0)
            return W * inv, C.reshape((op.B, *C.shape[-2:])), r[:, None, None]
        if W.shape[-1] == 1:  # coefficients and norm cross to the host in one transfer
            r_dev = xp.linalg.vector_norm(W, axis=-2, keepdims=True)
            both = op.host_batch(xp.concat([C, xp.astype(r_dev, C.dtype)], axis=-2))
            C, r = both[:, :-1, :], np.real(both[:, -1, 0]).astype(np.float64)
            op.check_norms(r)
            return W * op.inverse(r_dev), C, r[:, None, None]
        return self._block_qr(W, C, Q, cols)

    def _block_qr(self, W, C, Q, cols: int):
        """``W = Q C + W_new R`` for a projected block: Householder QR twice, one transfer (docs/design.md).

        ``W = Wn1 R1`` (the backend's QR), then ``Wn1 = Q C2 + Wn R2`` (Gram-Schmidt and QR again). The
        second round is what makes a rank-deficient block safe: QR completes its missing directions with
        arbitrary unit vectors, which need orthogonalising against ``Q``; for a full-rank block it changes
        ``Wn1`` only at the rounding level. No step needs a host decision, so the coefficients of both
        rounds and both triangular factors cross to the host together: ``C + C2 R1`` and ``R2 R1``.
        """
        op, xp = self.op, self._xp
        Wn1, R1 = op.backend.qr(W)
        Wn1, C2 = self._project_out(Wn1, Q)
        Wn, R2 = op.backend.qr(Wn1)
        b, k = W.shape[-1], R1.shape[-2]  # k = min(n, b) rows of the reduced factors
        R2 = xp.concat([R2, xp.zeros((*R2.shape[:-1], b - k), dtype=R2.dtype)], axis=-1) if k < b else R2
        C2 = xp.concat([C2, xp.zeros((*C2.shape[:-1], b - k), dtype=C2.dtype)], axis=-1) if k < b else C2
        parts = [R1, R2] if C is None else [C, C2, R1, R2]
        host = op.host_batch(xp.concat([xp.astype(p, W.dtype) for p in parts], axis=-2)).astype(self._dtype)
        R1h, R2h = host[:, -2 * k : -k, :], host[:, -k:, :k]
        R = R2h @ R1h
        if C is not None:
            nQ = (host.shape[1] - 2 * k) // 2
            C = host[:, :nQ, :] + host[:, nQ : 2 * nQ, :k] @ R1h
        op.check_norms(host)
        return Wn[..., :cols], C, R[:, :cols, :]
