"""Backend registry and dispatch from the input's type.

``resolve(A, name)`` returns the backend that runs a problem. Dispatch inspects the type only
(``array_api_compat`` checks ``sys.modules``), so no library the user has not imported is imported.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import array_api_compat
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from .._errors import BackendUnavailableError
from .._install import pip_install
from ._device_types import is_cupy_input, is_foreign_gpu_array
from ._fork import fork_unsafe

__all__ = [
    "BACKENDS",
    "STACK_KERNEL_LARGE_ORDER",
    "STACK_KERNEL_MAX_ORDER",
    "STACK_KERNEL_MIN_MATRICES",
    "STACK_KERNEL_MIN_MATRICES_LARGE",
    "accelerated",
    "available_backends",
    "numba_missing",
    "resolve",
    "stack_kernel_applies",
    "stack_kernel_declined",
    "stack_kernel_least",
]

#: name -> (module, class, pip extra or None)
BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "numpy": ("spectra.backends.numpy", "NumPyBackend", None),
    "array_api": ("spectra.backends._base", "ArrayAPIBackend", None),
    "numba": ("spectra.backends.numba", "NumbaBackend", "numba"),
    "dask": ("spectra.backends.dask", "DaskBackend", "dask"),
    "cupy": ("spectra.backends.cupy", "CuPyBackend", "cupy"),
}

_cache: dict[str, Any] = {}


def _load(name: str):
    if name not in _cache:
        module, cls, extra = BACKENDS[name]
        try:
            _cache[name] = getattr(importlib.import_module(module), cls)()
        except BackendUnavailableError:  # installed, but unusable here (e.g. no GPU): its own message
            raise
        except ImportError as exc:  # the optional dependency is missing
            raise BackendUnavailableError(
                f"backend={name!r} needs an optional dependency that is not installed ({exc.name}); "
                f"install it with: {pip_install(extra)}"
            ) from exc
    return _cache[name]


def available_backends() -> list[str]:
    """Names of the backends whose dependencies import on this machine."""
    names = []
    for name in BACKENDS:
        try:
            _load(name)
        except BackendUnavailableError:
            continue
        names.append(name)
    return names


#: ``backend="auto"`` moves NumPy/SciPy inputs to numba (when installed) from this many stored entries
#: on: below it NumPy's BLAS passes are as fast (measured, docs/performance.md)
NUMBA_MIN_ENTRIES = 2_000_000
#: ``backend="auto"`` moves CSR/CSC inputs to numba for ``lanczos`` from this many stored entries (counted after
#: duplicates are summed, as in a COO matrix converted to CSR) on: from
#: 6e5 nonzeros the fused CSR kernel's whole certified calls were 1.6-1.7x faster than SciPy's products, below it
#: 1.0-1.6x (docs/performance.md, "Sparse inputs under auto")
NUMBA_MIN_NNZ = 500_000


#: ``backend="auto"`` runs stacks of at least this many small matrices (Gram order ``min(m, n)`` at most
#: ``STACK_KERNEL_MAX_ORDER``) through the numba stack kernel under ``method="auto"``/``"lanczos"``: the
#: crossover against the batched SVD measured in docs/performance.md ("Stacks of small matrices")
STACK_KERNEL_MIN_MATRICES = 256
STACK_KERNEL_MAX_ORDER = 128
#: from Gram order ``STACK_KERNEL_LARGE_ORDER`` on, ``STACK_KERNEL_MIN_MATRICES_LARGE`` matrices already gain
STACK_KERNEL_LARGE_ORDER = 32
STACK_KERNEL_MIN_MATRICES_LARGE = 64


def stack_kernel_applies(A: Any) -> bool:
    """Whether ``A`` is a NumPy stack that the numba small-matrix kernel takes (numba installed, enough matrices)."""
    return not stack_kernel_declined(A)


#: where the crossover behind these constants is measured (named in the plan's reasons)
PERF_DOC = "docs/performance.md"


def stack_kernel_least(q: int) -> int:
    """The fewest matrices of Gram order ``q`` for which ``backend="auto"`` runs the numba stack kernel."""
    return STACK_KERNEL_MIN_MATRICES_LARGE if q >= STACK_KERNEL_LARGE_ORDER else STACK_KERNEL_MIN_MATRICES


def stack_kernel_declined(A: Any) -> str:
    """Why ``backend="auto"`` does not run the numba stack kernel on ``A`` ("" when it does); shown in the plan."""
    if not isinstance(A, np.ndarray) or A.ndim < 3 or A.size == 0:
        return "not a NumPy stack"
    q, count = min(A.shape[-2:]), A.size // (A.shape[-2] * A.shape[-1])
    least = stack_kernel_least(q)
    if q > STACK_KERNEL_MAX_ORDER:
        return f"Gram order {q}, above the kernel's largest, {STACK_KERNEL_MAX_ORDER}"
    if count < least:
        crossover = f"the crossover against the batched SVD ({PERF_DOC})"
        matrices = "1 matrix" if count == 1 else f"{count} matrices"
        return f"{matrices} of Gram order {q}, fewer than {least}: {crossover}"
    if not A.flags.c_contiguous:
        return "the stack is not C-contiguous (np.ascontiguousarray(A) makes it so)"
    if A.dtype.kind not in "fc":
        return f"dtype {A.dtype}"
    return numba_missing() or _numba_uncached()  # uncached, its compile in every process outweighs the gain


def numba_missing() -> str:
    """Why the numba stack kernel cannot run here ("" when numba loads); shown in the plan."""
    if importlib.util.find_spec("numba") is None:
        return f"the certificate kernel needs numba: {pip_install('numba')}"
    try:
        _load("numba")
    except BackendUnavailableError as exc:
        return f"numba does not load: {exc}"
    if fork_unsafe():
        return f"numba cannot run in this process: {fork_unsafe()}"
    return ""


def _numba_uncached() -> str:
    """Why ``backend="auto"`` does not move to numba although it loads: its kernels have no on-disk cache."""
    from ._numba_jit import disk_cache_missing  # numba is loaded by now

    missing = disk_cache_missing()
    return f"numba's kernels cannot be cached: {missing}" if missing else ""


#: why ``backend="auto"`` leaves a method on numpy whatever the input (the plan's ``why_backend``)
_STAYS = {
    "svd": "LAPACK's SVD",
    "gram": "the Gram iteration's products are BLAS matrix products",
    "randomized": "auto moves only power and lanczos to numba (backend='numba' reads A once per block)",
}


def accelerated(A: Any, kind: str, method: str) -> str | None:
    """The faster backend for a NumPy/SciPy problem under ``backend="auto"``, or None to stay on numpy.

    Only the Gram-based methods (power, lanczos) gain from a fused pass, and only for large dense inputs
    whose layout has a fused kernel, and large CSR/CSC matrices under ``lanczos`` (the end-to-end gain that
    was measured, docs/performance.md).
    """
    return acceleration(A, kind, method)[0]


def acceleration(A: Any, kind: str, method: str) -> tuple[str | None, str]:
    """:func:`accelerated` and why: ``(backend or None, reason)``, the reason in words for the plan."""
    if method == "lanczos" and kind == "dense" and stack_kernel_applies(A):
        return "numba", "a stack of small matrices: in-cache kernel"
    if method not in ("power", "lanczos"):
        return None, _STAYS.get(method, "auto moves only power and lanczos to numba")
    if kind == "sparse":
        if method != "lanczos":
            return None, "auto moves sparse inputs to numba for lanczos only (where the gain was measured)"
        # A is canonical CSR/CSC by now (spectra._sparse, _compress): a COO matrix's duplicates are summed into one
        size, least, what = A.nnz, NUMBA_MIN_NNZ, "stored entries (duplicates summed)"
    elif kind == "dense":
        size, least, what = A.size, NUMBA_MIN_ENTRIES, "entries"
    else:
        return None, f"auto keeps {kind} inputs on SciPy's products: no fused kernel reads them"
    if importlib.util.find_spec("numba") is None:
        return None, f"numba would read A once per step: {pip_install('numba')}"
    if size < least:
        return None, f"{size} {what} < {least}, where the fused kernel starts to pay"
    try:
        backend = _load("numba")
    except BackendUnavailableError as exc:
        return None, f"numba does not load: {exc}"
    if fork_unsafe():
        return None, f"numba cannot run in this process: {fork_unsafe()}"
    if _numba_uncached():
        return None, _numba_uncached()
    if backend.fused_gram_adjoint(A) is None:
        if kind == "sparse":
            return None, f"no fused kernel for {A.format.upper()} {A.dtype} (CSR/CSC of float or complex: A.tocsr())"
        return None, "no fused kernel for this dtype or memory layout"
    return "numba", f"fused Gram kernel, {size} {what} >= {least}"


def is_scipy_input(A: Any) -> bool:
    return isinstance(A, (np.ndarray, LinearOperator)) or sp.issparse(A)


def resolve(A: Any, name: str):
    """The backend object for input ``A`` (already standardised) and backend name ``name``."""
    if name == "auto":
        if is_cupy_input(A):
            return _load("cupy")
        if is_scipy_input(A):
            return _load("numpy")
        if array_api_compat.is_dask_array(A):
            return _load("dask")
        return _load("array_api")
    backend = _load(name)  # first: a missing library is named (with its pip extra) before the input is judged
    if name == "cupy" and not (is_cupy_input(A) or is_foreign_gpu_array(A)):
        raise ValueError(
            f"backend='cupy' takes CuPy arrays, cupyx sparse matrices and LinearOperators, PyTorch CUDA tensors "
            f"and JAX GPU arrays, not {type(A).__module__}.{type(A).__name__}; move the data to the GPU "
            "(e.g. cupy.asarray(A)) or use backend='auto' (no silent device transfers)"
        )
    if name == "numba" and fork_unsafe():
        raise BackendUnavailableError(f"backend='numba' cannot run in this process: {fork_unsafe()}")
    if name == "dask" and not array_api_compat.is_dask_array(A):
        raise ValueError(
            f"backend='dask' takes dask.array arrays, not {type(A).__module__}.{type(A).__name__}; "
            "wrap the input with dask.array.from_array(A, chunks=...) (or use backend='auto')"
        )
    if name in ("numpy", "numba") and not is_scipy_input(A):
        raise ValueError(
            f"backend={name!r} takes NumPy arrays, SciPy sparse matrices and LinearOperators, not "
            f"{type(A).__module__}.{type(A).__name__}; use backend='auto' (no silent device transfers)"
        )
    if name == "array_api" and (sp.issparse(A) or isinstance(A, LinearOperator)):
        raise ValueError("backend='array_api' needs a dense array; use backend='numpy' for SciPy inputs")
    if name == "array_api":
        array_api_compat.array_namespace(A)  # raises TypeError for non-array inputs
    return backend
