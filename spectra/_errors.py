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
    """A result is less than was asked for; its bounds are still valid.

    Emitted in two cases (the ``Warns`` section of :func:`spectra.norm`):

    - the default iteration budget ran out before the requested ``rtol`` was met: only the interval is wider
      than asked for. Not emitted when the caller set ``maxiter`` explicitly;
    - a random start provably failed (an event of probability at most ``1 - confidence``): its probabilistic
      upper bound fell below the guaranteed lower bound, so that matrix reports the deterministic bounds, at
      confidence 1. Emitted whatever ``maxiter`` was.
    """
