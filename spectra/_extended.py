"""Extended-precision input (``np.longdouble``, ``np.clongdouble``; NumPy, Dask, SciPy sparse): computed in float64.

spectra computes in float64 at most. An extended-precision matrix is first multiplied by a power of two per
matrix, ``2^-e`` with ``e`` the exponent of its largest entry (exact in extended precision), so that its
largest entry lies in ``[1/2, 1)``, and only then rounded to float64: entries beyond float64's range (``1e-400``,
``1e400``, which a plain cast flushes to zero or overflows to ``inf``) keep their relative accuracy. The rounding
changes each entry by at most ``u |a_ij|`` (``u = 2^-53``; for an entry rounded into the subnormal range by at
most ``2^-1074``), so ``||Â - 2^-e A||_2 <= ||Â - 2^-e A||_F <= u ||Â||_F (1 + u) + 2^-1074 sqrt(mn) =: s``.
The result for ``Â`` is widened by ``s`` on both sides (outward rounded) and multiplied back by ``2^e`` (outward
rounded where it leaves float64's range): an interval for the matrix as stored (docs/design.md, "Extended
precision").
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._result import NormEstimate

__all__ = ["in_range", "is_extended", "to_float64", "widen"]

_U = 2.0**-53


def is_extended(A: Any) -> bool:
    """Whether ``A`` is a NumPy or Dask array, or a SciPy sparse matrix, of a real or complex dtype wider than
    float64/complex128 (a masked array with masked entries is left to the input checks, which refuse it)."""
    if not hasattr(A, "dtype") or not hasattr(A, "ndim") or np.ma.is_masked(A):
        return False
    if not (isinstance(A, np.ndarray) or sp.issparse(A) or type(A).__module__.startswith("dask.")):
        return False
    dt = np.dtype(A.dtype) if isinstance(A.dtype, np.dtype) else None
    if dt is None or dt.kind not in "fc" or A.ndim < 2 or 0 in A.shape:
        return False
    return dt.itemsize // (2 if dt.kind == "c" else 1) > 8


def _computed(x: Any) -> np.ndarray:
    return np.asarray(x.compute() if hasattr(x, "compute") else x)


def _exponents(maxabs: np.ndarray) -> np.ndarray:
    """The exponent ``e`` of each largest entry, ``2^-e max`` in ``[1/2, 1)``; 0 for a zero or non-finite one."""
    ok = np.isfinite(maxabs) & (maxabs > 0)
    return np.where(ok, np.frexp(np.where(ok, maxabs, 1))[1], 0).astype(np.int64)


def _times_power_of_two(A: Any, e: np.ndarray) -> Any:
    """``2^-e A`` in extended precision, as two exact products: ``2^-e`` alone overflows for a largest entry
    below ``2^-16382`` (``e < -16382``), its halves do not."""
    half = -e // 2
    for k in (half, -e - half):
        scale = np.ldexp(np.ones(k.shape, dtype=np.longdouble), k)
        if sp.issparse(A):
            A = A * scale[()]  # one matrix: a scalar
        else:
            scale = scale[..., None, None]
            A = np.multiply(A, scale) if isinstance(A, np.ndarray) else A * scale
    return A


def in_range(A: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(2^-e A, e, max|a_ij|)`` per matrix, still in extended precision (powers of two: exact products), with
    ``e`` the exponent of the largest entry (0 for a zero or non-finite matrix); a Dask array stays lazy."""
    if sp.issparse(A):
        data = A.tocoo().data if A.format in ("dok", "lil") else A.data
        maxabs = np.asarray(abs(data).max() if data.size else 0, dtype=np.longdouble)
    else:
        maxabs = _computed(abs(A).max(axis=(-2, -1)))
    e = _exponents(maxabs)
    return _times_power_of_two(A, e), e, maxabs


def _sum_of_squares(scaled: Any, A64: Any) -> np.ndarray:
    """``sum |a|^2`` per matrix of the (extended) scaled matrix, summed in float64: for a sparse matrix the moduli
    of entries stored twice are added first (the rounding of each copy adds up where they meet)."""
    if sp.issparse(scaled):
        moduli = sp.csr_array(abs(scaled))  # duplicates summed, in extended precision
        return np.asarray(np.sum(moduli.data.astype(np.float64) ** 2), dtype=np.float64)
    return _computed((abs(A64) ** 2).sum(axis=(-2, -1))).astype(np.float64)


def to_float64(A: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(Â, e, s)``: ``Â = fl64(2^-e A)`` per matrix (a NumPy or Dask array, or a SciPy sparse matrix, like
    ``A``), the exponents ``e`` and the bounds ``s`` on ``||Â - 2^-e A||_2`` (both of the batch shape)."""
    scaled, e, maxabs = in_range(np.asarray(A) if isinstance(A, np.ndarray) else A)  # np.matrix, masked: data
    target = np.complex128 if np.dtype(A.dtype).kind == "c" else np.float64
    A64 = scaled.astype(target)
    m, n = A.shape[-2:]
    entries = A.nnz if sp.issparse(A) else m * n
    fro = np.sqrt(_sum_of_squares(scaled, A64))
    with np.errstate(over="ignore"):
        fro = fro * (1.0 + 2.0 * (entries + 2) * _U)  # the rounding of the computed sum and square root
        s = _U * (1.0 + _U) * fro + np.sqrt(float(entries)) * 2.0**-1073
    s = np.nextafter(np.where(maxabs > 0, s, 0.0), np.inf) * (maxabs > 0)  # an all-zero matrix converts exactly
    return A64, e, s


def _scale_outward(x: np.ndarray, e: np.ndarray, toward: float) -> np.ndarray:
    """``2^e x``, rounded toward ``toward`` (``-inf``: down, never below 0 or to ``inf``; ``inf``: up) where inexact."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        y = np.ldexp(x, e)
        inexact = np.isfinite(x) & (np.ldexp(y, -e) != x)
        y = np.where(inexact, np.nextafter(y, toward), y)
    if toward < 0:  # a lower bound: never below 0 (an underflow rounded down), never infinite
        y = np.where(np.isinf(y) & np.isfinite(x), np.finfo(np.float64).max, np.maximum(y, 0.0))
    return y


def widen(r: NormEstimate, e: np.ndarray, s: np.ndarray) -> NormEstimate:
    """``r``, computed for ``Â = fl64(2^-e A)``, as a result for ``A``: bounds widened by ``s`` and scaled back."""
    from .methods._common import relative_widths, width_rtol

    scalar = np.ndim(r.value) == 0
    with np.errstate(invalid="ignore"):
        lower = np.maximum(np.nextafter(np.asarray(r.lower, dtype=np.float64) - s, -np.inf), 0.0)
        lower = np.where(np.isnan(r.lower), np.nan, lower)
        upper = np.nextafter(np.asarray(r.upper, dtype=np.float64) + s, np.inf)
        upper = np.where(s > 0, upper, r.upper)  # nothing to widen (an all-zero matrix): as computed
        lower = np.where(s > 0, lower, r.lower)
    lower, upper = _scale_outward(lower, e, -np.inf), _scale_outward(upper, e, np.inf)
    with np.errstate(over="ignore", under="ignore"):
        value = np.clip(np.ldexp(np.asarray(r.value, dtype=np.float64), e), lower, upper)
    rtol = np.asarray(r.rtol_effective, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        short = np.asarray(r.converged) & ~(upper <= (1.0 + rtol) * lower)
    rtol = np.where(short, np.maximum(rtol, width_rtol(relative_widths(lower, upper))), rtol)
    plan = r.plan
    if plan is not None:
        why = "extended precision scaled by a power of two into float64, its rounding added to both bounds"
        plan = dataclasses.replace(plan, why_backend=f"{why}; {plan.why_backend}")

    def out(x):
        return float(x) if scalar else x

    return dataclasses.replace(
        r, value=out(value), lower=out(lower), upper=out(upper), rtol_effective=out(rtol), plan=plan
    )
