"""``spectra.torch.spectral_norm``: certified at every step (LAPACK oracle), gradients, state, modes."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from torch import nn

import spectra.torch as st
from spectra._conv_geometry import conv_geometry
from spectra._testing import conv_layer_matrix


def true_norm(module: nn.Module, input_shape=None, weight=None) -> float:
    """float64 LAPACK norm of the normalised weight as the layer uses it (dense operator for a conv); ``weight``:
    another weight of the layer's shape in its place (e.g. the one an autocast product uses)."""
    W = (module.weight if weight is None else weight).detach().double().numpy()
    if input_shape is None:
        return float(np.linalg.norm(W.reshape(W.shape[0], -1), 2))
    g = conv_geometry(
        W.shape,
        input_shape,
        stride=module.stride,
        padding=module.padding,
        padding_mode=module.padding_mode,
        dilation=module.dilation,
        groups=module.groups,
    )
    M = conv_layer_matrix(W, g.spatial, g.stride, g.pad, g.dilation, g.groups, g.mode)
    return float(np.linalg.norm(M, 2))


def param(module):
    return module.parametrizations.weight[0]


@pytest.mark.parametrize(
    "make, input_shape",
    [
        (lambda: nn.Linear(30, 20), None),
        (lambda: nn.Linear(40, 60, dtype=torch.float64), None),
        (lambda: nn.Conv2d(3, 4, 3, padding=1), (3, 5, 5)),
        (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1, padding_mode="reflect"), (2, 5, 5)),
        (lambda: nn.Conv1d(3, 5, 3, padding=2, dilation=2, padding_mode="circular"), (3, 9)),
    ],
)
def test_simulated_training_stays_certified(make, input_shape):
    """Random small updates of W: ||W / sigma_hat||_2 <= 1 at EVERY step, and sigma_hat stays tight."""
    torch.manual_seed(0)
    layer = st.spectral_norm(make(), input_shape=input_shape, tol=0.02)
    raw = layer.parametrizations.weight.original
    gen = torch.Generator().manual_seed(1)
    ratios = []
    for step in range(60):
        with torch.no_grad():
            scale = 0.002 if step % 20 else 0.2  # mostly small steps, sometimes a jump
            raw.add_(scale * raw.abs().mean() * torch.randn(raw.shape, generator=gen, dtype=raw.dtype))
        layer.train()
        W = layer.weight
        p = param(layer)
        truth = true_norm(layer, input_shape)
        assert truth <= 1.0, (step, truth)
        ratios.append(truth)  # = ||W_raw|| / sigma_hat: the tightness
    assert p.refreshes < 30, p.refreshes  # drift tracking, not a refresh per step
    assert np.mean(ratios) >= 0.97, np.mean(ratios)
    assert W.dtype == raw.dtype


def test_gradient_is_pytorchs_formula_at_the_certified_value():
    """Autograd gradient of W / sigma_hat equals the finite-difference Jacobian of W / (u^H W v + k), float64."""
    torch.manual_seed(0)
    layer = st.spectral_norm(nn.Linear(5, 4, dtype=torch.float64))
    layer.eval()
    p = param(layer)
    W0 = layer.parametrizations.weight.original.detach().clone()
    u, v = p._u.clone(), p._v.clone()
    sigma = p.sigma
    k = sigma - float(u @ W0 @ v)

    def ours(W):
        return p(W)

    def reference(W):
        return W / (u @ W @ v + k)

    J = torch.autograd.functional.jacobian(ours, W0)
    eps = 1e-6
    num = torch.zeros_like(J)
    for idx in np.ndindex(*W0.shape):
        E = torch.zeros_like(W0)
        E[idx] = eps
        num[(Ellipsis, *idx)] = (reference(W0 + E) - reference(W0 - E)) / (2 * eps)
    torch.testing.assert_close(J, num, rtol=1e-7, atol=1e-9)
    assert torch.autograd.gradcheck(reference, (W0.clone().requires_grad_(),))
    torch.testing.assert_close(ours(W0), W0 / sigma, rtol=0, atol=0)  # the value is exactly the certified one


def test_conv_gradient_flows_through_the_operator_sigma():
    torch.manual_seed(0)
    conv = st.spectral_norm(nn.Conv2d(2, 3, 3, padding=1, dtype=torch.float64), input_shape=(2, 5, 5))
    p = param(conv)
    conv.eval()
    W0 = conv.parametrizations.weight.original.detach().clone().requires_grad_()
    out = p(W0)
    g = torch.autograd.grad(out.sum(), W0)[0]
    # reference: W / (<u, conv(v; W)> + k) with u, v fixed
    u, v = p._u.clone(), p._v.clone()
    Wr = W0.detach().clone().requires_grad_()
    s = (u * torch.nn.functional.conv2d(v, Wr, padding=1)).sum()
    ref = Wr / (s + (p.sigma - float(s.detach())))
    g_ref = torch.autograd.grad(ref.sum(), Wr)[0]
    torch.testing.assert_close(g, g_ref)


def test_state_dict_round_trip():
    torch.manual_seed(0)
    a = st.spectral_norm(nn.Linear(12, 7))
    with torch.no_grad():
        a.parametrizations.weight.original.add_(0.01)
    a(torch.randn(3, 12))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    torch.manual_seed(1)
    b = st.spectral_norm(nn.Linear(12, 7))
    buf.seek(0)
    b.load_state_dict(torch.load(buf))
    for name in ("_u", "_v", "_w_ref", "_upper_ref", "_lower_ref", "_refreshes", "_seed", "_delta_spent"):
        torch.testing.assert_close(getattr(param(a), name), getattr(param(b), name))
    a.eval()
    b.eval()
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)


def test_state_dict_into_a_lazily_shaped_conv():
    torch.manual_seed(0)
    a = st.spectral_norm(nn.Conv2d(2, 3, 3, padding=1))
    a(torch.randn(1, 2, 6, 6))  # the input shape is read here
    sd = a.state_dict()
    b = st.spectral_norm(nn.Conv2d(2, 3, 3, padding=1))
    b.load_state_dict(sd)
    a.eval()
    b.eval()
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)
    assert true_norm(b, (2, 6, 6)) <= 1.0


@pytest.mark.parametrize("kind", ["linear", "conv-operator", "conv-kernel"])
def test_pytorch_checkpoint_loads_and_is_certified(kind):
    # regression: a checkpoint of torch.nn.utils.parametrizations.spectral_norm failed to load (missing keys);
    # with strict=False the eval-mode weight was divided by the old certificate plus the drift (norm 0.31)
    torch.manual_seed(0)

    def make():
        return nn.Linear(8, 6) if kind == "linear" else nn.Conv2d(2, 3, 3, padding=1)

    ref = torch.nn.utils.parametrizations.spectral_norm(make())
    x = torch.randn(2, 8) if kind == "linear" else torch.randn(2, 2, 6, 6)
    for _ in range(20):
        ref(x)  # training-mode forwards: PyTorch's power vectors converge
    torch.manual_seed(1)
    if kind == "linear":
        new = st.spectral_norm(make())
    else:
        new = st.spectral_norm(make(), input_shape=(2, 6, 6), conv_norm=kind.removeprefix("conv-"))
    new.load_state_dict(ref.state_dict())  # strict
    original = ref.parametrizations.weight.original
    torch.testing.assert_close(new.parametrizations.weight.original, original, rtol=0, atol=0)
    new.eval()
    ref.eval()
    p = param(new)
    n = true_norm(new) if kind != "conv-operator" else true_norm(new, (2, 6, 6))
    assert p.refreshes == 2 and 1.0 / (1.0 + new.parametrizations.weight[0].tol) <= n <= 1.0
    if kind != "conv-operator":  # the same normalisation as PyTorch's, to its estimate's accuracy
        torch.testing.assert_close(new(x), ref(x), rtol=1e-4, atol=1e-5)


def test_eval_mode_freezes_the_vectors_like_pytorch():
    torch.manual_seed(0)
    layer = st.spectral_norm(nn.Linear(10, 8))
    p = param(layer)
    layer.eval()
    u, v, n = p._u.clone(), p._v.clone(), p.refreshes
    w1 = layer.weight
    w2 = layer.weight
    assert torch.equal(u, p._u) and torch.equal(v, p._v) and p.refreshes == n
    torch.testing.assert_close(w1, w2, rtol=0, atol=0)
    layer.train()
    layer.weight
    assert not torch.equal(v, p._v)  # one power step per training forward


def test_two_forwards_backpropagate_like_pytorchs():
    """GAN pattern: loss = D(real) - D(fake) with two forwards before one backward."""
    torch.manual_seed(0)
    d = st.spectral_norm(nn.Linear(6, 1))
    loss = d(torch.randn(4, 6)).mean() - d(torch.randn(4, 6)).mean()
    loss.backward()
    assert d.parametrizations.weight.original.grad is not None


def test_conv_operator_versus_kernel_mode():
    torch.manual_seed(0)
    op = st.spectral_norm(nn.Conv2d(4, 4, 3, padding=1), input_shape=(4, 8, 8))
    torch.manual_seed(0)
    ker = st.spectral_norm(nn.Conv2d(4, 4, 3, padding=1), conv_norm="kernel")
    assert true_norm(op, (4, 8, 8)) <= 1.0
    Wk = ker.weight.detach().double().reshape(4, -1)
    assert torch.linalg.matrix_norm(Wk, 2) <= 1.0
    assert param(op).sigma > param(ker).sigma  # here the operator norm exceeds the reshaped kernel's
    with pytest.raises(ValueError, match="conv_norm"):
        st.spectral_norm(nn.Conv2d(1, 1, 3), conv_norm="both")


@pytest.mark.parametrize("mode", ["zeros", "replicate"])
def test_conv_without_input_shape_reads_it_from_the_first_input(mode):
    torch.manual_seed(0)
    conv = st.spectral_norm(nn.Conv2d(2, 2, 3, padding=2, padding_mode=mode))
    for n in (3, 5, 9):  # before any input: a shape-free certified bound holds on every input shape
        assert true_norm(conv, (2, n, n)) <= 1.0
    conv(torch.randn(1, 2, 5, 5))
    assert param(conv)._geom.spatial == (5, 5)
    assert true_norm(conv, (2, 5, 5)) <= 1.0
    conv(torch.randn(1, 2, 7, 7))  # a new resolution: a new certificate
    assert param(conv)._geom.spatial == (7, 7)
    assert true_norm(conv, (2, 7, 7)) <= 1.0


def test_one_dimensional_weight_and_conv_transpose():
    torch.manual_seed(0)
    m = st.spectral_norm(nn.Linear(5, 3), name="bias")
    b = m.bias
    assert float(torch.linalg.vector_norm(b.detach().double())) <= 1.0
    t = st.spectral_norm(nn.ConvTranspose2d(3, 2, 3))  # the reshaped kernel along dim=1, as PyTorch
    Wm = t.weight.detach().double().permute(1, 0, 2, 3).reshape(2, -1)
    assert torch.linalg.matrix_norm(Wm, 2) <= 1.0


def test_probabilistic_refreshes_keep_a_joint_confidence():
    torch.manual_seed(0)
    layer = st.spectral_norm(nn.Linear(50, 40), method="lanczos", confidence=0.99, tol=0.01)
    raw = layer.parametrizations.weight.original
    for _ in range(30):
        with torch.no_grad():
            raw.add_(0.05 * torch.randn_like(raw) * raw.abs().mean())
        layer.weight
    p = param(layer)
    assert p.refreshes > 1
    spent = sum(0.01 * 6 / (math.pi**2 * r * r) for r in range(1, p.refreshes + 1))
    assert p.confidence == pytest.approx(1 - spent, rel=1e-12)
    assert p.confidence >= 0.99


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(name="nothing"), ValueError, "no parameter"),
        (dict(n_power_iterations=0), ValueError, "n_power_iterations"),
        (dict(tol=0.0), ValueError, "tol"),
        (dict(dim=5), IndexError, "dim"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        st.spectral_norm(nn.Linear(3, 3), **kwargs)


@pytest.mark.parametrize(
    "make, kwargs, match",
    [
        (lambda: nn.Linear(3, 3), dict(eps=-1.0), "eps"),
        (lambda: nn.Linear(3, 3), dict(method="fft"), "methods of spectra.norm"),
        (lambda: nn.Linear(3, 3), dict(method="bogus"), "methods of spectra.norm"),
        (lambda: nn.Conv2d(2, 3, 3), dict(method="bogus"), "methods of spectra.conv_norm"),
        (lambda: nn.Conv2d(2, 3, 3), dict(method="gram"), "methods of spectra.conv_norm"),
    ],
)
def test_bad_method_and_eps_are_refused_at_registration(make, kwargs, match):
    # a convolution without input_shape is refused at registration, not at its first forward
    with pytest.raises(ValueError, match=match):
        st.spectral_norm(make(), **kwargs)


@pytest.mark.parametrize("method", ["gram", "svd", "lanczos", "power", "randomized"])
def test_every_matrix_method_certifies_a_linear_layer(method):
    torch.manual_seed(0)
    layer = st.spectral_norm(nn.Linear(20, 40), method=method)
    with torch.no_grad():
        assert float(torch.linalg.matrix_norm(layer.weight.double(), 2)) <= 1.0


@pytest.mark.parametrize("method", ["fft", "svd", "lanczos", "power", "randomized"])
def test_every_conv_method_certifies_a_conv_layer(method):
    torch.manual_seed(0)
    layer = st.spectral_norm(nn.Conv2d(2, 3, 3, padding=1), method=method, input_shape=(2, 6, 6))
    layer(torch.randn(1, 2, 6, 6))
    p = layer.parametrizations.weight[0]
    assert p.sigma >= conv_norm_truth(layer.parametrizations.weight.original, (6, 6)) * (1 - 1e-12)


def conv_norm_truth(w, spatial):
    w = w.detach().double().numpy()
    return np.linalg.norm(conv_layer_matrix(w, spatial, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, "zeros"), 2)


def test_input_shape_methods_of_a_matrix_parametrization_raise_clearly():
    p = st.spectral_norm(nn.Linear(3, 4)).parametrizations.weight[0]
    with pytest.raises(ValueError, match="set_input_shape applies to a convolution"):
        p.set_input_shape((3,))
    with pytest.raises(ValueError, match="conv_input_shape applies to a convolution"):
        p.conv_input_shape((3,))


def test_pytorch_can_exceed_one_where_spectra_does_not():
    """The issue's observation, kept as a regression: one power step per forward under-estimates sigma."""
    torch.manual_seed(0)
    ours = st.spectral_norm(nn.Linear(64, 64))
    torch.manual_seed(0)
    theirs = torch.nn.utils.parametrizations.spectral_norm(nn.Linear(64, 64))
    over = 0
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        for m in (ours, theirs):
            with torch.no_grad():
                m.parametrizations.weight.original.add_(0.05 * torch.randn(64, 64, generator=gen))
        assert true_norm(ours) <= 1.0
        over += true_norm(theirs) > 1.0
    assert over > 0


def test_torch_warm_start_emits_no_warning():
    """Regression: a v0 with a torch input was handed to torch as a read-only NumPy view (UserWarning)."""
    import spectra

    W = torch.randn(40, 30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    r = spectra.norm(W, method="lanczos", v0=torch.ones(30, dtype=torch.float64), seed=0)
    assert r.lower <= float(torch.linalg.matrix_norm(W, 2)) <= r.upper


def test_a_complex_weight_is_refused_with_the_alternatives():
    """Regression: ``spectral_norm(Linear(20, 10).to(complex64))`` failed inside torch ("linalg.vector_norm: dtype
    should be complex for complex inputs"); it now says that complex weights are not supported and what to use."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyTorch: complex modules are a new feature
        layer = torch.nn.Linear(20, 10).to(torch.complex64)
    with pytest.raises(TypeError, match=r"real floating weights, not torch\.complex64.*spectra\.norm"):
        st.spectral_norm(layer)
    # an integer weight is not called complex (regression: the message said "complex weights are not supported")
    quantised = torch.nn.Linear(20, 10)
    quantised.weight = torch.nn.Parameter(torch.ones(10, 20, dtype=torch.int64), requires_grad=False)
    with pytest.raises(TypeError, match=r"not torch\.int64: convert the layer to a floating dtype") as info:
        st.spectral_norm(quantised)
    assert "complex" not in str(info.value)


@pytest.mark.parametrize("cast", ["to_cpu", "cpu", "double", "float", "half", "bfloat16", "to_float64"])
def test_moving_or_casting_the_model_keeps_the_certificate(cast):
    """Regression: ``model.to(...)``, ``.double()``, ``.half()`` ... raised TypeError (the parametrization's
    product helper was named ``_apply``, overriding :meth:`torch.nn.Module._apply`). The certificate's float64
    state must survive a cast bitwise (rounded to float16 it could fall below the norm), and a weight cast to
    another dtype is certified afresh at the next forward call."""
    torch.manual_seed(0)
    model = nn.Sequential(st.spectral_norm(nn.Linear(24, 16)), nn.ReLU())
    layer = model[0]
    layer(torch.randn(2, 24))
    p = param(layer)
    before = {name: getattr(p, name).clone() for name in ("_upper_ref", "_lower_ref", "_frob_ref", "_delta_spent")}
    refreshes = p.refreshes
    dtype_before = layer.parametrizations.weight.original.dtype
    out = {
        "to_cpu": lambda m: m.to("cpu"),
        "cpu": lambda m: m.cpu(),
        "double": lambda m: m.double(),
        "float": lambda m: m.float(),
        "half": lambda m: m.half(),
        "bfloat16": lambda m: m.bfloat16(),
        "to_float64": lambda m: m.to(torch.float64),
    }[cast](model)
    assert out is model
    for name, value in before.items():
        assert getattr(p, name).dtype == torch.float64, name
        torch.testing.assert_close(getattr(p, name), value, rtol=0, atol=0)
    dtype = layer.parametrizations.weight.original.dtype
    model.train()
    y = model(torch.randn(2, 24, dtype=dtype))
    assert y.dtype == dtype
    assert p.refreshes == refreshes + (dtype != dtype_before)
    assert layer.weight.dtype == dtype
    assert true_norm(layer) <= 1.0


def test_deepcopy_of_a_conv_layer_after_a_forward_call():
    """Regression: ``copy.deepcopy`` (EMA or target networks, best-model snapshots) of a conv layer raised
    "cannot pickle 'module' object" once a forward call had built its operator; and the input-shape hook was a
    closure over the original parametrization, so a copy's new input shape would have re-shaped the original."""
    import copy

    torch.manual_seed(0)
    layer = st.spectral_norm(nn.Conv2d(2, 3, 3, padding=1))
    layer(torch.randn(1, 2, 6, 6))
    twin = copy.deepcopy(layer)
    torch.testing.assert_close(twin.weight, layer.weight, rtol=0, atol=0)
    twin(torch.randn(1, 2, 9, 9))  # a new resolution for the copy only
    assert param(twin)._geom.spatial == (9, 9)
    assert true_norm(twin, (2, 9, 9)) <= 1.0
    assert param(layer)._geom.spatial == (6, 6)
    assert true_norm(layer, (2, 6, 6)) <= 1.0


def _arbitrary_bytes(t: torch.Tensor) -> torch.Tensor:
    """What ``module.to_empty`` may leave in a tensor, at its worst: NaN in floats, a large number in integers."""
    return torch.full_like(t, math.nan if t.is_floating_point() else 2**40 + 7, device="cpu")


@pytest.mark.parametrize("shape_given", [False, True])
@pytest.mark.parametrize(
    "make, input_shape",
    [
        (lambda: nn.Linear(30, 20), None),
        (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (3, 6, 6)),
        (lambda: nn.Conv1d(2, 3, 3, stride=2), (2, 9)),
    ],
    ids=["linear", "conv2d", "conv1d"],
)
def test_a_module_built_on_the_meta_device_is_certified_once_materialised(make, input_shape, shape_given):
    """Regression: a module on the meta device (deferred initialisation of large models) was refused. It now
    registers; a forward call on meta tensors gives the shape; after ``to_empty`` (buffers of arbitrary bytes
    here: NaN and a huge integer) and an initialisation, the first forward call certifies the values, with
    nothing of the meta state carried over (no refresh spent, a fresh seed)."""
    torch.manual_seed(0)
    with torch.device("meta"):
        layer = make()
    given = dict(input_shape=input_shape) if shape_given and input_shape is not None else {}
    st.spectral_norm(layer, **given)
    x_shape = (2, *(input_shape or (30,)))
    assert layer(torch.empty(x_shape, device="meta")).is_meta
    layer._apply(_arbitrary_bytes)  # module.to_empty(device="cpu"), at its worst
    with torch.no_grad():
        nn.init.normal_(layer.parametrizations.weight.original)
        layer.bias.zero_()
    layer.train()
    for _ in range(3):
        layer(torch.randn(x_shape))
        assert true_norm(layer, input_shape) <= 1.0
    p = param(layer)
    assert p.refreshes == 1 and p.confidence >= 0.999 and math.isfinite(p.sigma)
    assert 0 <= int(p._seed) < 2**62 and int(p._seed) != 2**40 + 7
    assert true_norm(layer, input_shape) >= 1.0 / (1.0 + p.tol) ** 2  # tight, as for a module built with values
    if input_shape is not None:
        assert p._input_shape.tolist() == list(input_shape)


@pytest.mark.parametrize("source", ["spectra", "pytorch"])
def test_a_meta_module_takes_a_checkpoint_by_assignment(source):
    """``load_state_dict(..., assign=True)`` onto a module registered on the meta device (a checkpoint of this
    parametrization or of PyTorch's): the loaded weight is certified at the first forward call."""
    torch.manual_seed(1)
    if source == "spectra":
        trained = st.spectral_norm(nn.Linear(30, 20))
    else:
        trained = nn.utils.parametrizations.spectral_norm(nn.Linear(30, 20))
    trained(torch.randn(2, 30))
    with torch.device("meta"):
        layer = nn.Linear(30, 20)
    st.spectral_norm(layer)
    layer.load_state_dict(trained.state_dict(), assign=True)
    layer(torch.randn(2, 30))
    assert not any(t.is_meta for t in layer.state_dict().values())
    W = trained.parametrizations.weight.original.detach().double()
    assert param(layer).sigma >= float(torch.linalg.matrix_norm(W, 2)) and true_norm(layer) <= 1.0
    assert param(layer).confidence >= 0.999


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.Conv2d(2, 3, 3, padding=1), (1, 2, 6, 6)),
        (lambda: nn.Conv1d(2, 3, 3, padding=1, padding_mode="reflect"), (1, 2, 7)),
        (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2), (1, 2, 4, 4)),
    ],
)
def test_a_conv_layer_runs_after_remove_parametrizations(make, shape):
    """Regression: after ``parametrize.remove_parametrizations`` (the step before export or inference) a conv
    layer raised "'Conv2d' object has no attribute 'parametrizations'": the input-shape pre-hook stayed on it.
    The layer is then a plain convolution with the last normalised weight, as with PyTorch's spectral_norm."""
    from torch.nn.utils import parametrize

    torch.manual_seed(0)
    layer = st.spectral_norm(make()).eval()
    x = torch.randn(shape)
    expected = layer(x)
    weight = layer.weight.detach().clone()
    parametrize.remove_parametrizations(layer, "weight")
    torch.testing.assert_close(layer.weight.detach(), weight, rtol=0, atol=0)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)
    assert layer(torch.randn(1, *shape[1:-1], shape[-1] + 3)).shape[:2] == expected.shape[:2]  # any shape now


def _train_and_check(layer, x_shape, input_shape) -> None:
    """Three SGD steps in training mode, each followed by ``||W / sigma||_2 <= 1`` on the layer's dense map."""
    layer.train()
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        layer(torch.randn(x_shape)).square().sum().backward()
        opt.step()
        assert true_norm(layer, param(layer).conv_input_shape(input_shape) if input_shape else None) <= 1.0


@pytest.mark.parametrize("meta", [False, True])
@pytest.mark.parametrize(
    "make, input_shape",
    [
        (lambda: nn.Linear(30, 20), None),
        (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 6, 6)),
        (lambda: nn.ConvTranspose1d(2, 3, 3, stride=2), (2, 5)),
    ],
    ids=["linear", "conv2d", "convtranspose1d"],
)
def test_a_first_call_under_inference_mode_leaves_the_layer_trainable(make, input_shape, meta):
    """Regression: a conv layer whose first forward call ran under ``torch.inference_mode()`` (a validation pass
    before training) could not be trained: the buffers made by that call (``_u``, ``_v``, ``_input_shape``) were
    inference tensors, and the next training forward raised "Inplace update to inference tensor outside
    InferenceMode". PyTorch's spectral_norm trains after the same call."""
    torch.manual_seed(0)
    with torch.device("meta" if meta else "cpu"):
        layer = make()
    st.spectral_norm(layer)
    if meta:
        layer.to_empty(device="cpu")
        with torch.no_grad():
            nn.init.normal_(layer.parametrizations.weight.original)
            layer.bias.zero_()
    x_shape = (2, *(input_shape or (30,)))
    with torch.inference_mode():
        layer.eval()(torch.randn(x_shape))
    _train_and_check(layer, x_shape, input_shape)
    assert not any(t.is_inference() for t in layer.state_dict().values())


def test_spectral_norm_under_a_meta_device_context():
    """Regression: the deferred-initialisation idiom ``with torch.device("meta"): model = ...`` failed inside
    ``spectral_norm`` ("Tensor.item() cannot be called on meta tensors": the seed was drawn on the context's
    device). It builds, infers shapes on meta, and certifies after ``to_empty`` as a module given ``device="meta"``."""
    torch.manual_seed(0)
    with torch.device("meta"):
        net = nn.Sequential(st.spectral_norm(nn.Linear(8, 12)), nn.ReLU(), st.spectral_norm(nn.Linear(12, 5)))
        assert net(torch.randn(2, 8)).shape == (2, 5)
    net.to_empty(device="cpu")
    with torch.no_grad():
        for layer in (net[0], net[2]):
            nn.init.normal_(layer.parametrizations.weight.original)
            layer.bias.zero_()
    net.train()(torch.randn(2, 8))
    for layer in (net[0], net[2]):
        assert param(layer).refreshes == 1 and true_norm(layer) <= 1.0
        assert true_norm(layer) >= 1.0 / (1.0 + param(layer).tol) ** 2


@pytest.mark.parametrize(
    "make, x_shape",
    [(lambda: nn.Linear(16, 16), (20, 16)), (lambda: nn.Conv1d(2, 3, 3, padding=1), (4, 2, 8))],
    ids=["linear", "conv1d"],
)
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # torch's own
def test_training_under_torch_compile_divides_by_the_current_certificate(make, x_shape):
    """Regression: under ``torch.compile`` (inductor) the compiled graph kept the divisor of its first trace, a
    Python float: after eight Adam steps the weight the compiled Linear(16, 16) applied had norm 1.109, while the
    refresh counter still rose. The parametrization now runs eagerly inside a compiled model."""
    torch.manual_seed(0)
    layer = st.spectral_norm(make())
    p = param(layer)
    compiled = torch.compile(layer)
    opt = torch.optim.Adam(layer.parameters(), lr=3e-2)
    conv = isinstance(layer, nn.Conv1d)
    for _ in range(6):
        x = torch.randn(x_shape)
        out = compiled(x)
        with torch.no_grad():  # the weight the compiled call applied, and the value it was divided by
            w = layer.parametrizations.weight.original / p.sigma
            expected = nn.functional.conv1d(x, w, layer.bias, padding=1) if conv else x @ w.T + layer.bias
        torch.testing.assert_close(out, expected)
        module = nn.Conv1d(2, 3, 3, padding=1) if conv else nn.Linear(16, 16)
        module.weight.data = w.clone()
        assert true_norm(module, x_shape[1:] if conv else None) <= 1.0
        opt.zero_grad()
        (-(out**2).mean()).backward()
        opt.step()
    assert p.refreshes > 1


@pytest.mark.parametrize("bad", [math.nan, math.inf])
@pytest.mark.parametrize(
    "make, input_shape",
    [(lambda: nn.Linear(3, 3), None), (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 5, 5))],
    ids=["linear", "conv2d"],
)
def test_a_non_finite_weight_is_refused_and_leaves_the_state_intact(make, input_shape, bad):
    """Regression: after a divergent step (a NaN or Inf in the weight) a NaN weight gave NaN outputs silently and
    an Inf one raised spectra.norm's "A contains NaN or Inf ... pass check_finite=False" (arguments the user never
    passed); both had already written NaN into the power vectors ``u``, ``v``, so the layer stayed NaN after the
    weight was restored. Now a clear error, with ``u``, ``v`` and the certificate untouched."""
    torch.manual_seed(0)
    layer = st.spectral_norm(make())
    x = torch.randn(2, *(input_shape or (3,)))
    layer(x)
    p = param(layer)
    state = {k: v.clone() for k, v in p.state_dict().items()}
    W = layer.parametrizations.weight.original
    good = W.detach().clone()
    with torch.no_grad():
        W.view(-1)[0] = bad
    for mode in (layer.train, layer.eval):
        mode()
        with pytest.raises(ValueError, match="the weight contains NaN or Inf .* state is unchanged"):
            layer(x)
    for k, v in p.state_dict().items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0, equal_nan=True)
    with torch.no_grad():
        W.copy_(good)
    layer.train()
    assert torch.isfinite(layer(x)).all()
    assert true_norm(layer, input_shape) <= 1.0


@pytest.mark.parametrize(
    "make, input_shape",
    [(lambda: nn.Linear(300, 200), None), (lambda: nn.Conv2d(4, 4, 3, padding=1), (4, 10, 10))],
    ids=["linear", "conv2d"],
)
def test_method_power_keeps_the_tightness_of_tol(make, input_shape):
    """Regression: with ``method="power"`` each refresh called power iteration with its default ``certify=False``
    (stop on the residual), so the certified upper bound was far from the norm: ``||W / sigma||_2`` fell to 0.74
    with ``tol=0.02`` (Linear(600, 500)), where the docstring promises about ``1 / (1 + tol)``. The refreshes now
    certify the width (up to their step budget, whose width is then reported)."""
    torch.manual_seed(0)
    layer = st.spectral_norm(make(), method="power", tol=0.02)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-3)
    x_shape = (4, *(input_shape or (300,)))
    tightness = []
    for _ in range(5):
        opt.zero_grad()
        (-layer(torch.randn(x_shape)).square().mean()).backward()
        opt.step()
        tightness.append(true_norm(layer, input_shape))
    assert param(layer).refreshes > 1
    assert 0.96 <= min(tightness) and max(tightness) <= 1.0, tightness


@pytest.mark.parametrize(
    "make, input_shape",
    [
        (lambda: nn.Linear(30, 20), None),
        (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 6, 6)),
    ],
    ids=["linear", "conv2d"],
)
def test_registered_under_inference_mode(make, input_shape):
    """Regression: ``st.spectral_norm(layer)`` called inside ``torch.inference_mode()`` raised "Inplace update to
    inference tensor outside InferenceMode" (its buffers were made there as inference tensors, then certified
    outside it); PyTorch's spectral_norm registers there. It now registers, runs inside the mode, and the layer
    trains afterwards with ``||W / sigma||_2 <= 1``."""
    torch.manual_seed(0)
    layer = make()
    x_shape = (2, *(input_shape or (30,)))
    with torch.inference_mode():
        st.spectral_norm(layer)
        layer.eval()(torch.randn(x_shape))
    assert not any(t.is_inference() for t in layer.state_dict().values())
    _train_and_check(layer, x_shape, input_shape)
