"""CuPy backend: every method on an NVIDIA GPU, the Gram pass ``A^H (A X)`` fused in one read of ``A``.

Overrides only primitives; the methods run unchanged. What it adds over the generic array-API
reference (which already runs CuPy arrays through cuBLAS/cuSOLVER):

===========================  =======================================================================
input                        Gram product ``gram``
===========================  =======================================================================
C-ordered 2-D array          ``A^H A`` fused (``gram_rows_k{k}``, k = 1..16), when the block's ``n x k``
                             accumulator fits in shared memory; else two cuBLAS products
F-ordered 2-D array          ``A A^H`` fused on the C-ordered view ``A^T`` (the same kernel)
C-ordered stack              ``A^H A`` per matrix, one thread block per matrix (``gram_stack``) when a
                             matrix fits in shared memory
``cupyx.scipy.sparse``       two cuSPARSE products (``A @ X`` and ``A^T @ Y``; CSR and CSC transpose for
CSR/CSC, ``LinearOperator``  free); the operator's own ``matmat``/``rmatmat``
===========================  =======================================================================

A fused sparse pass was not written: its scatter ``z_j += conj(a_ij) y_i`` needs either atomics
(results would depend on scheduling) or one ``n x k`` partial per block (more traffic than the
``nnz`` it saves unless ``nnz >> n x blocks``); cuSPARSE's two products read the ``nnz`` twice instead.

Entry statistics (``max_abs``, ``abs_stats``) of a 2-D array are one read each (``max_abs`` and
``abs_stats_rows``). ``svd`` is cuSOLVER through ``cupy.linalg.svd`` (batched for stacks), with the same
rounding interval as on the host.

Non-contiguous CuPy arrays follow the NumPy rule: the kernels read C- or F-contiguous 2-D arrays and
C-contiguous stacks in place; any other strides go through cuBLAS, which handles them by its own
copies. Torch CUDA tensors and JAX GPU arrays are taken through DLPack (no copy) when
``backend="cupy"`` is asked for.

Host synchronisation happens only in :meth:`to_host` (and the entry statistics, once per call of
:func:`spectra.norm`); the kernels take the inner factor ``c`` from device memory.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import cupy
import numpy as np

from .._errors import BackendUnavailableError
from . import _cuda_kernels as src
from . import _cuda_launch as launch
from . import _cuda_stack_kernels as stack_src
from ._base import AbsStats, ArrayAPIBackend, rows_view
from ._device_types import is_cupy_operator, is_cupy_sparse, is_foreign_gpu_array
from .numpy import operator_product

__all__ = ["CuPyBackend"]

_KERNEL_DTYPES = {np.dtype(t) for t in src.DTYPES}


@functools.cache
def _module(dtype: str, kernels=src):
    """The compiled kernel module of one dtype (CuPy caches the binary on disk as well)."""
    return cupy.RawModule(code=kernels.source(dtype), options=kernels.COMPILE_OPTIONS)


def _kernel(dtype: np.dtype, name: str, shared_bytes: int = 0, kernels=src):
    """Entry point ``name`` of the ``kernels`` module for ``dtype``, loaded on the current device."""
    kern = _module(dtype.name, kernels).get_function(name)
    if shared_bytes > 48 * 1024 and kern.max_dynamic_shared_size_bytes < shared_bytes:
        kern.max_dynamic_shared_size_bytes = shared_bytes  # opt in beyond the default 48 KiB
    return kern


@functools.cache
def _device_facts(device_id: int) -> tuple[int, int]:
    """(multiprocessors, shared memory per block with opt-in) of a device."""
    rt = cupy.cuda.runtime
    return (
        int(rt.deviceGetAttribute(rt.cudaDevAttrMultiProcessorCount, device_id)),
        int(rt.deviceGetAttribute(rt.cudaDevAttrMaxSharedMemoryPerBlockOptin, device_id)),
    )


def _i64(x: int) -> np.int64:
    return np.int64(x)


def _on(A):
    """The device that holds ``A`` as the current device (kernels and allocations go there), if ``A`` is a
    CuPy array; otherwise a context that changes nothing."""
    dev = getattr(A, "device", None)
    return cupy.cuda.Device(dev.id) if isinstance(A, cupy.ndarray) else contextlib.nullcontext()


def _on_input_device(method):
    """Run a primitive with the device of its first argument (the array ``A``) current."""

    @functools.wraps(method)
    def wrapper(self, A, *args, **kwargs):
        with _on(A):
            return method(self, A, *args, **kwargs)

    return wrapper


class CuPyBackend(ArrayAPIBackend):
    """CuPy arrays, ``cupyx.scipy.sparse`` matrices and ``cupyx`` LinearOperators on one GPU."""

    name = "cupy"

    def __init__(self) -> None:
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except cupy.cuda.runtime.CUDARuntimeError as exc:
            raise BackendUnavailableError(
                f"backend='cupy': CuPy is installed, but no usable NVIDIA GPU was found ({exc})"
            ) from exc
        if count == 0:
            raise BackendUnavailableError("backend='cupy': CuPy is installed, but no NVIDIA GPU was found")

    # ------------------------------------------------------------------ inputs and namespaces
    def context(self, A=None):
        """The input's device is the current device for the whole computation (multi-GPU: not device 0)."""
        return _on(A)

    def prepare_input(self, A: Any) -> Any:
        """A torch CUDA tensor or JAX GPU array as a CuPy array sharing its memory (DLPack); else ``A``."""
        if is_foreign_gpu_array(A):
            return cupy.from_dlpack(A)
        return A

    def vector_namespace(self, A: Any):
        import array_api_compat.cupy

        return array_api_compat.cupy

    # ------------------------------------------------------------------ products with A
    @_on_input_device
    def matmat(self, A, X):
        if is_cupy_operator(A):
            return operator_product(A.matmat, X, A.shape[0], cupy.asarray)
        if is_cupy_sparse(A):
            return A @ X
        return super().matmat(A, X)

    @_on_input_device
    def rmatmat(self, A, Y):
        if is_cupy_operator(A):
            return operator_product(A.rmatmat, Y, A.shape[1], cupy.asarray)
        if is_cupy_sparse(A):  # A.T is a free re-interpretation (CSR <-> CSC); conjugate the small side only
            if A.dtype.kind == "c":
                return (A.T @ Y.conj()).conj()
            return A.T @ Y
        return super().rmatmat(A, Y)

    def fused_gram_adjoint(self, A) -> bool | None:
        if not isinstance(A, cupy.ndarray) or A.dtype not in _KERNEL_DTYPES or A.size == 0:
            return None
        sm, shared = _device_facts(A.device.id)
        if A.ndim == 2 and A.flags.c_contiguous:
            return False if launch.rows_launch(*A.shape, 1, A.itemsize, sm, shared) else None
        if A.ndim == 2 and A.flags.f_contiguous:
            return True if launch.rows_launch(A.shape[1], A.shape[0], 1, A.itemsize, sm, shared) else None
        if A.ndim > 2 and A.flags.c_contiguous:
            batch = A.size // (A.shape[-2] * A.shape[-1])
            fits = launch.stack_launches(batch, A.shape[-2], A.shape[-1], 1, A.itemsize, shared)
            return False if fits else None
        return None

    @_on_input_device
    def gram(self, A, X, inner=None, adjoint: bool = False):
        fused = self.fused_gram_adjoint(A)
        if fused is None or fused != adjoint or not isinstance(X, cupy.ndarray):
            return super().gram(A, X, inner, adjoint)
        out = self._stack_gram(A, X, inner) if A.ndim > 2 else self._rows_gram(A, X, inner, adjoint)
        return super().gram(A, X, inner, adjoint) if out is None else out

    def _inner(self, inner, dtype: np.dtype):
        """The factor ``c`` as a flat device array (left on the device: no synchronisation)."""
        if inner is None:
            return cupy.ones(1, dtype=dtype)
        return cupy.ascontiguousarray(cupy.asarray(inner, dtype=dtype).reshape(-1))

    def _rows_gram(self, A, X, inner, adjoint: bool):
        """Fused pass over the rows of ``A`` (C order) or of ``A^T`` (F order: ``A (A^H X) = conj(B conj X)``)."""
        B = A.T if adjoint else A
        conj = adjoint and A.dtype.kind == "c"
        m, n = B.shape
        k = X.shape[-1]
        sm, shared = _device_facts(A.device.id)
        geo = launch.rows_launch(m, n, k, A.itemsize, sm, shared)
        if geo is None:
            return None
        Xc = cupy.ascontiguousarray(X.conj() if conj else X, dtype=A.dtype)
        Y = cupy.empty((m, k), dtype=A.dtype)
        Zp = cupy.empty((geo.blocks, n, k), dtype=A.dtype)
        Z = cupy.empty((n, k), dtype=A.dtype)
        args = (B, _i64(n), Xc, self._inner(inner, A.dtype), Y, Zp, _i64(m), _i64(n), _i64(geo.rows_per_block))
        _kernel(A.dtype, f"gram_rows_k{k}", geo.shared_bytes)(
            (geo.blocks,), (src.THREADS,), args, shared_mem=geo.shared_bytes
        )
        size = n * k
        _kernel(A.dtype, "reduce_partials")(
            (launch.grid_1d(size, sm),), (src.THREADS,), (Zp, Z, _i64(size), _i64(geo.blocks))
        )
        return (Y.conj(), Z.conj()) if conj else (Y, Z)

    def _stack_gram(self, A, X, inner):
        """One thread block per matrix of a C-ordered stack."""
        m, n, k = A.shape[-2], A.shape[-1], X.shape[-1]
        batch = A.size // (m * n)
        _, shared = _device_facts(A.device.id)
        launches = launch.stack_launches(batch, m, n, k, A.itemsize, shared)
        if launches is None or X.shape[:-2] != A.shape[:-2]:
            return None
        Xc = cupy.ascontiguousarray(X, dtype=A.dtype)
        c = self._inner(inner, A.dtype)
        c_stride = _i64(0 if c.size == 1 else 1)
        Y = cupy.empty((*A.shape[:-1], k), dtype=A.dtype)
        Z = cupy.empty((*A.shape[:-2], n, k), dtype=A.dtype)
        nbytes = launch.stack_shared_bytes(m, n, k, A.itemsize)
        kern = _kernel(A.dtype, "gram_stack", nbytes)
        for first, count in launches:
            args = (A, Xc, c, c_stride, Y, Z, _i64(first), _i64(m), _i64(n), _i64(k))
            kern((count,), (src.THREADS,), args, shared_mem=nbytes)
        return Y, Z

    # ------------------------------------------------------------------ stacks of small matrices
    #: without a warm start, ``small_gram_certify`` takes an integer seed and draws the start in the kernel
    small_stack_seeded_start = True

    def small_stack_takes(self, A) -> bool:
        """Whether ``small_gram_certify`` takes the stack ``A``: a CuPy array whose warp fits in shared memory,
        with a long side of at most ``CERTIFY_MAX_LONG_SIDE`` (longer ones run faster through the fused pass)."""
        if not isinstance(A, cupy.ndarray) or A.ndim < 2 or A.dtype not in _KERNEL_DTYPES or A.size == 0:
            return False
        if max(A.shape[-2:]) > launch.CERTIFY_MAX_LONG_SIDE:
            return False
        _, shared = _device_facts(A.device.id)
        batch = A.size // (A.shape[-2] * A.shape[-1])
        return launch.certify_launch(batch, min(A.shape[-2:]), A.dtype.kind == "c", shared) is not None

    @_on_input_device
    def small_gram_certify(self, A, c1, c2, adjoint: bool, v0, rtol: float, maxsteps: int):
        """Certified ``sigma_max`` interval per matrix of a C-ordered CuPy stack ``(B, r, c)`` (one warp each).

        The primitive of :meth:`spectra.backends.numba.NumbaBackend.small_gram_certify` on the GPU
        (kernel in :mod:`._cuda_stack_kernels`). ``v0`` is a host start ``(B, q)``, or an integer seed from
        which the kernel draws the start (no host draw, no transfer). Returns ``(out, steps, X)``: ``out``
        ``(B, 3)`` (lower, upper, estimate) and ``steps`` ``(B,)`` on the host, from one device-to-host
        transfer; ``X`` ``(B, q)`` (the Ritz vectors) stays on the device.
        """
        B, r, c = A.shape
        q = r if adjoint else c
        cplx = A.dtype.kind == "c"
        wide = cupy.complex128 if cplx else cupy.float64
        _, shared = _device_facts(A.device.id)
        geo = launch.certify_launch(B, q, cplx, shared)
        if geo is None or not A.flags.c_contiguous:
            raise ValueError(f"small_gram_certify does not take this stack (shape {A.shape}, Gram order {q})")
        c1, c2 = np.asarray(c1, dtype=np.float64), np.asarray(c2, dtype=np.float64)
        if np.all(c1 == 1.0) and np.all(c2 == 1.0):  # no scaling: no upload, stride 0
            cd1 = cd2 = cupy.ones(1, dtype=cupy.float64)
            c_stride = 0
        else:
            cd1, cd2 = cupy.asarray(c1), cupy.asarray(c2)
            c_stride = 1
        seeded = isinstance(v0, (int, np.integer))
        v0d = cupy.empty(1, dtype=wide) if seeded else cupy.ascontiguousarray(cupy.asarray(v0, dtype=wide))
        seed = np.uint64(int(v0) % 2**64) if seeded else np.uint64(0)
        out = cupy.empty((B, 4), dtype=cupy.float64)
        X = cupy.empty((B, q), dtype=wide)
        kern = _kernel(A.dtype, "small_gram_certify", geo.shared_bytes, stack_src)
        for first, blocks in geo.launches:
            args = (
                A,
                cd1,
                cd2,
                _i64(c_stride),
                _i64(bool(adjoint)),
                _i64(not seeded),
                v0d,
                seed,
                np.float64(rtol),
                _i64(maxsteps),
                out,
                X,
                _i64(first),
                _i64(B),
                _i64(r),
                _i64(c),
            )
            kern((blocks,), (geo.threads,), args, shared_mem=geo.shared_bytes)
        host = out.get()  # the one transfer: bounds, estimates and step counts together
        return host[:, :3], host[:, 3].astype(np.int64), X

    # ------------------------------------------------------------------ dense helpers
    @_on_input_device
    def svd(self, A, compute_uv: bool):
        if compute_uv:
            return cupy.linalg.svd(A, full_matrices=False)
        return cupy.linalg.svd(A, compute_uv=False)

    # ------------------------------------------------------------------ host transfer
    def to_host(self, x) -> np.ndarray:
        if isinstance(x, cupy.ndarray):
            return x.get()
        return super().to_host(x)

    def from_host(self, x, like):
        with _on(like):  # on the device of ``like``
            return cupy.asarray(x)

    # ------------------------------------------------------------------ entry statistics in one read
    def _rows_view(self, A):
        """``(C-ordered 2-D view, transposed?)`` of a dense matrix the kernels read, else ``None``."""
        return rows_view(A, _KERNEL_DTYPES) if isinstance(A, cupy.ndarray) else None

    @_on_input_device
    def max_abs(self, A) -> np.ndarray:
        if is_cupy_sparse(A):  # the stored entries as one row: the generic reduction widens complex64
            return super().max_abs(A.data.reshape(1, -1)) if A.nnz else np.zeros(1)
        view = self._rows_view(A)
        if view is None:
            return super().max_abs(A)
        sm, _ = _device_facts(A.device.id)
        blocks = launch.grid_1d(A.size, sm)
        out = cupy.empty(2 * blocks, dtype=cupy.float64)
        _kernel(A.dtype, "max_abs")((blocks,), (src.THREADS,), (view[0], _i64(A.size), out))
        top, bad = cupy.stack([out[0::2].max(), out[1::2].sum()]).get()
        if bad > 0:  # an entry is NaN or infinite: the NaN-aware generic reduction reports which
            return super().max_abs(A)
        return np.array([top])

    @_on_input_device
    def abs_stats(self, A, c1: np.ndarray, c2: np.ndarray) -> AbsStats:
        if is_cupy_sparse(A):
            return _sparse_abs_stats(A, float(c1[0]) * float(c2[0]))
        view = self._rows_view(A)
        scale = float(c1[0]) * float(c2[0])
        if view is None or not (0.0 < scale < np.inf):
            return super().abs_stats(A, c1, c2)
        B, transposed = view
        m, n = B.shape
        sm, _ = _device_facts(A.device.id)
        geo = launch.stats_launch(m, sm)
        colsq_p = cupy.empty((geo.blocks, n), dtype=cupy.float64)
        gers_p = cupy.empty((geo.blocks, n), dtype=cupy.float64)
        rows = cupy.empty(2 * geo.blocks, dtype=cupy.float64)
        args = (B, _i64(n), _i64(m), _i64(n), np.float64(scale), _i64(geo.rows_per_block), colsq_p, gers_p, rows)
        _kernel(A.dtype, "abs_stats_rows")((geo.blocks,), (src.THREADS,), args)
        colsq, gers = cupy.empty(n, dtype=cupy.float64), cupy.empty(n, dtype=cupy.float64)
        reduce = _kernel(A.dtype, "reduce_real")
        for part, total in ((colsq_p, colsq), (gers_p, gers)):
            reduce((launch.grid_1d(n, sm),), (src.THREADS,), (part, total, _i64(n), _i64(geo.blocks)))
        fro2, maxrow2, maxcol2, gers_max = cupy.stack(
            [rows[0::2].sum(), rows[1::2].max(), colsq.max(), gers.max()]
        ).get()
        maxcol, maxrow = np.sqrt(maxcol2), np.sqrt(maxrow2)
        if transposed:  # statistics of A^T: rows and columns swap; Gershgorin is then that of |A| |A|^T
            maxcol, maxrow = maxrow, maxcol
        return AbsStats(
            fro=np.array([np.sqrt(fro2)]),
            gersh=np.array([np.sqrt(gers_max)]),
            maxcol=np.array([maxcol]),
            maxrow=np.array([maxrow]),
            p_row=A.shape[1],
            p_col=A.shape[0],
        )


def _sparse_abs_stats(A, scale: float) -> AbsStats:
    """:class:`AbsStats` of ``scale * A`` for a CuPy sparse matrix, on the device (one transfer)."""
    import cupyx.scipy.sparse as csp

    wide = cupy.complex128 if A.dtype.kind == "c" else cupy.float64  # |3e38 + 3e38j| overflows float32
    a = csp.csr_matrix(abs(A.astype(wide)) * scale)
    m, n = a.shape
    r = a @ cupy.ones(n)
    sq = a.multiply(a)
    nnz_rows = cupy.diff(a.indptr)
    nnz_cols = cupy.bincount(a.indices, minlength=n) if a.nnz else cupy.zeros(1)

    def top(x):
        return x.max() if x.size else cupy.zeros(())

    vals = cupy.stack(
        [
            sq.sum(),
            top(a.T @ r),
            top(sq.T @ cupy.ones(m)),
            top(sq @ cupy.ones(n)),
            top(nnz_rows).astype(cupy.float64),
            top(nnz_cols).astype(cupy.float64),
        ]
    ).get()
    fro2, gers, col2, row2, p_row, p_col = (float(v) for v in vals)
    return AbsStats(
        fro=np.array([np.sqrt(fro2)]),
        gersh=np.array([np.sqrt(gers)]),
        maxcol=np.array([np.sqrt(col2)]),
        maxrow=np.array([np.sqrt(row2)]),
        p_row=int(p_row),
        p_col=int(p_col),
    )
