"""``method="lanczos"``: Lanczos with full reorthogonalisation on ``M = Â^H Â``.

Mathematically this is Golub-Kahan-Lanczos bidiagonalisation (``B_k^H B_k`` is the same tridiagonal),
run on the Gram operator so that each step is ONE pass over ``A`` on backends with a fused Gram kernel.

- lower: ``||Â x|| / ||x||`` for the top Ritz vector, certified for rounding (docs/bounds.md §6c, §6d);
- upper: the minimum over steps of the a-posteriori Christoffel bound (§3b) on the single event
  ``|z^H b| >= t``, padded for rounding (§6d), capped by Frobenius deflation and the other
  deterministic bounds (§5);
- memory: the basis keeps as many vectors as fit in 256 MiB, at least 300 and at most 2000
  (:func:`basis_size`); past it a thick restart keeps the top :data:`KEEP` Ritz vectors. The
  Christoffel bound needs the unrestarted Lanczos recurrence, so it is frozen at its value before the
  first restart (§8); the lower bound keeps improving.
"""

from __future__ import annotations

import numpy as np

from .. import _bounds
from .._operand import Operand
from . import _small_stack
from ._common import (
    MethodResult,
    Options,
    Stopper,
    gram_noise,
    krylov_finish,
    krylov_step_ends,
    padded_frobenius,
    start_vector,
)
from ._gram_lanczos import GramLanczos
from ._lanczos_single import SingleMatrixTest, SingleStopper

__all__ = ["BASIS_BYTES", "KEEP", "MAX_BASIS", "MIN_BASIS", "basis_size", "run"]

#: the basis holds at least MIN_BASIS and at most MAX_BASIS vectors before a thick restart, as many as
#: fit in BASIS_BYTES (e.g. 2000 for n = 3000; 300 for n >= 56 000 in float64)
MIN_BASIS, MAX_BASIS, BASIS_BYTES = 300, 2000, 256 << 20
#: Ritz vectors kept at a restart
KEEP = 20
#: one matrix runs its stopping arithmetic on Python floats (:mod:`._lanczos_single`); ``False`` sends it
#: through the array code, the reference that path is bitwise equal to (tests/test_lanczos_single.py)
SINGLE_MATRIX_PATH = True


def _tridiagonal(gkl: GramLanczos, floor: np.ndarray):
    """Lanczos tridiagonal of ``M = Â^H Â``: diagonal ``a`` and off-diagonal ``b`` (``b_k`` included), per matrix.

    The coupling ``b_k`` to the next vector is raised to ``floor``, the rounding level of the products
    (§6e): a computed ``b_k`` below it is indistinguishable from an exact breakdown, and the Christoffel
    bound then collapses onto ``theta + floor / t`` (the residual bound of §6e) instead of onto ``theta``.
    """
    a, b = gkl.tridiagonal()
    b = np.where(b > 0, b, 1e-300)
    b[:, -1] = np.maximum(b[:, -1], floor)
    return a, b


def christoffel_root(gkl: GramLanczos, t: np.ndarray, theta: np.ndarray, start, floor: np.ndarray) -> np.ndarray:
    """The Christoffel bound on ``lambda_1 = sigma_1^2`` (§3b) for each matrix.

    A matrix whose Krylov space broke down gets ``floor`` (the rounding of its Ritz values, §6e) added to its
    root: the root of ``b_k = floor`` lies ``floor * sqrt(1/t^2 - 1)`` above ``theta^2``, which covers that
    rounding only where ``t`` is small; on a Gram side of dimension one ``t`` is close to 1.
    """
    a, b = _tridiagonal(gkl, floor)
    lam0 = theta**2
    out = np.empty_like(lam0)
    for tv in np.unique(t):  # the vectorised recurrence needs one threshold per call
        sel = np.flatnonzero(t == tv)
        st = None if start is None else start[sel]
        if sel.size == 1:
            i = int(sel[0])
            s0 = None if st is None or not np.isfinite(st[0]) else float(st[0])
            out[i] = _bounds.christoffel_upper(a[i], b[i], float(tv), float(lam0[i]), start=s0)
        else:
            st = None if st is None else np.where(np.isfinite(st), st, lam0[sel] * 1.25)
            out[sel] = _bounds.christoffel_upper(list(a[sel].T), list(b[sel].T), float(tv), lam0[sel], start=st)
    broken = getattr(gkl, "breakdown", None)  # the global block engine (randomized) bounds its breakdowns itself
    return out if broken is None else np.where(broken, out + floor, out)


def christoffel_check(gkl, t: np.ndarray, lam: np.ndarray, floor: np.ndarray, backend) -> np.ndarray:
    """Per matrix: does the Christoffel bound lie at or below ``lam``? (one evaluation; a single matrix's through
    ``backend``'s :meth:`~spectra.backends._base.ArrayAPIBackend.christoffel_value`)."""
    a, b = _tridiagonal(gkl, floor)
    if lam.size == 1:
        if t[0] <= 0:  # no event: nothing is certified
            return np.zeros(1, dtype=bool)
        return np.array([backend.christoffel_value(a[0], b[0], float(lam[0])) >= 1.0 / (t[0] * t[0])])
    return _bounds.christoffel_reaches(list(a.T), list(b.T), t, lam)


def deflation_may_help(gkl: GramLanczos, op: Operand, upper: np.ndarray, theta_prev: np.ndarray) -> bool:
    """Could Frobenius deflation (§5) lower ``upper`` at this step? Decides whether all Ritz values are needed.

    The sum of all squared Ritz values is the trace of the projected ``M``, and the top one is at least
    ``theta_prev`` (Ritz values only grow), so the deflated tail is at most ``trace - theta_prev^2``
    (padded far beyond the eigensolver's rounding). If even that tail leaves the deflation bound at or
    above ``upper``, the full eigendecomposition it needs (the costliest host step) is skipped.
    """
    if op.stats is None:
        return False
    trace = gkl.trace()
    tail = np.maximum(trace - theta_prev**2, 0.0) + 1e-8 * np.abs(trace)
    best_case = np.sqrt(np.maximum(padded_frobenius(op) ** 2 - tail, 0.0))
    return bool(np.any(best_case < upper))


def basis_size(op: Operand) -> int:
    """Vectors kept before a restart: as many as fit in :data:`BASIS_BYTES`, within [MIN_BASIS, MAX_BASIS]."""
    per_vector = max(1, op.n * op.B * op.np_dtype.itemsize)
    return int(np.clip(BASIS_BYTES // per_vector, MIN_BASIS, MAX_BASIS))


def run(op: Operand, opts: Options, *, max_basis: int | None = None, keep: int = KEEP) -> MethodResult:
    """GKL until the certified width (or residual) test passes or the budget is spent.

    The Christoffel roots are non-increasing in ``k`` (``C_k >= C_{k-1}``), so the minimum over steps is
    the root at the last step before the first restart. Each step therefore only evaluates ``C_k`` once,
    at the bound that would meet ``rtol``; the root itself is computed when the iteration stops (or
    before a restart freezes it), and at every step when ``progress=True`` for the reports alone.
    """
    if max_basis is None:
        small = _small_stack.run(op, opts, lambda sub, o: run(sub, o, max_basis=basis_size(sub), keep=keep))
        if small is not None:
            return small
    single_path = op.B == 1 and SINGLE_MATRIX_PATH
    stop = SingleStopper(op, opts, "lanczos") if single_path else Stopper(op, opts, "lanczos")
    v, t = start_vector(op, opts)
    gkl = GramLanczos(op, v, basis_size(op) if max_basis is None else max_basis)
    frozen = np.zeros(op.B, dtype=bool)
    verified = np.full(op.B, np.inf)  # a point known to lie above the current root (warm start)
    theta = np.zeros(op.B)
    pad = 1.0
    floor = np.zeros(op.B)
    # one matrix: the stopping arithmetic on Python floats, bitwise the array code's (_lanczos_single)
    single = SingleMatrixTest(op, stop, t) if single_path else None

    def settle_root():
        live = ~frozen
        if live.any() and gkl.steps:
            lam = christoffel_root(gkl, t, theta, verified, floor)
            stop.update(prob_upper=np.where(live, np.sqrt(lam) * pad, np.inf), products=op.matvecs)
            verified[:] = np.where(live, lam, verified)

    any_frozen = all_frozen = False  # frozen.any() and frozen.all(), kept where frozen changes
    for it in range(1, opts.maxiter + 1):
        if gkl.full():
            settle_root()
            gkl.restart(keep)
            frozen[:] = True
            any_frozen = all_frozen = True
        gkl.step()
        # the Ritz vector only feeds the residual, which stops only certify=False and frozen runs
        need_vector = any_frozen or not opts.certify
        if single is None:
            need_all = deflation_may_help(gkl, op, stop.upper, theta)
        else:
            need_all = single.deflation_may_help(gkl, float(stop.upper[0]), float(theta[0]))
        theta, x, y, allv = gkl.ritz(need_all=need_all, need_vector=need_vector)
        pad = 1.0 + float(_bounds.krylov_rounding_pad(it, op.u))
        prob_up = None
        if not all_frozen:
            _, b = gkl.tridiagonal()
            # a coupling at the products' rounding level is a numerical breakdown (§6e)
            if single is None:
                floor = gram_noise(op, gkl.known, theta, worst=False)
                gkl.breakdown |= b[:, -1] <= np.maximum(floor, np.finfo(np.float64).tiny)
                broken = bool(gkl.breakdown.any())
            else:
                floor[0] = single.floor(gkl.known, float(theta[0]))
                gkl.breakdown[0] |= single.breaks_down(float(b[0, -1]), float(floor[0]))
                broken = bool(gkl.breakdown[0])
            if broken:
                settle_root()
            elif single is not None:
                prob_up = single.certify(gkl, op.matvecs, float(stop.lower[0]), float(theta[0]), pad, floor, verified)
            else:
                goal = (1.0 + stop.effective_rtol(op.matvecs)) * stop.safe_lower(theta) / pad
                lam_goal = np.maximum(goal, theta) ** 2
                ok = christoffel_check(gkl, t, lam_goal, floor, op.backend) & ~frozen
                verified = np.where(ok, np.minimum(verified, lam_goal), verified)
                prob_up = np.where(ok, np.sqrt(lam_goal) * pad, np.inf)
            if opts.progress and not broken:  # the root, for the reports only: a result never depends on progress
                lam = christoffel_root(gkl, t, theta, verified, floor)
                stop.shown_upper = np.where(frozen, np.inf, np.sqrt(lam) * pad)
            if broken:
                frozen |= gkl.breakdown
                any_frozen, all_frozen = True, bool(frozen.all())
        residual = None
        if y is not None:
            residual = np.divide(gkl.residual(x, y), theta * theta, out=np.zeros(op.B), where=theta > 0)
        if krylov_step_ends(op, stop, gkl, theta, allv, prob_upper=prob_up, residual=residual, frozen=all_frozen):
            break
    settle_root()
    return krylov_finish(op, stop, gkl, opts, op.matvecs)
