"""Which inputs belong on the GPU, decided from their types without importing CuPy, PyTorch or JAX.

A CuPy sparse matrix or ``LinearOperator`` can only exist once its module was imported, so looking
the module up in ``sys.modules`` is enough; ``array_api_compat`` does the same for arrays.
"""

from __future__ import annotations

import sys
from typing import Any

import array_api_compat

__all__ = ["is_cupy_input", "is_cupy_operator", "is_cupy_sparse", "is_foreign_gpu_array"]


def is_cupy_sparse(A: Any) -> bool:
    """A ``cupyx.scipy.sparse`` matrix."""
    mod = sys.modules.get("cupyx.scipy.sparse")
    return mod is not None and bool(mod.issparse(A))


def is_cupy_operator(A: Any) -> bool:
    """A ``cupyx.scipy.sparse.linalg.LinearOperator``."""
    mod = sys.modules.get("cupyx.scipy.sparse.linalg")
    return mod is not None and isinstance(A, mod.LinearOperator)


def is_cupy_input(A: Any) -> bool:
    """A CuPy array, sparse matrix or ``LinearOperator``: ``backend="auto"`` runs it on ``"cupy"``."""
    return array_api_compat.is_cupy_array(A) or is_cupy_sparse(A) or is_cupy_operator(A)


def is_foreign_gpu_array(A: Any) -> bool:
    """A PyTorch CUDA tensor or a JAX array on a GPU: ``backend="cupy"`` takes it through DLPack."""
    if array_api_compat.is_torch_array(A):
        return A.device.type == "cuda"
    if array_api_compat.is_jax_array(A):
        try:
            return all(d.platform == "gpu" for d in A.devices())
        except (AttributeError, RuntimeError):  # a tracer: no concrete device
            return False
    return False
