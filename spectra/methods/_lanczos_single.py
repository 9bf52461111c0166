"""The per-step stopping arithmetic of :func:`.lanczos.run` for a single matrix, on Python floats.

For one matrix (``op.B == 1``) the arithmetic of a step's stopping test is a few dozen flops, but on
one-element NumPy arrays each operation costs 5-10 µs right after a Gram pass has streamed ``A``
through the caches (docs/performance.md, "Host work per step"). :class:`SingleStopper` and
:class:`SingleMatrixTest` evaluate the same formulas as the array code they stand in for
(:meth:`._common.Stopper.update`, :meth:`._common.Stopper.effective_rtol`, :meth:`._common.Stopper.safe_lower`,
:func:`.lanczos.deflation_may_help`, :func:`._common.gram_noise` with ``worst=False``,
:func:`.lanczos.christoffel_check`) operation by operation, in the
same order, on Python floats, which are IEEE float64 like NumPy's. Every number that feeds a bound is
therefore bitwise that of the array path (``tests/test_lanczos_single.py``).
"""

from __future__ import annotations

import math

import numpy as np

from .._operand import Operand
from ._common import Stopper, padded_frobenius, product_noise

__all__ = ["SingleMatrixTest"]

#: :func:`.lanczos._tridiagonal` raises a coupling that is not positive to this value
_TINY_COUPLING = 1e-300
_FLOAT64_TINY = float(np.finfo(np.float64).tiny)


def _maximum(a: float, b: float) -> float:
    """``np.maximum(a, b)`` on floats: the larger one, NaN if either is NaN (``max`` drops a NaN in ``b``)."""
    return a if a >= b or a != a else b


def _first(x) -> float:
    """The value of a float or of a one-element array."""
    return x if isinstance(x, float) else float(np.reshape(x, -1)[0])


def _minimum(a: float, b: float) -> float:
    """``np.minimum(a, b)`` on floats (NaN if either is NaN)."""
    return a if a <= b or a != a else b


class SingleStopper(Stopper):
    """:class:`._common.Stopper` for one matrix (``op.B == 1``): :meth:`update` on Python floats.

    The same arithmetic as the base class, operation by operation; the state stays in the base class's
    one-element arrays, so everything that reads it (:func:`._common.finish`, progress reports) is unchanged.
    """

    def __init__(self, op: Operand, opts, method: str):
        super().__init__(op, opts, method)
        self._shrink, self._grow = self.lower_factors
        self._cert = float(self.cert_error()[0])

    def safe_lower_float(self, estimate: float) -> float:
        """:meth:`._common.Stopper.safe_lower` of one estimate."""
        return _maximum((estimate * self._shrink - self._cert) / self._grow, 0.0)

    def effective_rtol_float(self, products: int, lower: float) -> float:
        """:meth:`._common.Stopper.effective_rtol` for the lower bound ``lower``."""
        pad = 10.0 * float(max(products, 1)) * self.op.u
        cert = (self._cert / lower if lower > 0 else 0.0) + self._factor_loss
        return _maximum(self.opts.rtol, 2.0 * (pad + cert))

    def update(
        self, lower_est=None, prob_upper=None, det_upper=None, residual=None, products: int = 0, vector_est=None
    ):
        """:meth:`._common.Stopper.update` (``lower_est``, ``det_upper``, ``residual``: arrays ``(1,)`` or
        ``None``; ``prob_upper`` also a float)."""
        if vector_est is not None:
            return super().update(lower_est, prob_upper, det_upper, residual, products, vector_est)
        lower = float(self.lower[0])
        if lower_est is not None:
            safe = self.safe_lower_float(float(lower_est[0]))
            lower = _maximum(lower, safe)
            self.lower = np.array([lower])
            self.vector_lower = np.array([_maximum(float(self.vector_lower[0]), safe)])
        prob = float(self.prob_upper[0])
        if prob_upper is not None:
            prob = _minimum(prob, _first(prob_upper))
            self.prob_upper = np.array([prob])
        det = float(self.det_upper[0])
        if det_upper is not None:
            det = _minimum(det, float(det_upper[0]))
            self.det_upper = np.array([det])
        upper = _minimum(prob, det)
        self.upper = np.array([upper])
        if residual is not None:
            self.residual = residual
        rtol = self.effective_rtol_float(products, lower)
        certified = upper <= (1.0 + rtol) * lower
        if self.opts.return_vectors:
            certified = certified and upper <= (1.0 + rtol) * float(self.vector_lower[0])
        if not self.opts.certify:
            certified = certified or float(self.residual[0]) <= rtol
        self.done = np.array([certified])
        self.lower_for_width = self.lower
        if self.opts.progress:
            self._report(products)
        return self.done


class SingleMatrixTest:
    """Stopping arithmetic of one matrix's certified Lanczos run (block size 1), in Python floats.

    Parameters
    ----------
    op : Operand
        The operand, ``op.B == 1``.
    stop : SingleStopper
        The run's stopping test (its float arithmetic computes the goal of each check).
    t : ndarray, shape (1,), float64
        The start vector's threshold ``t`` (docs/bounds.md §1).

    Examples
    --------
    >>> import numpy as np
    >>> import spectra
    >>> r = spectra.norm(np.diag([3.0, 2.0, 1.0]), method="lanczos", seed=0)  # runs through this class
    >>> bool(r.lower <= 3.0 <= r.upper)
    True
    """

    def __init__(self, op: Operand, stop: SingleStopper, t: np.ndarray):
        self.op, self.stop = op, stop
        self._u = float(op.u)
        self._stats = op.stats is not None
        if self._stats:
            fro = padded_frobenius(op)
            self._fro2 = float((fro**2)[0])
            self._noise = float(product_noise(op)[0])
        self._t = float(t[0])
        # the couplings as :func:`.lanczos._tridiagonal` passes them to the Christoffel recurrence: positive,
        # the last one raised to the floor. Entries before the last follow the engine's record (appended to
        # only), so a step rewrites two entries; ``_valid`` counts the entries known to match the record.
        self._b = np.empty(64)
        self._valid = 0

    # ------------------------------------------------------------------ the array path's formulas
    def deflation_may_help(self, gkl, upper: float, theta_prev: float) -> bool:
        """:func:`.lanczos.deflation_may_help` for this matrix."""
        if not self._stats:
            return False
        trace = float(gkl.trace()[0])
        tail = _maximum(trace - theta_prev * theta_prev, 0.0) + 1e-8 * abs(trace)
        best_case = math.sqrt(_maximum(self._fro2 - tail, 0.0))
        return best_case < upper

    def floor(self, k: int, theta: float) -> float:
        """:func:`._common.gram_noise` ``(op, k, theta, worst=False)`` for this matrix."""
        u = self._u
        if not self._stats:
            return (10.0 * k * u + 4.0 * math.sqrt(k) * u) * theta * theta
        scale = _maximum(theta, self._noise)
        return math.sqrt(k) * (self._noise * theta) + 10.0 * k * u * (scale * scale)

    def goal(self, products: int, lower: float, theta: float, pad: float) -> float:
        """The point ``lam`` the step's Christoffel check tests: the squared upper bound that would meet ``rtol``."""
        goal = (1.0 + self.stop.effective_rtol_float(products, lower)) * self.stop.safe_lower_float(theta) / pad
        top = _maximum(goal, theta)
        return top * top

    def breaks_down(self, coupling: float, floor: float) -> bool:
        """Is the step's coupling ``b_k`` at the products' rounding level (§6e)? As :func:`.lanczos.run` tests it."""
        return coupling <= _maximum(floor, _FLOAT64_TINY)

    def certify(self, gkl, products: int, lower: float, theta: float, pad: float, floor, verified) -> float:
        """The step's Christoffel check at the point that would meet ``rtol``: the upper bound it certifies
        (``inf`` where it does not), with ``verified[0]`` lowered to that point (as the array code in
        :func:`.lanczos.run`). ``floor`` and ``verified`` are the run's arrays ``(1,)``."""
        lam = self.goal(products, lower, theta, pad)
        if not self.check(gkl, lam, float(floor[0])):
            return math.inf
        verified[0] = _minimum(float(verified[0]), lam)
        return math.sqrt(lam) * pad

    def check(self, gkl, lam: float, floor: float) -> bool:
        """:func:`.lanczos.christoffel_check` for this matrix: does the Christoffel bound lie at or below ``lam``?"""
        if self._t <= 0:  # no event: nothing is certified
            return False
        a, b = gkl.tridiagonal()
        a, b = a[0], b[0]
        k = b.shape[0]
        if k > self._b.shape[0]:
            grown = np.empty(2 * k)
            grown[: self._valid] = self._b[: self._valid]
            self._b = grown
        q = self._b
        if self._valid < k - 1 or k < self._valid:  # not the record's next entry: copy what is needed
            q[: k - 1] = np.where(b[: k - 1] > 0, b[: k - 1], _TINY_COUPLING)
        elif k >= 2:  # the previous step's last coupling, no longer raised to its floor
            prev = float(b[k - 2])
            q[k - 2] = prev if prev > 0 else _TINY_COUPLING
        last = float(b[k - 1])
        q[k - 1] = _maximum(last if last > 0 else _TINY_COUPLING, floor)
        self._valid = k
        return self.op.backend.christoffel_value(a, q[:k], lam) >= 1.0 / (self._t * self._t)
