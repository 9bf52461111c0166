"""The scalar formulas of spectra._bounds, each against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from spectra import _bounds


@pytest.mark.parametrize("N", [3, 10, 200, 10_000])
@pytest.mark.parametrize("delta", [1e-3, 0.1, 0.5])
def test_beta_threshold_is_the_quantile(N, delta):
    t = _bounds.beta_threshold(N, delta)
    # (z^T b)^2 ~ Beta(1/2, (N-1)/2)
    assert stats.beta.cdf(t * t, 0.5, (N - 1) / 2) == pytest.approx(delta, rel=1e-9)
    # Wendel's closed form is a valid (smaller) threshold
    assert delta / math.sqrt(2 * (N - 1) / math.pi) <= t * (1 + 1e-12)


def test_beta_threshold_worked_example():
    """docs/bounds.md §1: N = 1e4, delta = 1e-3 gives t = 1.2534e-5."""
    assert _bounds.beta_threshold(10_000, 1e-3) == pytest.approx(1.2534e-5, rel=1e-4)


@pytest.mark.parametrize(("N", "complex_start"), [(5, False), (40, False), (5, True), (40, True)])
def test_beta_threshold_monte_carlo(N, complex_start):
    rng = np.random.default_rng(0)
    g = rng.standard_normal((200_000, N))
    if complex_start:
        g = g + 1j * rng.standard_normal((200_000, N))
    first = np.abs(g[:, 0]) / np.linalg.norm(g, axis=1)
    delta = 0.05
    rate = np.mean(first < _bounds.beta_threshold(N, delta, complex_start))
    assert abs(rate - delta) < 4 * math.sqrt(delta * (1 - delta) / 200_000)


def test_beta_threshold_trivial_dimension():
    assert _bounds.beta_threshold(1, 0.1) == 1.0


@pytest.mark.parametrize(("b", "complex_start"), [(1, False), (8, False), (8, True)])
def test_block_dixon_threshold_monte_carlo(b, complex_start):
    rng = np.random.default_rng(1)
    g = rng.standard_normal((200_000, b))
    if complex_start:
        g = (g + 1j * rng.standard_normal((200_000, b))) / math.sqrt(2)
    delta = 0.05
    rate = np.mean(np.sum(np.abs(g) ** 2, axis=1) < _bounds.block_dixon_threshold(b, delta, complex_start))
    assert abs(rate - delta) < 4 * math.sqrt(delta * (1 - delta) / 200_000)


@pytest.mark.parametrize("b", [1, 2, 16, 17, 64])
@pytest.mark.parametrize("delta", [1e-9, 1e-3, 0.5])
def test_block_dixon_threshold_is_the_chi2_quantile(b, delta):
    """The threshold comes from scipy.special (no scipy.stats import); scipy.stats.chi2 is the oracle."""
    assert _bounds.block_dixon_threshold(b, delta) == pytest.approx(stats.chi2.ppf(delta, b), rel=1e-12)
    assert _bounds.block_dixon_threshold(b, delta, True) == pytest.approx(stats.chi2.ppf(delta, 2 * b) / 2, rel=1e-12)


def test_svd_interval_and_gamma():
    lo, up = _bounds.svd_interval(2.0, 10, 30, 2.0**-53)
    assert lo == pytest.approx(2.0 / (1 + 34 * 2.0**-53)) and up == pytest.approx(2.0 / (1 - 34 * 2.0**-53))
    assert _bounds.gamma(10, 0.01) == pytest.approx(0.1 / 0.9)
    assert _bounds.gamma(200, 0.01) == math.inf
    assert _bounds.unit_roundoff(np.float32) == 2.0**-24
    assert _bounds.unit_roundoff(np.complex128) == 2.0**-53


def test_power_steps_and_width():
    t = _bounds.beta_threshold(10_000, 1e-3)
    # docs/bounds.md §2: ln(1/t) / ln(1 + rtol) products; rtol 1e-1 -> ~119, 1e-2 -> 1135
    assert _bounds.power_steps_for(1e-1, t) == pytest.approx(119, abs=1)
    assert _bounds.power_steps_for(1e-2, t) == pytest.approx(1135, abs=2)
    assert _bounds.power_upper(0, 0.0, 199, t) - 1 == pytest.approx(0.0584, abs=5e-4)


def test_christoffel_overshoot_table():
    """§3b: n = 1e4, delta = 1e-3: k = 10: 18.5 %, 20: 4.5 %, 50: 0.72 %, 100: 0.18 % (sigma scale)."""
    t = _bounds.beta_threshold(10_000, 1e-3)
    for k, pct in [(10, 18.5), (20, 4.5), (50, 0.72), (100, 0.18)]:
        assert (math.sqrt(1 + _bounds.christoffel_overshoot(k, t)) - 1) * 100 == pytest.approx(pct, rel=0.03)


def _lanczos_tridiagonal(lam, v, k):
    """Plain Lanczos with full reorthogonalisation on diag(lam): returns a, b (b_k included)."""
    V = [v / np.linalg.norm(v)]
    a, b = [], []
    for _ in range(k):
        w = lam * V[-1]
        Q = np.array(V)
        w = w - Q.T @ (Q @ w)
        w = w - Q.T @ (Q @ w)
        a.append(float(lam @ (V[-1] ** 2)))
        b.append(float(np.linalg.norm(w)))
        V.append(w / b[-1])
    return a, b


def _brute_force_root(a, b, t, theta):
    """Bisection on a fine grid with the explicit polynomials (independent of the Newton code)."""
    target = 1 / t**2

    def C(x):
        p = [1.0]
        prev, bp = 0.0, 0.0
        for aj, bj in zip(a, b, strict=False):
            p.append(((x - aj) * p[-1] - bp * prev) / bj)
            prev, bp = p[-2], bj
        return sum(q * q for q in p)

    lo, hi = theta, theta * 4 + 1
    while C(hi) < target:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if C(mid) < target else (lo, mid)
    return hi


@pytest.mark.parametrize("k", [1, 3, 8])
def test_christoffel_root_matches_brute_force(k):
    rng = np.random.default_rng(k)
    lam = np.sort(rng.uniform(0, 1, 80))
    a, b = _lanczos_tridiagonal(lam, rng.standard_normal(80), k)
    T = np.diag(a) + np.diag(b[:-1], 1) + np.diag(b[:-1], -1)
    theta = np.linalg.eigvalsh(T)[-1]
    t = _bounds.beta_threshold(80, 0.05)
    got = _bounds.christoffel_upper(a, b, t, theta)
    want = _brute_force_root(a, b, t, theta)
    assert got >= want * (1 - 1e-15)
    assert got == pytest.approx(want, rel=1e-10)
    # batched form gives the same
    batched = _bounds.christoffel_upper(
        [np.array([x, x]) for x in a], [np.array([x, x]) for x in b], t, np.array([theta, theta])
    )
    np.testing.assert_allclose(batched, [got, got], rtol=1e-12)
    # a warm start above the root is accepted and gives the same root
    assert _bounds.christoffel_upper(a, b, t, theta, start=got * 1.5) == pytest.approx(got, rel=1e-10)


def test_certified_product_lower():
    lo = _bounds.certified_product_lower(2.0, 1.0, 0.0, 10, 10, 2.0**-53)
    assert lo < 2.0 and lo == pytest.approx(2.0, rel=1e-14)
    assert _bounds.certified_product_lower(1.0, 1.0, 5.0, 3, 3, 2.0**-53) == 0.0


def test_power_upper_is_above_its_exact_value_at_every_scale():
    """Regression: ``exp(sum(log nu_l)/i)`` rounded ``|log nu|`` units (45 u for growth factors near 1e-20), which
    for ``t = 1`` put the power bound below the norm of a column vector. Exact rational arithmetic:
    ``upper^i * t >= nu_1 ... nu_i`` for growth factors at scales 2^-1000 .. 2^1000 and thresholds down to 1e-30."""
    from fractions import Fraction

    rng = np.random.default_rng(7)
    for _ in range(400):
        i = int(rng.integers(1, 40))
        nu = rng.uniform(0.5, 2.0, i) * 2.0 ** float(rng.integers(-1000, 1000))
        t = 1.0 if rng.random() < 0.5 else float(10.0 ** -rng.uniform(0, 30))
        mantissa, exponent = np.frexp(nu)
        upper = float(_bounds.power_upper(int(exponent.sum()), float(np.log(mantissa).sum()), i, t))
        exact = math.prod(Fraction(float(x)) for x in nu)
        assert Fraction(upper) ** i * Fraction(t) >= exact, (i, t)
        log_exact = math.log(exact.numerator) - math.log(exact.denominator)
        assert math.log(upper) <= (log_exact - math.log(t)) / i + 1e-12  # and tight


@pytest.mark.parametrize("above", [True, False, np.True_, np.array([True, False])])
def test_root_bracketing_sides_are_booleans(above):
    """The Christoffel root's bracketing splits a step into the sides above and below the target with boolean
    operations. Regression: the scalar path applied ``~`` to a Python bool (an integer complement, -2 or -1),
    which Python 3.12 deprecates: the README example failed under ``-W error`` on 3.12 and 3.13."""
    inside = np.array([True, True]) if np.ndim(above) else np.True_
    hi, lo = _bounds._sides(above, inside)
    assert np.asarray(hi).dtype == bool and np.asarray(lo).dtype == bool
    assert np.array_equal(hi, np.asarray(above) & inside) and np.array_equal(lo, ~np.asarray(above) & inside)
