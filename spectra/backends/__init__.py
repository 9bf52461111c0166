"""Backend registry and dispatch from the input's type.

``resolve(A, name)`` returns the backend that runs a problem. Dispatch inspects the type only
(``array_api_compat`` checks ``sys.modules``), so no library the user has not imported is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

import array_api_compat
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from .._errors import BackendUnavailableError

__all__ = ["BACKENDS", "available_backends", "resolve"]

#: name -> (module, class, pip extra or None)
BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "numpy": ("spectra.backends.numpy", "NumPyBackend", None),
    "array_api": ("spectra.backends._base", "ArrayAPIBackend", None),
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
                f'install it with: pip install "spectra[{extra}]"'
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


def is_scipy_input(A: Any) -> bool:
    return isinstance(A, (np.ndarray, LinearOperator)) or sp.issparse(A)


def resolve(A: Any, name: str):
    """The backend object for input ``A`` (already standardised) and backend name ``name``."""
    if name == "auto":
        if is_scipy_input(A):
            return _load("numpy")
        return _load("array_api")
    backend = _load(name)
    if name == "numpy" and not is_scipy_input(A):
        raise ValueError(
            f"backend='numpy' takes NumPy arrays, SciPy sparse matrices and LinearOperators, not "
            f"{type(A).__module__}.{type(A).__name__}; use backend='auto' (no silent device transfers)"
        )
    if name == "array_api" and (sp.issparse(A) or isinstance(A, LinearOperator)):
        raise ValueError("backend='array_api' needs a dense array; use backend='numpy' for SciPy inputs")
    if name == "array_api":
        array_api_compat.array_namespace(A)  # raises TypeError for non-array inputs
    return backend
