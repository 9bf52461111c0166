"""The result object returned by :func:`spectra.norm`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["NormEstimate"]


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
    u, v : array or None
        Top left/right singular vectors when ``return_vectors=True``, else ``None``.
    plan : Plan or None
        What ran, on what, and why (backend, method, Gram side and the reasons), see ``spectra._plan``.

    Examples
    --------
    >>> import numpy as np, spectra
    >>> r = spectra.norm(np.diag([3.0, 1.0]), method="svd")
    >>> float(r)
    3.0
    >>> r.lower <= 3.0 <= r.upper
    True
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
    plan: Any = None

    def __float__(self) -> float:
        try:
            return float(self.value)
        except TypeError:
            raise TypeError(
                "float() needs the estimate of a single matrix; this NormEstimate holds a stack, "
                "use its .value array instead"
            ) from None

    def __repr__(self) -> str:
        def fmt(x: Any) -> str:
            if isinstance(x, float):
                return repr(x)
            return repr(x).replace("\n", "")

        return (
            f"NormEstimate(value={fmt(self.value)}, interval=[{fmt(self.lower)}, {fmt(self.upper)}], "
            f"confidence={fmt(self.confidence)}, converged={self.converged}, method={self.method!r}, "
            f"backend={self.backend!r}, iterations={self.iterations}, matvecs={self.matvecs}"
            + ("" if self.plan is None else f", plan='{self.plan}'")
            + ")"
        )
