"""``method="lanczos"``: Golub-Kahan-Lanczos bidiagonalisation with full reorthogonalisation.

- lower: ``||Â x|| / ||x||`` for the top Ritz vector, certified for rounding (docs/bounds.md §6c, §6d);
- upper: the minimum over steps of the a-posteriori Christoffel bound (§3b) on the single event
  ``|z^H b| >= t``, padded for rounding (§6d), capped by Frobenius deflation and the other
  deterministic bounds (§5);
- memory: at most :data:`MAX_BASIS` vectors per side; past it a thick restart keeps the top
  :data:`KEEP` Ritz vectors. The Christoffel bound needs the unrestarted Lanczos recurrence, so it is
  frozen at its value before the first restart (§8); the lower bound keeps improving.
"""

from __future__ import annotations

import numpy as np

from .. import _bounds
from .._operand import Operand
from ._common import (
    MethodResult,
    Options,
    Stopper,
    exact_if_exhausted,
    frobenius_deflation,
    krylov_finish,
    start_vector,
)
from ._gkl import BlockGKL

__all__ = ["KEEP", "MAX_BASIS", "run"]

#: basis vectors kept per side before a thick restart (memory ``(m + n) * MAX_BASIS`` numbers)
MAX_BASIS = 300
#: Ritz vectors kept at a restart
KEEP = 20


def christoffel_step(gkl: BlockGKL, t: np.ndarray, theta: np.ndarray, start) -> np.ndarray:
    """Christoffel bound on ``lambda_1 = sigma_1^2`` from the current bidiagonal (per matrix)."""
    alpha, beta = gkl.bidiagonal()
    a = alpha**2 + np.concatenate([np.zeros((alpha.shape[0], 1)), beta[:, :-1] ** 2], axis=1)
    b = alpha * beta
    b = np.where(b > 0, b, 1e-300)  # exact breakdown: the bound collapses onto theta, as in the limit
    lam0 = theta**2
    if a.shape[0] == 1:
        s = None if start is None else float(start[0])
        return np.array([_bounds.christoffel_upper(a[0], b[0], float(t[0]), float(lam0[0]), start=s)])
    # batched: a common threshold is needed by the vectorised recurrence only through target = 1/t^2
    out = np.empty_like(lam0)
    for tv in np.unique(t):
        sel = t == tv
        st = None if start is None else start[sel]
        out[sel] = _bounds.christoffel_upper(list(a[sel].T), list(b[sel].T), float(tv), lam0[sel], start=st)
    return out


def run(op: Operand, opts: Options, *, max_basis: int = MAX_BASIS, keep: int = KEEP) -> MethodResult:
    stop = Stopper(op, opts, "lanczos")
    v, t = start_vector(op, opts)
    gkl = BlockGKL(op, v, max_basis)
    lam_up = None
    frozen = np.zeros(op.B, dtype=bool)
    for it in range(1, opts.maxiter + 1):
        if gkl.full():
            gkl.restart(keep)
            frozen[:] = True
        gkl.step()
        theta, x, _y, allv = gkl.ritz(need_all=op.stats is not None)
        pad = 1.0 + _bounds.krylov_rounding_pad(it, op.u)
        prob_up = None
        if not frozen.all():
            lam = christoffel_step(gkl, t, theta, lam_up)
            lam_up = lam if lam_up is None else np.minimum(lam, lam_up)
            prob_up = np.where(frozen, np.inf, np.sqrt(lam) * pad)
            _, beta = gkl.bidiagonal()
            gkl.breakdown |= beta[:, -1] <= 8.0 * op.u * np.maximum(theta, np.finfo(np.float64).tiny)
            frozen |= gkl.breakdown
        with np.errstate(divide="ignore", invalid="ignore"):
            residual = np.where(theta > 0, gkl.residual(x) / np.where(theta > 0, theta, 1.0), 0.0)
        done = stop.update(
            lower_est=theta,
            prob_upper=prob_up,
            det_upper=exact_if_exhausted(gkl, theta, pad, frobenius_deflation(op, allv, it)),
            residual=residual,
            products=op.matvecs,
        )
        if np.all(done | gkl.breakdown):
            break
    return krylov_finish(op, stop, gkl, opts, op.matvecs)
