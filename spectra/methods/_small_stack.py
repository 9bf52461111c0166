"""Stacks of small dense matrices on a backend with a one-matrix-per-task certificate kernel.

For a matrix whose Gram matrix ``G`` (of the smaller side) has order ``q <= SMALL_GRAM_MAX``, the
backend's ``small_gram_certify`` forms ``G`` in one read, runs Lanczos on it in cache and certifies
the interval with a Cholesky factorisation of ``mu I - G`` (docs/bounds.md §7): both bounds are
deterministic (confidence 1). Matrices the certificate does not settle within ``rtol`` (a Lanczos
estimate that missed the top of the spectrum, or an ``rtol`` below what the factorisation can
certify) are solved by the general Lanczos path, so the result never depends on the kernel's luck.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .. import _bounds
from .._operand import Operand, make_operand
from .._progress import Progress
from ._common import MethodResult, Options, Stopwatch, batch_index, emit_progress, relative_widths, unit_columns

__all__ = ["SMALL_GRAM_MAX", "applicable", "certificate_floor", "kernel_takes", "run"]

#: largest order of the Gram matrix (the smaller side of each matrix) that the kernel takes
SMALL_GRAM_MAX = 128
_KERNEL_DTYPES = {np.dtype(t) for t in ("float32", "float64", "complex64", "complex128")}


def applicable(op: Operand) -> bool:
    """Whether ``op`` is a C-ordered stack of small matrices on a backend with the kernel.

    A backend that takes other arrays than NumPy's (CuPy) says which through ``small_stack_takes(A)``.
    """
    return kernel_takes(op.data, op.kind, op.backend)


def kernel_takes(A, kind: str, backend) -> bool:
    """:func:`applicable` for an array ``A`` of kind ``kind`` on ``backend`` (before an operand is made)."""
    takes = getattr(backend, "small_stack_takes", None)
    return (
        kind == "dense"
        and hasattr(backend, "small_gram_certify")
        and (takes(A) if takes is not None else isinstance(A, np.ndarray))
        and A.ndim >= 2
        and A.flags.c_contiguous
        and A.dtype in _KERNEL_DTYPES
        and 0 < min(A.shape[-2:]) <= SMALL_GRAM_MAX
        and A.size > 0
    )


def certificate_floor(q: int, p: int) -> float:
    """Smallest relative width the float64 certificate reaches for ``q x q`` Gram matrices of ``p``-vectors.

    The Cholesky backward error contributes ``gamma_{q+1} ||R||_F^2 <= (q+1) q u lambda`` and the rounding
    of ``G`` at most ``gamma_p q lambda`` (Gershgorin sums); half of each in ``sigma``, doubled for margin.
    """
    u = _bounds.unit_roundoff(np.float64)
    return 4.0 * (q + 1) * (p + q) * u


def run(op: Operand, opts: Options, fallback) -> MethodResult | None:
    """Certified intervals for every matrix of ``op``, or ``None`` where the kernel does not apply.

    ``fallback(sub_op, sub_opts)`` solves the matrices the certificate did not settle.
    """
    if not applicable(op):
        return None
    clock = Stopwatch()
    m0, n0 = op.data.shape[-2:]
    A = op.data.reshape(op.B, m0, n0)
    adjoint = m0 < n0  # the Gram matrix of the smaller side
    q, p = min(m0, n0), max(m0, n0)
    right = adjoint == op.transposed  # the kernel's side is the effective operator's right side
    rtol = max(opts.rtol, certificate_floor(q, p))
    if opts.v0 is None and getattr(op.backend, "small_stack_seeded_start", False):
        # the backend draws the start on the device from this seed: the certificate needs nothing of the
        # start, which only decides how fast the estimate converges
        x0 = int(opts.rng.integers(2**63))
    else:  # uniform entries: a quarter of the time of Gaussian ones, and the start needs no distribution
        x0 = opts.rng.random((op.B, q)) - 0.5
        if op.is_complex:
            x0 = x0 + 1j * (opts.rng.random((op.B, q)) - 0.5)
    if opts.v0 is not None:  # a warm start on the original right side, mixed with the random start
        w = opts.v0 if not adjoint else _stack_product(op, A, opts.v0)
        nw = np.linalg.norm(w, axis=1, keepdims=True)
        w = np.where(nw > 0, w / np.where(nw > 0, nw, 1.0), 0.0)  # A v0 = 0 (a wide stack): the random start
        x0 = w + 1e-3 * x0 / np.linalg.norm(x0, axis=1, keepdims=True)
    c1, c2 = op.split_scale if op.scale_exp.any() else (np.ones(op.B),) * 2  # no scaling: no ldexp per matrix
    maxsteps = opts.maxiter if opts.maxiter_given else 2 * q + 8  # no reorthogonalisation: may pass q
    out, steps, X = op.backend.small_gram_certify(A, c1, c2, adjoint, x0, rtol, maxsteps)
    op.matvecs += 2 * q + 1  # G = W^H (W I): q products each way; one for the certified lower bound
    lower, upper, value = out[:, 0], out[:, 1], out[:, 2]
    settled = np.isfinite(upper) & (upper <= (1.0 + rtol) * lower)
    res = MethodResult(
        value=value.copy(),
        lower=lower.copy(),
        upper=upper.copy(),
        deterministic=np.ones(op.B, dtype=bool),
        converged=settled.copy(),
        iterations=int(steps.max()),
        rtol_effective=np.full(op.B, rtol),
    )
    rest = np.flatnonzero(~settled)
    res.kernel_rest = int(rest.size)
    x_host = None  # the kernel's Ritz vectors reach the host only when they are asked for
    if rest.size:
        sub = make_operand(A[op.backend.from_host(rest, A)], "dense", op.backend, check_finite=False, uses_gram=True)
        sub_opts = dataclasses.replace(opts, v0=None if opts.v0 is None else opts.v0[rest])
        if opts.progress:
            sub_opts = dataclasses.replace(sub_opts, progress=_relay(op, opts, rest, clock))
        sr = fallback(sub, sub_opts)
        op.matvecs += sub.matvecs
        # the sub-problem has the same scale (the same max |a_ij|); bring its interval to op's scale anyway
        shift = op.scale_exp[rest] - sub.scale_exp
        for name in ("value", "lower", "upper"):
            getattr(res, name)[rest] = np.ldexp(getattr(sr, name), shift)
        res.deterministic[rest] = sr.deterministic
        res.converged[rest] = sr.converged
        res.rtol_effective[rest] = opts.rtol if sr.rtol_effective is None else sr.rtol_effective
        res.iterations = max(res.iterations, sr.iterations)
        if opts.return_vectors:  # the fallback's vector on the kernel's side
            vec = sr.v if right == (sub.transposed == op.transposed) else sr.u
            x_host = np.array(op.to_host(X))
            x_host[rest] = np.asarray(op.to_host(vec))[:, :, 0]
    if opts.return_vectors:
        res.u, res.v = _vectors(op, np.asarray(op.to_host(X)) if x_host is None else x_host, right)
    if opts.progress:
        _report_final(op, opts, res, clock)
    return res


def _relay(op: Operand, opts: Options, rest: np.ndarray, clock: Stopwatch):
    """A ``progress`` callback for the fallback on the matrices ``rest`` the kernel left: its reports as the whole
    stack's (the kernel's matrices counted done, its products included, the matrix named by its index in the
    whole stack, never the final one), printed at most every 0.2 s for ``progress=True``, as
    :class:`._common.Stopper` does."""
    last = [0.0]

    def relay(info: Progress) -> None:
        now = time.perf_counter()
        if not callable(opts.progress) and now - last[0] < 0.2:
            return
        last[0] = now
        worst = 0 if info.matrix is None else info.matrix[0]  # the fallback runs on the stack A[rest]
        whole = dataclasses.replace(
            info,
            products=info.products + op.matvecs,
            done=info.done + op.B - rest.size,
            total=op.B,
            **clock.times(now),
            final=False,
            matrix=batch_index(op, int(rest[worst])),
        )
        emit_progress(opts, whole)

    return relay


def _report_final(op: Operand, opts: Options, res: MethodResult, clock: Stopwatch) -> None:
    """The one final report of a stack the kernel settled (with its fallback): the widest interval."""
    lo, up = op.unscale(res.lower), op.unscale(res.upper)
    worst = int(np.argmax(relative_widths(lo, up)))
    info = Progress(
        method="lanczos",
        products=int(op.matvecs),
        lower=float(lo[worst]),
        upper=float(up[worst]),
        rtol=float(res.rtol_effective[worst]),
        done=int(res.converged.sum()),
        total=op.B,
        **clock.times(),
        final=True,
        matrix=batch_index(op, worst),
    )
    emit_progress(opts, info)


def _stack_product(op: Operand, A, v0: np.ndarray) -> np.ndarray:
    """``A v0`` per matrix, on the host ``(B, m)``; ``A`` on the backend's device, ``v0`` host ``(B, n)``."""
    if isinstance(A, np.ndarray):
        return np.matmul(A, v0[:, :, None])[:, :, 0]
    return np.asarray(op.to_host(A @ op.backend.from_host(v0[:, :, None], A)))[:, :, 0]


def _vectors(op: Operand, x: np.ndarray, right: bool):
    """Unit singular vectors ``(u, v)`` of the effective operator from the kernel's vectors ``x`` (host)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    xd = op.from_host(x[:, :, None])
    other = unit_columns(op, op.matmat(xd) if right else op.rmatmat(xd))
    return (other, xd) if right else (xd, other)
