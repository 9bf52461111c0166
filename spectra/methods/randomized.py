"""``method="randomized"``: block Krylov from a Gaussian block, Rayleigh-Ritz over the whole space.

The engine is block Lanczos on ``M = Â^H Â`` (:class:`._gram_lanczos.GramLanczos` with block size ``b``):
one Gram pass per step, which fused backends compute in one read of ``A`` for the whole block. The pass
also returns the images ``Â V``, which are kept (no extra product).

- lower: ``||Â x|| / ||x||`` for the top Ritz vector of the block Krylov space, certified (§6c);
- upper: the minimum of
  * the block-Dixon bound (docs/bounds.md §4c) on the event ``||Omega^H z_1||^2 >= x_delta``, with
    ``||W_i||`` computed exactly from the projection: ``W_2i = M^i Omega`` lies in the basis and
    ``||W_2i+1||^2 = ||W_2i^H M W_2i||``;
  * the residual-probe bound (§4b) ``sqrt(||Â V||^2 + R^2)`` with :data:`PROBES` fresh Gaussian probes
    ``w``, ``R`` from ``||Â (I - V V^H) w|| = ||Â w - (Â V)(V^H w)||``; checked after every pass, so
    check ``j`` is given ``delta_2 * 6 / (pi^2 j^2)`` (a union bound valid for adaptive stopping);
  * Frobenius deflation and the other deterministic bounds (§5).

The failure probability is split only across the two independent draws: ``delta_1 = delta_2 = delta/2``.
``maxiter`` counts passes (one product of the block with ``Â`` and one with ``Â^H``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _bounds
from .._operand import Operand, stored_bytes
from ._common import (
    MethodResult,
    Options,
    Stopper,
    exact_if_exhausted,
    frobenius_deflation,
    gram_noise,
    krylov_finish,
    probe_noise,
)
from ._gram_lanczos import GramLanczos

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


def _dixon_candidates(K: np.ndarray, c_v: np.ndarray, log_w: np.ndarray, it: int, x_delta, pad: float):
    """Block-Dixon bounds (§4c) from ``W_2it-1`` and ``W_2it``, and the coordinates of ``W_2it``.

    ``c_v`` holds the coordinates of ``W_2it-2 / exp(log_w)`` in the known basis (spectral norm 1), and
    ``M V_known = V K``. Then ``||W_2it-1||^2 = ||c^H T c||`` with ``T = V_known^H M V_known``, and
    ``W_2it = V (K c)``.
    """
    nK = K.shape[2]
    T = K[:, :nK, :]
    T = 0.5 * (T + np.conj(np.swapaxes(T, 1, 2)))
    G = np.conj(np.swapaxes(c_v, 1, 2)) @ T @ c_v
    odd = np.sqrt(np.maximum(np.linalg.eigvalsh(G)[:, -1], 0.0))
    c_v = K @ c_v
    nrm = _spectral_norms(c_v)
    with np.errstate(divide="ignore"):
        log_odd = log_w + np.log(odd)
        log_w = log_w + np.log(nrm)
    c_v = c_v / np.where(nrm > 0, nrm, 1.0)[:, None, None]
    with np.errstate(divide="ignore"):
        half = 0.5 * np.log(x_delta)
    candidates = [np.exp((log_odd - half) / (2 * it - 1)) * pad, np.exp((log_w - half) / (2 * it)) * pad]
    return candidates, c_v, log_w


def images_affordable(op: Operand, max_basis: int) -> bool:
    """Keep ``Â V`` (``max_basis`` vectors of the long side) only where they take no more memory than ``A``."""
    if op.kind == "operator":
        return False
    stored = stored_bytes(op.data) if op.kind == "sparse" else math.prod(op.data.shape) * op.np_dtype.itemsize
    return op.B * op.m * max_basis * op.np_dtype.itemsize <= stored


class _Probes:
    """``max_l ||Â (I - V V^H) w_l||`` for fresh Gaussian probes ``w_l`` (docs/bounds.md §4b).

    With the basis images ``Â V`` kept: ``Â w_l - (Â V)(V^H w_l)``, updated with the blocks added since the
    last check. Without them (memory, docs/design.md): ``(I - V V^H) w_l`` is kept on the short side and
    multiplied by ``Â`` at each check (``r`` products). After a restart rotated ``V`` both start over.
    """

    def __init__(self, op: Operand, w, use_images: bool):
        self.op, self.w, self.use_images = op, w, use_images
        self.largest = np.max(op.col_norms(w), axis=1)
        self.image = op.matmat(w) if use_images else None  # Â w, kept for every check
        self.projected, self.count, self.restarts = (self.image if use_images else w), 0, 0

    def residual(self, gkl: GramLanczos) -> np.ndarray:
        op, xp = self.op, self.op.xp
        nK = gkl.known
        if gkl.restarts != self.restarts:
            self.projected = self.image if self.use_images else self.w
            self.count, self.restarts = 0, gkl.restarts
        Vn = gkl.V[..., self.count : nK]
        coef = xp.matmul(xp.conj(xp.matrix_transpose(Vn)) if op.is_complex else xp.matrix_transpose(Vn), self.w)
        if self.use_images:
            self.projected = self.projected - xp.matmul(gkl.images[..., self.count : nK], coef)
            Zp = self.projected
        else:
            self.projected = self.projected - xp.matmul(Vn, coef)
            Zp = op.matmat(self.projected)
        self.count = nK
        return np.max(op.col_norms(Zp), axis=1)


def run(op: Operand, opts: Options, *, max_basis: int = MAX_BASIS, keep: int = KEEP) -> MethodResult:
    stop = Stopper(op, opts, "randomized")
    b = min(opts.block_size or DEFAULT_BLOCK_SIZE, op.n)
    delta1 = delta2 = opts.delta / 2.0
    x_delta = _bounds.block_dixon_threshold(b, delta1, op.is_complex)

    omega_host = op.random(opts.rng, b)
    omega = op.from_host(omega_host)
    V1, R0 = op.backend.qr(omega)
    c_v = op.host_batch(R0).astype(np.complex128 if op.is_complex else np.float64)
    log_w = np.log(_spectral_norms(c_v))
    # on the block-Dixon event ||Omega^H z_1|| >= sqrt(x_delta), the rounded block keeps
    # ||V_1^H z_1|| >= t_block (§6e): the threshold of the residual bound
    slack = op.u * np.linalg.norm(omega_host.reshape(op.B, -1), axis=1)
    root_x = np.maximum(math.sqrt(x_delta) - slack, 0.0)
    t_block = root_x / np.exp(log_w)
    x_delta = root_x**2  # the block-Dixon threshold of the rounded block
    c_v = c_v / np.exp(log_w)[:, None, None]

    r = PROBES
    keep_images = images_affordable(op, max_basis)
    probes = _Probes(op, op.from_host(op.random(opts.rng, r)), keep_images)
    gkl = GramLanczos(op, V1, max_basis, keep_images=keep_images)
    frozen = False
    for it in range(1, opts.maxiter + 1):
        if gkl.full():
            gkl.restart(keep)
            frozen = True
        gkl.step()
        nK = gkl.known
        pad = 1.0 + _bounds.krylov_rounding_pad(it * b, op.u)
        theta, x, y, allv = gkl.ritz(need_all=True)
        candidates = []
        if not frozen:  # W_i in basis coordinates
            dixon, c_v, log_w = _dixon_candidates(gkl.K, c_v, log_w, it, x_delta, pad)
            candidates += dixon
        noise = gram_noise(op, nK, theta, worst=False)
        resid = probes.residual(gkl) + probe_noise(op, nK, theta) * probes.largest
        s_j = _bounds.probe_threshold(r, delta2 * 6.0 / (math.pi**2 * it**2), op.is_complex)
        candidates.append(np.sqrt(theta**2 + noise + (resid / s_j) ** 2) * pad)
        with np.errstate(divide="ignore", invalid="ignore"):
            residual = np.where(theta > 0, gkl.residual(x, y) / np.where(theta > 0, theta**2, 1.0), 0.0)
        coupling = np.linalg.norm(gkl.K[:, nK:, :].reshape(op.B, -1), axis=1)
        gkl.breakdown |= coupling <= np.maximum(noise, np.finfo(np.float64).tiny)
        if not frozen:  # residual bound on the block-Dixon event (§6e); an invariant space makes it theta
            with np.errstate(divide="ignore", invalid="ignore"):
                lam = np.where(t_block > 0, theta**2 + noise + (coupling + noise) / t_block, np.inf)
            candidates.append(np.sqrt(lam) * pad)
        done = stop.update(
            lower_est=theta,
            prob_upper=np.min(candidates, axis=0),
            det_upper=exact_if_exhausted(gkl, theta, frobenius_deflation(op, allv)),
            residual=residual,
            products=op.matvecs,
        )
        if np.all(done | gkl.breakdown):
            break
    return krylov_finish(op, stop, gkl, opts, op.matvecs)
