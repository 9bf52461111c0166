"""``method="svd"``: all singular values by LAPACK; deterministic interval (docs/bounds.md §6b)."""

from __future__ import annotations

import numpy as np

from .. import _bounds
from .._operand import Operand
from .._progress import Progress
from ._common import MethodResult, Options, Stopwatch, batch_index, emit_progress, require_dense, width_rtol

__all__ = ["run"]


def run(op: Operand, opts: Options) -> MethodResult:
    """Largest singular value of each matrix by a full (batched) SVD.

    The interval ``s/(1 +- p u)``, ``p = max(m, n) + 4``, is LAPACK's backward-error bound with the
    modest constant documented in docs/bounds.md; it holds with confidence 1. Matrices whose entries
    leave the working precision's safe range are scaled by a power of two first (a copy), so the norm
    and the intermediates stay in range (§6f). Its relative width is fixed by the precision, not by
    ``rtol``: the effective rtol reported is the larger of the two.
    """
    clock = Stopwatch()
    require_dense(op.kind, "svd")
    A = op.data
    if op._c1 is not None:
        # entries outside the working precision's safe range: LAPACK runs on a copy scaled by the operand's
        # power of two (max entry in [1/2, 1)), as the iterative methods see it. The copy is exact except
        # for entries that fall below the smallest normal number (docs/bounds.md §6f).
        A = op.backend.scaled_copy(A, op._c1, op._c2)
    u_vec = v_vec = None
    if opts.return_vectors:
        U, _, Vh = op.backend.svd(A, compute_uv=True)
        xp = op.xp
        top_u = U[..., :, 0:1]
        top_v = xp.conj(xp.matrix_transpose(Vh[..., 0:1, :]))
        u_vec, v_vec = (top_v, top_u) if op.transposed else (top_u, top_v)
    # the values always from the values-only SVD: with vectors LAPACK's divide and conquer (gesdd) returned a
    # sigma_1 19 u off for an 8 x 8 matrix, outside the (max(m, n) + 4) u of §6b, where the values-only
    # routine (bidiagonal dqds) stayed inside it on the same 20 000 matrices
    s = op.backend.svd(A, compute_uv=False)
    s1 = op.host_batch(s[..., 0]).astype(np.float64).reshape(op.B)
    tiny = _bounds.subnormal_slack(op.np_dtype, op.m, op.n, scaled=op._c1 is not None)
    lower, upper = _bounds.svd_interval(s1, op.m, op.n, op.u, absolute=tiny)
    if op._c1 is None:  # LAPACK ran on A itself: express the interval for the effective operator
        s1, lower, upper = (np.ldexp(x, op.scale_exp) for x in (s1, lower, upper))
    if op.max_abs is not None:  # a zero matrix of a stack: its norm is 0 exactly, no rounding or underflow slack
        upper = np.where(op.max_abs == 0, 0.0, upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.where(lower > 0, (upper - lower) / np.where(lower > 0, lower, 1.0), 0.0)
    rtol_effective = np.maximum(opts.rtol, width_rtol(width))  # converged: upper <= (1 + it) lower, as computed
    if opts.progress:
        worst = int(np.argmax(width))
        lo, up = (float(op.unscale(x)[worst]) for x in (lower, upper))
        rtol = float(rtol_effective[worst])
        info = Progress(
            "svd", op.matvecs, lo, up, rtol, op.B, op.B, **clock.times(), final=True, matrix=batch_index(op, worst)
        )
        emit_progress(opts, info)
    return MethodResult(
        value=s1,
        lower=lower,
        upper=upper,
        deterministic=np.ones(op.B, dtype=bool),
        converged=np.ones(op.B, dtype=bool),
        iterations=1,
        u=u_vec,
        v=v_vec,
        rtol_effective=rtol_effective,
    )
