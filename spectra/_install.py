"""The distribution's name on PyPI and the install hint that error messages print.

The import name is ``spectra``; the distribution is ``spectra-linalg`` (``spectra`` on PyPI is an
unrelated colour library). Every message that names a pip extra is built by :func:`pip_install`.
"""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "pip_install"]

#: the name ``pip install`` takes (pyproject.toml ``[project] name``)
DISTRIBUTION = "spectra-linalg"


def pip_install(extra: str | None = None) -> str:
    """The command that installs spectra with the optional dependencies of ``extra``.

    Examples
    --------
    >>> pip_install("numba")
    'pip install "spectra-linalg[numba]"'
    >>> pip_install()
    'pip install spectra-linalg'
    """
    return f'pip install "{DISTRIBUTION}[{extra}]"' if extra else f"pip install {DISTRIBUTION}"
