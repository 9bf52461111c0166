"""NumPy/SciPy backend: dense NumPy arrays, every ``scipy.sparse`` format and ``LinearOperator``.

Dense arrays use the generic array-API primitives (BLAS through NumPy); this module adds what only
SciPy objects need. Sparse matrices are never densified.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from .._linop import NonFiniteProduct
from ._base import AbsStats, ArrayAPIBackend
from ._gram_schmidt import project_vector

__all__ = ["NumPyBackend"]


#: products with an operand of fewer entries (or nonzeros) than this run on one BLAS thread: below it the
#: threads' hand-offs and spinning cost more than they gain (measured in docs/performance.md)
BLAS_ONE_THREAD_BELOW = 2_000_000
#: dense arrays of fewer entries than this are left alone: OpenBLAS runs level-2 calls below ``m n = 9216`` and
#: level-3 calls below ``m n k = 262144`` on one thread by itself, so the limit would change nothing, and entering
#: and leaving it is a fifth of a 10 x 10 norm's time (docs/performance.md, "Small matrices in a loop")
BLAS_UNTOUCHED_BELOW = 4096


class NumPyBackend(ArrayAPIBackend):
    """Reference backend for NumPy arrays, SciPy sparse arrays/matrices and LinearOperators."""

    name = "numpy"

    def context(self, A=None):
        """One BLAS thread for problems below :data:`BLAS_ONE_THREAD_BELOW` entries (a ``LinearOperator``
        counts ``m n``), BLAS's own thread count otherwise; dense arrays below :data:`BLAS_UNTOUCHED_BELOW`
        entries, which BLAS keeps on one thread by itself, are left as they are."""
        if A is None:
            return super().context(A)
        entries = A.nnz if sp.issparse(A) else int(np.prod(A.shape, dtype=np.float64))
        if entries >= BLAS_ONE_THREAD_BELOW or (isinstance(A, np.ndarray) and entries < BLAS_UNTOUCHED_BELOW):
            return super().context(A)
        from ._threads import one_blas_thread

        return one_blas_thread()

    def matmat(self, A, X):
        if isinstance(A, LinearOperator):
            return operator_product(A.matmat, X, A.shape[0])
        if sp.issparse(A):
            return A @ X
        return np.matmul(A, X)

    def rmatmat(self, A, Y):
        if isinstance(A, LinearOperator):  # a spectra._linop.WorkingOperator: it explains failures itself
            return operator_product(A.rmatmat, Y, A.shape[1])
        if sp.issparse(A):
            # A.T is a free re-interpretation (CSR <-> CSC); conjugate the small side only
            if np.iscomplexobj(A):
                return (A.T @ Y.conj()).conj()
            return A.T @ Y
        At = np.swapaxes(A, -1, -2)
        if np.iscomplexobj(A):
            return np.matmul(Y.conj().swapaxes(-1, -2), A).conj().swapaxes(-1, -2)
        return np.matmul(At, Y)

    def project_out(self, W, Q, tol: float | None = None):
        """One vector against a host basis of at least two columns: two reads of the basis where CGS2 takes
        four (:mod:`._gram_schmidt`); blocks, ``tol`` and batches: the generic CGS2."""
        if (
            tol is None
            and isinstance(W, np.ndarray)
            and isinstance(Q, np.ndarray)
            and W.ndim == Q.ndim == 2
            and W.shape[1] == 1
            and Q.shape[1] >= 2
        ):
            return project_vector(W, Q)
        return super().project_out(W, Q, tol)

    def svd(self, A, compute_uv: bool):
        if compute_uv:
            return np.linalg.svd(A, full_matrices=False)
        return np.linalg.svd(A, compute_uv=False)

    def qr(self, X):
        return np.linalg.qr(X)

    def from_host(self, x, like):
        return np.asarray(x)

    def max_abs(self, A) -> np.ndarray:
        if sp.issparse(A):
            data = A.data
            if np.iscomplexobj(data) and data.size:  # the dense rule (NumpyBackend.max_abs of the base class)
                return super().max_abs(data.reshape(1, -1))
            return np.array([float(np.max(np.abs(data))) if data.size else 0.0])
        return super().max_abs(A)

    def abs_stats(self, A, c1: np.ndarray, c2: np.ndarray) -> AbsStats:
        if not sp.issparse(A):
            return super().abs_stats(A, c1, c2)
        # complex entries are widened before the modulus: |a| in complex64 carries float32 rounding (bounds.md §6e)
        a = abs(A.astype(np.complex128) if np.iscomplexobj(A) else A).astype(np.float64) * float(c1[0]) * float(c2[0])
        a = sp.csr_array(a)
        m, n = a.shape
        r = a @ np.ones(n)
        sq = a.multiply(a)
        nnz_rows = np.diff(a.indptr)
        nnz_cols = np.bincount(a.indices, minlength=n) if n else np.zeros(0, dtype=int)

        def top(x):
            return float(np.max(x)) if x.size else 0.0

        return AbsStats(
            fro=np.array([np.sqrt(float(sq.sum()))]),
            gersh=np.array([np.sqrt(top(a.T @ r))]),
            maxcol=np.array([np.sqrt(top(sq.T @ np.ones(m)))]),
            maxrow=np.array([np.sqrt(top(sq @ np.ones(n)))]),
            p_row=int(top(nnz_rows)),
            p_col=int(top(nnz_cols)),
        )


def operator_product(f, X, out_rows, asarray=np.asarray):
    """Apply a LinearOperator's matmat to a ``(n, k)`` block (``asarray``: to the namespace of ``X``), checking
    what it returns: its shape, and that it is finite (:class:`spectra._linop.NonFiniteProduct`, at whichever
    product NaN or Inf first appears; ``spectra.norm`` turns it into the undefined result under
    ``check_finite=False``)."""
    Y = asarray(f(X))
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.shape != (out_rows, X.shape[1]):
        raise ValueError(f"the LinearOperator returned an array of shape {Y.shape}, expected {(out_rows, X.shape[1])}")
    if not bool(np.isfinite(Y).all()):  # CuPy arrays: np.isfinite dispatches to CuPy
        raise NonFiniteProduct()
    return Y
