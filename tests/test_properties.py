"""Hypothesis properties: scaling, adjoint and orthogonal invariance, norm inequalities, ordered intervals."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import spectra
from spectra._testing import _haar

METHODS = st.sampled_from(["svd", "power", "lanczos", "randomized", "gram"])
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


@st.composite
def matrices(draw, max_dim=12):
    m = draw(st.integers(1, max_dim))
    n = draw(st.integers(1, max_dim))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    if draw(st.booleans()):
        A = A + 1j * rng.standard_normal((m, n))
    return A


def _close(a, b, rtol):
    return abs(a - b) <= rtol * max(abs(a), abs(b))


@SETTINGS
@given(matrices(), st.floats(-300, 300), METHODS)
def test_scaling(A, log10c, method):
    c = 10.0**log10c
    r1 = spectra.norm(A, method=method, seed=0)
    r2 = spectra.norm(c * A, method=method, seed=0)
    assert _close(r2.value, c * r1.value, 1e-5)
    assert r2.lower <= c * r1.upper * (1 + 1e-12) and c * r1.lower <= r2.upper * (1 + 1e-12)


@SETTINGS
@given(matrices(), METHODS)
def test_adjoint(A, method):
    r1 = spectra.norm(A, method=method, seed=0)
    r2 = spectra.norm(A.conj().T, method=method, seed=0)
    assert _close(r1.value, r2.value, 1e-5)


@SETTINGS
@given(matrices(), st.integers(0, 1000), METHODS)
def test_orthogonal_invariance(A, seed, method):
    m, n = A.shape
    rng = np.random.default_rng(seed)
    Q1 = _haar(m, m, rng, np.iscomplexobj(A))
    Q2 = _haar(n, n, rng, np.iscomplexobj(A))
    r1 = spectra.norm(A, method=method, seed=0)
    r2 = spectra.norm(Q1 @ A @ Q2, method=method, seed=0)
    assert _close(r1.value, r2.value, 1e-5)


@SETTINGS
@given(matrices(), METHODS)
def test_norm_inequalities_and_ordered_interval(A, method):
    r = spectra.norm(A, method=method, seed=0)
    maxcol = np.max(np.linalg.norm(A, axis=0))
    fro = np.linalg.norm(A)
    assert r.lower <= r.value <= r.upper
    assert maxcol * (1 - 1e-12) <= r.upper and r.lower <= fro * (1 + 1e-12)
    assert maxcol * (1 - 1e-6) <= r.value <= fro * (1 + 1e-12)
