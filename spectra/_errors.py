"""Every exception and warning that spectra raises, in one place."""

from __future__ import annotations

__all__ = ["BackendUnavailableError", "ConvergenceWarning", "SpectraError"]


class SpectraError(Exception):
    """Base class of spectra's own error types (today :class:`BackendUnavailableError`).

    Invalid arguments and inputs raise the built-in ``ValueError`` and ``TypeError`` (as NumPy and SciPy do),
    which are not subclasses of this class: catch those for input errors.

    Examples
    --------
    >>> import spectra
    >>> issubclass(spectra.BackendUnavailableError, spectra.SpectraError)
    True
    >>> try:
    ...     spectra.norm([[1.0, 2.0]], rtol=-1)
    ... except spectra.SpectraError:
    ...     print("spectra")
    ... except ValueError:
    ...     print("an input error: ValueError")
    an input error: ValueError
    """


class BackendUnavailableError(SpectraError, ImportError):
    """A backend was requested whose optional dependency is not installed.

    The message names the pip extra that installs it, e.g. ``pip install "spectra-linalg[numba]"``
    (the distribution is ``spectra-linalg``; the import name is ``spectra``). It is also an ``ImportError``.

    Examples
    --------
    >>> import spectra
    >>> issubclass(spectra.BackendUnavailableError, ImportError)
    True
    >>> try:
    ...     r = spectra.norm([[1.0]], backend="cupy")
    ... except spectra.BackendUnavailableError as exc:  # CuPy not installed, or no usable GPU
    ...     r = spectra.norm([[1.0]])  # fall back to the default backend
    >>> r.value
    1.0
    """


class ConvergenceWarning(UserWarning):
    """A result is less than was asked for; its bounds are still valid.

    Emitted in three cases (the ``Warns`` section of :func:`spectra.norm`):

    - the default iteration budget ran out before the requested ``rtol`` was met: only the interval is wider
      than asked for. Not emitted when the caller set ``maxiter`` explicitly;
    - a Krylov restart (the basis filled its memory budget) froze the probabilistic upper bound before
      ``rtol`` was met (docs/bounds.md §8): the interval is wider than asked for, and more iterations would
      not narrow its upper end. Emitted whatever ``maxiter`` was;
    - a random start provably failed (an event of probability at most ``1 - confidence``): its probabilistic
      upper bound fell below the guaranteed lower bound, so that matrix reports the deterministic bounds, at
      confidence 1. Emitted whatever ``maxiter`` was.

    Examples
    --------
    >>> import warnings, numpy as np, spectra
    >>> A = np.random.default_rng(0).standard_normal((300, 300))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", spectra.ConvergenceWarning)  # make it an error, e.g. in a test suite
    ...     r = spectra.norm(A, method="power", rtol=1e-8, maxiter=3, seed=0)  # an explicit budget: silent
    >>> r.converged
    False
    """
