"""What ``spectra.norm(..., progress=callback)`` hands to the callback after every step."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Progress"]


@dataclass(frozen=True)
class Progress:
    """State of a running :func:`spectra.norm` after one step, for ``progress=callback``.

    For a stack of matrices the interval is that of the matrix whose interval is currently the widest.

    Attributes
    ----------
    method : str
        Method that runs (``"auto"`` resolved).
    products : int
        Products with ``A`` or ``A^H`` so far.
    lower, upper : float
        Current interval ``lower <= ||A||_2 <= upper`` (``upper`` holds with the requested confidence;
        it may be ``inf`` before the first bound is available). In single precision the ``lower`` of the
        reports before the final one comes from working-precision products and may lie above the norm by
        their rounding; the final report's is the certified one of the result (docs/bounds.md §6c).
    rtol : float
        Relative width the run stops at (``rtol`` raised to what the working precision can certify).
    done, total : int
        Matrices whose stopping test has passed, and matrices in the problem.
    elapsed : float
        Wall-clock seconds since the method started, ``compile_seconds`` included: the first call that needs a
        Numba kernel compiles it (tens of seconds, docs/performance.md, "First-call cost"), and the report after
        that step counts the compilation.
    compile_seconds : float
        Of ``elapsed``, the seconds spent compiling Numba kernels for this call or loading them from Numba's
        on-disk cache (their first use in the process; 0.0 once they are ready, and on backends without JIT
        kernels). ``elapsed - compile_seconds`` is the method's own time. Kernels prepared on other threads
        (Dask workers) are not counted.
    final : bool
        ``True`` for the last call, after the final certificate.
    matrix : tuple of int or None
        For a stack, the index (in the stack's leading dimensions) of the matrix whose interval is reported:
        the widest. ``None`` for a single matrix.

    Examples
    --------
    >>> import numpy as np, spectra
    >>> steps = []
    >>> r = spectra.norm(np.diag([3.0, 2.0, 1.0]), method="lanczos", seed=0, progress=steps.append)
    >>> steps[-1].final, steps[-1].lower == r.lower, steps[-1].products == r.matvecs
    (True, True, True)
    """

    method: str
    products: int
    lower: float
    upper: float
    rtol: float
    done: int
    total: int
    elapsed: float
    final: bool = False
    matrix: tuple[int, ...] | None = None
    compile_seconds: float = 0.0

    @property
    def width(self) -> float:
        """Relative width ``(upper - lower) / lower`` (``inf`` while ``lower == 0 < upper``).

        Examples
        --------
        >>> import spectra
        >>> spectra.Progress("lanczos", 4, lower=2.0, upper=2.5, rtol=1e-6, done=0, total=1, elapsed=0.01).width
        0.25
        """
        if self.lower > 0:
            return (self.upper - self.lower) / self.lower
        return 0.0 if self.upper == 0 else float("inf")

    def __str__(self) -> str:
        return (
            f"spectra {self.method}: products={self.products:>6d} lower={self.lower:.10g} upper={self.upper:.10g} "
            f"width={self.width:.2e}{self._which()} done={self.done}/{self.total} t={self.elapsed:.2f}s"
            + (f" compile={self.compile_seconds:.2f}s" if self.compile_seconds else "")
        )

    def _which(self) -> str:
        """`` matrix=(i, j)`` for a stack: which matrix the interval belongs to."""
        if self.matrix is None:
            return ""
        return f" matrix={self.matrix[0]}" if len(self.matrix) == 1 else f" matrix={self.matrix}"
