"""``torch.autocast`` and the certified divisor (docs/bounds.md §12, "Autocast").

Under autocast a layer's ``F.linear``/``convNd`` casts the normalised weight ``W / sigma`` to the autocast dtype
(bfloat16 on the CPU, float16 or bfloat16 on CUDA): the map it computes has the rounded weight, whose norm can
exceed 1 (45 of 100 freshly certified ``Linear`` layers under CPU bfloat16, worst 1.00073). ``spectral_norm``
therefore pads its divisor for that second rounding whenever autocast is on for the weight's device and would
cast the weight (a floating weight other than float64, of another dtype than autocast's), and runs its own
arithmetic (power steps, certificates) with autocast off, in the weight's precision.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["autocast_off", "autocast_state", "roundoff"]


def autocast_state(weight: torch.Tensor) -> tuple[bool, torch.dtype | None]:
    """``(enabled, lowered)``: whether autocast is on for ``weight``'s device type, and the dtype it casts the
    weight to in a layer's product (``None`` where it leaves the weight as it is: float64, which autocast never
    casts, or a weight already in the autocast dtype)."""
    device = weight.device.type
    try:
        enabled = torch.is_autocast_enabled(device)
        dtype = torch.get_autocast_dtype(device)
    except (TypeError, RuntimeError, AttributeError):  # torch < 2.4, or a device type without autocast
        if device == "cpu":
            enabled, dtype = torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
        elif device == "cuda":
            enabled, dtype = torch.is_autocast_enabled(), torch.get_autocast_gpu_dtype()
        else:
            return False, None
    if not enabled:
        return False, None
    eligible = weight.is_floating_point() and weight.dtype not in (torch.float64, dtype)
    return True, dtype if eligible else None


def autocast_off(weight: torch.Tensor, enabled: bool):
    """A context with autocast off on ``weight``'s device where it is on (else a no-op context)."""
    return torch.autocast(weight.device.type, enabled=False) if enabled else contextlib.nullcontext()


def roundoff(dtype: torch.dtype, lowered: torch.dtype | None) -> tuple[float, float]:
    """``(u, eta)`` of the rounding from the exact ``W / sigma`` to the weight the layer uses: ``fl(x) = x (1 + e)
    + z`` with ``|e| <= u``, ``|z| <= eta``. One rounding to ``dtype`` (round to nearest: ``u`` its unit roundoff,
    ``eta`` its smallest subnormal, twice the underflow error ``eta/2``), or that rounding followed by the cast to
    ``lowered``: ``(1 + e1)(1 + e2) = 1 + e`` with ``|e| <= u1 + u2 + u1 u2``, ``|z| <= (1 + u2) eta1/2 + eta2/2
    <= eta1 + eta2``."""
    u, eta = _unit_roundoff(dtype)
    if lowered is None:
        return u, eta
    u2, eta2 = _unit_roundoff(lowered)
    return u + u2 + u * u2, eta + eta2


def _unit_roundoff(dtype: torch.dtype) -> tuple[float, float]:
    info = torch.finfo(dtype)
    return info.eps / 2.0, info.tiny * info.eps
