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

__all__ = ["BACKENDS", "accelerated", "available_backends", "resolve"]

#: name -> (module, class, pip extra or None)
BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "numpy": ("spectra.backends.numpy", "NumPyBackend", None),
    "array_api": ("spectra.backends._base", "ArrayAPIBackend", None),
    "numba": ("spectra.backends.numba", "NumbaBackend", "numba"),
}

_cache: dict[str, Any] = {}


def _load(name: str):
    if name not in _cache:
        module, cls, extra = BACKENDS[name]
        try:
            _cache[name] = getattr(importlib.import_module(module), cls)()
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


def accelerated(A: Any, kind: str, method: str) -> str | None:
    """The faster backend for a NumPy/SciPy problem under ``backend="auto"``, or None to stay on numpy.

    Only the Gram-based methods (power, lanczos) gain from a fused pass, and only for large dense inputs
    whose layout has a fused kernel. Sparse inputs stay on SciPy: its two C++ passes were measured faster
    than the fused CSR kernel on this class of machine (docs/performance.md).
    """
    if method not in ("power", "lanczos") or kind != "dense" or importlib.util.find_spec("numba") is None:
        return None
    if A.size < NUMBA_MIN_ENTRIES:
        return None
    try:
        backend = _load("numba")
    except BackendUnavailableError:
        return None
    return "numba" if backend.fused_gram_adjoint(A) is not None else None


def is_scipy_input(A: Any) -> bool:
    return isinstance(A, (np.ndarray, LinearOperator)) or sp.issparse(A)


def resolve(A: Any, name: str):
    """The backend object for input ``A`` (already standardised) and backend name ``name``."""
    if name == "auto":
        if is_scipy_input(A):
            return _load("numpy")
        return _load("array_api")
    backend = _load(name)
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
