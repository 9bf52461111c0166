"""Generic array-API backend: the primitives every method is written against.

A backend overrides only what it accelerates. Everything here uses the array-API standard through
``array_api_compat`` so it serves NumPy, array-api-strict, PyTorch, JAX and CuPy alike.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import array_api_compat
import array_api_compat.numpy
import numpy as np

__all__ = ["AbsStats", "ArrayAPIBackend"]

_CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class AbsStats:
    """Entry-wise statistics of each matrix of a (scaled) stack, as host float64 arrays of shape ``(B,)``.

    ``fro`` is ``||A||_F``, ``gersh`` is ``sqrt(max_j (|A|^T |A| 1)_j)`` (or the same for ``|A| |A|^T``:
    both bound ``||A||_2^2``; a backend picks the one its memory layout reads in one pass), ``maxcol``/``maxrow`` the
    largest column/row 2-norms, ``p_row``/``p_col`` the largest number of nonzeros in a row/column.
    All are exact up to the rounding of their sums (the callers pad them): relative error at most
    ``gamma_count(u)`` on the sums of squares, with ``u`` the unit roundoff the sums ran in and ``count``
    the longest chain of additions (``None``: any order over all ``m n`` entries).
    """

    fro: np.ndarray
    gersh: np.ndarray
    maxcol: np.ndarray
    maxrow: np.ndarray
    p_row: int
    p_col: int
    u: float = 2.0**-53
    count: int | None = None


class ArrayAPIBackend:
    """Reference implementation of the backend primitives for any array-API namespace."""

    name = "array_api"

    # ------------------------------------------------------------------ products with A
    def matmat(self, A, X):
        """``A @ X`` (batched over leading dimensions)."""
        return array_api_compat.array_namespace(X).matmul(A, X)

    def rmatmat(self, A, Y):
        """``A^H @ Y`` without forming ``A^H``."""
        xp = array_api_compat.array_namespace(Y)
        if not xp.isdtype(A.dtype, "complex floating"):
            return xp.matmul(xp.matrix_transpose(A), Y)
        return xp.conj(xp.matrix_transpose(xp.matmul(xp.matrix_transpose(xp.conj(Y)), A)))

    def gram(self, A, X, inner=None, adjoint: bool = False):
        """``(Y, Z)`` with ``Y = A X`` and ``Z = A^H (c Y)`` (``adjoint``: ``Y = A^H X``, ``Z = A (c Y)``).

        ``c`` (``inner``) is an optional scalar or per-matrix factor on the intermediate. Backends that
        can, compute both in one read of ``A`` (see :meth:`fused_gram_adjoint`).
        """
        first, second = (self.rmatmat, self.matmat) if adjoint else (self.matmat, self.rmatmat)
        Y = first(A, X)
        return Y, second(A, Y if inner is None else Y * inner)

    def context(self, A=None):
        """Context entered around a whole computation on ``A`` (e.g. thread-pool settings); none by default."""
        return contextlib.nullcontext()

    def block_algebra(self):
        """Context around BLAS-3 host work on blocks of vectors inside :meth:`context`; none by default."""
        return contextlib.nullcontext()

    def prepare(self, A, plan):
        """The array the methods run on, made once per call from the validated input (``A`` itself here;
        the Dask backend lays it out in panels and keeps it on the workers)."""
        return A

    def avoid_svd(self, shape: tuple[int, ...]) -> str:
        """Why ``method="auto"`` should not pick the full SVD for a small enough matrix ("" if it may)."""
        return ""

    def wide_product(self, A, X, adjoint: bool):
        """``A X`` (``adjoint``: ``Aᴴ X``) with ``A`` read in float64/complex128 row blocks of about 8 MiB
        (no full copy of ``A``); ``X`` is already wide."""
        xp = array_api_compat.array_namespace(X)
        wide = X.dtype
        parts = []
        offset = 0
        for chunk in _row_chunks(A):
            Ad = xp.astype(chunk, wide)
            r = chunk.shape[-2]
            if adjoint:  # y = A^H x = sum over row blocks of A_blk^H x_blk
                part = self.rmatmat(Ad, X[..., offset : offset + r, :])
                parts = [part] if not parts else [parts[0] + part]
            else:
                parts.append(self.matmat(Ad, X))
            offset += r
        return parts[0] if adjoint else xp.concat(parts, axis=-2)

    def fused_gram_adjoint(self, A) -> bool | None:
        """Which Gram product this backend computes in one read of ``A``: ``False`` for ``A^H A``,
        ``True`` for ``A A^H``, ``None`` when neither is fused (then the smaller side is used)."""
        return None

    def wide_dtype(self, like, complex_: bool):
        """The widest floating dtype the namespace of ``like`` computes in (for accumulations).

        ``float64``/``complex128``, except where double precision is switched off: JAX in its default
        32-bit mode would silently truncate a requested ``float64`` to ``float32`` (with a warning), so
        ``float32``/``complex64`` is returned and the rounding analysis uses its unit roundoff.
        """
        xp = self.dense_namespace(like)
        if array_api_compat.is_jax_array(like) and not _jax_x64_enabled():
            return xp.complex64 if complex_ else xp.float32
        return xp.complex128 if complex_ else xp.float64

    def block(self, A, axis: int, start: int, stop: int):
        """Entries ``start:stop`` of a dense ``A`` along ``axis`` (-2: rows, -1: columns), in the namespace of
        the method's vectors (:meth:`dense_namespace`); ``A`` itself is read, never copied whole."""
        return A[..., :, start:stop] if axis == -1 else A[..., start:stop, :]

    def prepare_input(self, A):
        """The validated input as this backend runs it (e.g. moved through DLPack); ``A`` itself by default."""
        return A

    def vector_namespace(self, A):
        """Array namespace of the vectors multiplied by a sparse matrix or LinearOperator ``A`` (NumPy here)."""
        return array_api_compat.numpy

    def dense_namespace(self, A):
        """Array namespace of the vectors the methods build for a dense ``A`` (the input's own; the Dask
        backend: NumPy, the vectors stay on the client)."""
        return array_api_compat.array_namespace(A)

    # ------------------------------------------------------------------ dense helpers
    def scaled_copy(self, A, c1, c2):
        """``(A c1) c2`` for a dense ``A`` and the operand's power-of-two factors (broadcast over a stack): the
        copy :func:`.methods.svd.run` hands to LAPACK when the entries leave the safe range."""
        return (A * c1) * c2

    def svd(self, A, compute_uv: bool):
        xp = array_api_compat.array_namespace(A)
        if compute_uv:
            return xp.linalg.svd(A, full_matrices=False)
        return xp.linalg.svdvals(A)

    def qr(self, X):
        xp = array_api_compat.array_namespace(X)
        return xp.linalg.qr(X)

    def project_out(self, W, Q, tol: float | None = None):
        """``W - Q (Q^H W)`` twice (classical Gram-Schmidt with one reorthogonalisation) and ``Q^H W``.

        ``Q`` has orthonormal columns; returns the projected ``W`` and the total coefficients ``C``
        (``W_in = Q C + W_out``). With ``tol``, a ``W`` whose first coefficients are all at most ``tol`` is
        already orthogonal to ``Q`` to that level and is returned as it is, with ``C = 0``.
        """
        xp = array_api_compat.array_namespace(W, Q)
        Qh = xp.matrix_transpose(Q)
        if xp.isdtype(Q.dtype, "complex floating"):
            Qh = xp.conj(Qh)  # not for real Q: conj would copy the whole basis
        c1 = xp.matmul(Qh, W)
        if tol is not None and float(np.max(np.abs(self.to_host(c1)))) <= tol:
            return W, xp.zeros_like(c1)
        W = W - xp.matmul(Q, c1)
        c2 = xp.matmul(Qh, W)
        W = W - xp.matmul(Q, c2)
        return W, c1 + c2

    def project_out_unit(self, W, Q, out=None):
        """``(w / ||w||, C, ||w||)`` for ``(w, C) = project_out(W, Q)`` of one host vector, with the norm as a
        host float64 array ``(1,)`` (``w`` stays zero when its norm is), from a backend that does it in one
        step; ``None`` (the default) when it does not, and the caller normalises. ``out`` (a contiguous
        ``(n,)`` array of ``W``'s dtype, e.g. the next row of a basis store) may receive ``w``; the
        returned ``w`` is then its ``(n, 1)`` view."""
        return None

    # ------------------------------------------------------------------ host arithmetic of the Krylov methods
    def christoffel_value(self, a: np.ndarray, b: np.ndarray, lam: float) -> float:
        """``C_k(lam) = sum_{j<=k} p_j(lam)^2`` of the host tridiagonal ``(a, b)`` (docs/bounds.md §3b).

        ``a`` and ``b`` are float64 arrays of length ``k`` (diagonal ``a_1..a_k`` and couplings
        ``b_1..b_k``, all positive), ``lam`` a float; the orthonormal polynomials follow the three-term
        recurrence ``b_j p_j = (lam - a_j) p_(j-1) - b_(j-1) p_(j-2)``, ``p_0 = 1``, in float64, in that
        order. Returns ``inf`` once the partial sum exceeds ``1e250`` (a point far above the root). The
        reference is :func:`spectra._bounds._christoffel_value`; a backend may compile it (the Lanczos
        stopping test evaluates it once per step), with the same operations in the same order.
        """
        from .._bounds import _christoffel_value

        return _christoffel_value(float(lam), a.tolist(), b.tolist())

    # ------------------------------------------------------------------ host transfer
    def to_host(self, x) -> np.ndarray:
        """Copy an array to a host NumPy array (the only synchronisation point)."""
        if isinstance(x, np.ndarray):
            return x
        if array_api_compat.is_torch_array(x):
            from .._host_view import tensor_to_numpy

            return tensor_to_numpy(x)  # bfloat16 (no NumPy dtype) widened exactly to float32
        if array_api_compat.is_cupy_array(x):
            return x.get()
        try:
            return np.asarray(x)
        except Exception:  # pragma: no cover - namespaces without __array__
            return np.from_dlpack(x)

    def from_host(self, x: np.ndarray, like):
        """Host array to the namespace and device of ``like``."""
        xp = array_api_compat.array_namespace(like)
        return xp.asarray(x, device=placement(like))

    # ------------------------------------------------------------------ entry statistics
    def entry_stats(self, A) -> tuple[np.ndarray, AbsStats | None]:
        """``(max_abs(A), abs_stats(A, 1, 1) or None)``: a backend that reads both in one pass returns the
        statistics of the unscaled ``A`` too (the caller uses them where ``A`` needs no scaling); here
        ``None``, and the caller reads ``A`` again for them with its scale."""
        return self.max_abs(A), None

    def max_abs(self, A) -> np.ndarray:
        """Largest ``|a_ij|`` of each matrix, shape ``(B,)`` (NaN if an entry is NaN).

        Complex entries are widened before the modulus: ``|3e38 + 3e38j|`` overflows complex64's float32 but
        not float64. A modulus beyond float64 itself (both parts finite) raises ``ValueError``: the norm is
        not representable.
        """
        xp = array_api_compat.array_namespace(A)
        is_complex = xp.isdtype(A.dtype, "complex floating")
        if is_complex:
            wide = self.wide_dtype(A, True)
            mx = self._chunk_max(A, lambda chunk: xp.abs(xp.astype(chunk, wide, copy=False)))
        else:
            mx = self._chunk_max(A, xp.abs)
        if is_complex and np.any(np.isinf(mx)):  # an infinite part, or a modulus beyond float64 (a second read)
            parts = self._chunk_max(A, lambda c: xp.maximum(xp.abs(xp.real(c)), xp.abs(xp.imag(c))))
            if np.any(np.isinf(mx) & np.isfinite(parts)):
                raise ValueError(
                    "an entry's modulus exceeds float64's range (both parts are finite): the spectral norm is "
                    "not representable; scale A down by a power of two first"
                )
        return mx

    def _chunk_max(self, A, f) -> np.ndarray:
        """``max f(A)`` over each matrix, read in row chunks, as float64 host values ``(B,)``."""
        xp = array_api_compat.array_namespace(A)
        out = [
            np.asarray(self.to_host(xp.max(f(c), axis=(-2, -1))), dtype=np.float64).reshape(-1) for c in _row_chunks(A)
        ]
        return np.max(np.stack(out), axis=0)

    def abs_stats(self, A, c1: np.ndarray, c2: np.ndarray) -> AbsStats:
        """:class:`AbsStats` of ``c1 * c2 * A`` (factors per matrix, host arrays ``(B,)``), in float64."""
        xp = array_api_compat.array_namespace(A)
        batch = tuple(A.shape[:-2])
        m, n = A.shape[-2], A.shape[-1]
        real = self.wide_dtype(A, False)
        wide = self.wide_dtype(A, True) if xp.isdtype(A.dtype, "complex floating") else real
        s1 = xp.astype(self.from_host(c1.reshape((*batch, 1, 1)), A), real)
        s2 = xp.astype(self.from_host(c2.reshape((*batch, 1, 1)), A), real)
        fro2 = colsq = gers = rowsq_max = None
        for chunk in _row_chunks(A):
            a = xp.abs(xp.astype(chunk, wide)) * s1 * s2
            a = xp.astype(a, real)
            r = xp.sum(a, axis=-1, keepdims=True)  # row sums of |A|
            g = xp.matmul(xp.matrix_transpose(a), r)[..., 0]  # contribution to |A|^T |A| 1
            sq = a * a
            rs = xp.max(xp.sum(sq, axis=-1), axis=-1)
            cs = xp.sum(sq, axis=-2)
            fro2 = xp.sum(cs, axis=-1) if fro2 is None else fro2 + xp.sum(cs, axis=-1)
            colsq = cs if colsq is None else colsq + cs
            gers = g if gers is None else gers + g
            rowsq_max = rs if rowsq_max is None else xp.maximum(rowsq_max, rs)
        B = int(np.prod(batch)) if batch else 1
        if fro2 is None:  # m == 0
            z = np.zeros(B)
            return AbsStats(z, z, z, z, 0, 0)

        def host(x):
            return np.asarray(self.to_host(x), dtype=np.float64).reshape(B, -1)

        return AbsStats(
            fro=np.sqrt(host(fro2)[:, 0]),
            gersh=np.sqrt(np.max(host(gers), axis=1)) if n else np.zeros(B),
            maxcol=np.sqrt(np.max(host(colsq), axis=1)) if n else np.zeros(B),
            maxrow=np.sqrt(host(rowsq_max)[:, 0]),
            p_row=n,
            p_col=m,
            # sums along rows, then columns, then over the row blocks: chains of at most 2(m + n) + 4 terms
            u=float(np.finfo(namespace_dtype_name(real)).eps) / 2.0,
            count=2 * (m + n) + 4,
        )


def rows_view(A, dtypes) -> tuple[Any, bool] | None:
    """``(C-ordered 2-D view, transposed?)`` of a non-empty C- or F-contiguous matrix with a dtype in ``dtypes``.

    This is what the one-read kernels (numba, CUDA) read in place; ``None`` for any other array.
    """
    if A.ndim != 2 or A.dtype not in dtypes or A.size == 0:
        return None
    if A.flags.c_contiguous:
        return A, False
    if A.flags.f_contiguous:
        return A.T, True
    return None


def _row_chunks(A):
    """Row blocks of about 8 MiB (per matrix of the stack) so temporaries stay small."""
    m, n = A.shape[-2], A.shape[-1]
    itemsize = np.dtype(namespace_dtype_name(A.dtype)).itemsize
    batch = int(np.prod(A.shape[:-2])) if A.ndim > 2 else 1
    rows = max(1, _CHUNK_BYTES // max(1, n * itemsize * batch))
    for i0 in range(0, m, rows):
        yield A[..., i0 : min(m, i0 + rows), :]


def placement(like: Any):
    """The device for new arrays beside ``like``: its device, or ``None`` for a JAX array spread over several
    devices, whose sharding a small array (a factor, a statistic) cannot take: JAX then makes it on its default
    device and broadcasts it onto the shards."""
    if array_api_compat.is_jax_array(like) and len(like.devices()) > 1:
        return None
    return array_api_compat.device(like)


def namespace_dtype_name(dtype: Any) -> str:
    """Canonical name (``"float32"``...) of a dtype of any namespace."""
    if isinstance(dtype, np.dtype):
        return dtype.name
    return str(dtype).split(".")[-1].strip("'\">) ")


def _jax_x64_enabled() -> bool:
    import jax  # only reached for a JAX array, so JAX is already imported

    return bool(jax.config.jax_enable_x64)
