"""``spectra.normalize``: ``A`` divided by a certified upper bound, the rounding of the division included.

Computing ``W = A * (1 / upper)`` in the output precision rounds every entry, and the rounded matrix can
have ``||W||_2 > 1`` although ``||A||_2 <= upper`` (half of all float16 Gaussian 64 x 32 matrices did). The
factor is therefore chosen with the rounding bound of docs/bounds.md §9:

    ||fl(f A)||_2 <= f (||A||_2 + u' || |A| ||_2) + 2 eta sqrt(nnz),

with ``u'`` the unit roundoff of the output precision (doubled when the entries are first converted to
it), ``eta`` its smallest subnormal, and ``|| |A| ||_2`` bounded by the Frobenius and Gershgorin statistics
of ``|A|`` (or ``sqrt(min(m, n)) * upper``). The factor is rounded down, and applied as exact powers of two
followed by one rounded multiplication when it lies outside the output precision's normal range.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np
from scipy.sparse.linalg import LinearOperator

from . import _bounds, _extended, backends
from ._api import caller_frames, norm
from ._compress import from_coordinates
from ._operand import make_operand
from ._sparse import canonical_csr, private_sparse
from ._validate import extension_float_info, standardize_matrix
from .backends._base import ArrayAPIBackend, placement

__all__ = ["normalize"]

_U64 = _bounds.unit_roundoff(np.float64)


def normalize(A: Any, /, **kwargs: Any) -> Any:
    """``A`` divided by a certified upper bound of its spectral norm, so that ``||result||_2 <= 1``.

    This is spectral normalisation as used for Lipschitz-constrained networks: dividing by ``upper``
    (not by the estimate) keeps the result's norm at most 1 with probability ``confidence``.

    Guarantee: whenever ``lower <= ||A||_2 <= upper`` holds for the :func:`norm` result (always for
    ``confidence == 1.0``, else with probability ``>= confidence``), the returned array or sparse matrix
    ``W``, exactly as stored in its floating-point dtype, has ``||W||_2 <= 1``. This covers the rounding
    of the division in the output dtype (float16, bfloat16, float32, float64 and complex alike; IEEE
    round-to-nearest with gradual underflow assumed): the factor is ``f <= (1 - 2 eta sqrt(m n)) /
    (upper + u' N)``, rounded down, with ``u'`` the output unit roundoff, ``eta`` its smallest subnormal
    and ``N >= || |A| ||_2`` (docs/bounds.md §9). It is smaller than ``1 / upper`` by the relative amount
    ``u' N / upper + 2 u`` at most, with ``N / upper <= sqrt(min(m, n))`` (measured: ``||W||_2`` in
    [0.9977, 0.9986] for float16 Gaussian 64 x 32, [0.982, 0.988] for bfloat16; float64 loses ~1e-15).
    For a ``LinearOperator`` the result is ``f A`` with ``f <= 1 / upper`` (its products are the caller's).

    Parameters
    ----------
    A : array_like, sparse matrix or LinearOperator
        As for :func:`norm`, shape ``(..., m, n)``; stacks are normalised matrix by matrix.
    **kwargs
        Passed to :func:`norm`.

    Returns
    -------
    array, sparse matrix or LinearOperator
        ``f A`` in the input's type, namespace and device; floating dtypes are kept (in native byte order:
        big-endian input gives its native twin), integer and bool input gives float64 (float32 for JAX in its
        default 32-bit mode); long double input stays long double. A zero matrix is returned unchanged
        (as a new object). Sparse results are canonical (duplicate entries summed).

    Raises
    ------
    ValueError, TypeError
        As :func:`norm`; also ``ValueError`` for a ``LinearOperator`` whose upper bound is not finite (its norm
        beyond float64's range under ``check_finite=False``). An array whose norm is beyond float64's range
        (``upper = inf``) is scaled by its entry statistics, which are read at a power-of-two scale.
    BackendUnavailableError
        As :func:`norm`: the requested backend's optional dependency is missing or cannot run.

    Warns
    -----
    ConvergenceWarning
        As :func:`norm` (the division by ``upper`` is certified either way).

    Examples
    --------
    >>> import numpy as np, spectra
    >>> W = spectra.normalize(np.array([[3.0, 0.0], [0.0, 1.0]]), method="svd")
    >>> bool(np.linalg.norm(W, 2) <= 1.0)
    True
    >>> W16 = spectra.normalize(np.random.default_rng(0).standard_normal((64, 32)).astype(np.float16))
    >>> bool(np.linalg.norm(W16.astype(np.float64), 2) <= 1.0), W16.dtype
    (True, dtype('float16'))
    """
    if _extended.is_extended(A):  # f (2^-e A) = (f 2^-e) A, exactly: every factor in float64's range
        scaled, exponents, _ = _extended.in_range(A)
        if np.any(exponents != 0):  # once scaled, the exponents are 0: no second round
            with caller_frames(1):
                return normalize(scaled, **kwargs)
    with caller_frames(1):  # its warnings point at normalize's caller
        est = norm(A, **kwargs)
    if isinstance(A, LinearOperator):
        up = float(est.upper)
        if not math.isfinite(up):
            raise ValueError(
                f"the operator's upper bound is {up} (its norm is beyond float64's range, or a product returned "
                "NaN or Inf): no factor keeps the result's norm at most 1; scale the operator down first"
            )
        return A * (float(np.nextafter(1.0 / up, 0.0)) if up > 0 else 1.0)
    if isinstance(A, (list, tuple)):
        A = np.asarray(A)
    upper = np.asarray(ArrayAPIBackend().to_host(est.upper), dtype=np.float64).reshape(-1)
    scale = upper > 0  # not a zero matrix, and not NaN (check_finite=False with NaN entries)
    A_std, kind = standardize_matrix(A)
    if kind == "sparse" and A_std.format == "coo":  # coordinates: the statistics read their CSR, empty lines left out
        A_std = from_coordinates(A_std)[0]
    out = _output_dtype(A, kind)
    info = _float_info(out, A)
    m, n = int(A.shape[-2]), int(A.shape[-1])
    mant, exp = np.ones_like(upper), np.zeros(upper.shape, dtype=np.int64)
    if np.any(scale):
        abs_norm, scaled, shift = _abs_norm_bound(A_std, kind, kwargs.get("backend", "auto"), upper, m, n)
        # ||A||_2 <= || |A| ||_2 <= abs_norm: a deterministic bound that may be below a probabilistic upper
        upper = np.where(np.isfinite(abs_norm), np.minimum(upper, abs_norm), upper)
        # a norm beyond float64's range (finite entries, upper = inf): the statistics of 2**shift A bound it there
        beyond = ~np.isfinite(upper) & np.isfinite(scaled) & (scaled > 0)
        upper, abs_norm = np.where(beyond, scaled, upper), np.where(beyond, scaled, abs_norm)
        scale = (upper > 0) & np.isfinite(upper)
        u_out = float(info.eps) / 2.0
        u_eff = u_out if _same_dtype(A, out) else u_out * (2.0 + u_out)  # conversion, then the product
        eta = float(info.smallest_normal) * float(info.eps)  # smallest subnormal
        entries = A_std.nnz if kind == "sparse" else m * n
        f_mant, f_exp = _factor(np.where(scale, upper, 1.0), abs_norm, u_eff, eta, entries)
        f_exp = np.where(beyond, f_exp + shift, f_exp)  # f 2**shift (2**-shift A) = f A
        mant, exp = np.where(scale, f_mant, 1.0), np.where(scale, f_exp, 0)
    steps, mantissa = _exact_steps(mant, exp, info)
    if kind == "sparse":
        W = private_sparse(A, out)
        if W.format == "coo":  # coordinates: summed into a canonical matrix, as promised
            W = canonical_csr(W)
        for s in (*steps, mantissa):
            W = W * np.asarray(s[0], dtype=out)[()]
        return W if type(W) is type(A) else type(A)(W)
    return _scale_dense(A, out, steps, mantissa)


def _factor(upper, abs_norm, u_eff: float, eta: float, entries: int) -> tuple[np.ndarray, np.ndarray]:
    """Safe factor ``f = mant 2**exp`` (host float64, rounded down) with ``f (upper + u' N) + 2 eta sqrt(nnz) <= 1``.

    Returned as mantissa and exponent, as ``1 / upper`` overflows float64 for a subnormal ``upper``.
    ``abs_norm >= upper`` (the caller takes the minimum), so ``abs_norm 2**-e`` does not underflow.
    """
    g, e = np.frexp(upper)  # upper = g 2**e, g in [1/2, 1)
    den = (g + u_eff * np.ldexp(abs_norm, -e)) * (1.0 + 4 * _U64)
    num = 1.0 - 2.0 * eta * math.sqrt(max(entries, 1)) * (1.0 + 4 * _U64)
    return num / den * (1.0 - 4 * _U64), -e


def _abs_norm_bound(A_std, kind: str, backend: str, upper, m: int, n: int):
    """``N >= || |A| ||_2`` per matrix: min(Frobenius, Gershgorin on ``|A|^T |A|``, ``sqrt(min(m, n)) upper``);
    and the statistics' bound ``N_s >= || |2**shift A| ||_2`` on the scale the entries were read at, with
    ``shift`` (finite where ``N`` overflows float64; ``inf`` where there are no statistics)."""
    cap = math.sqrt(min(m, n)) * upper  # || |A| ||_2 <= ||A||_F <= sqrt(rank) ||A||_2
    op = make_operand(A_std, kind, backends.resolve(A_std, backend), check_finite=False, uses_gram=False)
    if op.stats is None:
        return cap, np.full(cap.shape, np.inf), np.zeros(cap.shape, dtype=np.int64)
    scaled = np.minimum(op.stats.fro, op.stats.gersh) * (1.0 + _bounds.gamma(m * n + m + n + 4, _U64))  # their sums
    return np.minimum(op.unscale(scaled, outward=1), cap), scaled, np.asarray(op.scale_exp, dtype=np.int64)


def _exact_steps(mant: np.ndarray, exp: np.ndarray, info) -> tuple[list[np.ndarray], np.ndarray]:
    """Factors ``mant 2**exp`` rounded down to the output precision, as ``prod(steps) * mantissa``, all exact in it.

    A factor in the normal range is truncated to the output's ``p`` significand bits (so converting it is
    exact and it never exceeds the safe value); another one is split into powers of two in the normal
    range (exact multiplications, as products stay below 2 in magnitude) and a truncated mantissa in [1/2, 1).
    """
    p = round(-math.log2(float(info.eps))) + 1  # significand bits, eps = 2**(1 - p)
    # 2**emin is the smallest normal, 2**emax <= max, of the output and of the float64 steps themselves (read in
    # the output's own precision: float() of a long double's limits gave 0 and inf, and a loop without end)
    emin = max(int(np.frexp(info.smallest_normal)[1]) - 1, -1022)
    emax = min(int(np.frexp(info.max)[1]) - 1, 1023)
    g, k = np.frexp(mant)  # factor = g 2**k, g in [1/2, 1)
    k = k.astype(np.int64) + exp
    g = np.ldexp(np.floor(np.ldexp(g, p)), -p)  # truncated to p bits: exact in the output precision
    inside = (k - 1 >= emin) & (k <= emax + 1)  # g 2**k normal, and <= max as g <= 1 - 2**-p
    mantissa = np.where(inside, np.ldexp(g, np.where(inside, k, 0)), g)
    k = np.where(inside, 0, k)
    steps = []
    while np.any(k != 0):
        j = np.clip(k, emin, emax)
        steps.append(np.ldexp(1.0, j))
        k = k - j
    return steps, mantissa


def _scale_dense(A, out, steps, mantissa):
    xp = array_api_compat.array_namespace(A)
    dev = placement(A)
    batch = tuple(A.shape[:-2])
    W = A if _same_dtype(A, out) else xp.astype(A, out)

    def as_factor(x):  # host float64 -> output dtype (rounded to nearest), shaped to broadcast per matrix
        h = np.asarray(x, dtype=np.float64).reshape((*batch, 1, 1) if batch else ())
        if isinstance(W, np.ndarray):
            return np.asarray(h).astype(out)
        return xp.astype(xp.asarray(h, device=dev), out)

    for s in (*steps, mantissa):
        f = as_factor(s)
        W = np.multiply(W, f) if isinstance(W, np.ndarray) else W * f  # np.matrix: `*` is the matrix product
    return W


def _output_dtype(A, kind: str):
    """The input's floating dtype (float16 and bfloat16 kept), else float64 in its namespace: the widest real
    floating dtype it computes in (float32 for JAX in its default 32-bit mode, which turns a requested float64
    into float32 silently; the rounding of the factor is then that of float32)."""
    if kind == "sparse" or isinstance(A, np.ndarray):
        dt = np.dtype(A.dtype)
        return dt if dt.kind in "fc" or extension_float_info(dt) is not None else np.dtype(np.float64)
    xp = array_api_compat.array_namespace(A)
    if xp.isdtype(A.dtype, ("real floating", "complex floating")):
        return A.dtype
    return ArrayAPIBackend().wide_dtype(A, False)


def _float_info(dtype, A):
    """``finfo`` of NumPy, of ml_dtypes (bfloat16, float8 in NumPy arrays) or of the array's namespace."""
    if isinstance(dtype, np.dtype):
        ext = extension_float_info(dtype)
        return ext if ext is not None else np.finfo(dtype)
    return array_api_compat.array_namespace(A).finfo(dtype)


def _same_dtype(A, out) -> bool:
    return A.dtype == out
