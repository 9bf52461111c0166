"""What every method shares: options, the result record, start vectors, stopping and progress."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _bounds
from .._compile_notice import compile_seconds
from .._operand import Operand
from .._progress import Progress

__all__ = [
    "MethodResult",
    "Options",
    "Stopper",
    "Stopwatch",
    "deterministic_bounds",
    "emit_progress",
    "gram_noise",
    "krylov_step_ends",
    "padded_frobenius",
    "product_noise",
    "require_dense",
    "start_vector",
    "unit_columns",
]


class Stopwatch:
    """A method's clock for :class:`Progress`: wall-clock seconds since it started, and how many of them went to
    preparing Numba kernels (:func:`spectra._compile_notice.compile_seconds`)."""

    def __init__(self):
        self._t0 = time.perf_counter()
        self._c0 = compile_seconds()

    def times(self, now: float | None = None) -> dict[str, float]:
        """``elapsed`` and ``compile_seconds`` of a :class:`Progress` at ``now`` (``time.perf_counter()``)."""
        now = time.perf_counter() if now is None else now
        return {"elapsed": now - self._t0, "compile_seconds": compile_seconds() - self._c0}


@dataclass
class Options:
    """Validated arguments of :func:`spectra.norm` that the methods read."""

    rtol: float
    certify: bool
    confidence: float
    maxiter: int
    maxiter_given: bool
    block_size: int | None
    v0: Any  # None, or host array (B, n0) on the ORIGINAL right side
    rng: np.random.Generator
    return_vectors: bool
    progress: bool | Callable[[Progress], Any]  # True: text lines on stderr; a callable: called every step

    @property
    def delta(self) -> float:
        return 1.0 - self.confidence


@dataclass
class MethodResult:
    """Host float64 arrays of shape ``(B,)`` for the effective (scaled, maybe adjoint) operator."""

    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    deterministic: np.ndarray  # True where the interval needs no random event
    converged: np.ndarray
    iterations: int
    u: Any = None  # device, batch + (m, 1), effective orientation
    v: Any = None  # device, batch + (n, 1)
    rtol_effective: np.ndarray | None = None  # the rtol the stopping test used (None: the requested rtol)
    kernel_rest: int | None = None  # matrices the stack kernel left to the general path (None: it did not run)
    event_failed: np.ndarray | None = None  # where a probabilistic bound fell below the certified lower bound
    restart: tuple[int, int] | None = None  # (steps at the first restart, basis vectors kept), if one froze the bounds


def deterministic_bounds(op: Operand) -> tuple[np.ndarray, np.ndarray]:
    """Cheap certified bounds from the entries (docs/bounds.md §5): max column/row norm, ``||A||_F``, Gershgorin."""
    if op.stats is None:
        return np.zeros(op.B), np.full(op.B, np.inf)
    s = op.stats
    upper = np.minimum(s.fro, s.gersh) * (1.0 + op.stats_pad())
    lower = np.maximum(s.maxcol, s.maxrow) * (1.0 - 2.0 * _bounds.gamma(max(op.m, op.n) + 2, s.u))
    return lower, upper


def start_vector(op: Operand, opts: Options) -> tuple[Any, np.ndarray]:
    """Unit start vector on the right side of the effective operator and its threshold ``t`` (§1).

    Without a warm start: ``b`` uniform on the unit sphere, ``t = t(N, delta)``. With ``v0``: the
    start is ``x0 = v0/||v0|| + b``. For any fixed ``v0`` the density of ``z^H b`` is symmetric and
    unimodal (real ``N >= 3``, complex ``N >= 2``), so by Anderson's inequality
    ``P(|z^H x0| < t) <= P(|z^H b| < t) = delta``; hence ``|z^H x0| / ||x0|| >= t / ||x0||`` on the same
    event and ``t_eff = t / ||x0||`` (``||x0|| <= 2``) keeps the confidence. For real ``N <= 2`` the density
    is not unimodal and ``v0`` is not used. Where ``||x0|| < 1/2`` (``v0`` nearly cancels ``b``, which a ``v0``
    built from the same seed's draws can do) the start is ``b`` and ``t_eff = 0`` (no probabilistic bound):
    claiming none is always safe, so ``t_eff = t/||x0|| <= 2t`` is never inflated by such a ``v0``.
    ``t_eff`` is finally lowered to ``(t_eff - u)/(1 + u)`` for
    the rounding of the start to the working precision (0 when ``t <= u``: no probabilistic bound then).
    """
    N = op.n
    t = _bounds.beta_threshold(N, opts.delta, op.is_complex)
    g = op.random(opts.rng, 1)[:, :, 0]
    b = g / np.linalg.norm(g, axis=1, keepdims=True)
    x = b
    t_eff = np.full(op.B, t)
    if opts.v0 is not None and ((op.is_complex and N >= 2) or N >= 3):
        # only the direction counts: brought to entries below 1 by a power of two (exact), so that neither
        # the products nor the norms of a v0 with huge (or tiny) entries overflow (or underflow)
        _, e = np.frexp(np.max(np.abs(opts.v0), axis=-1, keepdims=True))
        v0 = op.from_host((opts.v0 * np.ldexp(1.0, -e))[..., None])
        if op.transposed:  # v0 lives on the original right side = effective left side
            v0 = op.rmatmat(v0)
        w = op.host_batch(v0)[:, :, 0].astype(np.complex128 if op.is_complex else np.float64)
        nw = np.linalg.norm(w, axis=1, keepdims=True)
        w = np.where(nw > 0, w / np.where(nw > 0, nw, 1.0), 0.0)
        x = w + b
        nx = np.linalg.norm(x, axis=1)
        # the sum's rounding moves z^H x by at most 4 float64 units (||w||, ||b|| <= 1). Where ||x0|| < 1/2, v0
        # nearly cancels the random start, which an independent v0 does with negligible probability but one built
        # from this seed's own draws does (minus the v of a nearly orthogonal matrix under the same seed; below
        # t the event cannot even hold): no probabilistic bound is claimed there (claiming none is always
        # safe), and the start is b alone (not 0/0, nor t/||x0|| inflated by a dependent v0)
        cancelled = nx < max(t, 0.5)
        t_eff = np.where(cancelled, 0.0, np.maximum(t - 4.0 * 2.0**-53, 0.0) / np.where(cancelled, 1.0, nx))
        x = np.where(cancelled[:, None], b, x / np.where(cancelled, 1.0, nx)[:, None])
    # the device copy of the start is rounded to the working precision: ||fl(x) - x|| <= u, so
    # |z^H fl(x)| / ||fl(x)|| >= (t_eff - u) / (1 + u) on the same event (§6e)
    u = op.u_vectors  # the start's own rounding; an operator's coarser products are in the noise model
    t_eff = np.maximum((t_eff - u) / (1.0 + u), 0.0)
    return op.from_host(x[:, :, None]), t_eff


class Stopper:
    """Tracks the interval of each matrix and decides when to stop.

    ``certify=True``: stop when ``upper <= (1 + rtol) * lower``. ``certify=False``: stop when the
    a-posteriori residual estimate is ``<= rtol`` (or the certified test passes). ``rtol`` is raised
    to the floor the working precision can certify (twice the rounding pads), see docs/design.md.
    """

    def __init__(self, op: Operand, opts: Options, method: str):
        self.op, self.opts, self.method = op, opts, method
        self.det_lower, self.det_upper = deterministic_bounds(op)
        self.lower = self.det_lower.copy()
        self.upper = self.det_upper.copy()
        # the lower bound of the iterate alone, without the caps: with return_vectors=True the stopping
        # test asks it of the vector too, so that a cap closing the interval does not stop a poor vector
        self.vector_lower = np.zeros(op.B)
        self.prob_upper = np.full(op.B, np.inf)
        self.residual = np.full(op.B, np.inf)
        self.done = np.zeros(op.B, dtype=bool)
        self.iterations = 0
        # an upper bound progress reports may show beside ``upper`` (the Christoffel root evaluated only for
        # them, never fed to the stopping test or the result, so progress=True cannot change a result)
        self.shown_upper = np.full(op.B, np.inf)
        self._last_print = 0.0
        self._clock = Stopwatch()
        # the final certificate's rounding slack (§6c), constant for the problem
        self._u_cert = op.u_certificate
        if op.stats is None:
            self._cert_error = np.zeros(op.B)
        else:
            p = op.stats.p_col if op.transposed else op.stats.p_row
            self._cert_error = _bounds.gamma(max(p, 1), self._u_cert) * op.fro_bound()
        # the factors of certified_product_lower for ||x|| = 1 (asked several times per step), and the relative
        # amount they take off every certified lower bound, exact Ritz value or not
        g_m, g_n = _bounds.gamma(op.m + 2, self._u_cert), _bounds.gamma(op.n + 2, self._u_cert)
        self._lower_factors = (1.0 - g_m, 1.0 + g_n)
        self._factor_loss = g_m + g_n

    @property
    def lower_factors(self) -> tuple[float, float]:
        """``(1 - gamma_(m+2), 1 + gamma_(n+2))`` of the certifying precision: :meth:`safe_lower`'s factors."""
        return self._lower_factors

    def cert_error(self) -> np.ndarray:
        """Absolute rounding slack the final certified lower bound will subtract (§6c)."""
        return self._cert_error

    def certificate_floor(self) -> np.ndarray:
        """The relative width the certified lower bound (§6c) alone leaves: its absolute slack over the lower
        bound, plus the relative loss of its norm computations (the factors of :meth:`safe_lower`). No
        number of steps closes an interval further than this, so the stopping test counts it."""
        lower = self.lower
        cert = np.divide(self.cert_error(), lower, out=np.zeros(lower.shape), where=lower > 0)
        return cert + self._factor_loss

    def safe_lower(self, estimate: np.ndarray) -> np.ndarray:
        """The certified lower bound that ``estimate = ||A x||/||x||`` will turn into.

        :func:`._bounds.certified_product_lower` for ``||x|| = 1``, the same arithmetic with its constant
        factors computed once.
        """
        shrink, grow = self._lower_factors
        return np.maximum((np.asarray(estimate, dtype=np.float64) * shrink - self._cert_error) / grow, 0.0)

    def update(
        self, lower_est=None, prob_upper=None, det_upper=None, residual=None, products: int = 0, vector_est=None
    ):
        """Record a step's estimates and return the per-matrix stopping decision.

        ``vector_est`` is ``||Â v|| / ||v||`` for the vector the method would return now, and replaces the
        previous one; without it ``lower_est`` counts, as the quotient of an iterate that never decreases
        (power iterates, top Ritz vectors).
        """
        if lower_est is not None:
            safe = self.safe_lower(lower_est)
            self.lower = np.maximum(self.lower, safe)
            if vector_est is None:
                self.vector_lower = np.maximum(self.vector_lower, safe)
        if vector_est is not None:
            self.vector_lower = self.safe_lower(vector_est)
        if prob_upper is not None:
            self.prob_upper = np.minimum(self.prob_upper, prob_upper)
        if det_upper is not None:
            self.det_upper = np.minimum(self.det_upper, det_upper)
        self.upper = np.minimum(self.prob_upper, self.det_upper)
        if residual is not None:
            self.residual = residual
        rtol = self.effective_rtol(products)
        certified = self.upper <= (1.0 + rtol) * self.lower
        if self.opts.return_vectors:
            certified &= self.upper <= (1.0 + rtol) * self.vector_lower
        if self.opts.certify:
            self.done = certified
        else:
            self.done = certified | (self.residual <= rtol)
        self.lower_for_width = self.lower
        if self.opts.progress:
            self._report(products)
        return self.done

    def effective_rtol(self, products: int) -> np.ndarray:
        pad = float(_bounds.krylov_rounding_pad(max(products, 1), self.op.u))
        return np.maximum(self.opts.rtol, 2.0 * (pad + self.certificate_floor()))

    @property
    def deterministic(self) -> np.ndarray:
        return self.det_upper <= self.prob_upper

    def _report(self, products: int, final: bool = False):
        now = time.perf_counter()
        if not callable(self.opts.progress) and not final and now - self._last_print < 0.2:
            return
        self._last_print = now
        upper = self.upper if final else np.minimum(self.upper, self.shown_upper)
        lo, up = self.op.unscale(self.lower), self.op.unscale(upper)
        width = relative_widths(lo, up)
        worst = int(np.argmax(width)) if width.size else 0
        info = Progress(
            method=self.method,
            products=int(self.op.matvecs),
            lower=float(lo[worst]),
            upper=float(up[worst]),
            rtol=float(self.effective_rtol(products)[worst]),
            done=int(self.done.sum()),
            total=int(self.done.size),
            **self._clock.times(now),
            final=final,
            matrix=batch_index(self.op, worst),
        )
        emit_progress(self.opts, info)

    def finish(self, products: int):
        if self.opts.progress:
            self._report(products, final=True)


def batch_index(op: Operand, flat: int) -> tuple[int, ...] | None:
    """The index in ``op``'s stack dimensions of matrix number ``flat``; ``None`` for a single matrix."""
    if not op.batch_shape:
        return None
    return tuple(int(i) for i in np.unravel_index(flat, op.batch_shape))


def emit_progress(opts: Options, info: Progress) -> None:
    """Hand ``info`` to the caller's ``progress`` callback, or print it to stderr for ``progress=True``."""
    report_progress(opts.progress, info)


def report_progress(progress: bool | Callable[[Progress], Any], info: Progress) -> None:
    """:func:`emit_progress` for the ``progress`` argument itself (before any :class:`Options` exist)."""
    if callable(progress):
        progress(info)
    else:
        print(info, file=sys.stderr)


def width_rtol(width):
    """A relative width ``(upper - lower) / lower`` as an ``rtol`` that the test ``upper <= (1 + rtol) * lower``
    passes in float64: the width plus ``4 eps`` covers the roundings of the division, of ``1 + rtol`` and of the
    product (each at most ``eps / 2`` relative, with ``upper <= 2 lower``)."""
    return width + 4 * np.finfo(np.float64).eps


def relative_widths(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``(upper - lower) / lower`` per matrix: 0 for ``[0, 0]`` (a zero matrix is settled), ``inf`` for
    ``[0, upper > 0]``, as :attr:`Progress.width`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lower > 0, (upper - lower) / np.where(lower > 0, lower, 1), np.where(upper > 0, np.inf, 0.0))


def require_dense(kind: str, method: str, why: str = "") -> None:
    """Raise ``ValueError`` unless the input ``kind`` is a dense array (``svd`` and ``gram`` need the entries)."""
    if kind != "dense":
        raise ValueError(
            f"method={method!r} needs a dense array{why}; sparse matrices are never densified and LinearOperators "
            "have no entries. Use method='lanczos' (or A.toarray() for a small sparse matrix)"
        )


def default_maxiter(method: str, opts_maxiter: int | None) -> tuple[int, bool]:
    """(maxiter, given): the budget in iterations and whether the caller chose it."""
    defaults = {"power": 1000, "lanczos": 1000, "randomized": 1000, "gram": 60}
    if opts_maxiter is None:
        return defaults.get(method, 1), False
    return opts_maxiter, True


def log_or_neg_inf(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(x)


def isqrt_ceil(x: float) -> int:
    return math.ceil(math.sqrt(x))


def padded_frobenius(op: Operand) -> np.ndarray:
    """``||A||_F`` rounded up for the rounding of its computation."""
    return op.fro_bound()


def _abs_norm_bound(op: Operand) -> np.ndarray:
    """``|| |Â| ||_2 <= min(||A||_F, Gershgorin on |A|^T |A|)`` (scaled), the scale of product rounding errors."""
    if "abs_norm" not in op.memo:  # asked several times per iteration: computed once
        op.memo["abs_norm"] = deterministic_bounds(op)[1]
    return op.memo["abs_norm"]


def _inner_length(op: Operand) -> int:
    """Terms in the inner products of one Gram product ``Â^H (Â x)`` (both factors), complex counted twice."""
    p = op.stats.p_row + op.stats.p_col + 4
    return 2 * p if op.is_complex else p


def product_noise(op: Operand) -> np.ndarray:
    """Typical rounding error of one product ``fl(Â x)`` for a unit ``x``: ``4 sqrt(p) u || |Â| ||`` (§6e).

    Zero for a LinearOperator (its own rounding is the caller's).
    """
    if op.stats is None:
        return np.zeros(op.B)
    if "product_noise" not in op.memo:
        op.memo["product_noise"] = 4.0 * math.sqrt(_inner_length(op)) * op.u * _abs_norm_bound(op)
    return op.memo["product_noise"]


def gram_noise(op: Operand, k: int, theta: np.ndarray, *, worst: bool) -> np.ndarray:
    """Rounding bound, on the ``lambda = sigma^2`` scale, for the Ritz values of a ``k``-vector Gram basis (§6e).

    The host projection ``K`` is built from ``fl(M V)`` and two-pass Gram-Schmidt in the working precision
    ``u``. Its eigenvalues differ from those of the exact projection of ``M`` onto the computed basis by at
    most ``sqrt(k) eps_prod`` (the products' errors, one per column) plus ``10 k u`` times the scale
    (orthogonality loss, Gram-Schmidt and the host eigensolver). ``worst=True`` takes Higham's deterministic
    ``eps_prod = gamma_p || |Â| ||^2`` (for the confidence-1 caps), ``worst=False`` the typical
    ``eps_prod = 4 sqrt(p) u || |Â| || theta`` (for the probabilistic bounds).
    """
    theta = np.asarray(theta, dtype=np.float64)
    u = op.u
    if op.stats is None:
        return (10.0 * k * u + 4.0 * math.sqrt(k) * u) * theta * theta
    big = _abs_norm_bound(op)
    if worst:
        eps_prod = _bounds.gamma(_inner_length(op), u) * big * big
        scale2 = big * big
    else:
        eps_prod = product_noise(op) * theta
        scale2 = np.maximum(theta, product_noise(op)) ** 2
    return math.sqrt(k) * eps_prod + 10.0 * k * u * scale2


def frobenius_deflation(op: Operand, ritz_values: np.ndarray) -> np.ndarray | None:
    """``sqrt(||A||_F^2 - sum_{i>=2} lambda_i)`` (§5), each ``lambda_i = theta_i^2`` first lowered by the
    worst-case rounding bound of :func:`gram_noise` (§6e), so that it lies below the exact projection's."""
    if op.stats is None or ritz_values is None:
        return None
    k = ritz_values.shape[1]
    fro = padded_frobenius(op)
    noise = gram_noise(op, k, ritz_values[:, 0], worst=True)
    rest = np.maximum(ritz_values[:, 1:] ** 2 - noise[:, None], 0.0)
    tail = np.sum(rest, axis=1) * (1.0 - 4.0 * k * _bounds.unit_roundoff(np.float64))
    return np.sqrt(np.maximum(fro * fro - tail, 0.0)) * (1.0 + 2.0 * _bounds.unit_roundoff(np.float64))


def exact_if_exhausted(gkl, theta: np.ndarray, other: np.ndarray | None) -> np.ndarray | None:
    """Once the right basis spans the whole space the projection is ``A`` itself: ``theta^2`` is exact up to
    the worst-case rounding bound of :func:`gram_noise` (§6e). Only for the matrices whose basis does span it
    (``gkl.spans``): one whose Krylov space broke down before keeps the bounds of its invariant subspace."""
    if not gkl.exhausted:
        return other
    noise = gram_noise(gkl.op, gkl.known, theta, worst=True)
    exact = np.sqrt(theta * theta + noise) * (1.0 + 2.0 * _bounds.unit_roundoff(np.float64))
    exact = np.where(gkl.spans, exact, np.inf)
    return exact if other is None else np.minimum(exact, other)


def finish(op: Operand, stop: Stopper, v, opts: Options, products: int, *, exact=None, left_vector=None):
    """Certify the final right vector ``v`` (one more product, §6c/§6d) and package the result.

    With ``return_vectors=True`` the result is converged only where ``v``'s own certified lower bound meets
    the width test (a deterministic cap such as ``max_j ||A e_j||`` may close the interval on its own).
    ``exact`` marks matrices whose interval is final for structural reasons (Krylov breakdown);
    ``left_vector()`` returns the matching left singular vector when ``return_vectors=True``.
    """
    certified, estimate = op.certified_lower(v)
    lower = np.maximum(certified, stop.det_lower)
    # a probabilistic upper bound below the certified lower bound proves that its random event failed (probability
    # at most 1 - confidence): such a matrix keeps the deterministic caps alone, at confidence 1
    failed = stop.prob_upper < lower
    if np.any(failed):
        stop.prob_upper = np.where(failed, np.inf, stop.prob_upper)
        stop.upper = np.minimum(stop.prob_upper, stop.det_upper)
    upper = np.maximum(stop.upper, lower)
    stop.lower = lower
    rtol = stop.effective_rtol(products)
    # with return_vectors=True the vector's own certified lower bound must meet the test, not only a cap
    base = certified if opts.return_vectors else lower
    width_met = upper <= (1.0 + rtol) * base
    converged = width_met | (~np.bool_(opts.certify) & (stop.residual <= rtol))
    if exact is not None:
        # final for structural reasons but wider than rtol (the rounding bounds of a breakdown in single
        # precision): the rtol such a matrix stopped at is its width, so `converged` keeps its meaning
        settled = exact & ~converged
        rtol = np.where(settled, np.maximum(rtol, width_rtol(relative_widths(base, upper))), rtol)
        converged = converged | exact
    stop.upper, stop.done = upper, converged
    stop.finish(products)
    u_vec = v_vec = None
    if opts.return_vectors:
        u_vec, v_vec = left_vector(), unit_columns(op, v)
    return MethodResult(
        value=np.clip(estimate, lower, upper),
        lower=lower,
        upper=upper,
        deterministic=stop.deterministic,
        converged=converged,
        iterations=stop.iterations,
        u=u_vec,
        v=v_vec,
        rtol_effective=rtol,
        event_failed=failed if np.any(failed) else None,
    )


def unit_columns(op: Operand, w):
    """``w`` with each column scaled to unit 2-norm (a zero column stays zero)."""
    nrm = op.col_norms(w)
    inv = np.where(nrm > 0, 1.0 / np.where(nrm > 0, nrm, 1.0), 0.0)
    return w * op.from_host(inv[:, None, :])


def krylov_step_ends(
    op: Operand, stop: Stopper, gkl, theta: np.ndarray, ritz_values, *, prob_upper, residual, frozen: bool
) -> bool:
    """Record a Krylov step's bounds in ``stop``; whether the iteration ends there.

    ``theta``: the top Ritz values (the lower estimates); ``ritz_values``: all of them (or ``None``), for the
    Frobenius deflation bound; ``prob_upper``, ``residual``: as for :meth:`Stopper.update`; ``frozen``: every
    probabilistic upper bound was frozen by a restart. The iteration ends when every matrix is done or broken
    down, or, when frozen, when every lower bound has converged too (more steps change nothing).
    """
    done = stop.update(
        lower_est=theta,
        prob_upper=prob_upper,
        det_upper=exact_if_exhausted(gkl, theta, frobenius_deflation(op, ritz_values)),
        residual=residual,
        products=op.matvecs,
    )
    if np.all(done | gkl.breakdown):
        return True
    return frozen and residual is not None and bool(np.all(done | (residual <= 1e3 * op.u)))


def krylov_finish(op: Operand, stop: Stopper, gkl, opts: Options, products: int) -> MethodResult:
    """:func:`finish` for the top Ritz vector of a Krylov engine."""
    _theta, x, y, _ = gkl.ritz()
    stop.iterations = gkl.steps
    res = finish(
        op,
        stop,
        gkl.right_vector(y),
        opts,
        products,
        exact=gkl.breakdown,
        left_vector=lambda: gkl.singular_vectors(x, y)[0],
    )
    if gkl.steps_at_restart is not None:
        res.restart = (gkl.steps_at_restart, gkl.max_basis)
    return res
