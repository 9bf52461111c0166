"""The single-precision Numba kernels compute in single precision.

Regression: the dense pass started its sums at ``za[0] * 0``; Numba types a float32 times an int64 as float64,
so every float32 (complex64) sum was formed in float64 (complex128) with a conversion per entry, which made
the float32 pass slower per byte than the float64 one (docs/performance.md). The same start (``w[0] * 0``,
``z[0] * 0``) and float literals (``0.0``, ``1.0 / after``) widened the Gram-Schmidt kernel of the Krylov
engines and the CSR pass. The rounding analysis assumes the working precision (docs/bounds.md §6e), so
nothing needs the wider sums, except in the kernels listed in :data:`WIDE_ON_PURPOSE`. Every registered
kernel is either checked here or listed there, so a new kernel has to be placed. The kernels are compiled
afresh (Numba does not show the code it loads from its cache), on the calling thread: the arithmetic is that
of the parallel build, which compiles the same source.
"""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest

from spectra.backends import _numba_kernels, _numba_serial, _numba_sparse, _numba_stack  # noqa: F401 (they register)
from spectra.backends import numba as numba_backend
from spectra.backends._gram_schmidt import project_vector
from spectra.backends._numba_jit import REGISTRY

#: kernels that compute in float64 for single-precision data on purpose, and why (docs/bounds.md)
WIDE_ON_PURPOSE = {
    "wide_product_rows": "the certificate's one product, in float64 (§6c)",
    "max_abs_rows": "moduli of entries widened first, exact up to one float64 rounding (§6e audit)",
    "abs_stats_rows": "the deterministic caps' sums in float64 (§5, §6e audit)",
    "csr_abs_stats": "the deterministic caps' sums in float64 (§5, §6e audit)",
    "stack_abs_stats": "the deterministic caps' sums in float64 (§5, §6e audit)",
    "small_gram_certify": "the Cholesky certificate of a small matrix, in float64 for every data type (§7)",
}
#: kernels without floating-point arithmetic (an integer maximum over the bits)
INTEGER_ONLY = {"max_abs_bits_rows"}

_SINGLE = (np.dtype(np.float32), np.dtype(np.complex64))


def _base_name(kernel) -> str:
    return kernel.__name__.removesuffix("_serial")


def _single_precision_signatures():
    """``(id, kernel, signature)`` for every single-precision signature of the kernels checked; a serial twin
    shares its parallel kernel's code and is checked with it."""
    seen = set()
    for kernel in REGISTRY:
        if _base_name(kernel) in WIDE_ON_PURPOSE:
            continue
        for key, (dtype, sig) in kernel.declared.items():
            if dtype in _SINGLE and (kernel.py_func.__code__, sig) not in seen:
                seen.add((kernel.py_func.__code__, sig))
                yield pytest.param(kernel, sig, id=f"{kernel.__name__}-{'-'.join(k.name for k in key)}")


def _llvm_ir(kernel, sig) -> str:
    fresh = numba.njit([sig], **{**kernel.options, "parallel": False})(kernel.py_func)
    return fresh.inspect_llvm(sig.args)


def test_every_kernel_is_checked_or_listed():
    names = {_base_name(k) for k in REGISTRY}
    assert set(WIDE_ON_PURPOSE) <= names  # no stale entries
    checked = {_base_name(p.values[0]) for p in _single_precision_signatures()}
    assert checked == names - set(WIDE_ON_PURPOSE)
    assert {"dense_gram", "dense_gram_batched", "project_vector_rows", "csr_gram"} <= checked


@pytest.mark.parametrize(("kernel", "sig"), list(_single_precision_signatures()))
def test_single_precision_sums_are_not_widened(kernel, sig):
    ir = _llvm_ir(kernel, sig)
    assert "fpext" not in ir  # no float -> double conversion
    assert not re.search(r"= f(add|sub|mul|div)[^\n]*double", ir)  # no double-precision arithmetic
    if _base_name(kernel) not in INTEGER_ONLY:
        assert re.search(r"= f(add|mul)[^\n]*float", ir)  # the sums themselves are there, in single precision


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("seed", range(5))
def test_single_precision_gram_schmidt_is_accurate(dtype, seed):
    """The compiled Gram-Schmidt step in single precision agrees with the same steps in float64 to a few
    float32 roundings, and leaves ``w`` orthogonal to the basis to working precision."""
    rng = np.random.default_rng(seed)
    n, k = 3000, 60
    cplx = np.dtype(dtype).kind == "c"
    wide = np.complex128 if cplx else np.float64
    G = rng.standard_normal((n, k + 1)) + (1j * rng.standard_normal((n, k + 1)) if cplx else 0)
    Q64 = np.linalg.qr(G)[0]
    Q = np.ascontiguousarray(Q64[:, :k].T).astype(dtype).T  # rows C-ordered, as the Krylov engines store them
    # w close to the span (a Krylov step's case): the first pass cancels most of it, the second one runs
    W = (Q @ rng.standard_normal(k) + 1e-3 * Q64[:, k]).astype(dtype)[:, None]
    w, C, norm = numba_backend.NumbaBackend()._project_kernel(W, Q, unit=True)
    assert w.dtype == C.dtype == np.dtype(dtype) and norm.dtype == np.float64
    w_ref, C_ref = project_vector(W.astype(wide), Q.astype(wide))
    u = np.finfo(dtype).eps / 2
    ref_norm = np.linalg.norm(w_ref)
    assert abs(norm[0] - ref_norm) <= 100 * u * np.linalg.norm(W)
    assert np.max(np.abs(C - C_ref)) <= 100 * u * np.linalg.norm(W)
    assert np.linalg.norm(w[:, 0] - w_ref[:, 0] / ref_norm) <= 100 * u * np.linalg.norm(W) / ref_norm
    assert np.max(np.abs(Q.astype(wide).conj().T @ w[:, 0])) <= 20 * np.sqrt(k) * u


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_empty_csr_row_gives_positive_zero(dtype):
    """Regression: the CSR pass started a row's sum at ``z[0] * 0``, the first entry of the running
    accumulator of ``A^H c A x`` times zero, so an empty row gave ``y_i = -0.0`` whenever that entry was
    negative at the time; the empty sum is ``+0.0`` (as SciPy's ``A @ x``)."""
    data = np.array([-1.0], dtype=dtype)  # A = [[-1, 0], [0, 0]]: row 1 is empty
    indptr, indices = np.array([0, 1, 1], dtype=np.uint32), np.array([0], dtype=np.uint32)
    X = np.array([[-1.0], [0.0]], dtype=dtype)  # y_0 = 1, then z_0 = -1 before row 1
    real = np.finfo(dtype).dtype.type
    for kernel in (_numba_sparse.csr_gram, _numba_sparse.csr_gram_serial):
        Y, Z = np.empty((2, 1), dtype), np.empty((2, 1), dtype)
        kernel(indptr, indices, data, X, real(1), Y, Z, np.array([0, 2], dtype=np.int64))
        assert Y[0, 0] == 1 and Z[0, 0] == -1
        assert Y[1, 0] == 0 and not np.signbit(Y[1, 0].real) and not np.signbit(Y[1, 0].imag)
