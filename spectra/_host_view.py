"""PyTorch and JAX arrays on the CPU run on the NumPy/numba backends, through a zero-copy NumPy view.

The generic ``array_api`` backend multiplies with the namespace's own operations, one call at a time: on the CPU
that is 2.7-5.2x slower than the same data given as a NumPy array for PyTorch and up to 21x for JAX (3000² float64:
1622 ms and 6190 ms against 313 ms; stacks also miss the numba certificate kernel), measured in docs/performance.md
("Torch and JAX arrays on the CPU"). Under ``backend="auto"`` such an array is therefore read through
``numpy.from_dlpack`` (no copy; a tensor that requires grad is detached first: the norm is not differentiated) and
the result's arrays are brought back to the caller's namespace and device, with the bounds rounded outward where
that namespace holds no float64 (JAX's 32-bit mode). PyTorch's lazy conjugate (``A.conj()``, ``A.mH``) is read as a
view of the stored entries, whose norm is the same (the singular vectors come back conjugated); a lazy negation
(rare: ``A.conj().imag``) is resolved, one copy. Arrays DLPack cannot hand to NumPy (bfloat16) and arrays on other
devices stay on ``array_api``. A JAX array on several CPU devices is viewed through one device's copy when it is
replicated, and gathered into one host array (a copy) when it is split across them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import array_api_compat
import numpy as np

from ._result import NormEstimate

__all__ = ["from_numpy_view", "host_start", "numpy_view", "tensor_to_numpy"]


def numpy_view(A: Any) -> tuple[np.ndarray, bool] | None:
    """A zero-copy NumPy view of a PyTorch or JAX array on the CPU and whether it holds the complex conjugate
    of ``A`` (a PyTorch lazy conjugate, read as its stored entries), or ``None`` (any other input)."""
    conjugated = False
    if array_api_compat.is_torch_array(A):
        if A.device.type != "cpu":
            return None
        A = A.detach()
        if A.is_conj():  # conj() flips the bit back: a view of the stored entries, the conjugate of A
            A, conjugated = A.conj(), True
        if A.is_neg():  # a lazy negation: resolved (one copy); -A has the same norm and vectors up to sign
            A = A.resolve_neg()
    elif array_api_compat.is_jax_array(A):
        try:
            devices = A.devices()
            if any(d.platform != "cpu" for d in devices):
                return None
        except Exception:  # a tracer inside jit/vmap (ConcretizationTypeError): no buffer; array_api says so
            return None
        if len(devices) > 1:  # on several CPU devices: DLPack hands over single-device arrays only
            if A.sharding.is_fully_replicated:  # every device holds all of it: view one copy
                A = A.addressable_shards[0].data
            else:  # split across devices: gathered into one host array (a copy, in host memory like its shards)
                view = np.asarray(A)
                return (view, False) if view.dtype.kind in "biufc" else None
    else:
        return None
    try:
        view = np.from_dlpack(A)
    except (BufferError, TypeError, ValueError, RuntimeError):  # bfloat16 and other dtypes NumPy lacks
        return None
    return (view, conjugated) if view.dtype.kind in "biufc" else None


def tensor_to_numpy(t: Any) -> np.ndarray:
    """A PyTorch tensor as a host NumPy array: detached from autograd, its lazy conjugate or negation resolved
    (NumPy reads neither), copied to the CPU when it is elsewhere. A dtype NumPy lacks is widened exactly, as
    :func:`spectra.norm` widens such a matrix: bfloat16 and the float8 types to float32 (each of their values is a
    float32), complex32 to complex64."""
    import torch

    t = t.detach().resolve_conj().resolve_neg().cpu()
    if t.dtype == torch.complex32:
        t = t.to(torch.complex64)
    elif t.is_floating_point() and t.dtype not in (torch.float16, torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t.numpy()


def host_start(v0: Any, conjugated: bool) -> Any:
    """The start vector ``v0`` for the NumPy view of a matrix: a PyTorch tensor as :func:`tensor_to_numpy` reads
    it, conjugated where the view holds the conjugate."""
    if v0 is None:
        return None
    if array_api_compat.is_torch_array(v0):
        v0 = tensor_to_numpy(v0)
    return np.conj(np.asarray(v0)) if conjugated else v0


def from_numpy_view(r: NormEstimate, like: Any, why_backend: str, conjugated: bool = False) -> NormEstimate:
    """``r`` (computed on :func:`numpy_view` of ``like``) with its arrays in ``like``'s namespace and device;
    ``conjugated``: the view held the conjugate of ``like``, whose singular vectors are the conjugates."""
    from . import backends
    from ._api import _round_float32
    from .backends._base import namespace_dtype_name

    be = backends._load("array_api")

    def back(x, toward: float = 0.0):
        if x is None or isinstance(x, (bool, int, float)):
            return x
        arr = np.asarray(x)
        out = be.from_host(arr, like)
        if toward and arr.dtype == np.float64 and namespace_dtype_name(out.dtype) == "float32":
            out = be.from_host(_round_float32(arr, toward), like)  # no float64 there: round the bound outward
        return out

    plan = r.plan
    if plan is not None:
        plan = dataclasses.replace(plan, why_backend=f"{why_backend}; {plan.why_backend}")
    return dataclasses.replace(
        r,
        value=back(r.value),
        lower=back(r.lower, -np.inf),
        upper=back(r.upper, np.inf),
        confidence=back(r.confidence),
        converged=back(r.converged),
        iterations=back(r.iterations),
        matvecs=back(r.matvecs),
        rtol_effective=back(r.rtol_effective),
        u=back(np.conj(r.u) if conjugated and r.u is not None else r.u),
        v=back(np.conj(r.v) if conjugated and r.v is not None else r.v),
        plan=plan,
    )
