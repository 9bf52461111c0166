"""Extended-precision input (``np.longdouble``, ``np.clongdouble``; NumPy or Dask): computed in float64.

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

from ._result import NormEstimate

__all__ = ["in_range", "is_extended", "to_float64", "widen"]

_U = 2.0**-53


def is_extended(A: Any) -> bool:
    """Whether ``A`` is a NumPy or Dask array of a real or complex dtype wider than float64/complex128."""
    if isinstance(A, np.ma.MaskedArray) or not hasattr(A, "dtype") or not hasattr(A, "ndim"):
        return False
    if not (isinstance(A, np.ndarray) or type(A).__module__.startswith("dask.")):
        return False
    dt = np.dtype(A.dtype) if isinstance(A.dtype, np.dtype) else None
    if dt is None or dt.kind not in "fc" or A.ndim < 2 or 0 in A.shape:
        return False
    return dt.itemsize // (2 if dt.kind == "c" else 1) > 8


def _computed(x: Any) -> np.ndarray:
    return np.asarray(x.compute() if hasattr(x, "compute") else x)


def in_range(A: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(2^-e A, e, max|a_ij|)`` per matrix, still in extended precision (powers of two: exact products), with
    ``e`` the exponent of the largest entry (0 for a zero or non-finite matrix); a Dask array stays lazy."""
    maxabs = _computed(abs(A).max(axis=(-2, -1)))
    ok = np.isfinite(maxabs) & (maxabs > 0)
    e = np.where(ok, np.frexp(np.where(ok, maxabs, 1))[1], 0).astype(np.int64)
    scale = np.ldexp(np.ones(e.shape, dtype=np.longdouble), -e)[..., None, None]
    return np.multiply(A, scale) if isinstance(A, np.ndarray) else A * scale, e, maxabs


def to_float64(A: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(Â, e, s)``: ``Â = fl64(2^-e A)`` per matrix (a NumPy or Dask array like ``A``), the exponents ``e``
    and the bounds ``s`` on ``||Â - 2^-e A||_2`` (both of the batch shape ``A.shape[:-2]``)."""
    scaled, e, maxabs = in_range(np.asarray(A) if isinstance(A, np.matrix) else A)
    target = np.complex128 if np.dtype(A.dtype).kind == "c" else np.float64
    A64 = scaled.astype(target)
    m, n = A.shape[-2:]
    fro = np.sqrt(_computed((abs(A64) ** 2).sum(axis=(-2, -1))).astype(np.float64))
    with np.errstate(over="ignore"):
        fro = fro * (1.0 + 2.0 * (m * n + 2) * _U)  # the rounding of the computed sum and square root
        s = _U * (1.0 + _U) * fro + np.sqrt(float(m * n)) * 2.0**-1073
    s = np.nextafter(np.where(maxabs > 0, s, 0.0), np.inf) * (maxabs > 0)  # an all-zero matrix converts exactly
    return A64, e, s


def _scale_outward(x: np.ndarray, e: np.ndarray, toward: float) -> np.ndarray:
    """``2^e x``, rounded toward ``toward`` (``-inf``: down, never below 0 or to ``inf``; ``inf``: up) where inexact."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        y = np.ldexp(x, e)
        inexact = np.isfinite(x) & (np.ldexp(y, -e) != x)
        y = np.where(inexact, np.nextafter(y, toward), y)
    if toward < 0:
        y = np.where(np.isinf(y) & np.isfinite(x), np.finfo(np.float64).max, y)
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
