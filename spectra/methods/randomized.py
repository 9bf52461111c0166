"""``method="randomized"``: block Krylov from a Gaussian block, Rayleigh-Ritz over the whole space.

- lower: ``||Â x|| / ||x||`` for the top Ritz vector of the block Krylov space, certified (§6c);
- upper: the minimum of
  * the block-Dixon bound (docs/bounds.md §4c) on the event ``||Omega^H z_1||^2 >= x_delta``, with
    ``||W_i||`` computed exactly from the projection (``W_i = (Â or Â^H)^i Omega`` lies in the bases);
  * the residual-probe bound (§4b) ``sqrt(||U^H Â||^2 + R^2)`` with :data:`PROBES` fresh Gaussian
    probes; checked after every pass, so check ``j`` is given ``delta_2 * 6 / (pi^2 j^2)`` (a union
    bound valid for adaptive stopping);
  * Frobenius deflation and the other deterministic bounds (§5).

The failure probability is split only across the two independent draws: ``delta_1 = delta_2 = delta/2``.
``maxiter`` counts passes (one product of the block with ``Â`` and one with ``Â^H``).
"""

from __future__ import annotations

import math

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
)
from ._gkl import BlockGKL

__all__ = ["DEFAULT_BLOCK_SIZE", "PROBES", "run"]

#: block size when ``block_size`` is not given (see docs/performance.md)
DEFAULT_BLOCK_SIZE = 16
#: residual probes drawn once per call
PROBES = 10
MAX_BASIS = 320
KEEP = 24


def _spectral_norms(c: np.ndarray) -> np.ndarray:
    """2-norm of each matrix of a host stack ``(B, r, b)``."""
    return np.linalg.svd(c, compute_uv=False)[:, 0]


def run(op: Operand, opts: Options, *, max_basis: int = MAX_BASIS, keep: int = KEEP) -> MethodResult:
    stop = Stopper(op, opts, "randomized")
    b = min(opts.block_size or DEFAULT_BLOCK_SIZE, op.n)
    delta1 = delta2 = opts.delta / 2.0
    x_delta = _bounds.block_dixon_threshold(b, delta1, op.is_complex)

    omega = op.from_host(op.random(opts.rng, b))
    V1, R0 = op.backend.qr(omega)
    c_v = op.host_batch(R0).astype(np.complex128 if op.is_complex else np.float64)
    log_w = np.log(_spectral_norms(c_v))
    c_v = c_v / np.exp(log_w)[:, None, None]

    r = PROBES
    Z = op.matmat(op.from_host(op.random(opts.rng, r)))  # Â w for fresh probes, kept for every check

    gkl = BlockGKL(op, V1, max_basis)
    frozen = False
    for it in range(1, opts.maxiter + 1):
        if gkl.full():
            gkl.restart(keep)
            frozen = True
        gkl.step()
        K = gkl.K
        K.shape[1]
        pad = 1.0 + _bounds.krylov_rounding_pad(it * b, op.u)
        candidates = []
        if not frozen:  # W_{2it-1} = Â W_{2it-2} and W_{2it} = Â^H W_{2it-1}, in basis coordinates
            rows = c_v.shape[1]
            for i, mat in ((2 * it - 1, K[:, :, :rows]), (2 * it, np.conj(np.swapaxes(K, 1, 2)))):
                c_v = mat @ c_v
                nrm = _spectral_norms(c_v)
                with np.errstate(divide="ignore"):
                    log_w = log_w + np.log(nrm)
                c_v = c_v / np.where(nrm > 0, nrm, 1.0)[:, None, None]
                candidates.append(np.exp((log_w - 0.5 * math.log(x_delta)) / i) * pad)
        # residual probes: ||(I - U U^H) Â w_l||, projected against the current left basis
        xp = op.xp
        Uh = xp.conj(xp.matrix_transpose(gkl.U))
        Zp = Z - xp.matmul(gkl.U, xp.matmul(Uh, Z))
        Zp = Zp - xp.matmul(gkl.U, xp.matmul(Uh, Zp))
        resid = np.max(op.col_norms(Zp), axis=1)
        s_j = _bounds.probe_threshold(r, delta2 * 6.0 / (math.pi**2 * it**2), op.is_complex)
        head = _spectral_norms(K)  # ||U^H Â||
        candidates.append(np.sqrt(head**2 + (resid / s_j) ** 2) * pad)
        theta, x, _y, allv = gkl.ritz(need_all=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            residual = np.where(theta > 0, gkl.residual(x) / np.where(theta > 0, theta, 1.0), 0.0)
        full_breakdown = np.linalg.norm(gkl.pending().reshape(op.B, -1), axis=1) <= 8 * op.u * theta
        gkl.breakdown |= full_breakdown
        if gkl.breakdown.any():  # invariant block Krylov space: the Ritz value is sigma_1 (a.s.)
            candidates.append(np.where(gkl.breakdown, theta * pad, np.inf))
        done = stop.update(
            lower_est=theta,
            prob_upper=np.min(candidates, axis=0),
            det_upper=exact_if_exhausted(gkl, theta, pad, frobenius_deflation(op, allv, it * b)),
            residual=residual,
            products=op.matvecs,
        )
        if np.all(done | gkl.breakdown):
            break
    return krylov_finish(op, stop, gkl, opts, op.matvecs)
