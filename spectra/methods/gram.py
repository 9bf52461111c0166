"""``method="gram"``: Gram iteration, a deterministic certified upper bound (docs/bounds.md §13).

Delattre, Barthélemy, Araujo, Allauzen (ICML 2023): with ``G_1 = Â^H Â`` and ``G_{k+1} = G_k^H G_k``,
``sigma_1 <= ||G_k||_F^(1/2^k)``, and the ratio to ``sigma_1`` is at most ``rank^(1/2^(k+1))`` whatever
the gaps of the spectrum. Here

- every level is divided by a power of two near its Frobenius norm (exact, so nothing overflows; the
  exponents carry the scale), and the squaring runs in the widest precision the namespace offers
  (float64 also for float32 input, where the products of entries are exact);
- the rounding error of each product is bounded in Frobenius norm and propagated through the square
  roots (:func:`spectra._bounds.gram_upper`), so ``upper`` holds in floating point: confidence 1;
- lower: ``||Â x|| / ||x||`` for the largest column ``x`` of the last level (a power iterate of degree
  ``2^(k-1)``), certified for rounding (§6c);
- stops when ``upper <= (1 + rtol) lower``, or when the remaining mathematical slack of the bound is
  a quarter of its rounding contribution (further squaring cannot help), or after ``maxiter`` squarings.

Dense arrays only (one ``n x n`` Gram matrix per matrix of a stack, ``n = min(m, n)``); each squaring
costs ``n^3`` multiply-adds, so it suits small and medium matrices and large stacks of them.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _bounds
from .._operand import Operand
from ..backends._base import namespace_dtype_name
from ._common import MethodResult, Options, Stopper, finish, require_dense, unit_columns

__all__ = ["run"]

#: bytes of one row/column block of A converted to the wide dtype for the first Gram product
_CHUNK_BYTES = 32 << 20


class _GramStopper(Stopper):
    """The Stopper with the attainable rounding floor of the Gram bound instead of the Krylov pad."""

    floor: np.ndarray

    def effective_rtol(self, products: int) -> np.ndarray:
        return np.maximum(self.opts.rtol, 2.0 * (self.floor + self.certificate_floor()))


def _error_factor(length: int, u: float, complex_: bool) -> float:
    """``c`` with ``|fl(x^H y) - x^H y| <= c |x|^T |y|`` for inner products of ``length`` terms (§13).

    Real: ``gamma_length`` (Higham, Lemma 3.4 / eq. 3.5, any summation order, FMA or not). Complex:
    ``sqrt(2) gamma_(length+2)`` (Higham §3.6, complex multiplication ``sqrt(2) gamma_2``).
    """
    if complex_:
        return math.sqrt(2.0) * _bounds.gamma(length + 2, u)
    return _bounds.gamma(length, u)


def _first_gram(op: Operand, wide):
    """``Â^H Â`` (``batch + (n, n)``) in the dtype ``wide``, accumulated over blocks of ``A``.

    ``Â = 2^e A`` (or ``2^e A^H`` for a wide ``A``) is formed blockwise as ``(A c1) c2``, two exact
    power-of-two scalings, so entries near the overflow or underflow threshold are safe.
    """
    xp, A = op.xp, op.data
    scaled = op._c1 is not None
    if scaled:
        c1, c2 = op.split_scale
        shape = (*op.batch_shape, 1, 1)
        c1 = xp.astype(op.backend.from_host(c1.reshape(shape), A), wide)
        c2 = xp.astype(op.backend.from_host(c2.reshape(shape), A), wide)
    axis = -1 if op.transposed else -2  # blocks along the long side: the inner dimension of the product
    length = A.shape[axis]
    per = max(1, op.B * op.n * np.dtype(op.np_dtype).itemsize * 2)
    step = max(1, _CHUNK_BYTES // per)
    G = None
    for i0 in range(0, length, step):
        i1 = min(length, i0 + step)
        blk = xp.astype(op.backend.block(A, axis, i0, i1), wide)
        if scaled:
            blk = (blk * c1) * c2
        if op.transposed:  # Â^H Â = A A^H
            part = xp.matmul(blk, _adjoint(xp, blk))
        else:
            part = xp.matmul(_adjoint(xp, blk), blk)
        G = part if G is None else G + part
    return G


def _adjoint(xp, X):
    Xt = xp.matrix_transpose(X)
    return xp.conj(Xt) if xp.isdtype(X.dtype, "complex floating") else Xt


def _column_squares(op: Operand, xp, Y) -> np.ndarray:
    """Squared 2-norms of the columns of ``Y`` in its own dtype, as a host ``(B, n)`` float64 array."""
    if xp.isdtype(Y.dtype, "complex floating"):
        sq = xp.real(Y) ** 2 + xp.imag(Y) ** 2
    else:
        sq = Y * Y
    return op.host_batch(xp.sum(sq, axis=-2)).astype(np.float64)


def run(op: Operand, opts: Options) -> MethodResult:
    """Gram iteration on every matrix of the stack at once; the interval holds with confidence 1 (§13)."""
    require_dense(op.kind, "gram", " (it squares the n x n Gram matrix)")
    if opts.v0 is not None:
        raise ValueError("v0 does not apply to method='gram' (a deterministic method without a start vector)")
    xp, B, n = op.xp, op.B, op.n
    wide = op.backend.wide_dtype(op.data, op.is_complex)
    wide_np = np.dtype(namespace_dtype_name(wide))
    u_w = _bounds.unit_roundoff(wide_np)
    eta = float(np.finfo(wide_np).smallest_subnormal)
    u64 = _bounds.unit_roundoff(np.float64)
    stop = _GramStopper(op, opts, "gram")
    stop.floor = np.zeros(B)

    # level 1: Y_1 = fl(Â^H Â); ||Â||_F^2 = trace(Â^H Â) is bounded from the computed diagonal
    Y = _first_gram(op, wide)
    op.matvecs += 2 * n
    c_m = _error_factor(op.m, u_w, op.is_complex)
    diag = op.host_batch(xp.real(xp.linalg.diagonal(Y)) if op.is_complex else xp.linalg.diagonal(Y))
    trace = np.sum(np.maximum(diag.astype(np.float64), 0.0), axis=1) * (1.0 + _bounds.gamma(n + 2, u64))
    fro2_A = trace * (1.0 + _bounds.gamma(n + 2, u_w)) / max(1.0 - c_m, 0.0)
    # underflow: the scaled entries (two exact multiplications but for subnormals) and the product
    under = 4.0 * eta * math.sqrt(op.m * n) * (2.0 * np.sqrt(fro2_A) + 1.0) + n * (op.m + 3) * eta
    errors = [c_m * fro2_A + under]
    c_n = _error_factor(n, u_w, op.is_complex)
    pad_f = (1.0 + _bounds.gamma(n + 4, u_w)) * (1.0 + _bounds.gamma(n + 2, u64))  # sums of squares
    exponents, frobenius = [], []
    log_scale = np.zeros(B)  # sum_j e_j / 2^j: log2 of the accumulated scale, per unit exponent
    best_col = np.zeros(B, dtype=np.int64)
    rows = np.arange(B)
    prev_colsq = np.ones((B, n))
    X = Y
    for level in range(1, opts.maxiter + 2):
        if level > 1:  # one squaring: Y_k = fl(X^H X), error <= c_n ||X||_F^2 (Frobenius), plus underflow
            Y = xp.matmul(_adjoint(xp, X), X)
            errors.append(c_n * frobenius[-1] ** 2 + n * (n + 3) * eta)
        colsq = _column_squares(op, xp, Y)
        fro2 = np.sum(colsq, axis=1)
        _, e = np.frexp(np.sqrt(fro2))
        e = np.where(fro2 > 0, e, 0).astype(np.int64)
        # X_k = Y_k / 2^e exactly, up to underflowed entries (n eta / 2 in Frobenius norm): the bound on
        # ||X_k||_F and the error of Y_k (seen from X_k) both carry that term
        fro_bound = _bounds._up(np.ldexp(_bounds._up(np.sqrt(fro2 * pad_f)), -e) + n * eta)
        errors[-1] = errors[-1] + np.ldexp(n * eta, e)
        exponents.append(e)
        frobenius.append(fro_bound)
        X = Y * xp.astype(op.backend.from_host(np.ldexp(1.0, -e).reshape((*op.batch_shape, 1, 1)), Y), wide)
        upper = _bounds.gram_upper(exponents, errors, frobenius)
        with np.errstate(divide="ignore", invalid="ignore"):
            if level > 1:  # ||X_{k-1}^2 e_j|| / ||X_{k-1} e_j|| <= ||X_{k-1}||_2 = sigma_1^(2^(k-1)) / 2^(log scale)
                ratio = np.sqrt(colsq[rows, best_col] / prev_colsq[rows, best_col])
                estimate = np.exp2(log_scale + np.log2(ratio) * 2.0 ** (1 - level))
            weight = 2.0**-level
            log_scale = log_scale + e * weight
            plain = np.exp2(log_scale + np.log2(np.sqrt(fro2) * 2.0**-e) * weight)  # the bound without rounding
            if level == 1:  # the largest column of A^H A: ||A^H A e_j|| / ||e_j|| <= sigma_1^2
                estimate = np.exp2(log_scale + np.log2(np.max(colsq, axis=1, initial=0.0) * 2.0 ** (-2 * e)) / 4)
        prev_colsq = colsq * np.ldexp(1.0, -2 * e)[:, None]
        best_col = np.argmax(colsq, axis=1) if n else best_col
        vector_est = None
        if opts.return_vectors:  # the vector this level would return, and its quotient ||Â v|| (one product)
            v = _column_vector(op, xp, X, best_col, wide)
            vector_est = op.col_norms(op.matmat(v))[:, 0] / np.maximum(op.col_norms(v)[:, 0], np.finfo(float).tiny)
        with np.errstate(divide="ignore", invalid="ignore"):
            stop.floor = np.where(plain > 0, np.maximum(upper / np.where(plain > 0, plain, 1.0) - 1.0, 0.0), 0.0)
            reach = estimate if vector_est is None else np.minimum(estimate, vector_est)
            slack = np.where(reach > 0, plain / np.where(reach > 0, reach, 1.0) - 1.0, np.inf)
        done = stop.update(lower_est=estimate, det_upper=upper, products=op.matvecs, vector_est=vector_est)
        stop.iterations = level - 1
        # slack <= floor / 4: the mathematical part has shrunk (it halves per squaring, or faster) well below
        # the rounding part, so the width ends near the floor; more squarings cannot narrow it
        if np.all(done | (slack <= stop.floor / 4)) or level > opts.maxiter:
            break

    if not opts.return_vectors:
        v = _column_vector(op, xp, X, best_col, wide)

    return finish(op, stop, v, opts, op.matvecs, left_vector=lambda: unit_columns(op, op.matmat(v)))


def _column_vector(op: Operand, xp, X, best_col: np.ndarray, wide):
    """``X e_j`` for the largest column ``j`` of each matrix, a power iterate ``M^(2^(k-1)) e_j`` up to scale."""
    onehot = np.zeros((op.B, op.n, 1))
    onehot[np.arange(op.B), best_col, 0] = 1.0
    x = xp.matmul(X, xp.astype(op.backend.from_host(onehot.reshape((*op.batch_shape, op.n, 1)), X), wide))
    x = x * xp.astype(op.backend.from_host(_unit_scale(op, xp, x).reshape((*op.batch_shape, 1, 1)), x), wide)
    return xp.astype(x, op.dtype)


def _unit_scale(op: Operand, xp, x) -> np.ndarray:
    """Power of two per matrix bringing ``x`` near unit norm (so the cast to float32 cannot underflow)."""
    nrm = np.sqrt(_column_squares(op, xp, x)[:, 0])
    _, e = np.frexp(np.where(nrm > 0, nrm, 1.0))
    return np.ldexp(1.0, -e)
