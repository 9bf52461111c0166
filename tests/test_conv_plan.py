"""The plan of a ``spectra.conv_norm`` result: which bound certified the interval, and why."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spectra
from spectra._conv_plan import ConvPlan

W = np.random.default_rng(0).standard_normal((4, 3, 3, 3))


def test_dft_route_names_the_frequency_stack():
    r = spectra.conv_norm(W, (16, 16), padding=1, padding_mode="circular")
    p = r.plan
    assert isinstance(p, ConvPlan) and (p.method, p.backend, p.upper_by, p.lower_by) == ("fft", "numpy", "DFT", "DFT")
    assert p.why.startswith("circular padding, stride 1, output shape = input shape: a block circulant")
    assert "into 144 matrices 4×3" in p.why  # 16 x (16 // 2 + 1) frequencies of the real kernel
    assert str(p) == f"fft on numpy, bounds by DFT ({p.why})" and f"plan='{p}'" in repr(r)
    g = spectra.conv_norm(np.ones((4, 2, 3, 3)), (16, 16), padding=1, padding_mode="circular", groups=2).plan
    assert "into 288 matrices 2×2" in g.why  # two groups
    assert spectra.conv_norm(W, (16, 16), padding=1, padding_mode="circular", method="fft").plan.why.startswith(
        "fft requested; circular padding"
    )


def test_small_layer_is_materialised_for_lapack():
    r = spectra.conv_norm(W, (8, 8), padding=1)
    p = r.plan
    assert (p.method, p.lower_by, r.confidence) == ("svd", "SVD", 1.0) and p.upper_by in (
        "SVD",
        "circular-embedding bound",
    )
    size = "256×192 layer, n_out·n_in·min = 9.4e+06, at most 1e+08"
    assert (
        p.why
        == f"zeros padding: not a block circulant; {size}: materialised (one product with the unit vectors) for LAPACK"
    )
    assert p.norm_plan is not None and p.norm_plan.method == "svd"


def test_large_layer_embedding_bound_or_lanczos():
    # the embedding bound on the 66 x 66 grid is within 0.2 % of the layer's norm here
    r = spectra.conv_norm(W, (64, 64), padding=1, rtol=1e-2, seed=0)
    p = r.plan
    assert (p.method, p.upper_by, p.lower_by, r.confidence) == ("fft", "circular-embedding bound", "lanczos", 1.0)
    assert p.why.startswith(
        "zeros padding: not a block circulant; 16384×12288 layer, n_out·n_in·min = 2.5e+12, above 1e+08: not "
        "materialised; the circular-embedding bound (the circulant on the padded grid (66, 66)"
    )
    assert "is within rtol of the lower bound of" in p.why and "not within" not in p.why
    r = spectra.conv_norm(W, (64, 64), padding=1, seed=0)  # rtol 1e-6: the embedding bound is too loose
    p = r.plan
    assert (p.method, p.upper_by, p.lower_by) == ("lanczos", "lanczos", "lanczos") and r.confidence == 0.999
    assert p.why.endswith("not within rtol of a short Lanczos run: lanczos on the layer as an operator")
    assert p.norm_plan.method == "lanczos"
    p = spectra.conv_norm(W, (64, 64), padding=1, method="power", seed=0, maxiter=3).plan
    assert p.why.startswith("power requested; on the layer as an operator, capped by the circular-embedding bound")
    assert p.upper_by == "circular-embedding bound"  # three power steps give a wider upper bound than the circulant
    c = spectra.conv_norm(W, (64, 64), padding=1, padding_mode="circular", stride=2, seed=0).plan
    assert "rows of the circulant on the input grid (64, 64), each at most 1×" in c.why


def test_torch_weight_and_zero_kernel():
    p = spectra.conv_norm(torch.from_numpy(W), (16, 16), padding=1, padding_mode="circular").plan
    assert p.backend == "torch" and p.upper_by == "DFT"
    z = spectra.conv_norm(np.zeros((2, 2, 3, 3)), (8, 8), padding=1)
    assert z.value == 0.0 and (z.plan.upper_by, z.plan.why) == (
        "exact",
        "an empty or zero kernel: the norm is 0 exactly",
    )
    # regression: the result named the method "auto", which is no method; a requested one is named as asked
    assert (z.method, z.plan.method) == ("fft", "fft")
    zl = spectra.conv_norm(np.zeros((2, 2, 3, 3)), (8, 8), padding=1, method="lanczos")
    assert (zl.method, zl.upper, zl.plan.why) == (
        "lanczos",
        0.0,
        "lanczos requested; an empty or zero kernel: the norm is 0 exactly",
    )


@pytest.mark.parametrize(
    ("kwargs", "method"),
    [
        ({"padding": 1, "padding_mode": "circular"}, "fft"),  # the DFT, exact
        ({"padding": 1, "input_shape": (4, 4)}, "svd"),  # small: materialised for LAPACK
        ({"padding": 1, "method": "fft"}, "fft"),  # the embedding bound and a short Lanczos run
        ({"padding": 1}, "lanczos"),  # on the layer as an operator, capped by the embedding bound
        ({"padding": 1, "zero": True}, "fft"),  # a zero kernel
    ],
)
def test_every_route_states_the_rtol_it_stopped_at(kwargs, method):
    """Regression: ``conv_norm`` left ``rtol_effective`` at ``None`` on every route (a zero kernel included),
    where :func:`spectra.norm` always states it. It is now ``rtol`` or more, and ``converged`` means
    ``upper <= (1 + rtol_effective) lower`` as documented in :class:`spectra.NormEstimate`."""
    kwargs = dict(kwargs)
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3))
    if kwargs.pop("zero", False):
        w = np.zeros_like(w)
    shape = kwargs.pop("input_shape", (16, 16))
    r = spectra.conv_norm(w, shape, seed=0, rtol=1e-6, **kwargs)
    assert r.method == method
    assert r.rtol_effective is not None and r.rtol_effective >= 1e-6
    assert r.converged == (r.upper <= (1 + r.rtol_effective) * r.lower * (1 + 1e-15))


@pytest.mark.parametrize("kwargs", [{"padding_mode": "circular"}, {"input_shape": (4, 4)}], ids=["dft", "svd"])
def test_an_exact_route_meets_its_rtol_effective_in_floating_point(kwargs):
    """Regression: below the DFT's or LAPACK's width, ``rtol_effective`` was that width exactly and the documented
    ``upper <= (1 + rtol_effective) * lower`` failed by one rounding (23 and 26 of 200 kernels). Zero misses now."""
    kwargs = dict(kwargs)
    shape = kwargs.pop("input_shape", (8, 8))
    misses = []
    for seed in range(60):
        w = np.random.default_rng(seed).standard_normal((4, 3, 3, 3))
        r = spectra.conv_norm(w, shape, padding=1, rtol=1e-16, seed=0, **kwargs)
        if not (r.converged and r.upper <= (1 + r.rtol_effective) * r.lower):
            misses.append(seed)
    assert misses == []


def test_each_route_says_why_it_runs():
    """Regression: a requested route quoted the size test of ``method="auto"`` (``n_out·n_in·min`` against 1e8),
    which decides nothing when the route is asked for; the DFT route on a layer that is not a block circulant did
    not say why the DFT gave a bound only; a zero kernel read "bounds by exact". Each sentence now gives the
    reasons in the order the route was decided."""
    fft = spectra.conv_norm(W, (8, 8), padding=1, method="fft", seed=0).plan
    assert fft.why == (
        "fft requested; zeros padding: not a block circulant, so the DFT gives the circular-embedding bound "
        "(the circulant on the padded grid (10, 10), ‖P‖₂ = 1), not within rtol of the lower bound of 30 Lanczos "
        "steps"
    )
    strided = spectra.conv_norm(W, (8, 8), padding=1, padding_mode="circular", stride=2, method="fft", seed=0).plan
    assert strided.why.startswith("fft requested; stride (2, 2): not a block circulant")
    svd = spectra.conv_norm(W, (16, 16), padding=1, padding_mode="circular", method="svd").plan
    assert svd.why == "svd requested: the 1024×768 layer materialised (one product with the unit vectors) for LAPACK"
    auto = spectra.conv_norm(W, (8, 8), padding=1, padding_mode="reflect").plan
    assert auto.why == (
        "reflect padding: not a block circulant; 256×192 layer, n_out·n_in·min = 9.4e+06, at most 1e+08: "
        "materialised (one product with the unit vectors) for LAPACK"
    )
    z = spectra.conv_norm(np.zeros((2, 2, 3, 3)), (8, 8), padding=1).plan
    assert str(z) == "fft on numpy, exact (an empty or zero kernel: the norm is 0 exactly)"
