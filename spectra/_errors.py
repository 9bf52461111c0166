"""Every exception and warning that spectra raises, in one place."""

from __future__ import annotations

__all__ = ["BackendUnavailableError", "ConvergenceWarning", "SpectraError"]


class SpectraError(Exception):
    """Base class of the errors raised by spectra itself."""


class BackendUnavailableError(SpectraError, ImportError):
    """A backend was requested whose optional dependency is not installed.

    The message names the pip extra that installs it, e.g. ``pip install "spectra-linalg[numba]"``
    (the distribution is ``spectra-linalg``; the import name is ``spectra``).
    """


class ConvergenceWarning(UserWarning):
    """The default iteration budget ran out before the requested ``rtol`` was met.

    The returned bounds are still valid; only the interval is wider than asked for.
    It is not emitted when the caller set ``maxiter`` explicitly.
    """
