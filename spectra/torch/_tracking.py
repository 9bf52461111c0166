"""Certified bound tracking across training steps (docs/bounds.md §12).

While ``W`` moves away from the weight ``W_ref`` of the last full certificate, the triangle inequality keeps a
valid upper bound at the cost of one pass over ``W``:

    ||op(W)||_2 <= upper(W_ref) + ||op(W - W_ref)||_2 <= upper(W_ref) + drift(W - W_ref)

with ``drift(D) = ||D||_F`` for a matrix and ``drift(D) = ||P||_2 · Σ_j ||D_j||_F`` for a convolution (``D_j``
the ``c_out × c_in`` block of kernel tap ``j``, ``P`` the padding): the layer is ``Σ_j S_j ⊗ D_j`` after the
padding, with ``S_j`` a row selection of norm <= 1. Both are computed in float64 from the stored entries and
rounded up for their own rounding, so the bound is deterministic given ``upper(W_ref)``.
"""

from __future__ import annotations

import math

import torch

from .. import _bounds

__all__ = ["drift_upper", "round_up_to"]

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


def round_up_to(x: float, dtype: torch.dtype) -> float:
    """The smallest value of ``dtype`` that is >= ``x`` (as a Python float)."""
    t = torch.tensor(x, dtype=torch.float64).to(dtype)
    if float(t) < x:
        t = torch.nextafter(t, torch.tensor(math.inf, dtype=dtype))
    return float(t)
