"""The convolution drift bounds of docs/bounds.md §12 against the materialised operator (zero misses)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from spectra._conv_geometry import conv_geometry
from spectra._testing import conv_layer_matrix
from spectra.torch._tracking import ConvDriftGeometry, drift_upper, reshaped_drift_upper

LAYOUTS = [
    # (c_out, c_in/groups, kernel, spatial, stride, dilation, groups, padding, mode)
    (3, 2, (3,), (7,), (1,), (1,), 1, 1, "zeros"),
    (4, 2, (3, 3), (5, 6), (1, 1), (1, 1), 1, 1, "zeros"),
    (4, 3, (3, 3), (6, 5), (2, 2), (1, 1), 1, 1, "reflect"),
    (4, 1, (3, 2), (5, 5), (1, 2), (2, 1), 2, 2, "circular"),
    (6, 2, (2, 2), (4, 4), (2, 1), (1, 1), 3, 0, "zeros"),
    (2, 3, (5,), (9,), (3,), (1,), 1, 2, "replicate"),
    (3, 3, (3, 3), (4, 4), (1, 1), (1, 1), 1, 1, "circular"),
    (2, 2, (2, 2, 2), (3, 3, 3), (1, 1, 1), (1, 1, 1), 1, 1, "zeros"),
]


def _difference(rng, shape, kind, dtype):
    if kind == "gaussian":
        D = rng.standard_normal(shape)
    elif kind == "rank_one_taps":  # the same c_out x c_in block in every tap: the tap sum is worst here
        D = np.broadcast_to(rng.standard_normal(shape[:2] + (1,) * (len(shape) - 2)), shape).copy()
    elif kind == "one_tap":
        D = np.zeros(shape)
        D[(slice(None), slice(None), *(s // 2 for s in shape[2:]))] = rng.standard_normal(shape[:2])
    else:  # a tiny scale and a huge one
        D = rng.standard_normal(shape) * (1e-30 if kind == "tiny" else 1e30)
    return torch.tensor(D, dtype=dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_drift_bounds_never_below_the_operator_norm(layout, dtype):
    co, ci, kernel, spatial, stride, dilation, groups, padding, mode = layout
    shape = (co, ci, *kernel)
    geom = conv_geometry(
        shape, spatial, stride=stride, padding=padding, padding_mode=mode, dilation=dilation, groups=groups
    )
    g = ConvDriftGeometry.of(geom)
    rng = np.random.default_rng(sum(map(ord, repr(layout))))
    misses, gains = 0, []
    for kind, _ in itertools.product(["gaussian", "rank_one_taps", "one_tap", "tiny", "huge"], range(4)):
        D = _difference(rng, shape, kind, dtype)
        M = conv_layer_matrix(D.double().numpy(), geom.spatial, geom.stride, geom.pad, geom.dilation, groups, mode)
        truth = float(np.linalg.norm(M, 2))
        tight = reshaped_drift_upper(D, g)
        taps = drift_upper(D, g.pad_norm)
        misses += (tight < truth) + (taps < truth)
        gains.append(tight / taps)
    assert misses == 0
    assert g.reads <= g.taps == math.prod(kernel)
    assert min(gains) < 1.0  # the reshaped bound is the tighter one on some differences


def test_reads_count_strides():
    """A stride as large as the kernel: each padded input is read by one (output, tap) pair only."""
    geom = conv_geometry((2, 2, 3, 3), (9, 9), stride=3)
    assert ConvDriftGeometry.of(geom).reads == 1
    assert ConvDriftGeometry.of(conv_geometry((2, 2, 3, 3), (9, 9), padding=1)).reads == 9


def test_reshaped_bound_is_much_tighter_on_a_gaussian_update():
    """Conv2d(16, 16, 3) on 12 x 12: a dense random update, the tap sum is loose by about sqrt(c)."""
    torch.manual_seed(0)
    geom = conv_geometry((16, 16, 3, 3), (12, 12), padding=1)
    g = ConvDriftGeometry.of(geom)
    D = 1e-3 * torch.randn(16, 16, 3, 3)
    M = conv_layer_matrix(D.double().numpy(), geom.spatial, geom.stride, geom.pad, geom.dilation, 1, "zeros")
    truth = float(np.linalg.norm(M, 2))
    tight, taps = reshaped_drift_upper(D, g), drift_upper(D, g.pad_norm)
    assert truth <= tight < 0.5 * taps
