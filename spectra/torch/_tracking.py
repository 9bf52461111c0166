"""Certified bound tracking across training steps (docs/bounds.md §12).

While ``W`` moves away from the weight ``W_ref`` of the last full certificate, the triangle inequality keeps a
valid upper bound:

    ||op(W)||_2 <= upper(W_ref) + ||op(W - W_ref)||_2 <= upper(W_ref) + drift(W - W_ref)

- a matrix: ``drift(D) = ||D||_F`` (one pass over ``W``);
- a convolution, ``op(D) = (Σ_j S_j ⊗ D_j) P`` (``D_j`` the ``c_out × c_in`` block of kernel tap ``j``, ``S_j``
  its row selection, ``P`` the padding): the tap sum ``||P|| Σ_j ||D_j||_F`` (one pass), or the tighter
  ``||P|| min(sqrt(c_h) ||[D_1 … D_T]||_2, sqrt(T) ||[D_1; …; D_T]||_2)`` from two factorisations of the sum
  (:func:`reshaped_drift_upper`, two small SVDs; ``T`` taps, ``c_h`` the most taps reading one padded input).

Every value is rounded up for its own rounding, so the bound is deterministic given ``upper(W_ref)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import _bounds
from .._conv_geometry import ConvGeometry
from ._power import ldexp, times_pow2

__all__ = ["ConvDriftGeometry", "drift_upper", "reshaped_drift_upper", "round_up_to", "underflow_upper"]

_U64 = _bounds.unit_roundoff("float64")


def drift_upper(D: torch.Tensor, pad_norm: float | None) -> float:
    """Rounding-safe upper bound of ``||op(D)||_2`` (``pad_norm=None``: ``D`` is the matrix, bound ``||D||_F``).

    ``D`` is a difference computed in the weight's precision: each entry carries a relative rounding of at
    most ``u`` of ``D.dtype``, hence the factor ``1 / (1 - u)``; the float64 sums add ``γ_{n+T+8}``.
    """
    u_w = torch.finfo(D.dtype).eps / 2.0
    n = D.numel()
    terms = 1 if pad_norm is None else math.prod(D.shape[2:])
    fro = _norm_sum(D, pad_norm is not None)
    if D.dtype == torch.float64 and not _SAFE_SUM[0] <= fro <= _SAFE_SUM[1]:
        # squares of float64 entries below 1e-154 underflow and above 1e154 overflow (a sum of 0 for a nonzero D
        # would be an unsafe drift): the entries are scaled by the power of two that puts max |D| into [1/2, 1)
        # (scaled entries that fall below 2**-1022 err by 2**-1075 each, against a sum above 1/2)
        top = torch.frexp(D.detach().abs().amax())
        if float(top.mantissa) != 0.0:
            e = int(top.exponent)
            fro = ldexp(_norm_sum(times_pow2(D, -e), pad_norm is not None), e)
    if pad_norm is not None:
        fro *= pad_norm
    pad = (1.0 + _bounds.gamma(n + terms + 8, _U64)) / (1.0 - u_w)
    return fro * pad


def underflow_upper(weight: torch.Tensor, pad_norm: float | None) -> float:
    """``max ||op(Z)||_2`` over ``Z`` of ``weight``'s shape with ``|Z| <= 1`` entrywise, bounded as
    :func:`drift_upper` bounds ``op(D)``: ``sqrt(n)`` for a matrix (``pad_norm=None``; ``||Z||_F``), and
    ``||P|| Σ_j ||Z_j||_F <= ||P|| sqrt(T n)`` for a convolution (``T`` taps of ``n / T`` entries each)."""
    n = weight.numel()
    if pad_norm is None:
        return math.sqrt(n) * (1.0 + 4.0 * _U64)
    return pad_norm * math.sqrt(math.prod(weight.shape[2:]) * n) * (1.0 + 4.0 * _U64)


#: a float64 sum of squares in this range lost nothing to the underflow of single squares beyond its γ pad
#: (each lost square is below 2**-1074, n of them against a sum above 2**-900) and had no overflow
_SAFE_SUM = (2.0**-450, 2.0**450)


def _norm_sum(D: torch.Tensor, per_tap: bool) -> float:
    """``||D||_F``, or ``Σ_j ||D_j||_F`` over the kernel taps ``j`` (``per_tap``), squares summed in float64."""
    if not per_tap:
        return float(torch.linalg.vector_norm(D, dtype=torch.float64))
    taps = torch.linalg.vector_norm(D.reshape(D.shape[0] * D.shape[1], -1), dim=0, dtype=torch.float64)
    return float(taps.sum())


@dataclass(frozen=True)
class ConvDriftGeometry:
    """The constants of the convolution drift bounds, computed once per layer geometry.

    ``pad_norm = ||P||_2``; ``taps = T``; ``reads = c_h = ||Σ_j S_jᵀ S_j||_2``, the largest number of
    (output, tap) pairs reading one padded input position (a product over the axes; ``<= T``, smaller for
    strides); ``groups`` as in the layer.
    """

    pad_norm: float
    taps: int
    reads: int
    groups: int

    @classmethod
    def of(cls, geom: ConvGeometry) -> ConvDriftGeometry:
        reads = 1
        for L, o, s, dl, k in zip(geom.padded, geom.out, geom.stride, geom.dilation, geom.kernel, strict=True):
            pos = (np.arange(o)[:, None] * s + np.arange(k)[None, :] * dl).ravel()
            reads *= int(np.bincount(pos, minlength=L).max())
        return cls(geom.pad_norm(), math.prod(geom.kernel), reads, geom.groups)


def reshaped_drift_upper(D: torch.Tensor, g: ConvDriftGeometry) -> float:
    """``||P|| min(sqrt(c_h) ||M||_2, sqrt(T) ||N||_2)`` plus the rounding of ``D``, rounded up (§12).

    ``M_g = [D_1 … D_T]`` (``c_out/G × c_in/G·T``) and ``N_g = [D_1; …; D_T]`` per group ``g``; their norms are
    the certified upper ends of :func:`spectra.norm`'s SVD interval (float64, confidence 1). ``D`` holds
    ``fl(W - W_ref)``: the exact difference is ``D + E`` with ``|E| <= u/(1-u)·|D|`` entrywise, whose operator
    norm is at most ``u/(1-u)`` times the tap sum of ``D``.
    """
    from .._api import norm

    G = g.groups
    D64 = D.detach().to(device="cpu", dtype=torch.float64)
    co, ci = D64.shape[0] // G, D64.shape[1]
    T = g.taps
    blocks = D64.reshape(G, co, ci, T)
    M = blocks.reshape(G, co, ci * T).numpy()
    N = blocks.permute(0, 3, 1, 2).reshape(G, T * co, ci).numpy()
    up_m = float(np.max(norm(M, method="svd").upper))
    up_n = float(np.max(norm(N, method="svd").upper))
    u_w = torch.finfo(D.dtype).eps / 2.0
    rounding = u_w / (1.0 - u_w) * drift_upper(D, 1.0)
    best = min(math.sqrt(g.reads) * up_m, math.sqrt(T) * up_n) * (1.0 + 4.0 * _U64)
    return g.pad_norm * (best + rounding) * (1.0 + 4.0 * _U64)


def round_up_to(x: float, dtype: torch.dtype) -> float:
    """The smallest value of ``dtype`` that is >= ``x`` (as a Python float)."""
    t = torch.tensor(x, dtype=torch.float64).to(dtype)
    if float(t) < x:
        t = torch.nextafter(t, torch.tensor(math.inf, dtype=dtype))
    return float(t)
