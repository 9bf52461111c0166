"""The activations ``lipschitz_bound`` reads: ``sup |f'|`` for every parameter value PyTorch accepts, or a refusal.

Each constant is the supremum of ``|f'|`` over the real line of PyTorch's own definition of the module (its
parameters included), rounded up; a parameter value for which that supremum is infinite, or for which PyTorch's
definition jumps, raises ``ValueError`` instead of giving a number.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["ACTIVATION_CONSTANTS", "activation_constant", "softplus_jump"]


def _leaky_relu(m: nn.LeakyReLU) -> float:
    # slopes 1 and negative_slope, joined continuously at 0: any sign and size
    return max(1.0, abs(float(m.negative_slope)))


def _elu(m: nn.ELU) -> float:
    # x (x > 0), alpha (e^x - 1) (x <= 0): continuous at 0, slope alpha e^x, so |alpha| for any sign of alpha
    return max(1.0, abs(float(m.alpha)))


def _celu(m: nn.CELU) -> float:
    # max(0, x) + min(0, alpha (e^{x/alpha} - 1)): slope e^{x/alpha} <= 1 on x < 0 for alpha > 0; for alpha < 0 it
    # is e^{|x|/|alpha|}, unbounded; alpha = 0 divides by zero
    if not float(m.alpha) > 0.0:
        raise ValueError(
            f"CELU(alpha={m.alpha}) has no Lipschitz constant: its slope on x < 0 is exp(x / alpha), "
            "unbounded for alpha < 0 (and alpha = 0 divides by zero); use alpha > 0, whose constant is 1"
        )
    return 1.0


def _softplus(m: nn.Softplus) -> float:
    # log1p(exp(beta x)) / beta has slope sigmoid(beta x) in (0, 1) for either sign of beta; beta = 0 gives inf
    if float(m.beta) == 0.0:
        raise ValueError("Softplus(beta=0) computes log(2) / 0 = inf; use beta != 0")
    return 1.0


#: sup |f'| of elementwise activations, rounded up (GELU: Φ(√2) + √2 φ(√2) = 1.12897, its tanh approximation
#: 1.12899; SiLU: 1.09984; Mish: 1.08850; SELU: scale · alpha = 1.75810); Softmax: its Jacobian diag(p) - p pᵀ has
#: norm <= max p <= 1. A function of the module raises ValueError for parameters without a Lipschitz constant
#: (CELU with alpha <= 0, Softplus with beta = 0); Softplus's jump at its threshold is checked by
#: :func:`activation_constant`.
ACTIVATION_CONSTANTS: dict[type, object] = {
    nn.ReLU: 1.0,
    nn.ReLU6: 1.0,
    nn.Tanh: 1.0,
    nn.Hardtanh: 1.0,
    nn.Sigmoid: 0.25,
    nn.Hardsigmoid: 1.0 / 6.0 * (1.0 + 1e-15),
    nn.Softplus: _softplus,
    nn.Softsign: 1.0,
    nn.CELU: _celu,
    nn.GELU: 1.129,
    nn.SiLU: 1.1,
    nn.Mish: 1.089,
    nn.Hardswish: 1.5,
    nn.SELU: 1.7581,
    nn.Softmax: 1.0,
    nn.LeakyReLU: _leaky_relu,
    nn.ELU: _elu,
    nn.Identity: 1.0,
    nn.Flatten: 1.0,
    nn.Unflatten: 1.0,
}


def softplus_jump(beta: float, threshold: float) -> float:
    """The jump of PyTorch's ``Softplus(beta, threshold)`` at ``x = threshold / beta``.

    PyTorch returns ``x`` where ``beta x > threshold`` and ``log1p(exp(beta x)) / beta`` elsewhere; at the switch
    the two differ by ``(log1p(exp(t)) - t) / |beta| = log1p(exp(-t)) / |beta|``, ``t = threshold``.
    """
    if math.isinf(threshold) and threshold > 0:
        return 0.0  # the identity branch is never taken
    return float(np.logaddexp(0.0, -float(threshold))) / abs(float(beta))


def _check_softplus_jump(m: nn.Softplus, dtype: torch.dtype) -> None:
    """Accept the jump only when it is within the rounding error bound ``u |f|`` of the output at the jump in
    ``dtype`` (``u`` = unit roundoff): PyTorch's Softplus is the smooth, 1-Lipschitz softplus plus a perturbation
    of at most that jump, no larger than what rounding the output to ``dtype`` there may already add."""
    beta, threshold = float(m.beta), float(m.threshold)
    jump = softplus_jump(beta, threshold)
    u = torch.finfo(dtype).eps / 2.0
    allowed = u * abs(threshold / beta) if math.isfinite(threshold) else 0.0
    if not jump <= allowed:
        raise ValueError(
            f"Softplus(beta={beta:g}, threshold={threshold:g}) is not Lipschitz: PyTorch switches to the identity "
            f"at x = threshold / beta = {threshold / beta:g}, a jump of log1p(exp(-threshold)) / |beta| = "
            f"{jump:.3g}, above the rounding error {allowed:.3g} of a {str(dtype).removeprefix('torch.')} output "
            "there (unit roundoff x |threshold / beta|). Raise threshold (the jump falls as exp(-threshold): "
            "threshold >= 14 suffices in float32, >= 34 in float64, for any beta) or use threshold=inf."
        )


def activation_constant(m: nn.Module, dtype: torch.dtype) -> float | None:
    """``sup |f'|`` of the activation ``m`` computing in ``dtype`` (matched by exact type), or ``None``.

    Raises ``ValueError`` where PyTorch's definition with ``m``'s parameters is not Lipschitz.
    """
    const = ACTIVATION_CONSTANTS.get(type(m))
    if const is None:
        return None
    value = const(m) if callable(const) else const
    if type(m) is nn.Softplus:
        _check_softplus_jump(m, dtype)
    return float(value)
