"""The result object returned by :func:`spectra.norm`."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

__all__ = ["NormEstimate", "zero_matrix_vectors"]


@dataclass(frozen=True, repr=False)
class NormEstimate:
    """Estimate of the spectral norm with a two-sided error interval.

    For a single matrix the numeric fields are Python scalars; for a stack of matrices
    ``(..., m, n)`` they are arrays of shape ``(...)`` in the input's namespace and on its device.

    Attributes
    ----------
    value : float or array
        Best estimate of ``||A||_2``.
    lower : float or array
        Guaranteed lower bound (deterministic, up to the rounding analysis in ``docs/bounds.md``).
    upper : float or array
        Upper bound holding with probability at least ``confidence``.
    confidence : float or array
        Probability that ``lower <= ||A||_2 <= upper``; ``1.0`` when both bounds are deterministic.
    converged : bool or array
        Whether the stopping criterion (``rtol``) was met.
    method : str
        Method that ran, after resolving ``"auto"``.
    backend : str
        Backend that ran, after resolving ``"auto"``.
    iterations : int or array
        Iterations (power/Lanczos steps, randomized passes) performed.
    matvecs : int or array
        Products with ``A`` or ``A^H``; a block of ``k`` vectors counts ``k``.
    u : array or None
        Top left singular vector when ``return_vectors=True``, else ``None``: shape ``(m,)``, or
        ``batch + (m,)`` for a stack, in ``A``'s dtype (its working dtype: float64 for integers) and array
        namespace (a torch tensor for a torch input, ...). A unit vector, ``u = A v / ||A v||`` or the other
        way round, and where ``converged`` its value ``q = u^H A v`` meets the width test,
        ``q >= upper / (1 + rtol_effective)`` (or, with ``certify=False``, the residual test), even where a
        deterministic cap closed the interval on its own (docs/result.md, "Singular vectors").
    v : array or None
        Top right singular vector, as ``u``: shape ``(n,)``, or ``batch + (n,)`` for a stack.
    interval : tuple
        ``(lower, upper)``.
    relative_width : float or array
        ``(upper - lower) / lower``.
    shape : tuple of int
        ``()`` for one matrix, the batch shape ``(...)`` for a stack.
    rtol_effective : float or array or None
        Relative width the stopping test used: the requested ``rtol`` raised to what the working precision
        can certify (float32 inputs cannot certify ``1e-6``; the rounding pads of docs/bounds.md §6 set the
        floor). For ``method="svd"`` it is the width of LAPACK's interval when that exceeds ``rtol``, and
        likewise for a Krylov space that broke down or spanned the whole space (its interval is final; in single
        precision its rounding bounds can leave it wider than ``rtol``).
        ``converged`` means ``upper <= (1 + rtol_effective) * lower`` (or the residual test for
        ``certify=False``).
    plan : object or None
        What ran, on what, and why (backend, method, Gram side and the reasons). Its public part is
        ``str(plan)``, a readable summary; the type itself and its fields are private and may change.

    Notes
    -----
    ``float(r)`` and ``f"{r:.3f}"`` need the result of a single matrix: for a stack they raise ``TypeError``
    (use ``r.value``, an array).

    Examples
    --------
    >>> import numpy as np, spectra
    >>> r = spectra.norm(np.diag([3.0, 1.0]), method="svd")
    >>> float(r)
    3.0
    >>> r.lower <= 3.0 <= r.upper
    True
    >>> r.interval == (r.lower, r.upper)
    True
    >>> s = spectra.norm(np.stack([np.eye(2), 2 * np.eye(2)]), method="svd")
    >>> s.value.shape
    (2,)
    """

    value: Any
    lower: Any
    upper: Any
    confidence: Any
    converged: Any
    method: str
    backend: str
    iterations: Any
    matvecs: Any
    u: Any = None
    v: Any = None
    rtol_effective: Any = None
    plan: Any = None

    def __eq__(self, other: object) -> bool:
        """Field by field; array fields (stacks, ``u``, ``v``) compare elementwise, NaN equal to NaN.

        Two calls with the same input, options and seed give equal results. Results holding arrays are not
        hashable (as the arrays are not).
        """
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(_field_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    def __hash__(self) -> int:
        """The fields' hash, every NaN hashed alike (as :meth:`__eq__` compares NaN equal to NaN; Python hashes
        each NaN object apart). Results holding arrays raise ``TypeError``, as the arrays do."""
        return hash(tuple(_hashable(getattr(self, f.name)) for f in fields(self)))

    def __format__(self, spec: str) -> str:
        """``f"{r:.6f}"`` formats ``value`` of a single matrix (as ``float(r)``); an empty spec is ``str(r)``."""
        if not spec:
            return str(self)
        if isinstance(self.value, float):
            return format(self.value, spec)
        raise TypeError(
            f"format spec {spec!r} needs the estimate of a single matrix; this NormEstimate holds a stack, "
            "format its .value array instead"
        )

    def __float__(self) -> float:
        if tuple(self.shape) != ():  # a stack, in any namespace (torch raises its own ValueError otherwise)
            raise TypeError(
                "float() needs the estimate of a single matrix; this NormEstimate holds a stack, "
                "use its .value array instead"
            )
        return float(self.value)

    @property
    def interval(self) -> tuple[Any, Any]:
        """``(lower, upper)``: the interval that holds ``||A||_2`` with probability ``confidence``.

        Examples
        --------
        >>> import numpy as np, spectra
        >>> lo, up = spectra.norm(np.diag([3.0, 1.0]), method="svd").interval
        >>> bool(lo <= 3.0 <= up)
        True
        """
        return self.lower, self.upper

    @property
    def shape(self) -> tuple[int, ...]:
        """Batch shape: ``()`` for one matrix, ``(...)`` for a stack ``(..., m, n)``.

        Examples
        --------
        >>> import numpy as np, spectra
        >>> spectra.norm(np.ones((4, 3, 5, 2)), method="svd").shape
        (4, 3)
        """
        return () if isinstance(self.value, float) else tuple(int(d) for d in self.value.shape)

    @property
    def relative_width(self) -> Any:
        """``(upper - lower) / lower``: 0 when exact, ``inf`` where ``lower == 0 < upper``, NaN for NaN bounds.

        Examples
        --------
        >>> import numpy as np, spectra
        >>> r = spectra.norm(np.diag([3.0, 1.0]), method="lanczos", rtol=1e-3, seed=0)
        >>> bool(r.relative_width <= 1e-3)
        True
        """
        if isinstance(self.lower, float):
            if self.lower > 0 or math.isnan(self.lower):
                return (self.upper - self.lower) / self.lower
            return 0.0 if self.upper == 0 else math.inf
        import array_api_compat

        xp = array_api_compat.array_namespace(self.lower)
        lo, up = self.lower, self.upper
        positive = lo > 0
        ratio = (up - lo) / xp.where(positive, lo, xp.ones_like(lo))
        fallback = xp.where(up > 0, xp.full_like(up, math.inf), xp.zeros_like(up))
        return xp.where(positive | (lo != lo), ratio, fallback)  # NaN bounds give a NaN width

    def _repr_parts(self) -> list[tuple[str, str]]:
        """``(name, text)`` pairs shared by ``repr`` and the notebook display; one per attribute shown."""
        if isinstance(self.value, float):  # one matrix
            parts = [
                ("value", repr(self.value)),
                ("interval", repr(self.interval)),
                ("confidence", repr(self.confidence)),
                ("converged", repr(self.converged)),
            ]
            if self.rtol_effective is not None:
                parts.append(("rtol_effective", f"{self.rtol_effective:.3g}"))
            parts += [("method", repr(self.method)), ("backend", repr(self.backend))]
            parts += [("iterations", repr(self.iterations)), ("matvecs", repr(self.matvecs))]
        else:  # a stack: its shape and the range of each field, never the arrays
            parts = [
                ("shape", repr(self.shape)),
                ("value", _span(self.value, "{:.10g}")),
                ("relative_width", _span(self.relative_width, "{:.3g}")),
                ("confidence", _span(self.confidence, "{:.6g}")),
                ("converged", f"{_count(self.converged)}/{_size(self.converged)}"),
            ]
            if self.rtol_effective is not None:
                parts.append(("rtol_effective", _span(self.rtol_effective, "{:.3g}")))
            parts += [("method", repr(self.method)), ("backend", repr(self.backend))]
            parts += [("iterations", _span(self.iterations, "{:d}")), ("matvecs", _span(self.matvecs, "{:d}"))]
        if self.plan is not None:
            parts.append(("plan", repr(str(self.plan))))
        return parts

    def __repr__(self) -> str:
        return "NormEstimate(" + ", ".join(f"{name}={text}" for name, text in self._repr_parts()) + ")"

    def _repr_html_(self) -> str:
        """A two-column table for Jupyter and other rich displays."""
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th><td><code>{html.escape(text)}</code></td></tr>"
            for name, text in self._repr_parts()
        )
        return f"<table><caption style='text-align:left'><b>NormEstimate</b></caption>{rows}</table>"


def _field_equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    arrays = [hasattr(x, "shape") and not isinstance(x, (float, int, np.generic)) for x in (a, b)]
    if arrays[0] != arrays[1]:  # a stack's field against a single matrix's
        return False
    if not arrays[0]:
        if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
            return True  # NaN equal to NaN, as in the array fields
        return bool(a == b)  # scalars, strings, the plan, None
    import array_api_compat

    try:
        xp = array_api_compat.array_namespace(a, b)
    except TypeError:  # arrays of two libraries
        return False
    if tuple(a.shape) != tuple(b.shape):
        return False
    return bool(xp.all((a == b) | ((a != a) & (b != b))))


def _hashable(x: Any) -> Any:
    """``x`` for the field hash: a NaN float as one fixed key (``hash(nan)`` differs between NaN objects)."""
    return ("NaN",) if isinstance(x, float) and x != x else x


def _flat(x: Any):
    import array_api_compat

    xp = array_api_compat.array_namespace(x)
    return xp, xp.reshape(x, (-1,))


def _span(x: Any, fmt: str) -> str:
    """``"a"`` when all entries print alike, else ``"[min .. max]"``; NaN entries add `` and nan``.

    Only the minimum and maximum leave the array's device.
    """
    xp, flat = _flat(x)
    if flat.shape[0] == 0:
        return "[]"
    if xp.isdtype(flat.dtype, "integral"):
        lo, hi, has_nan, all_nan = int(xp.min(flat)), int(xp.max(flat)), False, False
    else:
        nan = flat != flat
        has_nan, all_nan = bool(xp.any(nan)), bool(xp.all(nan))
        lo = float(xp.min(xp.where(nan, xp.full_like(flat, math.inf), flat)))
        hi = float(xp.max(xp.where(nan, xp.full_like(flat, -math.inf), flat)))
    if all_nan:
        return "nan"
    text = fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"[{fmt.format(lo)} .. {fmt.format(hi)}]"
    return f"{text} and nan" if has_nan else text  # "1, nan" read as two fields


def _count(x: Any) -> int:
    xp, flat = _flat(x)
    return int(xp.sum(xp.astype(flat, xp.int64)))


def _size(x: Any) -> int:
    return int(_flat(x)[1].shape[0])


def zero_matrix_vectors(batch: tuple[int, ...], m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(u, v)`` of an all-zero ``m x n`` matrix (each of a stack ``batch``), float64 on the host.

    Every pair of unit vectors is a singular pair of a zero matrix: both are ``e_1``. A side of length 0 has
    no unit vector, so its vector is empty; the other side's is still ``e_1`` (an ``0 x n`` matrix gives
    ``u`` of length 0 and ``v = e_1``: ``A v = 0 = 0 u`` and ``A^H u = 0 = 0 v`` hold).

    Parameters
    ----------
    batch : tuple of int
        The stack's shape (``()`` for one matrix).
    m, n : int
        The matrix's rows and columns.

    Returns
    -------
    u, v : numpy.ndarray
        Shapes ``batch + (m,)`` and ``batch + (n,)``.
    """
    u, v = np.zeros((*batch, m)), np.zeros((*batch, n))
    for x, length in ((u, m), (v, n)):
        if length:
            x[..., 0] = 1.0
    return u, v
