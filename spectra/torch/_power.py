"""The power steps of ``spectral_norm`` at any finite scale of the weight (docs/bounds.md §12).

PyTorch's power step normalises ``W v`` by ``F.normalize(·, eps)``, whose norm squares the entries in the vector's
own dtype: in float32 they underflow from ``|x| ≈ 1e-23`` and overflow from ``1e19``, and below ``||W v|| = eps``
the vector is not normalised at all, so a weight of norm 1e-30 or 1e30 left zero (or NaN) vectors, which then
reached the certificate as its start vector. Here each vector is first multiplied by the power of two that brings
its largest entry into ``[1/2, 1)`` (so its norm lies in ``[1/2, sqrt(n)]`` and ``eps`` only guards the zero vector),
and a weight far from the middle of its dtype's exponent range is scaled by a power of two for the products, so
that they neither overflow nor lose their digits to underflow. The iterates are an estimate, never a bound: the
scaling only keeps them meaningful.
"""

from __future__ import annotations

import math

import torch

from .._bounds import scale_by_power_of_two

__all__ = ["ldexp", "times_pow2", "unit", "weight_exponent"]


def ldexp(x: float, e: int, up: bool = False) -> float:
    """``x · 2**e`` as a float64, ``±inf`` beyond its range; exact unless it leaves float64's normal range, where
    ``up=True`` rounds it up (for an upper bound): :func:`spectra._bounds.scale_by_power_of_two`."""
    return float(scale_by_power_of_two(x, e, 1 if up else 0))


def times_pow2(x: torch.Tensor, k) -> torch.Tensor:
    """``x · 2**k`` in ``x``'s dtype (``k`` an int or an integer tensor), as two factors that are each a normal
    number of that dtype (``2**k`` alone may not be: float16 ends at ``2**15``)."""
    k = torch.as_tensor(k, device=x.device)
    half = torch.div(k, 2, rounding_mode="floor")
    for j in (half, k - half):
        x = x * torch.exp2(j.to(torch.float64)).to(x.dtype)
    return x


def unit(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x / ||x||, ||x s||, log2(1/s))`` with ``s`` the power of two that puts ``max |x|`` into ``[1/2, 1)``;
    ``||x|| = ||x s|| · 2**log2(1/s)``. The norm of ``x s`` is floored at ``eps`` (a zero ``x`` stays zero)."""
    e = torch.frexp(x.abs().amax()).exponent  # 0 for a zero vector
    xs = times_pow2(x, -e)
    norm = torch.linalg.vector_norm(xs)
    return xs / norm.clamp_min(eps), norm, e


def weight_exponent(scale: float, dtype: torch.dtype) -> int:
    """``k`` such that the products of ``2**k W`` with unit vectors stay well inside ``dtype``'s range, for a weight
    of size ``scale`` (a norm-like bound of ``W``, e.g. its Frobenius norm): ``0`` (no scaling, no cost) while
    ``scale`` lies within the middle half of the exponent range, ``2**(emin/2) .. 2**(emax/2)``."""
    info = torch.finfo(dtype)
    emax, emin = math.frexp(info.max)[1], math.frexp(info.tiny)[1]
    if not math.isfinite(scale):  # beyond float64 (a float64 weight near its largest value): entries bounded by max
        return -(emax + 64)
    if scale <= 0.0:
        return 0
    e = math.frexp(scale)[1]
    return 0 if emin // 2 <= e <= emax // 2 else -e
