"""``spectra.torch.lipschitz_bound`` and ``certified_radius`` against exact and empirical Lipschitz constants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import spectra.torch as st


def jacobian_norm(model: nn.Module, x: torch.Tensor) -> float:
    """||J_f(x)||_2 by LAPACK: a lower bound of the Lipschitz constant at every point."""
    J = torch.autograd.functional.jacobian(lambda z: model(z[None])[0].flatten(), x)
    return float(np.linalg.norm(J.reshape(J.shape[0], -1).double().numpy(), 2))


def empirical_lipschitz(model: nn.Module, input_shape, pairs: int = 64, seed: int = 0) -> float:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((pairs, *input_shape), generator=gen, dtype=torch.float64)
    y = x + 1e-3 * torch.randn((pairs, *input_shape), generator=gen, dtype=torch.float64)
    with torch.no_grad():
        num = (model(x) - model(y)).flatten(1).norm(dim=1)
    den = (x - y).flatten(1).norm(dim=1)
    return float((num / den).max())


def test_linear_network_bound_versus_exact_constant():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.Linear(16, 4)).double()
    b = st.lipschitz_bound(net, (8,))
    W1, W2 = (m.weight.detach().numpy() for m in net)
    exact = np.linalg.norm(W2 @ W1, 2)  # the Lipschitz constant of a linear network
    product = np.linalg.norm(W2, 2) * np.linalg.norm(W1, 2)
    assert exact <= b.upper
    assert b.upper == pytest.approx(product, rel=1e-12)
    assert b.confidence == 1.0 and [r.layer for r in b.layers] == ["Linear", "Linear"]
    single = st.lipschitz_bound(net[0], (8,))
    assert single.upper == pytest.approx(np.linalg.norm(W1, 2), rel=1e-12) and single.upper >= np.linalg.norm(W1, 2)


def small_cnn():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        st.Residual(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular"), nn.Tanh())),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, padding_mode="reflect"),
        nn.LeakyReLU(0.1),
        nn.AvgPool2d(3, stride=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(6, 3),
    ).double()
    with torch.no_grad():  # non-trivial running statistics
        bn = net[1]
        bn.running_var.uniform_(0.5, 2.0)
        bn.running_mean.uniform_(-1, 1)
        bn.weight.uniform_(-2, 2)
    return net.eval()


@pytest.mark.parametrize("method", ["auto", "fft"])
def test_cnn_bound_is_above_empirical_and_jacobian_constants(method):
    net = small_cnn()
    shape = (2, 8, 8)
    b = st.lipschitz_bound(net, shape, method=method, seed=0)
    assert b.upper >= empirical_lipschitz(net, shape)
    gen = torch.Generator().manual_seed(3)
    for _ in range(5):
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        assert b.upper >= jacobian_norm(net, x)
    assert len(b.layers) == 13 and "network" in b.table()  # the identity shortcut is a row too
    if method == "fft":
        assert b.confidence == 1.0
    assert b.confidence >= 0.999


def test_each_layer_bound_is_above_its_own_constant():
    """Linear layers of the CNN (pools, BN, convs) against their materialised Jacobians; activations by sampling."""
    net = small_cnn()
    b = st.lipschitz_bound(net, (2, 8, 8), seed=1)
    x = torch.randn((1, 2, 8, 8), dtype=torch.float64)
    rows = {r.name: r for r in b.layers}
    for name, module in net.named_modules():
        if name not in rows:
            continue
        xin = torch.randn((1, *rows[name].input_shape), dtype=torch.float64)
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear)):
            assert rows[name].upper >= jacobian_norm(module, xin[0]) * (1 - 1e-12), name
        else:
            assert rows[name].upper >= empirical_lipschitz(module, rows[name].input_shape), name
    assert x.shape == (1, 2, 8, 8)


def test_maxpool_coverage_and_adaptive_windows():
    from spectra.torch._lipschitz import _adaptive_windows, _coverage

    assert _coverage((6,), (3,), (1,), (1,), (0,), (4,)) == 3
    assert _coverage((6, 6), (2, 2), (2, 2), (1, 1), (0, 0), (3, 3)) == 1
    assert _adaptive_windows(5, 3) == (2, 2)  # windows [0,2), [1,4), [3,5)
    pool = nn.MaxPool1d(3, stride=1)
    b = st.lipschitz_bound(pool, (1, 6))
    assert b.upper == pytest.approx(math.sqrt(3))
    x = torch.zeros(1, 1, 6, dtype=torch.float64)
    x[0, 0, 2] = 1.0
    assert float(pool(x).norm()) == pytest.approx(math.sqrt(3))  # attained: the bound is exact here


def test_unsupported_and_training_modules_raise():
    with pytest.raises(TypeError, match="LayerNorm"):
        st.lipschitz_bound(nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3)), (3,))
    with pytest.raises(ValueError, match="eval"):
        st.lipschitz_bound(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).train(), (3,))


@pytest.mark.parametrize("dropout", [nn.Dropout(0.5), nn.Dropout1d(0.5), nn.Dropout2d(0.5)])
def test_dropout_in_training_mode_raises(dropout):
    # in training mode Dropout scales the kept units by 1 / (1 - p) = 2: the train-mode forward's Jacobian has
    # norm up to 2 ||W||_2, above the eval-mode constant ||W||_2 (regression: it was certified by 1)
    torch.manual_seed(0)
    shape = (1, 2, 2) if isinstance(dropout, nn.Dropout2d) else (2, 2)
    model = nn.Sequential(nn.Linear(4, 4), nn.Unflatten(1, shape), dropout).double()
    with pytest.raises(ValueError, match=r"Dropout.*training mode.*model\.eval\(\)"):
        st.lipschitz_bound(model, (4,))
    b = st.lipschitz_bound(model.eval(), (4,))
    assert b.upper >= np.linalg.norm(model[0].weight.detach().numpy(), 2)
    zero = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.0)).double().train()  # p = 0: the identity in both modes
    assert st.lipschitz_bound(zero, (3,)).layers[1].upper == 1.0


@pytest.mark.parametrize(
    "dropout", [nn.Dropout3d(0.5), nn.AlphaDropout(0.5), nn.FeatureAlphaDropout(0.5)], ids=lambda m: type(m).__name__
)
def test_every_dropout_is_the_identity_in_eval_mode(dropout):
    """Regression: Dropout3d, AlphaDropout and FeatureAlphaDropout in eval mode raised "no certified constant"
    (only Dropout, Dropout1d and Dropout2d were listed); in eval mode each is the identity."""
    model = nn.Sequential(nn.Linear(8, 8), nn.Unflatten(1, (2, 1, 2, 2)), dropout).double()
    b = st.lipschitz_bound(model.eval(), (8,))
    y = torch.randn(3, 2, 1, 2, 2, dtype=torch.float64)
    assert torch.equal(dropout(y), y) and b.layers[2].upper == 1.0 and b.confidence == 1.0
    with pytest.raises(ValueError, match=r"training mode.*model\.eval\(\)"):
        st.lipschitz_bound(model.train(), (8,))


def test_an_unknown_method_is_an_error():
    """Regression: an unknown ``method`` (a typo) silently bounded Linear layers by the SVD."""
    net = nn.Sequential(nn.Linear(3, 3))
    for bad in ("lanczso", "svd", "exact"):
        with pytest.raises(ValueError, match="method must be one of 'auto', 'fft', 'lanczos'"):
            st.lipschitz_bound(net, (3,), method=bad)


@pytest.mark.parametrize(
    "model, kwargs, exc, match",
    [
        (nn.Sequential(nn.Linear(4, 3)), dict(rtol=-1), ValueError, "rtol"),  # the SVD route never reached norm
        (nn.Sequential(nn.Linear(4, 3)), dict(rtol=math.nan), ValueError, "rtol"),
        (nn.Sequential(nn.ReLU()), dict(confidence=2), ValueError, "confidence"),  # no weight layer
        (nn.Sequential(nn.Linear(4, 3)), dict(method="fft", confidence=1.0), ValueError, "confidence"),
        (nn.Sequential(nn.ReLU()), dict(seed="x"), TypeError, "seed"),
        ("not a module", {}, TypeError, "model must be a torch.nn.Module"),
    ],
)
def test_options_are_checked_up_front(model, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        st.lipschitz_bound(model, (4,), **kwargs)


def test_certified_radius_refuses_a_non_number():
    with pytest.raises(TypeError, match="lipschitz must be a number or a LipschitzBound"):
        st.certified_radius(torch.zeros(1, 2), None)


def test_probabilistic_layers_share_the_confidence():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(30, 30), nn.ReLU(), nn.Linear(30, 10))
    b = st.lipschitz_bound(net, (30,), method="lanczos", confidence=0.99, seed=0)
    assert 0.99 <= b.confidence < 1.0
    exact = st.lipschitz_bound(net, (30,))
    assert b.upper >= exact.upper * (1 - 1e-3)


def test_certified_radius_values_and_guarantee():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.5], [1.0, 1.0, 0.0]])
    r = st.certified_radius(logits, 2.0)
    torch.testing.assert_close(
        r, torch.tensor([2.0, 0.5, 0.0], dtype=torch.float64) / (math.sqrt(2) * 2.0), rtol=1e-12, atol=0
    )
    wrong = st.certified_radius(logits, 2.0, labels=torch.tensor([1, 1, 2]))
    assert wrong[0] == 0.0 and wrong[2] == 0.0 and wrong[1] > 0
    # no perturbation inside the radius flips the prediction of a network with a certified constant
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    L = st.lipschitz_bound(net, (5,))
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(200, 5, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        out = net(x)
        rad = st.certified_radius(out, L)
        d = torch.randn(200, 5, generator=gen, dtype=torch.float64)
        d = d / d.norm(dim=1, keepdim=True) * rad[:, None] * 0.999
        assert torch.equal(net(x + d).argmax(1), out.argmax(1))


def test_certified_radius_checks_its_arguments():
    """Regression: a negative constant gave a negative "certified" radius (-1.4142), out-of-range labels and 1-D
    logits raised torch's own IndexError/RuntimeError. L = 0 (a constant network) gives inf where there is a margin
    and 0 where there is none (it gave NaN there, 0 / 0)."""
    logits = torch.tensor([[3.0, 1.0], [1.0, 1.0]])
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError, match="lipschitz must be a Lipschitz upper bound"):
            st.certified_radius(logits, bad)
    with pytest.raises(ValueError, match=r"logits must be \(batch, classes\); got shape \(2,\)"):
        st.certified_radius(torch.tensor([3.0, 1.0]), 1.0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\); got values from 0 to 5"):
        st.certified_radius(logits, 1.0, labels=torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"labels must be \(2,\) integers"):
        st.certified_radius(logits, 1.0, labels=torch.tensor([0.0, 1.0]))
    assert st.certified_radius(logits, 0.0).tolist() == [math.inf, 0.0]
    assert st.certified_radius(logits, math.inf).tolist() == [0.0, 0.0]


def test_an_input_shape_the_model_does_not_take_is_named():
    """Regression: ``lipschitz_bound(Linear(4, 4), (5,))`` raised torch's "mat1 and mat2 shapes cannot be
    multiplied" without naming ``input_shape``."""
    net = nn.Sequential(nn.Linear(4, 4)).eval()
    with pytest.raises(ValueError, match=r"does not run on an input of shape \(5,\) \(input_shape\): mat1 and mat2"):
        st.lipschitz_bound(net, (5,))
    for bad in (5, (0, 4), (4.0,), "4"):
        with pytest.raises(ValueError, match="input_shape must be a tuple of positive ints"):
            st.lipschitz_bound(net, bad)
    assert st.lipschitz_bound(net, [4]).upper == st.lipschitz_bound(net, (4,)).upper  # a list is a shape too


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.Conv2d(3, 8, 3, padding=1), (3, 16, 16)),
        (lambda: nn.Conv1d(2, 4, 5, stride=2, padding=2, padding_mode="circular"), (2, 20)),
        (lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), (3, 5, 5)),
    ],
)
def test_a_lazily_shaped_spectral_norm_conv_is_bounded_as_the_model_uses_it(make, shape):
    """Regression: on a conv layer with ``spectral_norm`` and no ``input_shape`` (shape read from the first
    input), ``lipschitz_bound`` read the weight before calling the layer, i.e. divided by the loose shape-free
    bound, and then the call switched the divisor to the operator norm: 0.306 reported for a Conv2d(3, 8, 3)
    whose map has norm 0.996 (every later forward uses the larger weight)."""
    torch.manual_seed(0)
    model = nn.Sequential(st.spectral_norm(make().double())).eval()
    b = st.lipschitz_bound(model, shape, seed=0)
    n = math.prod(shape)
    with torch.no_grad():  # the map's matrix, one basis input at a time (the layer is affine: subtract f(0))
        M = model(torch.eye(n, dtype=torch.float64).reshape(n, *shape)) - model(torch.zeros((1, *shape)).double())
    exact = float(np.linalg.norm(M.reshape(n, -1).numpy(), 2))
    assert 0.9 < exact <= b.upper <= exact * (1 + 1e-3)


class _ScaledSequential(nn.Sequential):
    def forward(self, x):
        return 10 * super().forward(x)


class _SignedResidual(st.Residual):
    def forward(self, x):
        return self.block(x) - 3 * self.shortcut(x)


class _DoubledLinear(nn.Linear):
    def forward(self, x):
        return 2 * super().forward(x)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: _ScaledSequential(nn.Linear(4, 4)), r"_ScaledSequential \(the model\)"),
        (lambda: nn.Sequential(_SignedResidual(nn.Linear(4, 4))), r"_SignedResidual \(0\)"),
        (lambda: nn.Sequential(nn.ReLU(), _DoubledLinear(4, 4)), r"_DoubledLinear \(1\)"),
    ],
)
def test_a_subclass_with_its_own_forward_is_refused(make, name):
    """Regression: containers and layers were matched by ``isinstance``, so a subclass with its own forward was
    bounded as its base class: 0.689 for a Sequential that multiplies its output by 10 (constant 6.89), 1.94
    for a Residual computing ``block(x) - 3 shortcut(x)`` (constant 3.73). It is now a TypeError, as for any
    module without a certified constant; parametrized modules (spectral_norm) keep their base class's forward."""
    torch.manual_seed(0)
    with pytest.raises(TypeError, match=f"no certified constant for {name}: it defines its own forward"):
        st.lipschitz_bound(make().double().eval(), (4,))
    net = nn.Sequential(st.spectral_norm(nn.Linear(4, 4)), nn.ReLU(), st.Residual(nn.Linear(4, 4))).eval()
    assert st.lipschitz_bound(net, (4,)).upper > 0


def _linear_map_norm(model: nn.Module, n: int) -> float:
    """||M||_2 by LAPACK of the (affine) model's matrix, one basis input at a time."""
    with torch.no_grad():
        M = model(torch.eye(n, dtype=torch.float64)) - model(torch.zeros((1, n), dtype=torch.float64))
    return float(np.linalg.norm(M.numpy(), 2))


@pytest.mark.parametrize(
    "register",
    [
        lambda m: m[0].register_forward_hook(lambda mod, inp, out: 10 * out),
        lambda m: m[0].register_forward_hook(lambda mod, inp, out: out.mul_(10)),
        lambda m: m[1].register_forward_pre_hook(lambda mod, inp: (10 * inp[0],)),
        lambda m: m.register_forward_hook(lambda mod, inp, out: 10 * out),
        lambda m: torch.nn.modules.module.register_module_forward_hook(lambda mod, inp, out: 10 * out),
        lambda m: torch.nn.modules.module.register_module_forward_pre_hook(lambda mod, inp: None),
    ],
    ids=["returns", "in-place", "pre-hook", "on-the-model", "global", "global-pre-hook"],
)
def test_a_module_with_a_forward_hook_is_refused(register):
    """Regression: forward hooks and pre-hooks were run but not read, so a hook multiplying a layer's output by
    10 was bounded as the bare layer: 0.649 reported for a map of norm 5.65. A hook is now a TypeError naming
    it (any hook may change the output: in place, by returning a value, or on the input)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)).double().eval()
    bare = st.lipschitz_bound(net, (4,)).upper
    handle = register(net)
    try:
        with pytest.raises(TypeError, match=r"forward hook <lambda>.*, which may change what it returns"):
            st.lipschitz_bound(net, (4,))
    finally:
        handle.remove()
    assert st.lipschitz_bound(net, (4,)).upper == bare


def test_the_weight_hooks_of_torch_and_spectra_are_read_through():
    """torch.nn.utils.spectral_norm and weight_norm (forward pre-hooks that recompute the weight) and
    spectra.torch.spectral_norm's input-shape hook change no output: the bound holds on the map the model
    computes."""
    from torch.nn.utils import spectral_norm as torch_spectral_norm
    from torch.nn.utils import weight_norm

    torch.manual_seed(0)
    with pytest.warns(FutureWarning, match="weight_norm"):
        normed = weight_norm(nn.Linear(4, 6).double())
    net = nn.Sequential(torch_spectral_norm(nn.Linear(5, 4).double()), normed).eval()
    b = st.lipschitz_bound(net, (5,))
    exact = _linear_map_norm(net, 5)
    assert 0.5 < exact <= b.upper
    conv = nn.Sequential(st.spectral_norm(nn.Conv1d(1, 2, 3, padding=1).double()), nn.Flatten()).eval()
    assert st.lipschitz_bound(conv, (1, 6)).upper >= _linear_map_norm(nn.Sequential(nn.Unflatten(1, (1, 6)), conv), 6)


def _two_identity(n: int) -> nn.Linear:
    layer = nn.Linear(n, n, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(2.0 * torch.eye(n, dtype=torch.float64))  # ||W||_2 = 2
    return layer


def _tied_models():
    lin = _two_identity(6)
    block = nn.Sequential(lin, nn.ReLU())
    return [
        ("listed thrice", nn.Sequential(lin, nn.ReLU(), lin, nn.ReLU(), lin), 8.0),
        ("a repeated block", nn.Sequential(block, block, block), 8.0),
        ("nested in a Residual", st.Residual(nn.Sequential(lin, lin), shortcut=lin), 6.0),  # 2 (2 x) + 2 x
    ]


@pytest.mark.parametrize("case", range(3), ids=[c[0] for c in _tied_models()])
def test_a_module_applied_twice_is_bounded_at_each_application(case):
    """Regression: the walker iterated ``named_children()``, which yields a module object once, while
    ``Sequential.forward`` applies it every time it is listed: ``Sequential(l, ReLU(), l, ReLU(), l)`` with
    ``W = 2I`` (the map ``8 x`` on the positive orthant) was certified 2.0, a repeated block ``(l, ReLU())`` x 3
    likewise 2.0, ``Residual(Sequential(l, l), shortcut=l)`` (``6 x``) 4.0."""
    _, net, exact = _tied_models()[case]
    net = net.eval()
    b = st.lipschitz_bound(net, (6,), method="fft")
    x = torch.rand(6, dtype=torch.float64) + 0.5  # positive: every ReLU is the identity there
    assert jacobian_norm(net, x) == pytest.approx(exact, rel=1e-12)
    assert exact <= b.upper <= exact * (1 + 1e-12)
    assert sum(r.layer == "Linear" for r in b.layers) == 3  # one row per application
    # each application shares the requested confidence: the union bound over all of them holds it
    torch.manual_seed(0)
    lin = nn.Linear(30, 30)
    tied = nn.Sequential(lin, nn.ReLU(), lin, nn.ReLU(), lin)
    assert st.lipschitz_bound(tied, (30,), method="lanczos", confidence=0.99, seed=0).confidence >= 0.99


def test_a_repeated_convolution_is_bounded_on_each_input_shape():
    """Regression: ``Sequential(conv, conv)`` (one valid ``Conv1d`` with kernel [1, 2, 1], input 8 -> 6 -> 4)
    was bounded by its first application alone (one row, on shape (1, 8)): 4.00 reported for a map of norm
    13.8. Each application is now a row, on the shape it receives."""
    conv = nn.Conv1d(1, 1, 3, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[1.0, 2.0, 1.0]]]))
    net = nn.Sequential(conv, conv).eval()
    b = st.lipschitz_bound(net, (1, 8), method="fft")
    assert [r.input_shape for r in b.layers] == [(1, 8), (1, 6)] and [r.name for r in b.layers] == ["0", "1"]
    exact = jacobian_norm(net, torch.zeros(1, 8, dtype=torch.float64))  # a linear map: its Jacobian anywhere
    assert exact <= b.upper


class _ScaledConv(nn.Conv2d):  # no forward of its own: Conv2d.forward calls the overridden _conv_forward
    def _conv_forward(self, x, weight, bias):
        return super()._conv_forward(x, 10.0 * weight, bias)


class _ScaledBatchNorm(nn.BatchNorm1d):  # _BatchNorm.forward calls _check_input_dim on the input it normalises
    def _check_input_dim(self, x):
        x.mul_(10.0)


class _TwiceSequential(nn.Sequential):  # Sequential.forward applies what __iter__ yields
    def __iter__(self):
        for m in super().__iter__():
            yield m
            yield m


def _patched(layer: nn.Module, attr: str, scale: float = 10.0) -> nn.Module:
    original = getattr(layer, attr)
    setattr(layer, attr, lambda *args: scale * original(*args))
    return layer


@pytest.mark.parametrize(
    "make, shape, match",
    [
        (lambda: _ScaledConv(1, 2, 3, padding=1, bias=False), (1, 5, 5), "_ScaledConv .*own _conv_forward"),
        (lambda: _ScaledBatchNorm(4), (4,), "_ScaledBatchNorm .*own _check_input_dim"),
        (lambda: _TwiceSequential(_two_identity(4)), (4,), r"_TwiceSequential \(the model\).*own __iter__"),
        (lambda: _patched(nn.Linear(4, 4), "forward"), (4,), r"Linear \(0\): its forward is replaced on the inst"),
        (
            lambda: _patched(nn.Conv1d(1, 2, 3, padding=1), "_conv_forward"),
            (1, 5),
            "its _conv_forward is replaced on the instance",
        ),
    ],
    ids=["_conv_forward", "_check_input_dim", "__iter__", "instance-forward", "instance-_conv_forward"],
)
def test_a_changed_forward_path_is_refused(make, shape, match):
    """Regression: only ``type(m).forward`` was checked, so a method the standard forward delegates to
    (``ConvNd._conv_forward``, ``_BatchNorm._check_input_dim``, ``Sequential.__iter__``), overridden or set on
    the instance, was bounded as the plain layer. Reported against the constant of the map computed (the
    matrix's norm): 1.18 / 10.6 (_conv_forward scaling the weight by 10), 1.00 / 10.0 (_check_input_dim scaling
    the input in place), 2.0 / 4.0 (__iter__ yielding each module twice), 0.689 / 6.89 (a Linear's forward set
    on the instance), 0.854 / 8.21 (a Conv1d's _conv_forward set on the instance). Each is now a TypeError
    naming the module and the method."""
    torch.manual_seed(0)
    layer = make().double()
    net = layer if isinstance(layer, nn.Sequential) else nn.Sequential(layer)
    net.eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_var.fill_(1.0)
    n = math.prod(shape)
    with torch.no_grad():  # the (affine) map's matrix, one basis input at a time
        M = net(torch.eye(n, dtype=torch.float64).reshape(n, *shape)) - net(torch.zeros((1, *shape)).double())
    true = float(np.linalg.norm(M.reshape(n, -1).numpy(), 2))
    with pytest.raises(TypeError, match=match):
        st.lipschitz_bound(net, shape, method="fft")
    assert true > 1.5  # the map the model computes (the plain layers' constants are below it)


def test_a_parametrized_weight_is_bounded_as_the_layer_uses_it():
    """The way out the refusal of ``_conv_forward`` names: a scaled weight as a parametrization is read through
    ``m.weight`` as the forward reads it, so the bound holds on the map computed."""
    from torch.nn.utils import parametrize

    class Times10(nn.Module):
        def forward(self, w):
            return 10.0 * w

    torch.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False).double()
    parametrize.register_parametrization(conv, "weight", Times10())
    net = nn.Sequential(conv, nn.Flatten()).eval()
    b = st.lipschitz_bound(net, (1, 5, 5), method="fft")
    true = jacobian_norm(nn.Sequential(nn.Unflatten(1, (1, 5, 5)), net), torch.zeros(25, dtype=torch.float64))
    assert 5.0 < true <= b.upper <= 1.2 * true  # the circular-embedding bound of method="fft"


def test_a_model_with_only_floating_buffers_is_probed_in_their_dtype():
    """Regression: the probe input took the first parameter's dtype, float32 without one, so a float64 model
    whose state is buffers (``BatchNorm1d(4, affine=False)``) raised "mixed dtype"; its constant is
    ``1 / sqrt(running_var + eps)``."""
    net = nn.Sequential(nn.BatchNorm1d(4, affine=False)).double().eval()
    with torch.no_grad():
        net[0].running_var.copy_(torch.tensor([0.25, 1.0, 2.0, 4.0], dtype=torch.float64))
    b = st.lipschitz_bound(net, (4,))
    exact = jacobian_norm(net, torch.randn(4, dtype=torch.float64))
    assert exact == pytest.approx(1.0 / math.sqrt(0.25 + 1e-5), rel=1e-12)
    assert exact <= b.upper <= exact * (1 + 1e-12) and b.layers[0].input_shape == (4,)
