"""Scalar error-bound formulas (``docs/bounds.md`` has the derivations and sources).

Everything here works on Python floats or on small host NumPy arrays (one entry per matrix
of a stack); nothing touches the matrix or a backend. Section numbers refer to ``docs/bounds.md``.
``scipy.special`` is imported inside the functions that need it, so ``import spectra`` stays fast.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "beta_threshold",
    "block_dixon_threshold",
    "certified_product_lower",
    "christoffel_overshoot",
    "christoffel_reaches",
    "christoffel_upper",
    "gamma",
    "gram_upper",
    "krylov_rounding_pad",
    "power_steps_for",
    "power_upper",
    "subnormal_slack",
    "svd_interval",
    "unit_roundoff",
]


def unit_roundoff(dtype) -> float:
    """Unit roundoff ``u`` (half the machine epsilon) of a real or complex dtype."""
    return float(np.finfo(np.dtype(dtype)).eps) / 2.0


def gamma(p, u: float):
    """Higham's ``gamma_p = p u / (1 - p u)``; infinite when ``p u >= 1``."""
    if isinstance(p, (int, float)):  # the common scalar case, called every iteration
        pu = float(p) * u
        return pu / (1.0 - pu) if pu < 1.0 else math.inf
    pu = np.asarray(p, dtype=np.float64) * u
    with np.errstate(divide="ignore"):
        out = np.where(pu < 1.0, pu / np.maximum(1.0 - pu, 0.0), np.inf)
    return float(out) if np.ndim(out) == 0 else out


def beta_threshold(N: int, delta: float, complex_start: bool = False) -> float:
    """Threshold ``t(N, delta)`` with ``P(|z^H b| < t) = delta`` for ``b`` uniform on the unit sphere (§1).

    For a real start ``(z^T b)^2 ~ Beta(1/2, (N-1)/2)``; for a complex start
    ``|z^H b|^2 ~ Beta(1, N-1)``. For ``N == 1`` the start is parallel to ``z`` and ``t = 1``.

    Examples
    --------
    >>> round(beta_threshold(10_000, 1e-3), 9)
    1.2534e-05
    """
    if N <= 1:
        return 1.0
    if complex_start:
        return math.sqrt(-math.expm1(math.log1p(-delta) / (N - 1)))
    from scipy import special

    return math.sqrt(float(special.betaincinv(0.5, (N - 1) / 2.0, delta)))


def power_upper(exponent_sum, log_mantissa_sum, i: int, t):
    """Dixon-type power bound (§2): ``t^(-1/i) * (nu_1 ... nu_i)^(1/i)`` after ``i`` single products.

    Each growth factor enters split exactly by :func:`numpy.frexp`, ``nu_l = m_l 2^(e_l)`` with ``m_l`` in
    ``[1/2, 1)``: ``exponent_sum`` is the integer ``E = sum e_l`` and ``log_mantissa_sum`` the float64 sum of the
    ``log m_l``. With ``E = q i + r`` (``0 <= r < i``) the bound is ``2^q * 2^(r/i) * exp((sum log m_l - log t)/i)``:
    only logarithms of size at most ``ln 2`` (and ``log t``) are rounded, so the float64 evaluation is within
    ``(0.7 i + 2 |log t| / i + 8) u`` of the exact value, and it is padded by ``(2 i + 2 |log t| / i + 8) u``.
    (``exp(sum(log nu_l)/i)`` itself, for entries near 1e-20, was ``|log nu| u`` ≈ 45 u off: below the norm of a
    column vector, where ``t = 1`` leaves no other slack.)
    """
    q, r = np.divmod(np.asarray(exponent_sum, dtype=np.int64), i)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # t = 0: no event, no bound (inf)
        log_t = np.log(t)
        core = np.exp2(r / i) * np.exp((np.asarray(log_mantissa_sum) - log_t) / i)
        pad = np.where(np.isfinite(log_t), (2.0 * i + 2.0 * np.abs(log_t) / i + 8.0) * 2.0**-53, 0.0)
        return np.ldexp(core * (1.0 + pad), q)


def power_steps_for(rtol: float, t: float) -> int:
    """Single products after which the power bound's width ``t^(-1/i) - 1`` is at most ``rtol`` (§2)."""
    return max(1, math.ceil(-math.log(t) / math.log1p(rtol)))


def scale_by_power_of_two(x, e, outward: int = 0) -> np.ndarray:
    """``x · 2**e`` in float64: exact unless the result leaves float64's normal range (docs/bounds.md §6f).

    There ``outward=-1`` (a lower bound) rounds down, to the largest finite float64 on overflow, and
    ``outward=+1`` (an upper bound) rounds up; ``outward=0`` takes NumPy's rounding to nearest.
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        y = np.ldexp(x, e)
        if outward == 0:
            return y
        inexact = np.isfinite(x) & (np.ldexp(y, np.negative(e)) != x)
    return np.where(inexact, np.nextafter(y, np.inf if outward > 0 else -np.inf), y)


def svd_interval(s, m: int, n: int, u: float, absolute: float = 0.0):
    """Interval ``s/(1 + p u) - e, s/(1 - p u) + e``, ``p = max(m, n) + 4``, for a LAPACK singular value (§6b).

    The ``+ 4`` covers tiny matrices, where the modulus of a complex entry alone is off by more than ``u``
    (measured: 1.09 u for a 1 x 1 complex64 SVD in PyTorch).

    ``absolute`` (``e``) is an absolute slack for underflow (§6f); both ends are rounded outward by one
    float64 unit in the last place, so the float64 division cannot move them inward.
    """
    c = (max(m, n, 1) + 4) * u
    s = np.asarray(s, dtype=np.float64)
    lower = np.maximum(np.nextafter(s / (1.0 + c) - absolute, 0.0), 0.0)
    with np.errstate(divide="ignore"):
        upper = np.nextafter(s / max(1.0 - c, 0.0) + absolute, np.inf)
    return lower, upper


def subnormal_slack(dtype, m: int, n: int, *, scaled: bool) -> float:
    """Absolute slack, on the scale where the largest entry is in ``[1/2, 1)``, for underflow in an SVD (§6f).

    Scaling a copy by a power of two rounds only entries that become subnormal, each by at most the
    smallest subnormal ``eta``: ``||dA||_2 <= sqrt(m n) eta``. Gradual underflow inside LAPACK adds at most
    ``eta`` per operation, about ``m n min(m, n)`` of them. With ``max |a_ij| >= 1/2`` both are far below
    the relative bound ``p u sigma``; they are kept so the statement holds without conditions.
    """
    eta = float(np.finfo(np.dtype(dtype)).smallest_subnormal)
    ops = float(m) * float(n) * float(min(m, n)) + (math.sqrt(float(m) * float(n)) if scaled else 0.0)
    return 8.0 * ops * eta


def certified_product_lower(norm_y, norm_x, abs_err, m: int, n: int, u: float):
    """Rounding-safe lower bound of ``||A x|| / ||x||`` from computed norms (§6c).

    ``norm_y`` and ``norm_x`` are the computed 2-norms of ``y = fl(A x)`` and ``x``, ``abs_err`` a bound
    on ``||y - A x||`` (``gamma_p F ||x||``), ``m``/``n`` the lengths of ``y``/``x`` and ``u`` the unit
    roundoff of the norm computations.
    """
    num = np.asarray(norm_y, dtype=np.float64) * (1.0 - gamma(m + 2, u)) - abs_err
    den = np.asarray(norm_x, dtype=np.float64) * (1.0 + gamma(n + 2, u))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.maximum(out, 0.0)


def krylov_rounding_pad(k, u: float):
    """Relative pad ``10 k u`` for Krylov upper bounds computed in floating point (§6d, heuristic)."""
    if isinstance(k, int):  # the common scalar case, called every iteration: the same float64 product
        return 10.0 * float(k) * u
    return 10.0 * np.asarray(k, dtype=np.float64) * u


def christoffel_overshoot(k: int, t: float) -> float:
    """A-priori cap ``eta_k`` with ``lambda_up <= lambda_1 (1 + eta_k)`` for the Christoffel bound (§3b)."""
    return (math.cosh(math.acosh(1.0 / t) / k) - 1.0) / 2.0


def block_dixon_threshold(b: int, delta: float, complex_start: bool = False) -> float:
    """``x_delta`` with ``P(||Omega^H z||^2 < x_delta) = delta`` for a Gaussian block (§4, §4d).

    Real ``Omega``: ``||g||^2 ~ chi2(b)``. Complex ``Omega`` with ``E|w|^2 = 1``: ``||g||^2 ~ chi2(2b)/2``.
    The chi-square quantile is ``chi2.ppf(delta, k) = 2 P^{-1}(k/2, delta)`` with ``P`` the regularised lower
    incomplete gamma function (``scipy.special.gammaincinv``; no ``scipy.stats`` import).
    """
    from scipy import special

    k = 2 * b if complex_start else b
    x = 2.0 * float(special.gammaincinv(k / 2.0, delta))
    return x / 2.0 if complex_start else x


# --------------------------------------------------------------------------------------------
# Christoffel bound (§3b): the root of  C_k(lam) = sum_j p_j(lam)^2 = 1/t^2  above the top Ritz value.


def _christoffel_sum(lam, a, b):
    """``C_k(lam)`` and ``C_k'(lam)`` by the three-term recurrence (sequences of per-step entries).

    Stops early, returning ``inf``, once the sum is astronomically large: such a point lies above
    the root, and stopping avoids overflow.
    """
    scalar = isinstance(lam, float)
    p_prev, p = 0.0 * lam, 1.0 + 0.0 * lam
    dp_prev, dp = 0.0 * lam, 0.0 * lam
    c, dc = 1.0 + 0.0 * lam, 0.0 * lam
    b_prev = 0.0
    for j, (aj, bj) in enumerate(zip(a, b, strict=False)):
        shift = lam - aj
        p_new = (shift * p - b_prev * p_prev) / bj
        dp_new = (p + shift * dp - b_prev * dp_prev) / bj
        c = c + p_new * p_new
        dc = dc + 2.0 * p_new * dp_new
        p_prev, p, dp_prev, dp, b_prev = p, p_new, dp, dp_new, bj
        if scalar:
            if c > 1e250:
                return math.inf, math.inf
        elif j % 16 == 15 and np.all(c > 1e250):
            break
    if not scalar:
        c = np.where(np.isnan(c) | (c > 1e250), np.inf, c)
        dc = np.where(np.isnan(dc), np.inf, dc)
    return c, dc


def _christoffel_value(lam: float, a: list, b: list) -> float:
    """``C_k(lam)`` alone, for one point: the arithmetic of :func:`_christoffel_sum` without the derivative."""
    p_prev, p, c, b_prev = 0.0, 1.0, 1.0, 0.0
    for aj, bj in zip(a, b, strict=False):
        p_prev, p = p, ((lam - aj) * p - b_prev * p_prev) / bj
        c = c + p * p
        if c > 1e250:
            return math.inf
        b_prev = bj
    return c


def christoffel_reaches(a, b, t: float, lam) -> np.ndarray | bool:
    """Whether ``C_k(lam) >= 1/t^2``, i.e. whether ``lam`` (at or above the top Ritz value) bounds ``lambda_1`` (§3b).

    One ``O(k)`` evaluation: the cheap per-step test of whether the certified width is reached.
    """
    if np.all(np.asarray(t) <= 0):  # no event: nothing is certified
        return np.zeros(np.shape(lam), dtype=bool) if np.ndim(lam) else False
    if np.ndim(lam) == 0:
        return _christoffel_value(
            float(lam), np.asarray(a, dtype=np.float64).tolist(), np.asarray(b, np.float64).tolist()
        ) >= 1.0 / (t * t)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        c, _ = _christoffel_sum(np.asarray(lam, dtype=np.float64), a, b)
        return c >= 1.0 / (np.asarray(t) ** 2)


def _sides(above, inside):
    """``(above & inside, not above & inside)`` as boolean arrays, also for a Python bool ``above`` (the scalar
    path), whose ``~`` is the integer complement (deprecated since Python 3.12)."""
    return np.logical_and(above, inside), np.logical_and(np.logical_not(above), inside)


def christoffel_upper(a, b, t: float, theta, start=None, rtol: float = 1e-14):
    """Christoffel upper bound on ``lambda_1`` of ``M = A^H A`` from a Lanczos tridiagonal (§3b).

    Parameters
    ----------
    a, b : sequences of floats, or of host arrays (one entry per matrix of a stack)
        Diagonal ``a_1..a_k`` and off-diagonal ``b_1..b_k`` of the Lanczos tridiagonal of ``M``
        (``b_k`` couples to the next, not yet computed, Lanczos vector); all ``b_j > 0``.
    t : float
        Start-vector threshold ``t(N, delta)``.
    theta : float or array
        Top eigenvalue of the tridiagonal (the largest zero of ``p_k``); ``C_k`` increases on ``[theta, inf)``.
    start : float or array, optional
        A point with ``C_k(start) >= 1/t^2``, e.g. the previous step's bound (``C_k >= C_{k-1}``).
    rtol : float
        Relative width of the final bracket.

    Returns
    -------
    float or array
        ``lam_up`` with ``C_k(lam_up) >= 1/t^2`` verified by evaluation, hence ``lam_up >= root``.

    Notes
    -----
    ``C_k`` is increasing and convex on ``[theta, inf)`` (every ``p_j`` is a product of increasing
    linear factors there). The root is bracketed: Newton on ``log C_k`` from the upper end lands close
    to the root (usually below it), and Newton on ``C_k`` from the lower end overshoots to a point at or
    above it, by convexity. Every point is evaluated before it moves an end of the bracket, so the
    returned upper end always satisfies ``C_k >= 1/t^2``.

    Examples
    --------
    >>> lam = christoffel_upper([1.0], [0.1], t=0.1, theta=1.0)   # one Lanczos step
    >>> 1.0 < lam < 2.0
    True
    """
    scalar = np.ndim(theta) == 0
    if t <= 0:  # no event (the threshold was lost to rounding): no bound
        return math.inf if scalar else np.full(np.shape(theta), np.inf)
    target = 1.0 / (t * t)
    if target <= 1.0:  # C_k >= p_0^2 = 1 everywhere, so theta is the root (t >= 1: a confidence near 0)
        return float(theta) if scalar else np.asarray(theta, dtype=np.float64).copy()
    if scalar:
        lo = float(theta)
        a = [float(x) for x in a]
        b = [float(x) for x in b]

        def ev(x):
            return _christoffel_sum(float(x), a, b)
    else:
        lo = np.asarray(theta, dtype=np.float64).copy()

        def ev(x):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return _christoffel_sum(np.asarray(x, dtype=np.float64), a, b)

    tiny = np.finfo(np.float64).tiny
    log_target = math.log(target)
    hi = lo * 1.25 + tiny if start is None else np.maximum(start, lo)
    c_hi, dc_hi = ev(hi)
    for _ in range(2100):  # grow until hi is above the root
        below = c_hi < target
        if not np.any(below):
            break
        lo = np.where(below, hi, lo) if not scalar else hi
        hi = np.where(below, hi + 2.0 * (hi - lo) + 0.25 * hi + tiny, hi) if not scalar else 2.25 * hi + tiny
        c_hi, dc_hi = ev(hi)
    c_lo, dc_lo = ev(lo)

    def accept(point, c, dc, hi, c_hi, dc_hi, lo, c_lo, dc_lo):
        above = c >= target
        inside = (point > lo) & (point < hi)
        take_hi, take_lo = _sides(above, inside)
        return (
            np.where(take_hi, point, hi),
            np.where(take_hi, c, c_hi),
            np.where(take_hi, dc, dc_hi),
            np.where(take_lo, point, lo),
            np.where(take_lo, c, c_lo),
            np.where(take_lo, dc, dc_lo),
        )

    for _ in range(200):
        if np.all(hi - lo <= rtol * hi):
            break
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # from above, Newton on log C (concave-like for a high-degree polynomial) lands near, often below
            step = (np.log(c_hi) - log_target) * c_hi / dc_hi
            p1 = np.where(np.isfinite(step) & (hi - step > lo), hi - step, lo + (hi - lo) / 8.0)
        state = accept(p1, *ev(p1), hi, c_hi, dc_hi, lo, c_lo, dc_lo)
        hi, c_hi, dc_hi, lo, c_lo, dc_lo = state
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # from below, Newton on the convex C overshoots: its point is at or above the root
            p2 = lo + (target - c_lo) / dc_lo
            p2 = np.where(np.isfinite(p2) & (p2 > lo) & (p2 < hi), p2, 0.5 * (lo + hi))
        hi, c_hi, dc_hi, lo, c_lo, dc_lo = accept(p2, *ev(p2), hi, c_hi, dc_hi, lo, c_lo, dc_lo)
        if scalar:
            hi, c_hi, dc_hi, lo, c_lo, dc_lo = (float(x) for x in (hi, c_hi, dc_hi, lo, c_lo, dc_lo))
    # theta itself qualifies when the sum already reaches the target there (converged or broken down)
    at_theta = np.asarray(ev(theta if scalar else np.asarray(theta, dtype=np.float64))[0]) >= target
    hi = np.where(at_theta, np.asarray(theta, dtype=np.float64), hi)
    return float(hi) if scalar else hi


# --------------------------------------------------------------------------------------------
# Gram iteration (§13): a deterministic upper bound from repeated squaring of A^H A.


def _up(x):
    """The next float64 above ``x``: a correctly rounded result moved up bounds the exact one."""
    return np.nextafter(x, np.inf)


def gram_upper(exponents, errors, frobenius) -> np.ndarray:
    """Certified upper bound on ``sigma_1`` from the levels of a rescaled Gram iteration (§13).

    Level ``k = 1..T`` computed ``Y_k = fl(X_{k-1}^H X_{k-1})`` (``X_0 = A``) with
    ``||Y_k - X_{k-1}^H X_{k-1}||_2 <= errors[k-1]`` and stored ``X_k = Y_k / 2^exponents[k-1]`` exactly;
    ``frobenius[T-1] >= ||X_T||_F``. Since ``||X||_2^2 = ||X^H X||_2``, the bounds
    ``r_T = ||X_T||_F``, ``r_{k-1} = sqrt(2^e_k r_k + errors_k)`` satisfy ``r_k >= ||X_k||_2``, and
    ``sigma_1 = ||X_0||_2 <= r_0``. Every host operation is rounded upward (:func:`numpy.nextafter`).

    Parameters
    ----------
    exponents, errors, frobenius : sequences of host arrays of shape ``(B,)``
        One entry per level (integers, float64 error bounds, float64 Frobenius bounds).

    Returns
    -------
    numpy.ndarray
        ``(B,)`` float64 upper bounds on ``sigma_1``.

    Examples
    --------
    >>> import numpy as np
    >>> X1 = np.array([[4.0, 0.0], [0.0, 1.0]]) / 4.0   # A = diag(2, 1): A^H A / 2^2, exact
    >>> up = gram_upper([np.array([2])], [np.array([0.0])], [np.array([np.linalg.norm(X1)])])
    >>> bool(2.0 <= up[0] <= 2.0 * 1.0308)                # (1 + 1/16)^(1/4)
    True
    """
    r = np.asarray(frobenius[-1], dtype=np.float64)
    for k in range(len(exponents) - 1, -1, -1):
        r = _up(np.sqrt(_up(np.ldexp(r, np.asarray(exponents[k])) + np.asarray(errors[k], dtype=np.float64))))
    return r
