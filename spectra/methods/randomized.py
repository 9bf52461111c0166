"""``method="randomized"``: block Krylov from a Gaussian block, Rayleigh-Ritz over the whole space.

The engine is block Lanczos on ``M = Â^H Â`` (:class:`._gram_lanczos.GramLanczos` with block size ``b``):
one Gram pass per step, which fused backends compute in one read of ``A`` for the whole block.

- lower: ``||Â x|| / ||x||`` for the top Ritz vector of the block Krylov space, certified (§6c);
- upper: the minimum of the bounds below, all on the ONE event ``||Omega^H z_1||^2 >= x_delta``
  (``delta`` is not split):
  * the block Christoffel bound (docs/bounds.md §4d): global Lanczos (:mod:`._global_lanczos`) gives
    the orthonormal polynomials of the Frobenius inner product ``tr(q(M) Omega)^H q(M) Omega``, computed
    on the host from the projection; its Christoffel root with threshold ``sqrt(x_delta) / ||Omega||_F``
    is as tight as the single-vector bound of ``lanczos`` after the same number of passes, with a far
    better constant (``ln(1/t)`` about 7.6 instead of 12.4 at ``b = 4``, ``N = 10^5``, ``delta = 10^-3``);
  * the residual bound of §6e (an invariant block Krylov space gives ``theta``);
  * Frobenius deflation and the other deterministic bounds (§5).
- cost: the bound needs about 0.6-0.9 times lanczos's passes, but each pass multiplies ``b`` vectors
  (``matvecs`` counts ``2 b`` per pass) and orthogonalises them against a basis ``b`` times longer, so
  it is slower than ``lanczos`` wherever a block pass costs more than a single one (docs/performance.md);
  ``"auto"`` never picks it unless ``block_size`` is given.
- memory: the basis keeps at most :data:`BASIS_FACTOR` times lanczos's basis (:func:`.lanczos.basis_size`),
  then a thick restart keeps :data:`KEEP` Ritz vectors and freezes the upper bounds (§8).

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
    gram_noise,
    krylov_finish,
    krylov_step_ends,
)
from ._global_lanczos import GlobalLanczos
from ._gram_lanczos import GramLanczos
from .lanczos import basis_size, christoffel_check, christoffel_root, deflation_may_help

__all__ = ["BASIS_FACTOR", "DEFAULT_BLOCK_SIZE", "KEEP", "run"]

#: block size when ``block_size`` is not given (see docs/performance.md)
DEFAULT_BLOCK_SIZE = 4
#: the basis holds at most this many times lanczos's basis (:func:`.lanczos.basis_size`) before a restart
BASIS_FACTOR = 2
#: Ritz vectors kept at a restart
KEEP = 24


def _residual_bound(theta, noise, coupling, t_block):
    """The residual bound of §6e on the event of §4: ``sqrt(theta^2 + eta + (||R|| + eta) / t)``.

    An invariant block Krylov space (numerical breakdown, ``||R||`` at the rounding level) makes it ``theta``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(t_block > 0, theta**2 + noise + (coupling + noise) / t_block, np.inf)
    return np.sqrt(lam)


def run(op: Operand, opts: Options, *, max_basis: int | None = None, keep: int = KEEP) -> MethodResult:
    if opts.v0 is not None:  # the block bound (§4, §4d) needs a Gaussian block; a warm start was dropped silently
        raise ValueError(
            "v0 does not apply to method='randomized' (its bound needs a Gaussian start block); use "
            "method='lanczos' for a warm start"
        )
    stop = Stopper(op, opts, "randomized")
    b = min(opts.block_size or DEFAULT_BLOCK_SIZE, op.n)
    x_delta = _bounds.block_dixon_threshold(b, opts.delta, op.is_complex)

    omega_host = op.random(opts.rng, b)
    omega = op.from_host(omega_host)
    V1, R0 = op.backend.qr(omega)
    c0 = op.host_batch(R0).astype(np.complex128 if op.is_complex else np.float64)
    # the rounded block keeps ||fl(Omega)^H z_1|| >= sqrt(x_delta) - u ||Omega||_F on the event (§6e)
    slack = op.u_vectors * np.linalg.norm(omega_host.reshape(op.B, -1), axis=1)
    root_x = np.maximum(math.sqrt(x_delta) - slack, 0.0)
    glz = GlobalLanczos(c0)
    t_glob = root_x / np.where(glz.norm > 0, glz.norm, np.inf)  # Christoffel threshold of §4d
    t_block = root_x / np.linalg.norm(c0, ord=2, axis=(1, 2))  # threshold of the residual bound (§6e)

    if max_basis is None:  # (a basis longer than n is never filled)
        max_basis = min(BASIS_FACTOR * basis_size(op), op.n + 2 * b)
    gkl = GramLanczos(op, V1, max(-(-max_basis // b), 3) * b)  # a whole number of blocks, rounded up
    frozen = False
    verified = np.full(op.B, np.inf)  # a point known to lie above the current Christoffel root
    theta = np.zeros(op.B)
    pad, floor = 1.0, np.zeros(op.B)

    def settle_root():
        if not frozen and glz.steps:
            lam = christoffel_root(glz, t_glob, theta, verified, floor)
            stop.update(prob_upper=np.sqrt(lam) * pad, products=op.matvecs)
            verified[:] = lam

    for it in range(1, opts.maxiter + 1):
        if gkl.full():
            settle_root()
            gkl.restart(keep)
            frozen = True
        gkl.step()
        nK = gkl.known
        # the Ritz vector only feeds the residual, which stops only certify=False and frozen runs
        need_vector = frozen or not opts.certify
        theta, x, y, allv = gkl.ritz(need_all=deflation_may_help(gkl, op, stop.upper, theta), need_vector=need_vector)
        pad = 1.0 + _bounds.krylov_rounding_pad(it * b, op.u)
        noise = gram_noise(op, nK, theta, worst=False)
        coupling = np.linalg.norm(gkl.K[:, nK:, :].reshape(op.B, -1), axis=1)
        gkl.breakdown |= coupling <= np.maximum(noise, np.finfo(np.float64).tiny)
        candidates = [np.full(op.B, np.inf)]
        if not frozen:  # bounds that need the unrestarted block Krylov space
            glz.extend(gkl.K)
            floor = noise
            candidates.append(_residual_bound(theta, noise, coupling, t_block) * pad)
            if gkl.breakdown.any():
                settle_root()
            else:  # one evaluation of the Christoffel sum per pass, at the bound that would meet rtol
                goal = (1.0 + stop.effective_rtol(op.matvecs)) * stop.safe_lower(theta) / pad
                lam_goal = np.maximum(goal, theta) ** 2
                ok = christoffel_check(glz, t_glob, lam_goal, floor, op.backend)
                verified = np.where(ok, np.minimum(verified, lam_goal), verified)
                candidates.append(np.where(ok, np.sqrt(lam_goal) * pad, np.inf))
                if opts.progress:  # the root, for the reports only: a result never depends on progress
                    stop.shown_upper = np.sqrt(christoffel_root(glz, t_glob, theta, verified, floor)) * pad
        residual = None
        if need_vector:
            with np.errstate(divide="ignore", invalid="ignore"):
                residual = np.where(theta > 0, gkl.residual(x, y) / np.where(theta > 0, theta**2, 1.0), 0.0)
        prob_up = np.min(candidates, axis=0)
        if krylov_step_ends(op, stop, gkl, theta, allv, prob_upper=prob_up, residual=residual, frozen=frozen):
            break
    settle_root()
    return krylov_finish(op, stop, gkl, opts, op.matvecs)
