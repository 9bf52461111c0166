"""Numba backend: the Gram product ``A^H (A x)`` (or ``A (A^H x)``) in ONE read of ``A``.

Overrides only what it accelerates (:meth:`gram` for dense 2-D arrays, stacks and CSR/CSC matrices;
:meth:`max_abs` and :meth:`abs_stats`, the entry statistics behind the scaling and the deterministic
bounds, each in one read of a dense matrix, and both in the same read where no scaling is needed,
:meth:`entry_stats`); everything else is the NumPy/SciPy reference. Which side is
fused follows the memory layout:

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
otherwise take the cores from the Numba workers. Passes too small to repay waking those workers run serial
kernels on the calling thread (:data:`SERIAL_BELOW`, :data:`DENSE_SERIAL_BELOW`; :mod:`._numba_serial`).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
import weakref
from typing import NamedTuple

import numba
import numpy as np
import scipy.sparse as sp

from . import _numba_kernels as kernels
from . import _numba_serial as serial_kernels
from . import _numba_sparse as sparse_kernels
from ._base import AbsStats, rows_view
from ._gram_schmidt import DGKS_ETA
from ._numba_jit import compiling_for
from ._pass_schedule import remember, start_schedule
from ._threads import all_blas_threads, one_blas_thread
from .numpy import NumPyBackend

__all__ = ["NumbaBackend"]

_KERNEL_DTYPES = {np.dtype(t) for t in ("float32", "float64", "complex64", "complex128")}
_SINGLE = {np.dtype("float32"), np.dtype("complex64")}
#: real dtype -> (unsigned integer of its width, all bits but the sign, bit pattern of +inf): with the sign
#: masked off, patterns at or above that of +inf are not finite
_REAL_BITS = {
    np.dtype("float32"): (np.dtype("uint32"), 0x7FFFFFFF, 0x7F800000),
    np.dtype("float64"): (np.dtype("uint64"), 0x7FFFFFFFFFFFFFFF, 0x7FF0000000000000),
}

#: a stack with less work than this (``B p q^2``: matrices times the multiply-adds of one Gram matrix, about
#: 10 ms on one core) runs its kernels on one Numba thread: starting the workers of a parallel region cost
#: 10-40 ms on the loaded 2-core development machine (docs/performance.md), more than they gain
STACK_PARALLEL_MIN_WORK = 3e7

#: a basis of at most this many bytes is projected out by a compiled kernel (:meth:`NumbaBackend.project_out`);
#: longer ones (sparse problems) keep the NumPy backend's BLAS path
PROJECT_KERNEL_BYTES = 32 << 20

#: sparse passes with fewer nonzeros x columns than this run on the calling thread: waking Numba's worker
#: threads costs more than such a pass (tens of milliseconds on a loaded machine; docs/performance.md)
SERIAL_BELOW = 1 << 17

#: dense passes over fewer entries x columns than this run the serial twins of the kernels (one block on the
#: calling thread, :mod:`._numba_serial`), for the same reason (measured in docs/performance.md)
DENSE_SERIAL_BELOW = 2_000_000


#: ``(A.data, one value broadcast to its length)`` for the CSR/CSC matrix a computation runs on when all its
#: stored values are equal (an unweighted graph), set by :meth:`NumbaBackend.context` while it runs
_CONSTANT_VALUES: contextvars.ContextVar = contextvars.ContextVar("spectra_constant_values", default=None)

#: ``[(weak reference to a CSR/CSC matrix, to its values array, all values equal?)]`` from the last check.
#: :func:`spectra.norm` enters the backend's context twice (the entry statistics, then the method) with the
#: same matrix object, a private one made for the call (:mod:`spectra._sparse`), so the second entry reuses the
#: first one's answer (0.9 ms for 2·10⁶ equal values); a later call has a new object and checks again
_LAST_VALUES_CHECK: list = [None]

#: ``(key, PassSchedule)`` for the matrix a computation runs on, set by :meth:`NumbaBackend.context`: its parallel
#: passes run on the parallel kernel or its serial twin, whichever the recent passes found faster. ``key``: the
#: CSR/CSC matrix's ``indptr`` array, or the address of a dense matrix's data (its transposed view shares it)
_SCHEDULE: contextvars.ContextVar = contextvars.ContextVar("spectra_pass_schedule", default=None)

#: ``False``: every sparse pass above :data:`SERIAL_BELOW` runs the parallel kernel (for measurements)
SCHEDULE_SPARSE_PASSES = True
#: ``False``: every dense pass above :data:`DENSE_SERIAL_BELOW` runs the parallel kernel (for measurements)
SCHEDULE_DENSE_PASSES = True


@contextlib.contextmanager
def _constant_values_known(A):
    """Within the context, the Gram kernels read the stored values of ``A`` as one value if they are all equal.

    The kernels then read one cached value with stride 0 instead of 8-16 bytes per nonzero from memory: the
    same arithmetic on the same numbers, so the result is bitwise that of the plain pass (docs/performance.md).
    Checked once per call of :func:`spectra.norm` (:func:`_values_all_equal`); the kernels use it only for this
    very values array.
    """
    data = A.data
    equal = _values_all_equal(A)
    token = _CONSTANT_VALUES.set((data, np.broadcast_to(data[:1], data.shape)) if equal else None)
    try:
        yield
    finally:
        _CONSTANT_VALUES.reset(token)


def _values_all_equal(A) -> bool:
    """Whether the stored values of the CSR/CSC matrix ``A`` are all equal (a prefix first: unequal values cost
    nothing), answered once per matrix object (:data:`_LAST_VALUES_CHECK`)."""
    last = _LAST_VALUES_CHECK[0]
    if last is not None and last[0]() is A and last[1]() is A.data:
        return last[2]
    equal = A.format in ("csr", "csc") and A.dtype in _KERNEL_DTYPES and _all_equal(A.data)
    _LAST_VALUES_CHECK[0] = (weakref.ref(A), weakref.ref(A.data), equal)
    return equal


def _all_equal(data: np.ndarray) -> bool:
    """Whether a non-empty array holds one value only (64 entries first, so unequal values cost nothing)."""
    return data.size > 0 and bool(np.all(data[:64] == data[0])) and bool(np.all(data == data[0]))


@contextlib.contextmanager
def _passes_scheduled(A):
    """Within the context, the large Gram passes over ``A`` run on the parallel kernel or its serial twin,
    whichever was faster (:class:`._pass_schedule.PassSchedule`, one per computation, continuing the state of the
    last computation of the same kind of pass on as many threads, :func:`._pass_schedule.start_schedule`)."""
    if sp.issparse(A):
        key = A.indptr if SCHEDULE_SPARSE_PASSES and A.format in ("csr", "csc") else None  # the formats read
    else:
        key = _address(A) if SCHEDULE_DENSE_PASSES and isinstance(A, np.ndarray) and A.ndim == 2 else None
    kind = ("sparse" if sp.issparse(A) else "dense", numba.get_num_threads())
    schedule = start_schedule(kind) if key is not None else None
    token = _SCHEDULE.set((key, schedule) if key is not None else None)
    try:
        yield
    finally:
        _SCHEDULE.reset(token)
        if schedule is not None:
            remember(kind, schedule)


def _address(A: np.ndarray) -> int:
    """Where a dense matrix's data starts: the same for ``A`` and its transposed view."""
    return A.__array_interface__["data"][0]


def _on_one_thread(kernel):
    """``kernel`` run by the calling thread alone (Numba's thread count set to 1 for the call), with the blocks it is
    given: the same machine code as the parallel run, so the same result bit for bit. (The dense kernels' serial
    twins are separate compilations, and LLVM vectorised their complex128 sums differently.)"""

    def run(*args):
        with _one_numba_thread():
            kernel(*args)

    return run


#: the dense pass's one-thread mode, made once (not a new closure on every pass)
_DENSE_GRAM_ONE_THREAD = _on_one_thread(kernels.dense_gram)


def _same_key(a, b) -> bool:
    """Two schedule keys name the same matrix: the same ``indptr`` array, or the same dense data address."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is b
    return a == b


def _scheduled_pass(key, parallel_kernel, serial_kernel, args: tuple, work: int) -> None:
    """One pass on ``parallel_kernel`` or its bitwise-equal ``serial_kernel``, as the schedule of the computation
    on the matrix ``key`` (:func:`_passes_scheduled`) chooses; the parallel kernel outside such a computation."""
    known = _SCHEDULE.get()
    schedule = known[1] if known is not None and _same_key(known[0], key) else None
    parallel = schedule is None or schedule.parallel_next()
    t0 = time.perf_counter()
    (parallel_kernel if parallel else serial_kernel)(*args)
    if schedule is not None:
        schedule.record(parallel, time.perf_counter() - t0, work)


def _stored_values(data: np.ndarray) -> np.ndarray:
    """The values array the kernels read for ``data``: one broadcast value where :func:`_constant_values_known`
    found them all equal."""
    known = _CONSTANT_VALUES.get()
    return known[1] if known is not None and known[0] is data else data


def _blocks(rows: int) -> int:
    return max(1, min(rows, numba.get_num_threads() * 4))


def _row_bounds(rows: int) -> np.ndarray:
    """One block of rows per thread."""
    nb = max(1, min(rows, numba.get_num_threads()))
    return np.arange(nb + 1, dtype=np.int64) * rows // nb


def _nnz_blocks(indptr) -> np.ndarray:
    """One block of rows per thread, balanced by nonzeros: each block owns an accumulator as long as a column."""
    nb = max(1, min(len(indptr) - 1, numba.get_num_threads()))
    bounds = np.searchsorted(indptr, np.arange(nb + 1) * int(indptr[-1]) // nb).astype(np.int64)
    bounds[0], bounds[-1] = 0, len(indptr) - 1
    return bounds


def _small_stack_work(A) -> bool:
    """Whether ``A`` is a stack of matrices with too little work for Numba's parallel regions."""
    if not isinstance(A, np.ndarray) or A.ndim < 3 or A.size == 0:
        return False
    return A.size * min(A.shape[-2:]) < STACK_PARALLEL_MIN_WORK  # A.size q = B p q^2


@contextlib.contextmanager
def _one_numba_thread():
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


class NumbaBackend(NumPyBackend):
    """Fused one-read Gram kernels for NumPy arrays and CSR/CSC matrices."""

    name = "numba"

    def context(self, A=None):
        """One BLAS thread (and one Numba thread for small stacks) while the kernels run on ``A``; a compile
        notice names ``A`` (:func:`._numba_jit.compiling_for`)."""
        stack = contextlib.ExitStack()
        stack.enter_context(compiling_for(A))
        stack.enter_context(one_blas_thread())
        if not _small_stack_work(A) and not sp.issparse(A):
            stack.enter_context(_passes_scheduled(A))
            return stack
        if sp.issparse(A):
            stack.enter_context(_constant_values_known(A))
            stack.enter_context(_passes_scheduled(A))
        else:
            stack.enter_context(_one_numba_thread())
        return stack

    def block_algebra(self):
        """BLAS-3 work on blocks (orthonormalising a block of 16 against the basis) gets BLAS's threads back:
        it gains more than the idle threads' spinning then costs the next kernel (measured in
        docs/performance.md). Single vectors keep the one-thread limit."""
        return all_blas_threads()

    def _project_kernel(self, W, Q, unit: bool, out=None):
        """``(w, C, norm)`` from :func:`._numba_kernels.project_vector_rows`, or ``None`` outside its case: one
        vector against a basis stored as C-ordered rows (the Krylov engines' column store) of at most
        :data:`PROJECT_KERNEL_BYTES`. ``w`` is written into ``out`` when it fits (contiguous, same shape and
        dtype; it must not overlap ``Q`` or ``W``)."""
        if not (
            isinstance(W, np.ndarray)
            and isinstance(Q, np.ndarray)
            and W.ndim == Q.ndim == 2
            and W.shape[1] == 1
            and W.flags.c_contiguous
            and Q.shape[1] >= 2
            and Q.dtype == W.dtype
            and Q.dtype in _KERNEL_DTYPES
            and Q.T.flags.c_contiguous
            and Q.nbytes <= PROJECT_KERNEL_BYTES
        ):
            return None
        k = Q.shape[1]
        fits = out is not None and out.shape == (Q.shape[0],) and out.dtype == Q.dtype and out.flags.c_contiguous
        w = out if fits else np.empty(Q.shape[0], Q.dtype)
        C, c, norm = np.empty(k, Q.dtype), np.empty(k, Q.dtype), np.empty(1, np.finfo(Q.dtype).dtype)
        kernels.project_vector_rows(Q.T, W[:, 0], w, C, c, DGKS_ETA, unit, norm)  # in the working precision
        return w[:, None], C[:, None], norm.astype(np.float64, copy=False)

    def project_out(self, W, Q, tol: float | None = None):
        """One vector against a small basis stored as rows: the steps of :func:`._gram_schmidt.project_vector`
        in one compiled call (:meth:`_project_kernel`); everything else as the NumPy backend."""
        done = self._project_kernel(W, Q, unit=False) if tol is None else None
        return done[:2] if done is not None else super().project_out(W, Q, tol)

    def project_out_unit(self, W, Q, out=None):
        """:meth:`project_out` and the normalisation in the same compiled call (see the base class)."""
        return self._project_kernel(W, Q, unit=True, out=out)

    def christoffel_value(self, a: np.ndarray, b: np.ndarray, lam: float) -> float:
        """The base class's recurrence compiled (:func:`._numba_kernels.christoffel_value`): same operations, same
        order, so the same float64 result, without a Python loop over the steps."""
        return kernels.christoffel_value(a, b, lam)

    def fused_gram_adjoint(self, A) -> bool | None:
        if sp.issparse(A):
            return {"csr": False, "csc": True}.get(A.format) if A.dtype in _KERNEL_DTYPES else None
        if not isinstance(A, np.ndarray) or A.dtype not in _KERNEL_DTYPES or A.size == 0:
            return None
        if A.flags.c_contiguous:
            return False
        if A.ndim == 2 and A.flags.f_contiguous:
            return True
        return None

    # ------------------------------------------------------------------ entry statistics in one read
    def _rows_view(self, A):
        """``(C-ordered 2-D view, transposed?)`` of a dense matrix the kernels read, else ``None``."""
        return rows_view(A, _KERNEL_DTYPES) if isinstance(A, np.ndarray) else None

    def _stack_rows(self, A):
        """``(rows, bounds)`` of a C-ordered stack read as one matrix of rows, a block per matrix; else ``None``."""
        if not isinstance(A, np.ndarray) or A.ndim < 3 or A.dtype not in _KERNEL_DTYPES or A.size == 0:
            return None
        if not A.flags.c_contiguous:
            return None
        m = A.shape[-2]
        B = A.size // (m * A.shape[-1])
        return A.reshape(B * m, A.shape[-1]), np.arange(B + 1, dtype=np.int64) * m

    def max_abs(self, A) -> np.ndarray:
        stack = self._stack_rows(A)
        view = self._rows_view(A) if stack is None else (stack[0], False)
        if view is None:
            return super().max_abs(A)
        B = view[0]
        bounds = _row_bounds(B.shape[0]) if stack is None else stack[1]
        if B.dtype in _REAL_BITS:  # real entries: an integer maximum over the bits (see the kernel)
            bits, mask, inf = _REAL_BITS[B.dtype]
            top = np.empty(len(bounds) - 1, dtype=bits)
            _dense_kernels(B.size).max_abs_bits_rows(B.view(bits), bits.type(mask), top, bounds)
            if np.any(top >= inf):  # an entry is NaN or infinite: NumPy's NaN-aware reduction
                return super().max_abs(A)
            mx = top.view(B.dtype).astype(np.float64)
            return mx if stack is not None else np.array([mx.max()])
        out = np.empty((len(bounds) - 1, 2))
        _dense_kernels(B.size).max_abs_rows(B, out, bounds)
        if not np.isfinite(out[:, 1]).all():  # an entry is NaN or infinite: NumPy's NaN-aware reduction
            return super().max_abs(A)
        return out[:, 0].copy() if stack is not None else np.array([out[:, 0].max()])

    def _stack_abs_stats(self, A, rows, bounds, scale: float) -> AbsStats:
        """:class:`AbsStats` per matrix of a C-ordered stack (:func:`._numba_stack.stack_abs_stats`)."""
        from ._numba_stack import stack_abs_stats

        m, n = A.shape[-2:]
        nb = len(bounds) - 1
        sums = np.empty((4, nb))
        stack_abs_stats(rows.reshape(nb, m, n), scale, sums, max(1, min(nb // 16, 32 * numba.get_num_threads())))
        fro, gersh, maxcol, maxrow = np.sqrt(sums)
        return AbsStats(fro=fro, gersh=gersh, maxcol=maxcol, maxrow=maxrow, p_row=n, p_col=m)

    def _sparse_abs_stats(self, A, scale: float) -> AbsStats:
        """:class:`AbsStats` of a CSR/CSC matrix in one read of its nonzeros (CSC: the rows of ``A^T``)."""
        transposed = A.format == "csc"
        B = _transpose_view(A) if transposed else A
        n = B.shape[1]
        bounds = _nnz_blocks(B.indptr)
        nb = len(bounds) - 1
        colsq, gers, rows = np.empty((nb, n)), np.empty((nb, n)), np.empty((nb, 2))
        count = np.empty((nb, n), dtype=np.int64)
        known = _SCHEDULE.get()  # the serial twin where this matrix's passes run serial (a busy machine)
        serial = known is not None and _same_key(known[0], B.indptr) and not known[1].prefers_parallel()
        run = sparse_kernels.csr_abs_stats_serial if serial else sparse_kernels.csr_abs_stats
        run(*_unsigned(B), B.data, scale, colsq, gers, count, rows, bounds)  # bitwise the same either way

        def top(x):
            return x.max() if x.size else 0

        maxcol, maxrow = np.sqrt(top(colsq.sum(axis=0))), np.sqrt(rows[:, 1].max())
        p_row, p_col = int(top(np.diff(B.indptr))), int(top(count.sum(axis=0)))
        if transposed:  # statistics of A^T: rows and columns swap; Gershgorin is then that of |A| |A|^T
            maxcol, maxrow, p_row, p_col = maxrow, maxcol, p_col, p_row
        return AbsStats(
            fro=np.array([np.sqrt(rows[:, 0].sum())]),
            gersh=np.array([np.sqrt(top(gers.sum(axis=0)))]),
            maxcol=np.array([maxcol]),
            maxrow=np.array([maxrow]),
            p_row=p_row,
            p_col=p_col,
        )

    def abs_stats(self, A, c1: np.ndarray, c2: np.ndarray) -> AbsStats:
        if sp.issparse(A):
            scale = float(c1[0]) * float(c2[0])
            if self.fused_gram_adjoint(A) is None or not (0.0 < scale < np.inf) or A.nnz < SERIAL_BELOW:
                return super().abs_stats(A, c1, c2)  # other formats, a split scale, or too small to repay threads
            return self._sparse_abs_stats(A, scale)
        stack = self._stack_rows(A)
        if stack is not None:
            with np.errstate(over="ignore"):  # a scale that only exists split in two factors: generic path
                scales = np.asarray(c1, dtype=np.float64) * np.asarray(c2, dtype=np.float64)
            if np.all(scales == scales[0]) and 0.0 < scales[0] < np.inf:
                return self._stack_abs_stats(A, *stack, float(scales[0]))
            return super().abs_stats(A, c1, c2)
        view = self._rows_view(A)
        scale = float(c1[0]) * float(c2[0])
        if view is None or not (0.0 < scale < np.inf):  # the split scale is needed: generic path
            return super().abs_stats(A, c1, c2)
        return self._dense_abs_stats(A, view, scale)[0]

    def entry_stats(self, A) -> tuple[np.ndarray, AbsStats | None]:
        """One read of a dense matrix for ``max |a_ij|`` and the unscaled statistics (:func:`._numba_kernels.
        abs_stats_rows`); where a sum overflowed or an entry is not finite, the two reads of the base class."""
        view = self._rows_view(A) if np.ndim(A) == 2 and not sp.issparse(A) else None
        if view is None:
            return super().entry_stats(A)
        stats, top = self._dense_abs_stats(A, view, 1.0)
        if not np.isfinite(stats.fro[0]):  # NaN or Inf present, or squares beyond float64: max_abs decides
            return super().entry_stats(A)
        return np.array([top]), stats

    def _dense_abs_stats(self, A, view, scale: float) -> tuple[AbsStats, float]:
        """:class:`AbsStats` of ``scale * A`` for a dense 2-D ``A`` read as rows (``view``), and its largest
        entry (exact where ``fro`` is finite)."""
        B, transposed = view
        bounds = _row_bounds(B.shape[0])
        nb, n = len(bounds) - 1, B.shape[1]
        colsq, gers, rows = np.empty((nb, n)), np.empty((nb, n)), np.empty((nb, 3))
        _dense_kernels(B.size).abs_stats_rows(B, scale, colsq, gers, rows, bounds)
        maxcol = np.sqrt(colsq.sum(axis=0).max())
        maxrow = np.sqrt(rows[:, 1].max())
        if transposed:  # statistics of A^T: rows and columns swap; Gershgorin is then that of |A| |A|^T
            maxcol, maxrow = maxrow, maxcol
        stats = AbsStats(
            fro=np.array([np.sqrt(rows[:, 0].sum())]),
            gersh=np.array([np.sqrt(gers.sum(axis=0).max())]),
            maxcol=np.array([maxcol]),
            maxrow=np.array([maxrow]),
            p_row=A.shape[1],
            p_col=A.shape[0],
        )
        return stats, float(rows[:, 2].max())

    def wide_product(self, A, X, adjoint: bool):
        """``A X`` (``adjoint``: ``A^H X``) in double precision for a single-precision dense matrix, reading
        ``A`` once in place (:func:`._numba_kernels.wide_product_rows`) instead of widened row blocks."""
        view = self._rows_view(A) if isinstance(X, np.ndarray) and X.ndim == 2 else None
        if view is None or A.dtype not in _SINGLE:
            return super().wide_product(A, X, adjoint)
        B, transposed = view  # A = B, or A = B^T for a Fortran-ordered A
        Y = np.empty((A.shape[1] if adjoint else A.shape[0], X.shape[1]), dtype=X.dtype)
        # A X = B X (dot) or B^T X (scatter); A^H X = B^H X (scatter, conj) or conj(B) X (dot, conj)
        conj = adjoint and np.iscomplexobj(A)
        small = _serial(B.size * X.shape[1], DENSE_SERIAL_BELOW)
        run = serial_kernels.wide_product_rows if small else kernels.wide_product_rows
        run(B, np.ascontiguousarray(X), Y, transposed == adjoint, conj, 1 if small else _blocks(B.shape[0]))
        return Y

    def small_gram_certify(self, A, c1, c2, adjoint: bool, v0, rtol: float, maxsteps: int):
        """Certified ``sigma_max`` interval per matrix of a C-ordered stack ``(B, r, c)`` of small matrices.

        Returns ``(out, steps, X)``: ``out[b] = (lower, upper, estimate)`` for ``c1[b] c2[b] A[b]`` (upper
        ``inf`` where the certificate failed), the Lanczos steps, and the top eigenvectors (inverse iteration) of the
        Gram matrix (``A^H A``, or ``A A^H`` with ``adjoint``). See :mod:`._numba_stack`.
        """
        from ._numba_stack import small_gram_certify

        cplx = np.iscomplexobj(A)
        wide = np.complex128 if cplx else np.float64
        B = A.shape[0]
        q = A.shape[1] if adjoint else A.shape[2]
        out = np.empty((B, 3))
        steps = np.empty(B, dtype=np.int64)
        X = np.empty((B, q), dtype=wide)
        v0 = np.ascontiguousarray(v0, dtype=wide)
        c1, c2 = (np.ascontiguousarray(c, dtype=np.float64) for c in (c1, c2))
        # tasks of >= 16 consecutive matrices, each allocating its work space once
        chunks = max(1, min(B // 16, 32 * numba.get_num_threads()))
        small_gram_certify(A, c1, c2, bool(adjoint), v0, float(rtol), int(maxsteps), out, steps, X, cplx, chunks)
        return out, steps, X

    def gram(self, A, X, inner=None, adjoint: bool = False):
        fused = self.fused_gram_adjoint(A)
        if fused is None or fused != adjoint or not isinstance(X, np.ndarray):
            return super().gram(A, X, inner, adjoint)
        if inner is not None and np.ndim(A) == 2 and not sp.issparse(A) and np.any(np.asarray(inner) != 1):
            # a scaled dense operand (entries near the ends of the range): the dense kernel's row sweeps sum
            # b_r (s_r c) over eight rows, which reassociation may turn into (sum b_r s_r) c, after
            # the products c keeps in range (200 x 9 entries near 1e307 overflowed); the two products run in order
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
                else np.broadcast_to(np.real(inner).astype(real).reshape(-1), (B3.shape[0],)).copy()
            )
            Y = np.empty((B3.shape[0], shape[-2], X.shape[-1]), dtype=B.dtype)
            Z = np.empty((B3.shape[0], shape[-1], X.shape[-1]), dtype=B.dtype)
            kernels.dense_gram_batched(B3, X3, c, Y, Z)
            return Y.reshape(shape[:-2] + Y.shape[1:]), Z.reshape(shape[:-2] + Z.shape[1:])
        # the scale factor is a real power of two, possibly stored in the complex working dtype
        c = real.type(1) if inner is None else real.type(np.real(np.asarray(inner)).reshape(-1)[0])
        if sp.issparse(B):
            B = _CSRRows(B.indptr, B.indices, B.data, B.shape)
        if isinstance(B, _CSRRows):
            m, n = B.shape
            Y = np.empty((m, X.shape[1]), dtype=B.dtype)
            Z = np.empty((n, X.shape[1]), dtype=B.dtype)
            indptr, indices = _unsigned(B)
            data = _stored_values(B.data)
            work = int(B.indptr[-1]) * X.shape[1]
            if _serial(work):  # one block: the parallel kernel would run the same on one thread
                one_block = np.array([0, m], dtype=np.int64)
                sparse_kernels.csr_gram_serial(indptr, indices, data, X, c, Y, Z, one_block)
                return Y, Z
            args = (indptr, indices, data, X, c, Y, Z, _nnz_blocks(B.indptr))  # bitwise the same either way
            _scheduled_pass(B.indptr, sparse_kernels.csr_gram, sparse_kernels.csr_gram_serial, args, work)
            return Y, Z
        m, n = B.shape
        Y = np.empty((m, X.shape[1]), dtype=B.dtype)
        Z = np.empty((n, X.shape[1]), dtype=B.dtype)
        work = m * n * X.shape[1]
        if _serial(work, DENSE_SERIAL_BELOW):
            serial_kernels.dense_gram(B, X, c, Y, Z, 1)
        else:  # on one thread the same compiled kernel sums the same blocks in the same order: bitwise equal
            args = (B, X, c, Y, Z, _blocks(m))
            _scheduled_pass(_address(B), kernels.dense_gram, _DENSE_GRAM_ONE_THREAD, args, work)
        return Y, Z


def _serial(work: int, below: int | None = None) -> bool:
    """Run a pass of ``work`` nonzeros (dense: entries) x columns on the calling thread (small, or one thread
    anyway)? ``below`` is the threshold, :data:`SERIAL_BELOW` by default."""
    return work < (SERIAL_BELOW if below is None else below) or numba.get_num_threads() == 1


def _dense_kernels(work: int):
    """The dense kernels for a pass over ``work`` entries: the serial twins below :data:`DENSE_SERIAL_BELOW`."""
    return serial_kernels if _serial(work, DENSE_SERIAL_BELOW) else kernels


def _unsigned(B):
    """``indptr`` and ``indices`` as unsigned views of the same bytes (one width for both; see the kernel)."""
    width = max(B.indptr.dtype.itemsize, B.indices.dtype.itemsize)
    return tuple(a.astype(f"i{width}", copy=False).view(f"u{width}") for a in (B.indptr, B.indices))


class _CSRRows(NamedTuple):
    """The arrays of a CSR matrix, without SciPy's per-construction format checks."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple[int, int]

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype


def _transpose_view(A):
    """``A^T`` as a C-ordered object without copying (F-ordered array, or CSC matrix read as CSR rows)."""
    if sp.issparse(A):
        return _CSRRows(A.indptr, A.indices, A.data, (A.shape[1], A.shape[0]))
    return A.T
