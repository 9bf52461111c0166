"""A caller's ``LinearOperator`` as spectra applies it: in the working dtype, one vector at a time where needed.

Two classes of operator break naive use:

- dtype: SciPy infers an operator's dtype from one product with an ``int8`` vector, so an operator that
  multiplies by integers is "int64", and ``aslinearoperator`` keeps an integer or float16 array's dtype.
  Products are taken in the same working dtype as dense input (bool/int -> float64, float16 -> float32,
  extended -> float64): the vectors passed in and the results are converted to it.
- shape: most user-written ``matvec`` functions are written and tested for 1-D vectors, as every SciPy
  solver (ARPACK, ``cg``, ``svds``) calls them, while SciPy's default block product passes ``(n, 1)``
  columns, which breaks broadcasting code such as ``lambda x: d * x`` ("cannot reshape array of size 9
  into shape (3,1)") or silently changes its meaning (``np.fft.fft(x)`` transforms along the last axis).
  A block product therefore uses the operator's own ``matmat``/``rmatmat`` only when it declares one, and
  otherwise applies ``matvec``/``rmatvec`` to one 1-D vector at a time (a ``(n, 1)`` column is tried when a
  1-D vector fails on the first product with a built-in shape-type error). An operator that accepts neither
  gets an error that says what it must accept; the operator's own errors (subclasses, and any error of a form
  that has worked before) propagate unchanged.
- aliasing: an operator may use its input as scratch space (``x -= x.mean()`` to centre it, ``x[:] = 0``
  after the product) or return a buffer it reuses. The products are therefore taken on a private copy of
  spectra's vectors, and what they return is copied: the Krylov basis and the start vector, on which the
  bounds rest, are never handed out.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from scipy.sparse.linalg import LinearOperator

__all__ = ["NONFINITE_PRODUCT", "NonFiniteProduct", "WorkingOperator"]

#: the message of :class:`NonFiniteProduct`
NONFINITE_PRODUCT = "the LinearOperator returned NaN or Inf; check it, or pass check_finite=False to skip this check"


class NonFiniteProduct(ValueError):
    """A product of a LinearOperator came back with NaN or Inf (at whichever product it happened).

    With ``check_finite=True`` it reaches the caller as the documented ``ValueError``; with
    ``check_finite=False`` :func:`spectra.norm` reports the norm as undefined (NaN, ``converged=False``).
    """

    def __init__(self, message: str = NONFINITE_PRODUCT):
        super().__init__(message)


#: errors a product raises when it cannot handle the shape it was given (AssertionError: ``assert x.ndim == 2``
#: in an operator written for columns). Only these exact built-in classes (and NumPy's AxisError) make spectra
#: try the other form; a subclass (an operator's own ``class SolverFailed(ValueError)``), any other error, and
#: every error of a form that has worked before propagate unchanged (:func:`_may_be_about_shape`)
_SHAPE_ERRORS = (ValueError, TypeError, IndexError, AttributeError, NotImplementedError, AssertionError)
_AXIS_ERROR = getattr(getattr(np, "exceptions", np), "AxisError", IndexError)
_MISSING = object()
#: the module of SciPy's ``LinearOperator`` methods, whose own shape checks are shape errors at every product
_SCIPY_INTERFACE = os.path.abspath(LinearOperator.matvec.__code__.co_filename)
#: relative mismatch of w^H (A x) and (A^H w)^H x above which rmatvec is reported as not the adjoint, where
#: rounding stays below it (:meth:`WorkingOperator.adjoint_tolerance`)
ADJOINT_TOL = 0.05
#: the largest threshold, whatever the precision and size: a mismatch above it is never rounding, and a lost
#: factor 1/2 or 2 (a mismatch of 1/2) or ``rmatvec = 0`` (1) is reported at every size
ADJOINT_TOL_MAX = 0.25


class WorkingOperator(LinearOperator):
    """``A`` with products in ``dtype``; block products fall back to one 1-D vector at a time."""

    def __init__(self, A: LinearOperator, dtype: np.dtype):
        super().__init__(np.dtype(dtype), A.shape)
        self.A = A
        #: unit roundoff of the precision the operator's products came back in (float16: they were rounded
        #: to it); the working precision's own roundoff is added by the caller
        self.product_u = 0.0
        self._block = {False: _declares_block(A, False), True: _declares_block(A, True)}
        self._column_form: dict[bool, int | None] = {False: None, True: None}  # 1: (n,), 2: (n, 1) worked
        self._block_worked = {False: False, True: False}

    def _matvec(self, x):
        return self._apply(np.reshape(x, (-1, 1)), adjoint=False)[:, 0]

    def _rmatvec(self, x):
        return self._apply(np.reshape(x, (-1, 1)), adjoint=True)[:, 0]

    def _matmat(self, X):
        return self._apply(X, adjoint=False)

    def _rmatmat(self, X):
        return self._apply(X, adjoint=True)

    def _adjoint(self):
        return _Adjoint(self)

    def check_adjoint(self, X, AX, W, AHW) -> None:
        """Raise when ``rmatvec`` is visibly not the adjoint of ``matvec``: ``w^H (A x)`` against ``(A^H w)^H x``.

        ``AX = A X`` (``(m, k1)``) and ``AHW = A^H W`` (``(n, k2)``) are products the caller took anyway: the
        scale probe's fixed pseudo-random ``x`` and the method's first Gram step (its start block ``v`` with
        ``A v``, and ``w = A v`` with ``A^H w``); every pair ``(x_j, w_i)`` is one test. Both inner products
        are equal in exact arithmetic. Their size is ``s = max(|w^H y|, |z^H x|, ||y|| ||w|| / sqrt(m) +
        ||z|| ||x|| / sqrt(n))`` (the last term: a Gaussian vector's inner product with a fixed one). A wrong
        ``rmatvec`` (``matvec`` itself for a non-symmetric operator, a transpose without the complex
        conjugate, a lost scale factor) makes them differ by a random multiple of ``s``, reported when above
        :meth:`adjoint_tolerance` ``* s`` in any test (the tests miss together with a small probability,
        measured in docs/design.md). A true adjoint differs by rounding only, which the threshold covers, and
        operators accurate to a few percent (inner iterative solves) pass.
        """
        rel = self.adjoint_mismatch(X, AX, W, AHW)
        bad = rel > self.adjoint_tolerance()
        if np.any(bad):
            raise ValueError(
                "the LinearOperator's rmatvec is not the adjoint of its matvec: for test vectors x, w, "
                f"w^H (A x) and (A^H w)^H x differ by {float(np.max(rel[bad])):.2g} of their size (for a true "
                "adjoint only by rounding). rmatvec must return A^H y, the conjugate transpose of A times y "
                "(A^T y if A is real); pass check_adjoint=False to skip this check"
            )

    def adjoint_mismatch(self, X, AX, W, AHW) -> np.ndarray:
        """``|w_i^H (A x_j) - (A^H w_i)^H x_j|`` relative to their size ``s`` (see :meth:`check_adjoint`), one per
        pair; 0 where the size is 0 or not finite, or the vectors are (nothing to compare)."""
        X, AX, W, AHW = (np.asarray(a, dtype=np.complex128).reshape(a.shape[-2], -1) for a in (X, AX, W, AHW))
        m, n = self.shape
        none = np.zeros((W.shape[1], X.shape[1]))
        with np.errstate(all="ignore"):  # the test is scale-invariant: products of size 1e300 are divided first
            a, b = (float(np.max(np.abs(v), initial=0.0)) for v in (X, W))
            if not (0.0 < a < np.inf and 0.0 < b < np.inf):
                return none
            c = max(float(np.max(np.abs(AX), initial=0.0)) / a, float(np.max(np.abs(AHW), initial=0.0)) / b)
            if not (0.0 < c < np.inf):
                return none
            X, AX, W, AHW = X / a, AX / (a * c), W / b, AHW / (b * c)
            left = W.conj().T @ AX  # (k2, k1): w_i^H (A x_j)
            right = AHW.conj().T @ X  # (A^H w_i)^H x_j
            nx, ny, nw, nz = (np.linalg.norm(a, axis=0) for a in (X, AX, W, AHW))
            gauss = np.outer(nw, ny) / math.sqrt(m) + np.outer(nz, nx) / math.sqrt(n)
            size = np.maximum(gauss, np.maximum(np.abs(left), np.abs(right)))
            rel = np.abs(left - right) / np.where(size > 0, size, 1.0)
        return np.where((size > 0) & np.isfinite(size), rel, 0.0)

    def adjoint_tolerance(self) -> float:
        """The relative mismatch above which :meth:`check_adjoint` reports ``rmatvec`` as not the adjoint.

        ``min(ADJOINT_TOL_MAX, max(ADJOINT_TOL, u (m + n + 16 (sqrt(m) + sqrt(n)))))``: rounding the products'
        inputs and outputs moves the two inner products by at most ``u (sqrt(m) + sqrt(n)) s``, the sums inside
        the products typically by ``sqrt(n) u s`` and by about ``u (m + n) s / 8`` where every row's rounding
        points the same way (an all-ones matrix); the cap 0.25 keeps ``rmatvec = 0`` (mismatch 1) and a lost
        factor 2 or 1/2 (mismatch 1/2) reported at every size and precision (docs/design.md, "Hostile
        inputs"). Before, ``max(0.05, 100 u (m + n))`` exceeded 1, switching the test off, for float32 from
        ``m + n`` = 1.7e5 and for float16 products from 20.
        """
        m, n = self.shape
        u = max(float(np.finfo(self.dtype).eps) / 2, self.product_u)
        rounding = u * (m + n + 16.0 * (math.sqrt(m) + math.sqrt(n)))
        return min(ADJOINT_TOL_MAX, max(ADJOINT_TOL, rounding))

    # ------------------------------------------------------------------
    def _apply(self, X, adjoint: bool):
        X = np.asarray(X, dtype=self.dtype)
        rows = self.shape[1] if adjoint else self.shape[0]
        k = X.shape[1]
        if self._block[adjoint]:  # also for one column: an operator may declare only matmat (matvec=None)
            f = self.A.rmatmat if adjoint else self.A.matmat
            try:
                Y = np.asarray(f(X.copy()))
            except _SHAPE_ERRORS as exc:
                if not _raised_by_scipy(exc) and (self._block_worked[adjoint] or not _may_be_about_shape(exc)):
                    raise  # the operator's own error: this product has worked before, or it is not about shapes
                Y = None
            if Y is not None and Y.shape == (rows, k):
                self._block_worked[adjoint] = True
                return self._to_working(Y, adjoint)
            self._block[adjoint] = False  # the declared block product does not work: columns from now on
        Y = np.empty((rows, k), dtype=self.dtype)
        for j in range(k):
            Y[:, j] = self._vector(np.ascontiguousarray(X[:, j]), adjoint, rows)
        return Y

    def _vector(self, x, adjoint: bool, rows: int):
        f = self.A.rmatvec if adjoint else self.A.matvec
        known = self._column_form[adjoint]
        forms = (1, 2) if known is None else (known,)
        errors, tried = [], []
        for form in forms:
            size = x.shape[0]
            tried.append(f"a 1-D vector of shape ({size},)" if form == 1 else f"a column of shape ({size}, 1)")
            try:
                y = np.asarray(f(x.copy() if form == 1 else x.reshape(-1, 1).copy()))
            except _SHAPE_ERRORS as exc:
                if not _raised_by_scipy(exc) and (known is not None or not _may_be_about_shape(exc)):
                    raise  # the operator's own error: this form has worked before, or it is not about shapes
                errors.append(exc)
                continue
            if y.size != rows:
                errors.append(ValueError(f"returned an array of shape {y.shape}"))
                continue
            self._column_form[adjoint] = form
            return self._to_working(y.reshape(rows), adjoint)
        raise self._failure(errors, tried, adjoint) from errors[0]

    def _to_working(self, Y, adjoint: bool):
        if np.iscomplexobj(Y) and self.dtype.kind != "c":
            name = "rmatvec" if adjoint else "matvec"
            raise ValueError(
                f"the LinearOperator declares the real dtype {self.A.dtype} but its {name} returned complex "
                f"values ({Y.dtype}); create it with dtype=complex (LinearOperator(..., dtype=np.complex128))"
            )
        if Y.dtype.kind in "fc":
            self.product_u = max(self.product_u, float(np.finfo(Y.dtype).eps) / 2)
        return np.array(Y, dtype=self.dtype)  # a copy: the operator may reuse the buffer it returned

    def _failure(self, errors, tried, adjoint: bool) -> Exception:
        m, n = self.shape
        if all(isinstance(e, NotImplementedError) for e in errors) and adjoint:
            return TypeError(
                "the LinearOperator has no adjoint product A^H y (rmatvec is not defined); spectra needs "
                "both A x and A^H y: create it with rmatvec= (or rmatmat=), e.g. "
                "LinearOperator(shape, matvec=..., rmatvec=..., dtype=...)"
            )
        name, size_in, size_out = ("rmatvec", m, n) if adjoint else ("matvec", n, m)
        what = "; ".join(f"{type(e).__name__}: {e}" for e in errors)
        return ValueError(
            f"the LinearOperator of shape {self.A.shape} could not be applied: its {name} failed on "
            f"{' and on '.join(tried)} ({what}). spectra calls "
            f"{name} with {self.dtype} vectors of shape ({size_in},) and needs {size_out} values back "
            f"(the product {'A^H y' if adjoint else 'A x'}); a matmat/rmatmat, if given, must map "
            f"({size_in}, k) blocks to ({size_out}, k)"
        )


class _Adjoint(LinearOperator):
    def __init__(self, op: WorkingOperator):
        super().__init__(op.dtype, (op.shape[1], op.shape[0]))
        self.op = op

    def _matmat(self, X):
        return self.op._apply(X, adjoint=True)

    def _rmatmat(self, X):
        return self.op._apply(X, adjoint=False)


def _may_be_about_shape(exc: BaseException) -> bool:
    """Whether an operator's error may say that it cannot take the form of vector it was given.

    Only the exact built-in classes of :data:`_SHAPE_ERRORS` (what NumPy, SciPy and ``assert`` raise for a
    wrong shape) and NumPy's ``AxisError`` do; a subclass is the operator's own error (an inner solve that did
    not converge, a domain check) and propagates unchanged, without a second call in the other form.
    """
    return type(exc) in _SHAPE_ERRORS or type(exc) is _AXIS_ERROR


def _raised_by_scipy(exc: BaseException) -> bool:
    """Whether SciPy's ``LinearOperator`` wrapper itself raised ``exc`` (its check of the shapes going in and
    coming out, e.g. "cannot reshape array of size 51 into shape (50,)"), not the operator's own code."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename) == _SCIPY_INTERFACE


def _declares_block(A: Any, adjoint: bool, depth: int = 0) -> bool:
    """Whether ``A`` has a block product of its own in that direction (else SciPy loops over ``(n, 1)`` columns).

    SciPy's composite operators (sums, products, scalings, powers, adjoints) have one only if every operator
    they combine has one in both directions; a custom operator only if ``matmat``/``rmatmat`` was given.
    """
    if depth > 32:
        return False
    name = "_rmatmat" if adjoint else "_matmat"
    if getattr(type(A), name, None) is getattr(LinearOperator, name):
        if not adjoint or type(A)._adjoint is LinearOperator._adjoint:
            return False
        return _declares_block(A.H, False, depth + 1)  # SciPy's default rmatmat uses the adjoint's matmat
    impl = vars(A).get(f"_CustomLinearOperator__{name[1:]}_impl", _MISSING)
    if impl is not _MISSING:  # LinearOperator(shape, matvec=..., matmat=...)
        return impl is not None
    parts = [B for B in getattr(A, "args", ()) if isinstance(B, LinearOperator)]
    return all(_declares_block(B, False, depth + 1) and _declares_block(B, True, depth + 1) for B in parts)
