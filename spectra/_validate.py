"""Every argument of :func:`spectra.norm` checked and standardised once; errors name the parameter."""

from __future__ import annotations

import numbers
import operator
import sys
from typing import Any

import array_api_compat
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ._linop import WorkingOperator
from ._sparse import private_sparse
from .backends._base import ArrayAPIBackend, namespace_dtype_name
from .backends._device_types import is_cupy_operator, is_cupy_sparse

__all__ = ["METHODS", "standardize_matrix", "validate_options", "validate_v0"]

METHODS = ("auto", "svd", "power", "lanczos", "randomized", "gram")


def extension_float_info(dtype: np.dtype) -> Any:
    """``finfo`` of a NumPy extension float dtype (ml_dtypes' bfloat16, float8, ...), else ``None``.

    ml_dtypes is imported already whenever an array has such a dtype; it is never imported here.
    """
    ml = sys.modules.get("ml_dtypes")
    if dtype.kind != "V" or ml is None:
        return None
    try:
        return ml.finfo(dtype)
    except (TypeError, ValueError):
        return None


def _numpy_working_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype spectra computes in for NumPy/SciPy entries of ``dtype``, in native byte order (big-endian data
    from a file would otherwise miss the numba kernels, which read native numbers only)."""
    return _working_dtype(dtype).newbyteorder("=")


def _working_dtype(dtype: np.dtype) -> np.dtype:
    kind = dtype.kind
    if extension_float_info(dtype) is not None:  # bfloat16 and narrower: computed in float32 like float16
        return np.dtype(np.float32)
    if kind in "biu":
        return np.dtype(np.float64)
    if kind == "f":
        if dtype.itemsize <= 2:
            return np.dtype(np.float32)
        return np.dtype(np.float64) if dtype.itemsize > 8 else dtype
    if kind == "c":
        return np.dtype(np.complex128) if dtype.itemsize > 16 else dtype
    raise TypeError(
        f"A must have a numeric dtype (bool, integer, floating or complex), got dtype {dtype}; "
        "convert it with A.astype(float)"
    )


def _too_few_dimensions(shape: tuple) -> str:
    """The error for a scalar or a vector, the same for every namespace."""
    return (
        f"A must have at least 2 dimensions (a matrix or a stack of matrices), got shape {shape}; "
        "for a vector use A.reshape(1, -1) (its norm is the vector's 2-norm) or numpy.linalg.norm"
    )


def standardize_matrix(A: Any) -> tuple[Any, str]:
    """Return ``(A, kind)`` with ``kind`` in ``"dense"``, ``"sparse"``, ``"operator"``.

    Copies only when unavoidable: a dtype change (integers/bools to float64, float16 to float32, big-endian
    to native byte order,
    extended precision to float64), sparse formats without fast products (COO, DIA, DOK, LIL to CSR),
    CSR/CSC/BSR matrices with duplicate or unsorted indices (canonicalised in the copy, see
    :mod:`spectra._sparse`), and NumPy arrays that are neither C- nor Fortran-contiguous (BLAS would copy
    them on every product).
    """
    if isinstance(A, LinearOperator):
        if len(A.shape) != 2:
            raise ValueError(f"A must be 2-D, got a LinearOperator of shape {A.shape}")
        dt = np.dtype(A.dtype) if A.dtype is not None else np.dtype(np.float64)
        return WorkingOperator(A, _numpy_working_dtype(dt)), "operator"
    if is_cupy_operator(A):
        return A, "operator"
    if is_cupy_sparse(A):  # the same rules as for SciPy, on the device
        wd = _numpy_working_dtype(np.dtype(A.dtype))
        A = A if A.format in ("csr", "csc") else A.tocsr()
        return (A if A.dtype == wd else A.astype(wd)), "sparse"
    if sp.issparse(A):
        if A.ndim != 2:
            raise ValueError(f"A must be 2-D, got a sparse array of shape {A.shape}")
        return private_sparse(A, _numpy_working_dtype(np.dtype(A.dtype))), "sparse"
    if isinstance(A, (list, tuple)):
        try:
            A = np.asarray(A)
        except ValueError as exc:
            raise ValueError(f"A could not be read as a rectangular array: {exc}") from None
    if isinstance(A, np.ma.MaskedArray) and np.any(np.ma.getmaskarray(A)):
        raise TypeError(
            "A is a masked array with masked entries, whose stored values the norm would use as they are; pass "
            "A.filled(0) to count the masked entries as zeros, or A.data for the stored values"
        )
    if isinstance(A, np.ndarray) or np.isscalar(A):
        A = np.asarray(A)  # a masked array without masked entries: its data
        wd = _numpy_working_dtype(A.dtype)
        if A.ndim < 2:
            raise ValueError(_too_few_dimensions(A.shape))
        if A.dtype != wd:
            A = A.astype(wd)
        if not (A.flags.c_contiguous or A.flags.f_contiguous):
            A = np.ascontiguousarray(A)
        return A, "dense"
    _reject_unsupported_tensor(A)
    try:
        xp = array_api_compat.array_namespace(A)
    except TypeError:
        # a pandas DataFrame or an xarray DataArray: their data as NumPy is one call away
        hint = "; pass A.to_numpy() for its entries as a NumPy array" if callable(getattr(A, "to_numpy", None)) else ""
        raise TypeError(
            "A must be an array (NumPy, CuPy, PyTorch, JAX, any array-API namespace), a nested list, a "
            f"scipy.sparse matrix or a scipy.sparse.linalg.LinearOperator; got {type(A).__name__}{hint}"
        ) from None
    if A.ndim < 2:
        raise ValueError(_too_few_dimensions(tuple(A.shape)))
    dt = A.dtype
    if xp.isdtype(dt, "bool") or xp.isdtype(dt, "integral"):
        # float64, or float32 where the namespace has switched double precision off (JAX's default mode)
        A = xp.astype(A, ArrayAPIBackend().wide_dtype(A, False))
    elif namespace_dtype_name(dt) in ("float16", "bfloat16"):
        A = xp.astype(A, xp.float32)
    elif namespace_dtype_name(dt) == "complex32":  # PyTorch's half-precision complex: computed in complex64
        A = xp.astype(A, xp.complex64)
    elif not (xp.isdtype(dt, "real floating") or xp.isdtype(dt, "complex floating")):
        raise TypeError(f"A must have a numeric dtype, got {dt}; convert it with A.astype(float)")
    return A, "dense"


#: for each sparse torch layout, the scipy.sparse matrix with the same entries (compressed index arrays as they are)
_SCIPY_FROM_TORCH = {
    "sparse_coo": "scipy.sparse.coo_array((A.values(), A.indices()), shape=A.shape) after A = A.coalesce().cpu()",
    "sparse_csr": (
        "scipy.sparse.csr_array((A.values(), A.col_indices(), A.crow_indices()), shape=A.shape) after A = A.cpu()"
    ),
    "sparse_csc": (
        "scipy.sparse.csc_array((A.values(), A.row_indices(), A.ccol_indices()), shape=A.shape) after A = A.cpu()"
    ),
    "sparse_bsr": (
        "scipy.sparse.bsr_array((A.values(), A.col_indices(), A.crow_indices()), shape=A.shape) after A = A.cpu()"
    ),
    "sparse_bsc": (
        "scipy.sparse.coo_array((A.values(), A.indices()), shape=A.shape) after A = A.to_sparse_coo().coalesce().cpu()"
    ),
}


def _reject_unsupported_tensor(A: Any) -> None:
    """Clear errors for framework arrays that have no dense entries to read (checked by type, no imports)."""
    if array_api_compat.is_torch_array(A):
        if A.layout is not _torch().strided:
            layout = str(A.layout).removeprefix("torch.")
            raise ValueError(
                f"A is a sparse torch tensor (layout {layout}); spectra reads dense tensors. Convert it with "
                f"A.to_dense(), or to a scipy.sparse matrix (never densified): {_SCIPY_FROM_TORCH.get(layout, '')}"
            )
        if A.device.type == "meta":
            raise ValueError("A is a meta tensor (shape and dtype only, no data); its norm cannot be computed")
        functorch = getattr(_torch()._C, "_functorch", None)
        if functorch is not None and functorch.is_functorch_wrapped_tensor(A):
            raise TypeError(
                "spectra.norm cannot run inside torch.func.vmap, grad, jacrev or another torch.func transform: its "
                "stopping decisions and bounds are computed on the host from concrete values. Call it outside the "
                "transformed function, on a plain tensor (a stack (..., m, n) gives every matrix's interval in one "
                "call)"
            )
    elif array_api_compat.is_dask_array(A):
        meta = getattr(A, "_meta", None)
        if sp.issparse(meta) or type(meta).__module__.split(".")[0] == "sparse":
            raise ValueError(
                f"A is a Dask array with sparse chunks ({type(meta).__name__}); spectra reads Dask arrays with dense "
                "NumPy chunks: convert them with A.map_blocks(lambda b: b.toarray(), dtype=A.dtype), or pass one "
                "scipy.sparse matrix"
            )
    elif array_api_compat.is_jax_array(A):
        import jax  # a JAX array exists, so JAX is already imported

        if isinstance(A, jax.core.Tracer):
            raise TypeError(
                "spectra.norm cannot run inside jax.jit, vmap or grad: its stopping decisions and bounds are "
                "computed on the host from concrete values. Call it outside the transformed function (on a "
                "concrete array), or wrap it with jax.pure_callback"
            )


def _torch():
    import torch  # a torch tensor exists, so torch is already imported

    return torch


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_progress(value: Any):
    if callable(value):
        return value if value else lambda info: value(info)  # the methods test `if opts.progress`

    if value is None:  # the usual "off"
        return False
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"progress must be True, False (or None) or a callable taking a spectra.Progress; got {value!r}"
        )
    return bool(value)


def _check_positive_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer or None, got {value!r}")
    value = operator.index(value)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value}")
    return value


def validate_options(
    *,
    method,
    backend,
    rtol,
    certify,
    confidence,
    maxiter,
    block_size,
    seed,
    return_vectors,
    check_finite,
    progress,
    backend_names,
    check_adjoint=True,
) -> dict:
    """Check the scalar options; return them standardised (``rng`` is a NumPy Generator)."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    names = ("auto", *backend_names)
    if not isinstance(backend, str) or backend not in names:
        raise ValueError(f"backend must be one of {', '.join(map(repr, names))}; got {backend!r}")
    if isinstance(rtol, (bool, np.bool_)) or not isinstance(rtol, numbers.Real):
        raise TypeError(f"rtol must be a positive float, got {rtol!r}")
    rtol = float(rtol)
    if not (np.isfinite(rtol) and rtol > 0):
        raise ValueError(f"rtol must be a positive finite float (e.g. 1e-6), got {rtol}")
    if certify is not None:
        certify = _check_bool("certify", certify)
    if isinstance(confidence, (bool, np.bool_)) or not isinstance(confidence, numbers.Real):
        raise TypeError(f"confidence must be a float in (0, 1), got {confidence!r}")
    confidence = float(confidence)
    if not (0.0 < confidence < 1.0):
        raise ValueError(
            f"confidence must lie strictly between 0 and 1 (e.g. 0.999), got {confidence}: it is the probability "
            "of the random start behind the iterative bounds (results report 1.0 where no randomness was needed)"
        )
    maxiter = _check_positive_int("maxiter", maxiter)
    block_size = _check_positive_int("block_size", block_size)
    if isinstance(seed, (bool, np.bool_)):  # an int to NumPy, but True/False as a seed is a slip
        raise TypeError(
            "seed must be what numpy.random.default_rng takes (None, an int, a SeedSequence, a Generator, ...); "
            f"got the bool {seed!r}"
        )
    if isinstance(seed, numbers.Integral) and seed < 0:
        raise ValueError(f"seed must be a non-negative int (NumPy's seeds are), got {seed}")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "seed must be what numpy.random.default_rng takes (None, an int or a sequence of them, a SeedSequence, "
            f"a BitGenerator, a Generator); got {seed!r} ({exc})"
        ) from None
    return dict(
        method=method,
        backend=backend,
        rtol=rtol,
        certify=certify,
        confidence=confidence,
        maxiter=maxiter,
        block_size=block_size,
        rng=rng,
        return_vectors=_check_bool("return_vectors", return_vectors),
        check_finite=_check_bool("check_finite", check_finite),
        progress=_check_progress(progress),
        check_adjoint=_check_bool("check_adjoint", check_adjoint),
    )


def validate_solver_options(
    *, rtol: Any, confidence: Any, seed: Any, maxiter: Any = None, certify: Any = None, return_vectors: Any = False
) -> dict:
    """:func:`validate_options` for the callers that choose their own method and backend (``conv_norm``,
    ``spectra.torch.lipschitz_bound``): ``rtol``, ``confidence``, ``seed`` (and ``maxiter``, ``certify``,
    ``return_vectors``) checked as :func:`spectra.norm` checks them; returns the same dict."""
    return validate_options(
        method="auto",
        backend="auto",
        rtol=rtol,
        certify=certify,
        confidence=confidence,
        maxiter=maxiter,
        block_size=None,
        seed=seed,
        return_vectors=return_vectors,
        check_finite=True,
        progress=False,
        backend_names=(),
    )


def validate_v0(v0: Any, batch_shape: tuple, n0: int, to_host, complex_ok: bool = True) -> np.ndarray:
    """Warm start as a host array ``(B, n0)``; ``v0`` may have shape ``(n0,)`` or ``batch + (n0,)``.

    ``complex_ok=False`` (a real ``A``): a ``v0`` with a nonzero imaginary part raises ``ValueError`` (its
    imaginary part would be dropped); a complex ``v0`` whose imaginary part is zero is taken as real.
    """
    try:
        h = np.asarray(to_host(v0) if not isinstance(v0, (list, tuple)) else v0)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"v0 must be an array, got {type(v0).__name__} ({exc})") from None
    if h.dtype.kind not in "biufc":
        raise TypeError(f"v0 must be numeric, got dtype {h.dtype}")
    if h.shape not in ((n0,), (*batch_shape, n0)):
        shapes = f"({n0},) or {(*batch_shape, n0)}" if batch_shape else f"({n0},)"
        raise ValueError(
            f"v0 must have shape {shapes} (a vector on the right side of A, such as a previous result's .v); "
            f"got {h.shape}"
        )
    if not np.all(np.isfinite(h)):
        raise ValueError("v0 contains NaN or Inf")
    if h.dtype.kind == "c" and not complex_ok:
        if np.any(h.imag != 0):
            raise ValueError(
                "v0 is complex but A is real: its imaginary part would be dropped; pass a real v0 (v0.real), "
                "or a complex A (A.astype(complex)) for a complex start"
            )
        h = h.real
    B = int(np.prod(batch_shape)) if batch_shape else 1
    h = np.array(np.broadcast_to(h, (*batch_shape, n0)).reshape(B, n0))  # writable: namespaces may wrap it
    if np.any(np.all(h == 0, axis=1)):
        raise ValueError("v0 must not be the zero vector")
    return h
