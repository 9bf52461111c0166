"""``spectra.conv_norm`` against the dense materialised matrix of tiny layers (float64 LAPACK oracle).

The oracle builds the matrix entry by entry from the definition of the layer (loops over output positions,
taps and the padding's source index), independently of spectra's operator; it is itself checked against
``torch.nn.Conv1d``/``Conv2d`` applied to the unit vectors.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import spectra
from spectra._conv_geometry import conv_geometry, pad_matrix
from spectra._conv_ops import NumpyConv, TorchConv
from spectra._testing import conv_layer_matrix as dense_layer


def torch_dense(w, spatial, stride, pad, dilation, groups, mode) -> np.ndarray:
    """The same matrix from ``torch.nn.ConvNd`` (symmetric padding only) applied to the unit vectors."""
    d = len(spatial)
    c_out, ci_g = w.shape[:2]
    c_in = ci_g * groups
    conv = getattr(torch.nn, f"Conv{d}d")(
        c_in,
        c_out,
        w.shape[2:],
        stride=stride,
        padding=tuple(p[0] for p in pad),
        dilation=dilation,
        groups=groups,
        bias=False,
        padding_mode=mode,
        dtype=torch.float64,
    )
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(w))
        n = c_in * math.prod(spatial)
        eye = torch.eye(n, dtype=torch.float64).reshape(n, c_in, *spatial)
        return conv(eye).reshape(n, -1).T.numpy()


def _cases():
    rng = np.random.default_rng(7)
    out = []
    for d, mode, stride, dilation, groups, padding in itertools.product(
        (1, 2), ("zeros", "circular", "reflect", "replicate"), (1, 2), (1, 2), (1, 2), (0, 1, 2)
    ):
        spatial = (7,) if d == 1 else (5, 6)
        kernel = (3,) if d == 1 else (3, 2)
        if mode != "zeros" and padding == 0:
            continue
        c_in, c_out = 2 * groups, 2 * groups if groups > 1 else 3
        w = rng.standard_normal((c_out, c_in // groups, *kernel))
        out.append(
            pytest.param(
                w,
                spatial,
                stride,
                dilation,
                groups,
                padding,
                mode,
                id=f"{d}d-{mode}-s{stride}-d{dilation}-g{groups}-p{padding}",
            )
        )
    return out


CASES = _cases()


@pytest.mark.parametrize("w, spatial, stride, dilation, groups, padding, mode", CASES)
def test_operator_matches_definition(w, spatial, stride, dilation, groups, padding, mode):
    d = len(spatial)
    geom = conv_geometry(
        w.shape, spatial, stride=stride, padding=padding, padding_mode=mode, dilation=dilation, groups=groups
    )
    M = dense_layer(w, spatial, geom.stride, geom.pad, geom.dilation, groups, mode)
    np.testing.assert_allclose(
        M, torch_dense(w, spatial, geom.stride, geom.pad, geom.dilation, groups, mode), atol=1e-13
    )
    for op in (NumpyConv(w, geom), TorchConv(torch.as_tensor(w), geom)):
        A = op.as_linear_operator()
        assert A.shape == M.shape
        eye_in, eye_out = np.eye(M.shape[1]), np.eye(M.shape[0])
        np.testing.assert_allclose(A.matmat(eye_in), M, atol=1e-12)
        np.testing.assert_allclose(A.rmatmat(eye_out), M.T, atol=1e-12)
    assert d == geom.ndim


@pytest.mark.parametrize("w, spatial, stride, dilation, groups, padding, mode", CASES)
def test_conv_norm_interval_contains_the_truth(w, spatial, stride, dilation, groups, padding, mode):
    geom = conv_geometry(
        w.shape, spatial, stride=stride, padding=padding, padding_mode=mode, dilation=dilation, groups=groups
    )
    slack = 1e-13
    kw = dict(stride=stride, padding=padding, padding_mode=mode, dilation=dilation, groups=groups)
    # the torch path on half of the cases (the operator test covers it on all)
    weights = (w, torch.as_tensor(w, dtype=torch.float32)) if stride == dilation else (w,)
    for weight in weights:
        w_stored = np.asarray(weight, dtype=np.float64)
        truth = np.linalg.norm(dense_layer(w_stored, spatial, geom.stride, geom.pad, geom.dilation, groups, mode), 2)
        r = spectra.conv_norm(weight, spatial, seed=1, **kw)
        assert r.lower <= truth * (1 + slack) and truth <= r.upper * (1 + slack), (r, truth)
        assert r.upper <= r.lower * (1 + 1e-5), r
        f = spectra.conv_norm(weight, spatial, method="fft", **kw)  # deterministic: confidence 1
        assert f.confidence == 1.0
        assert f.lower <= truth * (1 + slack) <= f.upper * (1 + 2 * slack), (f, truth)
        if geom.circular_exact:
            assert r.method == "fft" and r.upper <= r.lower * (1 + 1e-12)


def test_circular_embedding_numbers_of_the_issue():
    """Conv2d(64, 64, 3, padding=1) on 32 x 32: true norm 1.15121, embedding bound 1.15274, kernel 0.749."""
    torch.manual_seed(0)
    w = torch.nn.Conv2d(64, 64, 3, padding=1).weight.detach().double()
    f = spectra.conv_norm(w, (32, 32), padding=1, method="fft")
    assert f.confidence == 1.0
    kernel = float(torch.linalg.matrix_norm(w.reshape(64, -1), 2))
    assert abs(f.upper - 1.15274) < 5e-5
    assert abs(kernel - 0.7489) < 5e-4
    assert f.lower <= 1.151207 < f.upper


def test_float32_torch_weight_is_normed_as_stored():
    rng = np.random.default_rng(3)
    w32 = torch.as_tensor(rng.standard_normal((3, 2, 3, 3)), dtype=torch.float32)
    truth = np.linalg.norm(dense_layer(w32.double().numpy(), (6, 6), (1, 1), ((1, 1), (1, 1)), (1, 1), 1, "zeros"), 2)
    r = spectra.conv_norm(w32, (2, 6, 6), padding=1, seed=0)
    assert r.lower <= truth <= r.upper


def test_stride_same_and_asymmetric_padding():
    with pytest.raises(ValueError, match="stride=1"):
        spectra.conv_norm(np.ones((1, 1, 3)), (8,), padding="same", stride=2)
    w = np.random.default_rng(0).standard_normal((2, 1, 4))
    geom = conv_geometry(w.shape, (9,), padding="same", dilation=1)
    assert geom.pad == ((1, 2),) and geom.out == (9,)
    truth = np.linalg.norm(dense_layer(w, (9,), (1,), geom.pad, (1,), 1, "zeros"), 2)
    r = spectra.conv_norm(w, (9,), padding="same", seed=0)
    assert r.lower <= truth * (1 + 1e-13) and truth <= r.upper * (1 + 1e-13)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(padding_mode="mirror"), "padding_mode"),
        (dict(padding=3, padding_mode="reflect"), "reflect"),
        (dict(groups=2), "groups"),
        (dict(stride=0), "stride"),
        (dict(method="gramian"), "method"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spectra.conv_norm(np.ones((3, 2, 3, 3)), (3, 3), **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(rtol=-1), ValueError, "rtol"),
        (dict(rtol=math.nan), ValueError, "rtol"),
        (dict(confidence=2), ValueError, "confidence"),
        (dict(seed="x"), TypeError, "seed"),
        (dict(v0="junk"), TypeError, "v0"),
        (dict(v0=np.ones(3)), ValueError, "v0"),
        (dict(maxiter=-5), ValueError, "maxiter"),
        (dict(certify="x"), TypeError, "certify"),
    ],
)
@pytest.mark.parametrize(
    "route", [dict(padding=1, padding_mode="circular"), dict(padding=1, method="svd"), dict(padding=1)]
)
def test_solver_options_are_checked_on_every_route(route, kwargs, error, match):
    # the DFT and SVD routes never pass these options to spectra.norm: they are checked up front, as norm does
    if route.get("method") == "svd" and "v0" in kwargs:
        error, match = (ValueError, "v0")
    with pytest.raises(error, match=match):
        spectra.conv_norm(np.ones((2, 2, 3, 3)), (4, 4), **route, **kwargs)


def test_maxiter_and_v0_do_not_apply_to_svd():
    for kwargs in (dict(maxiter=3), dict(v0=np.ones(32))):
        with pytest.raises(ValueError, match="does not apply to method='svd'"):
            spectra.conv_norm(np.ones((2, 2, 3, 3)), (4, 4), padding=1, method="svd", **kwargs)


def test_input_shape_forms_and_errors():
    w = np.ones((3, 2, 3, 3))
    a = spectra.conv_norm(w, (5, 5), method="fft")
    b = spectra.conv_norm(w, (2, 5, 5), method="fft")
    c = spectra.conv_norm(w, (8, 2, 5, 5), method="fft")
    assert a.upper == b.upper == c.upper
    with pytest.raises(ValueError, match="channels"):
        spectra.conv_norm(w, (3, 5, 5))
    with pytest.raises(ValueError, match="no output"):
        spectra.conv_norm(w, (2, 2))
    with pytest.raises(TypeError, match="real"):
        spectra.conv_norm(w + 0j, (5, 5))


def test_pad_matrix_norm_is_the_copy_count():
    for mode, expected in [
        ("zeros", 1.0),
        ("reflect", math.sqrt(2)),
        ("replicate", math.sqrt(3)),
        ("circular", math.sqrt(2)),
    ]:
        P = pad_matrix(6, 2, 2, mode)
        assert np.isclose(np.linalg.norm(P, 2), expected)


def _vector_cases():
    """The routes of ``conv_norm``: every small case (SVD under ``auto``), DFT-exact circulants (odd and even grids,
    groups, dilation), and a large pointwise layer whose circular-embedding bound is tight (``auto`` -> ``fft``)."""
    rng = np.random.default_rng(11)
    out = [pytest.param(*case.values, id=case.id) for case in CASES[::3]]
    for spatial, kernel, dilation, groups in (((8, 8), (3, 3), 1, 1), ((7, 6), (3, 3), 2, 2), ((9,), (3,), 1, 2)):
        w = rng.standard_normal((2 * groups, 3, *kernel))
        pad = dilation * (kernel[0] // 2)
        case_id = f"circulant-{'x'.join(map(str, spatial))}-d{dilation}-g{groups}"
        out.append(pytest.param(w, spatial, 1, dilation, groups, pad, "circular", id=case_id))
    out.append(pytest.param(rng.standard_normal((8, 8, 1, 1)), (16, 16), 1, 1, 1, 0, "zeros", id="pointwise-large"))
    return out


#: layer -> (its dense matrix, LAPACK's norm of it), computed once for the four methods: the 2048 x 2048 matrix of
#: the large pointwise layer took two SVDs per method
_LAYERS: dict = {}


def _layer_and_norm(w, spatial, stride, dilation, groups, padding, mode) -> tuple[np.ndarray, float]:
    key = (w.shape, w.tobytes(), spatial, stride, dilation, groups, repr(padding), mode)
    if key not in _LAYERS:
        geom = conv_geometry(
            w.shape, spatial, stride=stride, padding=padding, padding_mode=mode, dilation=dilation, groups=groups
        )
        M = torch_dense(w, spatial, geom.stride, geom.pad, geom.dilation, groups, mode)
        M.flags.writeable = False
        _LAYERS[key] = M, float(np.linalg.norm(M, 2))
    return _LAYERS[key]


@pytest.mark.parametrize("method", ["auto", "svd", "fft", "lanczos"])
@pytest.mark.parametrize("w, spatial, stride, dilation, groups, padding, mode", _vector_cases())
def test_return_vectors_on_every_route(w, spatial, stride, dilation, groups, padding, mode, method):
    # regression: the svd, DFT and embedding routes returned u = v = None with return_vectors=True
    from .test_vectors import check_vectors

    geom = conv_geometry(
        w.shape, spatial, stride=stride, padding=padding, padding_mode=mode, dilation=dilation, groups=groups
    )
    M, sigma1 = _layer_and_norm(w, spatial, stride, dilation, groups, padding, mode)
    kw = dict(stride=stride, padding=padding, padding_mode=mode, dilation=dilation, groups=groups, method=method)
    for weight in (w, torch.as_tensor(w)):
        r = spectra.conv_norm(weight, spatial, return_vectors=True, seed=0, **kw)
        assert r.u.shape == (geom.n_out,) and r.v.shape == (geom.n_in,), r.plan
        if r.converged:
            check_vectors(M, r, sigma1=sigma1)
        else:  # fft outside the circulant: the embedding bound is not within rtol; the vectors are Lanczos's
            assert method == "fft" and not geom.circular_exact
            np.testing.assert_allclose([np.linalg.norm(r.u), np.linalg.norm(r.v)], 1.0, rtol=1e-12)
            q = r.u @ M @ r.v
            right, left = np.linalg.norm(M @ r.v - q * r.u), np.linalg.norm(M.T @ r.u - q * r.v)
            assert min(right, left) <= 1e-12 * r.upper  # one of u, v is the normalised image of the other
            assert q >= r.lower * (1.0 - 1e-12)
    if geom.circular_exact and method in ("auto", "fft"):  # built from the top frequency: exact to rounding
        assert r.method == "fft" and r.plan.upper_by == "DFT"
        assert r.u @ M @ r.v >= sigma1 * (1.0 - 1e-13)


@pytest.mark.parametrize("mode", ["zeros", "circular"])
def test_return_vectors_of_a_zero_kernel_are_those_of_a_zero_matrix(mode):
    w = np.zeros((4, 3, 3, 3))
    for method in ("auto", "fft", "svd", "lanczos"):
        r = spectra.conv_norm(w, (8, 8), padding=1, padding_mode=mode, method=method, return_vectors=True)
        z = spectra.norm(
            np.zeros((256, 192)), method=method if method in ("svd", "lanczos") else "auto", return_vectors=True
        )
        assert (r.lower, r.upper) == (0.0, 0.0)
        np.testing.assert_array_equal(r.u, z.u)
        np.testing.assert_array_equal(r.v, z.v)
        assert r.u.shape == (256,) and r.v.shape == (192,)
        assert np.linalg.norm(r.u) == np.linalg.norm(r.v) == 1.0  # unit, as every method's vectors


@pytest.mark.parametrize("mode, padding", [("circular", 1), ("zeros", 1), ("zeros", 0)])
def test_taps_near_the_ends_of_float64s_range(mode, padding):
    """The interval of ``2^k w`` is ``2^k`` times that of ``w``, up to the rounding at the ends of the range.
    Regression: taps ~1e200 gave ``[0, inf]`` with ``converged=True`` on the DFT route (the rounding term's sums
    of squares overflowed from ~1e154 on), the zero-padding embedding bound was ``inf`` from ~1e181, and taps
    near 1e307 raised "the LinearOperator returned NaN or Inf" (the layer's products overflowed)."""
    w = np.random.default_rng(0).standard_normal((3, 2, 3, 3))
    ref = spectra.conv_norm(w, (6, 6), padding=padding, padding_mode=mode, method="svd")
    for k in (-1070, -1000, -600, 600, 1000, 1020):
        lo, hi = np.ldexp(ref.lower, k), np.ldexp(ref.upper, k)
        for method in ("auto", "fft", "svd", "lanczos"):
            r = spectra.conv_norm(np.ldexp(w, k), (6, 6), padding=padding, padding_mode=mode, method=method, seed=0)
            assert r.lower <= hi and lo <= r.upper < np.inf, (k, method, r.interval, (lo, hi))
            assert r.lower <= r.value <= r.upper
            if k >= -1000 and method != "fft":  # as narrow as at scale 1 (fft: an embedding bound for zeros)
                assert r.upper <= hi * (1 + 1e-5) and r.lower >= lo * (1 - 1e-5), (k, method, r.interval)
