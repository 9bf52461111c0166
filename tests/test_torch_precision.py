"""``spectra.torch.spectral_norm`` at reduced precision and extreme scales: bfloat16 weights with iterative
certificates, weights from 1e-35 to 1e35 (float32) and 1e±300 (float64), and the weight autocast actually uses.
Oracle: float64 LAPACK SVD of the explicit matrix (a convolution materialised entry by entry)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import spectra.torch as st

from .test_torch_spectral_norm import param, true_norm


def _raw_norm(layer, input_shape) -> float:
    """The norm of the unnormalised weight, taken at a power-of-two scale (exact) so LAPACK sees numbers near 1."""
    raw = layer.parametrizations.weight.original.detach().double()
    k = math.frexp(float(raw.abs().max()))[1]
    return math.ldexp(true_norm(layer, input_shape, torch.ldexp(raw, torch.tensor(-k))), k)


@pytest.mark.parametrize(
    "build",
    [
        lambda: st.spectral_norm(nn.Linear(8, 8).bfloat16(), method="lanczos"),
        lambda: st.spectral_norm(nn.Linear(8, 8).bfloat16(), method="power"),
        lambda: st.spectral_norm(nn.Linear(500, 500).bfloat16()),  # auto: lanczos above 1e8 work
        lambda: st.spectral_norm(nn.Linear(500, 500)).bfloat16(),  # a float32 layer cast, then a forward
        lambda: st.spectral_norm(nn.Conv1d(2, 3, 3, padding=1).bfloat16(), method="lanczos", input_shape=(2, 9)),
    ],
)
def test_bfloat16_layers_with_iterative_certificates(build):
    """Regression: the power vector (bfloat16) passed as the certificate's ``v0`` raised ``TypeError: v0 must be an
    array, got Tensor (Got unsupported ScalarType BFloat16)``, at registration or at the first forward call."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a ConvergenceWarning of the power certificate: its bound is valid
        layer = build()
        shape = None if isinstance(layer, nn.Linear) else (2, 9)
        layer.train()
        layer(torch.randn(2, *(shape or (layer.in_features,)), dtype=torch.bfloat16))
    assert layer.weight.dtype == torch.bfloat16
    assert true_norm(layer, shape) <= 1.0
    assert param(layer).sigma >= _raw_norm(layer, shape)
    assert true_norm(layer, shape) >= 0.9  # a certificate, not a loose fallback


def _scales():
    for e in range(-35, 36, 10):
        yield torch.float32, e
    for e in (-300, -150, 150, 300):
        yield torch.float64, e


@pytest.mark.parametrize("dtype, exponent", list(_scales()))
@pytest.mark.parametrize(
    "make, input_shape",
    [
        (lambda: nn.Conv1d(2, 3, 3, padding=1, bias=False), (2, 7)),
        (lambda: nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular", bias=False), (2, 5, 5)),
        (lambda: nn.Linear(6, 5, bias=False), None),
    ],
)
def test_weights_at_any_finite_scale(make, input_shape, dtype, exponent):
    """Regression: a float32 Conv1d with weights near 1e-30 or 1e30 raised ``ValueError: v0 must not be the zero
    vector`` at registration (the power steps normalised with PyTorch's eps floor and squared entries in float32,
    so the vectors under- or overflowed to zero); float64 weights beyond 1e±154 got sigma = inf (squares overflowed)
    or a drift of 0 (squares underflowed). Each step: ||W / sigma||_2 <= 1 and sigma within tol of the norm."""
    torch.manual_seed(0)
    layer = make().to(dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, dtype=dtype) * 10.0**exponent)
    kw = {} if input_shape is None else dict(input_shape=input_shape)
    st.spectral_norm(layer, eps=float(torch.finfo(dtype).tiny), **kw)  # eps below the norm: no floor
    raw = layer.parametrizations.weight.original
    for _ in range(4):
        layer.train()
        layer(torch.randn(1, *(input_shape or (6,)), dtype=dtype))
        truth = _raw_norm(layer, input_shape)
        sigma = param(layer).sigma
        assert true_norm(layer, input_shape) <= 1.0
        assert truth <= sigma <= 1.03 * truth, (truth, sigma)
        assert param(layer)._power_lower > 0.5 * truth  # the power steps follow the weight at its scale
        with torch.no_grad():
            raw.add_(0.01 * raw.abs().max() * torch.randn(raw.shape, dtype=dtype))


def test_a_tiny_conv_weight_with_the_default_eps():
    """The reviewer's case: ``eps = 1e-12`` floors sigma (documented), so W / sigma is small, but it registers."""
    torch.manual_seed(0)
    conv = nn.Conv1d(2, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.mul_(1e-30)
    st.spectral_norm(conv, input_shape=(2, 7))
    assert param(conv).sigma == pytest.approx(1e-12, rel=1e-6)
    assert true_norm(conv, (2, 7)) <= 1.0


def _autocast_layers():
    gen = torch.Generator().manual_seed(0)

    def rand(lo, hi):
        return int(torch.randint(lo, hi, (), generator=gen))

    for i in range(60):
        yield nn.Linear(rand(1, 120), rand(1, 120), bias=i % 2 == 0), None
    for _ in range(30):
        c_in = rand(1, 7)
        yield nn.Conv2d(c_in, rand(1, 7), 3, padding=1), (c_in, 5, 5)
    for _ in range(20):
        c_in = rand(1, 5)
        yield nn.Conv2d(c_in, rand(1, 5), 3, stride=2, padding=1, padding_mode="reflect"), (c_in, 6, 6)


def test_the_weight_autocast_uses_has_norm_at_most_one():
    """Regression: under ``torch.autocast("cpu", dtype=torch.bfloat16)`` F.linear / convNd cast W / sigma to
    bfloat16, and that weight had norm up to 1.00073 (45 of 100 fresh Linear layers above 1). sigma is now padded
    for the cast (bounds.md §12): over 110 layers, trained one step with autocast, the bfloat16 weight the product
    uses (the parametrization's output, cast as autocast casts it) has norm <= 1, and >= 0.95."""
    torch.manual_seed(0)
    norms = []
    for layer, shape in _autocast_layers():
        st.spectral_norm(layer, **({} if shape is None else dict(input_shape=shape)))
        used: list[torch.Tensor] = []
        param(layer).register_forward_hook(lambda mod, args, out, used=used: used.append(out.detach()))
        x = torch.randn(2, *(shape or (layer.in_features,)))
        layer.train()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = layer(x)
        assert y.dtype == torch.bfloat16
        y.float().sum().backward()  # the gradient path (s - s.detach()) + sigma: its value is sigma
        norms.append(true_norm(layer, shape, used[-1].to(torch.bfloat16)))
        if shape is None and layer.bias is None:  # the map itself, probed with the unit vectors: that weight
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                probe = layer.eval()(torch.eye(layer.in_features)).T
            assert torch.equal(probe, used[-1].to(torch.bfloat16))
    norms = np.array(norms)
    assert norms.max() <= 1.0, norms.max()
    assert norms.min() >= 0.95, norms.min()


def test_the_autocast_padding_applies_only_under_autocast():
    """sigma outside autocast is the float32 divisor; under it larger, by at most u_bf16 · ||W||_F (+ rounding)."""
    torch.manual_seed(0)
    layer = st.spectral_norm(nn.Linear(30, 20)).eval()
    x = torch.randn(1, 30)
    layer(x)
    plain = param(layer).sigma
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer(x)
    padded = param(layer).sigma
    layer(x)
    assert param(layer).sigma == plain
    fro = float(torch.linalg.vector_norm(layer.parametrizations.weight.original.detach().double()))
    assert plain < padded <= plain + 2.0**-8 * 1.01 * fro
    with torch.autocast("cpu", dtype=torch.bfloat16):  # a float64 layer: autocast leaves it alone
        double = st.spectral_norm(nn.Linear(30, 20, dtype=torch.float64)).eval()
        double(x.double())
        sigma64 = param(double).sigma
    double(x.double())
    assert param(double).sigma == sigma64
