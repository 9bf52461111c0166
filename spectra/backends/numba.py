"""Numba backend: the Gram product ``A^H (A x)`` (or ``A (A^H x)``) in ONE read of ``A``.

Overrides only what it accelerates (:meth:`gram` for dense 2-D arrays, stacks and CSR/CSC matrices);
everything else is the NumPy/SciPy reference. Which side is fused follows the memory layout:

===============  ==========================  =====================================
input            one-read Gram product       kernel
===============  ==========================  =====================================
C-ordered dense  ``A^H A``                    rows of ``A``
F-ordered dense  ``A A^H``                    rows of ``A^T`` (columns of ``A``)
C-ordered stack  ``A^H A`` per matrix         one matrix per task
CSR              ``A^H A``                    rows of ``A``
CSC              ``A A^H``                    rows of ``A^T``
===============  ==========================  =====================================

The methods then start on that side, even when it is the larger one: one read of ``A`` per step beats
two. Non-contiguous arrays were made contiguous once by the validation (documented in docs/design.md).
While it runs, BLAS is limited to one thread (threadpoolctl): OpenBLAS's idle threads spin and would
otherwise take the cores from the Numba workers.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from . import _numba_kernels as kernels
from .numpy import NumPyBackend

__all__ = ["NumbaBackend"]

_KERNEL_DTYPES = {np.dtype(t) for t in ("float32", "float64", "complex64", "complex128")}


def _blocks(rows: int) -> int:
    return max(1, min(rows, numba.get_num_threads() * 4))


class NumbaBackend(NumPyBackend):
    """Fused one-read Gram kernels for NumPy arrays and CSR/CSC matrices."""

    name = "numba"

    def context(self):
        return threadpool_limits(limits=1, user_api="blas")

    def fused_gram_adjoint(self, A) -> bool | None:
        if sp.issparse(A):
            return {"csr": False, "csc": True}.get(A.format)
        if not isinstance(A, np.ndarray) or A.dtype not in _KERNEL_DTYPES or A.size == 0:
            return None
        if A.flags.c_contiguous:
            return False
        if A.ndim == 2 and A.flags.f_contiguous:
            return True
        return None

    def gram(self, A, X, inner=None, adjoint: bool = False):
        fused = self.fused_gram_adjoint(A)
        if fused is None or fused != adjoint or not isinstance(X, np.ndarray):
            return super().gram(A, X, inner, adjoint)
        real = np.empty(0, dtype=A.dtype).real.dtype
        if adjoint:  # A (A^H X) = conj(B conj(X)) route with B = A^T, C-ordered (see the kernel module)
            Y, Z = self._row_gram(_transpose_view(A), np.conj(X) if np.iscomplexobj(A) else X, inner, real)
            return (np.conj(Y), np.conj(Z)) if np.iscomplexobj(A) else (Y, Z)
        return self._row_gram(A, X, inner, real)

    def _row_gram(self, B, X, inner, real):
        X = np.ascontiguousarray(X, dtype=B.dtype)
        if isinstance(B, np.ndarray) and B.ndim >= 3:
            shape = B.shape
            B3 = B.reshape(-1, shape[-2], shape[-1])
            X3 = X.reshape(-1, X.shape[-2], X.shape[-1])
            c = (
                np.ones(B3.shape[0], dtype=real)
                if inner is None
                else np.broadcast_to(np.asarray(inner, dtype=real).reshape(-1), (B3.shape[0],)).copy()
            )
            Y = np.empty((B3.shape[0], shape[-2], X.shape[-1]), dtype=B.dtype)
            Z = np.empty((B3.shape[0], shape[-1], X.shape[-1]), dtype=B.dtype)
            kernels.dense_gram_batched(B3, X3, c, Y, Z)
            return Y.reshape(shape[:-2] + Y.shape[1:]), Z.reshape(shape[:-2] + Z.shape[1:])
        c = real.type(1) if inner is None else real.type(np.asarray(inner).reshape(-1)[0])
        if sp.issparse(B):
            m, n = B.shape
            Y = np.empty((m, X.shape[1]), dtype=B.dtype)
            Z = np.empty((n, X.shape[1]), dtype=B.dtype)
            kernels.csr_gram(
                B.indptr.astype(np.int32, copy=False),
                B.indices.astype(np.int32, copy=False),
                B.data,
                n,
                X,
                c,
                Y,
                Z,
                _blocks(m),
            )
            return Y, Z
        m, n = B.shape
        Y = np.empty((m, X.shape[1]), dtype=B.dtype)
        Z = np.empty((n, X.shape[1]), dtype=B.dtype)
        kernels.dense_gram(B, X, c, Y, Z, _blocks(m))
        return Y, Z


def _transpose_view(A):
    """``A^T`` as a C-ordered object without copying (F-ordered array or CSC matrix)."""
    if sp.issparse(A):
        return sp.csr_array((A.data, A.indices, A.indptr), shape=(A.shape[1], A.shape[0]))
    return A.T
