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

__all__ = ["ConvDriftGeometry", "drift_upper", "reshaped_drift_upper", "round_up_to"]

_U64 = _bounds.unit_roundoff("float64")


def drift_upper(D: torch.Tensor, pad_norm: float | None) -> float:
    """Rounding-safe upper bound of ``||op(D)||_2`` (``pad_norm=None``: ``D`` is the matrix, bound ``||D||_F``).

    ``D`` is a difference computed in the weight's precision: each entry carries a relative rounding of at
    most ``u`` of ``D.dtype``, hence the factor ``1 / (1 - u)``; the float64 sums add ``γ_{n+T+8}``.
    """
    u_w = torch.finfo(D.dtype).eps / 2.0
    n = D.numel()
    if pad_norm is None:
        fro = float(torch.linalg.vector_norm(D, dtype=torch.float64))
        terms = 1
    else:
        taps = torch.linalg.vector_norm(D.reshape(D.shape[0] * D.shape[1], -1), dim=0, dtype=torch.float64)
        fro = float(taps.sum()) * pad_norm
        terms = taps.numel()
    pad = (1.0 + _bounds.gamma(n + terms + 8, _U64)) / (1.0 - u_w)
    return fro * pad


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
