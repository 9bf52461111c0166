"""The activation constants of ``spectra.torch.lipschitz_bound``: each against ``sup |f'|`` of PyTorch's own
definition (a fine grid and closed forms), and the parameters for which that definition is not Lipschitz."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import spectra.torch as st


def softplus_jump(beta: float, threshold: float) -> float:
    """(log1p(exp(t)) - t) / |beta| = log1p(exp(-t)) / |beta|: PyTorch's two branches at x = t / beta."""
    return float(np.logaddexp(0.0, -threshold)) / abs(beta)


#: every activation of the table, with parameter values PyTorch accepts (both signs, above and below 1)
ACCEPTED = [
    nn.ReLU(),
    nn.ReLU6(),
    nn.Tanh(),
    nn.Hardtanh(),
    nn.Hardtanh(-2.0, 3.0),
    nn.Sigmoid(),
    nn.Hardsigmoid(),
    nn.Softplus(beta=1.0, threshold=34.0),
    nn.Softplus(beta=-2.0, threshold=40.0),
    nn.Softplus(beta=0.5, threshold=math.inf),
    nn.Softsign(),
    nn.CELU(0.5),
    nn.CELU(2.0),
    nn.GELU(),
    nn.GELU(approximate="tanh"),
    nn.SiLU(),
    nn.Mish(),
    nn.Hardswish(),
    nn.SELU(),
    nn.LeakyReLU(0.01),
    nn.LeakyReLU(3.0),
    nn.LeakyReLU(-2.0),
    nn.ELU(),
    nn.ELU(0.5),
    nn.ELU(2.5),
    nn.ELU(-1.5),
    nn.Identity(),
]


def _grid_slope(f: nn.Module) -> float:
    """max |f(x_{i+1}) - f(x_i)| / h on a grid of step 1e-4 over [-60, 60] in float64: the mean of f' between
    neighbours, so at most sup |f'| (up to rounding, ~1e-12 here), and within the grid's resolution of it."""
    x = torch.linspace(-60.0, 60.0, 1_200_001, dtype=torch.float64)
    with torch.no_grad():
        y = f(x.clone())
    return float(((y[1:] - y[:-1]).abs() / (x[1:] - x[:-1])).max())


def _constant(m: nn.Module) -> float:
    return st.lipschitz_bound(nn.Sequential(m), (5,), method="fft").upper


@pytest.mark.parametrize("m", ACCEPTED, ids=repr)
def test_each_activation_constant_bounds_the_slope_on_a_fine_grid(m):
    """The audit of the table: no slope of PyTorch's function exceeds the constant, and the constant is tight
    (within 1e-3 of the largest grid slope, every supremum being attained or approached within the grid)."""
    slope = _grid_slope(m.double())
    constant = _constant(m)
    assert slope <= constant + 1e-9
    assert constant <= slope * (1 + 1e-3) + 1e-9


def _phi(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize(
    "m, sup",
    [
        (nn.Sigmoid(), 0.25),  # sigma(1 - sigma) at 0
        (nn.Hardsigmoid(), 1.0 / 6.0),  # x / 6 + 1 / 2 on [-3, 3]
        (nn.Hardswish(), 1.5),  # (2x + 3) / 6 as x -> 3
        (nn.SELU(), 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717),  # scale alpha e^x
        # GELU: d/dx x Phi(x) = Phi + x phi, critical where (2 - x^2) phi = 0: x = sqrt(2)
        (nn.GELU(), 0.5 * (1 + math.erf(1.0)) + math.sqrt(2) * _phi(math.sqrt(2))),
        # SiLU: sigma (1 + x (1 - sigma)); its maximum at the root of 2 + x (1 - 2 sigma) = 0, x = 2.39935728...
        (nn.SiLU(), _sigmoid(2.399357280515) * (1 + 2.399357280515 * (1 - _sigmoid(2.399357280515)))),
        (nn.LeakyReLU(-2.0), 2.0),
        (nn.ELU(-1.5), 1.5),  # |alpha| e^x as x -> 0-
    ],
    ids=lambda v: repr(v) if isinstance(v, nn.Module) else "",
)
def test_each_closed_form_supremum_is_below_its_constant(m, sup):
    assert sup <= _constant(m) <= sup * (1 + 1e-3)  # rounded up by at most 1e-3


def test_softmax_constant_bounds_its_jacobian():
    """Softmax is not elementwise: its Jacobian diag(p) - p p^T has norm <= max p <= 1."""
    gen = torch.Generator().manual_seed(0)
    f = nn.Softmax(dim=-1)
    constant = _constant(f)
    for scale in (0.1, 1.0, 10.0):
        x = scale * torch.randn(5, generator=gen, dtype=torch.float64)
        J = torch.autograd.functional.jacobian(f, x)
        assert np.linalg.norm(J.numpy(), 2) <= constant


@pytest.mark.parametrize(
    "m, match",
    [
        (nn.CELU(-1.0), r"CELU\(alpha=-1.0\) has no Lipschitz constant"),
        (nn.CELU(0.0), r"CELU\(alpha=0.0\) has no Lipschitz constant"),
        (nn.Softplus(beta=0.0), r"Softplus\(beta=0\) computes log\(2\) / 0"),
        (nn.Softplus(beta=0.5, threshold=1.0), r"jump of log1p\(exp\(-threshold\)\) / \|beta\| = 0.627"),
        (nn.Softplus(beta=1.0, threshold=-5.0), r"Softplus\(beta=1, threshold=-5\) is not Lipschitz"),
    ],
    ids=repr,
)
def test_an_activation_without_a_lipschitz_constant_is_refused(m, match):
    """Regression: each was certified by the table constant 1.0 (CELU(0): torch's ZeroDivisionError, reported
    as an input shape the model does not run on). CELU(alpha=-1) has slope exp(x / alpha), 148 between -5 and
    -5.001; Softplus(beta=0) returns inf; Softplus(beta=0.5, threshold=1) jumps by log1p(e^-1) / 0.5 = 0.627 at
    x = 2 (a pair 2e-9 apart had ratio 3.1e8), Softplus(threshold=-5) by log1p(e^5) = 5.007 at x = -5."""
    net = nn.Sequential(nn.Linear(3, 3), m).double().eval()
    with pytest.raises(ValueError, match=match):
        st.lipschitz_bound(net, (3,), method="fft")


@pytest.mark.parametrize(
    "dtype, accepted, refused",
    [(torch.float32, 14.0, 13.99), (torch.float64, 33.3, 33.2), (torch.bfloat16, 4.2, 4.1)],
)
def test_the_softplus_jump_is_accepted_up_to_the_rounding_of_its_output(dtype, accepted, refused):
    """The rule at its edge: accepted iff log1p(exp(-t)) / |beta| <= u |t / beta| (u the unit roundoff of the
    dtype the layer computes in; beta cancels). PyTorch's default threshold 20 (jump 2.06e-9 at x = 20) is within
    float32's 2^-24 * 20 = 1.19e-6 and accepted there, but not within float64's 2.2e-15: refused."""
    u = torch.finfo(dtype).eps / 2
    for beta in (1.0, -0.5, 3.0):
        assert softplus_jump(beta, accepted) <= u * abs(accepted / beta)
        assert softplus_jump(beta, refused) > u * abs(refused / beta)
        ok = nn.Sequential(nn.Flatten(), nn.Softplus(beta=beta, threshold=accepted)).to(dtype)
        assert _bound_in(ok, dtype) == 1.0
        with pytest.raises(ValueError, match=r"jump of log1p.*above the rounding error"):
            _bound_in(nn.Sequential(nn.Flatten(), nn.Softplus(beta=beta, threshold=refused)), dtype)
    assert softplus_jump(1.0, 20.0) == pytest.approx(2.0611536e-9, rel=1e-6)
    for beta, threshold in [(0.5, 1.0), (1.0, 5.0), (-2.0, 3.0), (1.0, -5.0)]:  # the oracle against PyTorch
        f = nn.Softplus(beta=beta, threshold=threshold).double()
        edge = threshold / beta
        x = torch.tensor([edge - 1e-12 * np.sign(beta), edge + 1e-12 * np.sign(beta)], dtype=torch.float64)
        measured = float((f(x)[1] - f(x)[0]).abs())
        assert measured == pytest.approx(softplus_jump(beta, threshold), rel=1e-9, abs=1e-11)
    default = nn.Sequential(nn.Flatten(), nn.Softplus())
    if dtype == torch.float64:
        with pytest.raises(ValueError, match=r"threshold >= 14 suffices in float32, >= 34 in float64"):
            _bound_in(default, dtype)
    else:
        assert _bound_in(default, dtype) == 1.0


def _bound_in(model: nn.Module, dtype: torch.dtype) -> float:
    """The model's bound on a probe of ``dtype`` (a model without state is probed in the default dtype)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype if dtype in (torch.float32, torch.float64) else torch.float32)
    try:
        model = nn.Sequential(nn.Linear(4, 4, bias=False).to(dtype), model)
        with torch.no_grad():
            model[0].weight.copy_(torch.eye(4))
        return st.lipschitz_bound(model, (4,), method="fft").layers[-1].upper
    finally:
        torch.set_default_dtype(previous)
