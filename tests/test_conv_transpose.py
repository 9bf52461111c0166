"""``ConvTransposeNd`` in operator mode: ``conv_norm``, ``spectral_norm`` and ``lipschitz_bound`` against the
dense matrix of tiny layers (materialised by applying the layer to the unit vectors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spectra
import spectra.torch as st
from spectra._conv_geometry import transposed_input_shape

LAYERS = [
    lambda: nn.ConvTranspose1d(3, 2, 3),
    lambda: nn.ConvTranspose1d(2, 4, 4, stride=2, padding=1, output_padding=1, dilation=2),
    lambda: nn.ConvTranspose2d(3, 2, 3, padding=1),
    lambda: nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2),
    lambda: nn.ConvTranspose3d(2, 2, 2, stride=2),
]
SHAPES = [(3, 6), (2, 5), (3, 5, 4), (4, 4, 3), (2, 2, 3, 2)]


def dense(layer: nn.Module, input_shape) -> np.ndarray:
    """The layer (bias removed) as a float64 matrix: its columns are the images of the unit vectors."""
    w = layer.weight.detach().double()
    n = int(np.prod(input_shape))
    E = torch.eye(n, dtype=torch.float64).reshape(n, *input_shape)
    d = w.ndim - 2
    Y = getattr(torch.nn.functional, f"conv_transpose{d}d")(E, w, **arguments(layer))
    return Y.reshape(n, -1).T.numpy()


def arguments(layer: nn.Module) -> dict:
    keys = ("stride", "padding", "output_padding", "groups", "dilation")
    return {k: getattr(layer, k) for k in keys}


@pytest.mark.parametrize("make, shape", list(zip(LAYERS, SHAPES, strict=True)))
@pytest.mark.parametrize("method", ["auto", "fft", "lanczos"])
def test_conv_norm_of_a_transposed_layer(make, shape, method):
    torch.manual_seed(0)
    layer = make()
    truth = np.linalg.norm(dense(layer, shape), 2)
    r = spectra.conv_norm(layer.weight.detach(), shape, transposed=True, method=method, seed=0, **arguments(layer))
    assert r.lower <= truth * (1 + 1e-9) and truth <= r.upper * (1 + 1e-12), (r, truth)
    if method == "auto":
        assert r.upper <= truth * (1 + 1e-6)


def test_transposed_shape_and_errors():
    assert transposed_input_shape((3, 2, 3), (3, 6), stride=2, padding=1, output_padding=1) == (2, 12)
    with pytest.raises(ValueError, match="output_padding"):
        transposed_input_shape((3, 2, 3), (6,), stride=2, output_padding=2)
    w = torch.randn(3, 2, 3)
    with pytest.raises(ValueError, match="zeros only"):
        spectra.conv_norm(w, (3, 6), transposed=True, padding_mode="circular")
    with pytest.raises(ValueError, match="transposed=True"):
        spectra.conv_norm(w, (2, 6), output_padding=1)


@pytest.mark.parametrize("make, shape", list(zip(LAYERS, SHAPES, strict=True))[1:4])
def test_spectral_norm_of_a_transposed_layer_stays_certified(make, shape):
    torch.manual_seed(0)
    train_and_check(st.spectral_norm(make()), shape, steps=25, jump_every=10)


def train_and_check(layer: nn.Module, shape, steps: int, jump_every: int) -> None:
    """Perturb the raw weight (a large jump every ``jump_every`` steps), run a training step, and check after
    each that the layer's map has norm in ``[0.9, 1]`` (LAPACK on its dense matrix) and the gradient flows."""
    raw = layer.parametrizations.weight.original
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, *shape, generator=gen)
    for step in range(steps):
        with torch.no_grad():
            raw.add_((0.01 if step % jump_every else 0.3) * raw.abs().mean() * torch.randn(raw.shape, generator=gen))
        layer.train()
        layer(x).sum().backward()  # the pre-hook reads the input shape; the gradient flows
        with torch.no_grad():
            truth = np.linalg.norm(dense(layer, shape), 2)
        assert 0.9 <= truth <= 1.0, (step, truth)
    assert raw.grad is not None and torch.isfinite(raw.grad).all()


def test_lipschitz_bound_with_a_transposed_layer():
    torch.manual_seed(0)
    up = nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), up).eval()
    truth = np.linalg.norm(dense(up, (2, 4, 4)), 2)
    for method in ("auto", "fft"):  # the SVD of the materialised small layer; the circular-embedding bound
        b = st.lipschitz_bound(model, (1, 4, 4), method=method)
        row = b.layers[2]
        assert row.layer == "ConvTranspose2d" and truth <= row.upper
        assert b.confidence == 1.0
    assert st.lipschitz_bound(model, (1, 4, 4)).layers[2].upper <= truth * (1 + 1e-9)


def actual_map(layer: nn.Module, input_shape, output_size) -> np.ndarray:
    """The map ``x -> layer(x, output_size=output_size)`` (bias removed) as a float64 matrix, computed by a plain
    PyTorch layer with the same (parametrized) weight: PyTorch derives the output padding itself."""
    w = layer.weight.detach().double()
    plain = type(layer)(w.shape[0], w.shape[1] * layer.groups, w.shape[2:], bias=False, **arguments(layer))
    plain.double().weight.data.copy_(w)
    n = int(np.prod(input_shape))
    E = torch.eye(n, dtype=torch.float64).reshape(n, *input_shape)
    with torch.no_grad():
        Y = plain(E, output_size=output_size)
    return Y.reshape(n, -1).T.numpy()


OUTPUT_SIZE_CASES = [
    # (layer, input shape, output_size): output paddings other than the module's own
    (lambda: nn.ConvTranspose1d(2, 3, 4, stride=3, padding=1), (2, 5), [16]),
    (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), (3, 5, 5), (10, 9)),
    (lambda: nn.ConvTranspose2d(2, 2, 2, stride=2, output_padding=1), (2, 4, 3), (8, 6)),
    (lambda: nn.ConvTranspose3d(2, 2, 3, stride=(2, 2, 1), padding=1), (2, 3, 3, 2), (2, 2, 6, 5, 2)),
]


@pytest.mark.parametrize(("make", "shape", "size"), OUTPUT_SIZE_CASES)
@pytest.mark.parametrize("positional", [False, True])
def test_spectral_norm_follows_output_size(make, shape, size, positional):
    """Regression: ``layer(x, output_size=...)`` sets the output padding of a ConvTransposeNd, but the certificate
    kept the module's own ``output_padding`` and normed another operator. It now follows the call: the operator
    norm of the layer's actual map (the dense matrix PyTorch's forward computes, LAPACK) is at most 1 and within
    the tolerance of it, and a call without ``output_size`` goes back to the module's own map."""
    torch.manual_seed(0)
    layer = st.spectral_norm(make())
    p = layer.parametrizations.weight[0]
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    for step in range(3):
        y = layer(x, size) if positional else layer(x, output_size=size)
        assert tuple(y.shape[2:]) == tuple(size)[-(len(shape) - 1) :]
        assert tuple(p._geom.spatial) == tuple(y.shape[2:])  # the certificate's convolution is on that output
        truth = np.linalg.norm(actual_map(layer, shape, size), 2)
        assert 1.0 / (1.0 + p.tol) <= truth <= 1.0, (step, truth)
    plain = layer(x)
    assert tuple(p._geom.spatial) == tuple(plain.shape[2:])
    assert np.linalg.norm(dense(layer, shape), 2) <= 1.0


def test_output_size_outside_pytorch_range_names_the_valid_sizes():
    from spectra._conv_geometry import transposed_output_padding

    layer = st.spectral_norm(nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1))
    with pytest.raises(ValueError, match=r"valid sizes range from \(9, 9\) to \(10, 10\)"):
        layer(torch.randn(1, 3, 5, 5), output_size=(11, 9))
    assert transposed_output_padding((3, 2, 3, 3), (3, 5, 5), (1, 2, 10, 9), stride=2, padding=1) == (1, 0)
    with pytest.raises(ValueError, match="2 spatial sizes"):
        transposed_output_padding((3, 2, 3, 3), (3, 5, 5), (10,), stride=2, padding=1)


CROPPED = [
    # stride <= output_padding < dilation (PyTorch takes it): the adjoint of a convolution restricted to its first
    # outputs; output_padding above the padding (the end of the input cropped) and at most the padding
    (lambda: nn.ConvTranspose1d(2, 2, 3, stride=1, dilation=2, output_padding=1), (2, 5)),
    (
        lambda: nn.ConvTranspose2d(2, 3, 3, stride=(1, 2), dilation=(3, 1), padding=(1, 0), output_padding=(2, 1)),
        (2, 4, 5),
    ),
    (lambda: nn.ConvTranspose1d(2, 2, 3, stride=2, dilation=4, padding=3, output_padding=3), (2, 5)),
    (
        lambda: nn.ConvTranspose3d(2, 2, 2, stride=1, dilation=(2, 1, 1), output_padding=(1, 0, 0), groups=2),
        (2, 3, 2, 2),
    ),
]


@pytest.mark.parametrize(("make", "shape"), CROPPED)
def test_output_padding_at_or_above_the_stride(make, shape):
    """Regression: a ConvTranspose with ``stride <= output_padding < dilation`` (valid in PyTorch) was refused
    ("not supported; use output_padding < stride"). It is the adjoint of the convolution restricted to its first
    ``n`` outputs, i.e. with the after-padding ``p - output_padding`` (cropping the end of the input where
    negative). Oracle: the dense matrix PyTorch's layer computes, LAPACK; every conv_norm method, spectral_norm
    through training steps and lipschitz_bound."""
    torch.manual_seed(0)
    layer = make()
    x = torch.zeros(1, *shape)
    assert (
        layer(x).shape[2:]
        == transposed_input_shape(layer.weight.shape, shape, **{k: v for k, v in arguments(layer).items()})[1:]
    )
    truth = np.linalg.norm(dense(layer, shape), 2)
    w = layer.weight.detach()
    for method in ["auto", "fft", "svd", "lanczos", "power"]:
        r = spectra.conv_norm(w, shape, transposed=True, method=method, seed=0, return_vectors=True, **arguments(layer))
        assert r.lower <= truth * (1 + 1e-9) and truth <= r.upper * (1 + 1e-12), (method, r, truth)
        assert r.v.shape == (int(np.prod(layer(x).shape[1:])),)  # v lives in the layer's output
    b = st.lipschitz_bound(nn.Sequential(layer).eval(), shape)
    assert truth <= b.upper <= truth * (1 + 1e-6)
    train_and_check(st.spectral_norm(make()), shape, steps=6, jump_every=3)


def test_output_padding_must_be_below_the_stride_or_the_dilation():
    with pytest.raises(ValueError, match=r"must be smaller than either the stride \(2,\) or the dilation \(2,\)"):
        spectra.conv_norm(torch.randn(2, 2, 3), (2, 5), transposed=True, stride=2, dilation=2, output_padding=2)


CROP_BEYOND_THE_INPUT = [
    # (n, kernel, stride, padding, output_padding, dilation) that PyTorch accepts and whose adjoint convolution
    # crops the whole input (after-padding p - output_padding <= -n): zero maps; every such case of kernel 1-3,
    # stride 1-2, padding and output_padding 0-3, dilation 1-4 on inputs of length 1, 2, 3, 5
    (1, 1, 1, 1, 2, 3),
    (1, 1, 1, 1, 2, 4),
    (1, 1, 1, 1, 3, 4),
    (1, 1, 2, 1, 2, 3),
    (1, 1, 2, 1, 2, 4),
    (1, 1, 2, 1, 3, 4),
    (2, 1, 1, 2, 3, 4),
]


@pytest.mark.parametrize("n, k, s, p, op, dl", CROP_BEYOND_THE_INPUT)
def test_a_transposed_layer_whose_adjoint_crops_the_whole_input(n, k, s, p, op, dl):
    """Regression: ``ConvTranspose1d(1, 1, 1, padding=1, output_padding=2, dilation=3)`` on length 1 (PyTorch
    computes it: a zero map) raised "padding must be non-negative" in ``conv_norm``, ``lipschitz_bound`` and
    ``spectral_norm``; the crop was allowed only while it left an input entry."""
    torch.manual_seed(0)
    layer = nn.ConvTranspose1d(2, 3, k, stride=s, padding=p, output_padding=op, dilation=dl, bias=False).double()
    truth = np.linalg.norm(dense(layer, (2, n)), 2)
    for method in ("auto", "fft", "svd", "lanczos"):
        r = spectra.conv_norm(layer.weight.detach(), (2, n), transposed=True, method=method, seed=0, **arguments(layer))
        assert r.lower <= truth <= r.upper * (1 + 1e-12), (method, r, truth)
    assert st.lipschitz_bound(nn.Sequential(layer).eval(), (2, n)).upper >= truth
    sn = st.spectral_norm(nn.ConvTranspose1d(2, 3, k, stride=s, padding=p, output_padding=op, dilation=dl).double())
    assert sn(torch.randn(1, 2, n, dtype=torch.float64)).shape == layer(torch.zeros(1, 2, n, dtype=torch.float64)).shape
    assert np.linalg.norm(dense(sn, (2, n)), 2) <= 1.0
