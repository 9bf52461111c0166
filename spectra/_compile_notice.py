"""One line when a computation is about to compile kernels (the first use of a JIT backend on this machine).

A first call on the numba backend compiles its kernels for the input's dtype, which takes tens of seconds
(docs/performance.md, "First-call cost"); later calls and later processes load them from Numba's cache.
:func:`announce` tells why the call is slow: always on ``logging.getLogger("spectra")`` (INFO), and to a
caller who asked for progress (``progress=True``: a line on stderr; a progress callback with a ``notice``
method, such as the command line's bar: that method). Plain calls stay quiet otherwise: no warning.
Each input kind is announced once per process. The seconds a computation spends compiling kernels (or loading
them from Numba's cache) are added up here too (:func:`record`), and reported apart from the method's own time
in :attr:`spectra.Progress.compile_seconds` (:attr:`~spectra.Progress.elapsed` counts both).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
from typing import Any

__all__ = ["LOGGER", "announce", "compile_seconds", "notices_to", "record"]

LOGGER = logging.getLogger("spectra")

#: the ``progress`` argument of the running computation (``False`` outside one)
_PROGRESS: contextvars.ContextVar[Any] = contextvars.ContextVar("spectra_compile_progress", default=False)
_ANNOUNCED: set[str] = set()
#: seconds spent preparing kernels (compiling or loading them) in the running computation (``None`` outside one)
_SECONDS: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("spectra_compile_seconds", default=None)


@contextlib.contextmanager
def notices_to(progress: Any):
    """Within the context, compile notices also go to ``progress`` (an argument of :func:`spectra.norm`), and
    the seconds spent preparing kernels add up for :func:`compile_seconds` (from 0, or on from an outer context)."""
    token = _PROGRESS.set(progress)
    seconds = _SECONDS.set(_SECONDS.get() or [0.0])
    try:
        yield
    finally:
        _SECONDS.reset(seconds)
        _PROGRESS.reset(token)


def record(seconds: float) -> None:
    """Add ``seconds`` spent compiling a kernel, or loading it from the cache, to the running computation."""
    total = _SECONDS.get()
    if total is not None:
        total[0] += seconds


def compile_seconds() -> float:
    """Seconds the running computation has spent preparing kernels so far (0.0 outside one)."""
    total = _SECONDS.get()
    return 0.0 if total is None else total[0]


#: how to compile the kernels before the first call (named in the notice when there is a cache to fill)
AHEAD = "python -m spectra compile"


def message(what: str, where: str | None) -> str:
    """The notice's text for the input ``what`` (``"float64 dense"``) and the cache folder ``where``."""
    if where is None:
        return f"spectra: compiling Numba kernels for {what} (first use; cached in memory only)"
    return f"spectra: compiling Numba kernels for {what} (first use; cached in {where}; ahead of time: {AHEAD})"


def announce(what: str, where: str | None) -> None:
    """Say, once per process for ``what``, that kernels for it are about to be compiled (see the module)."""
    if what in _ANNOUNCED:
        return
    _ANNOUNCED.add(what)
    text = message(what, where)
    LOGGER.info(text)
    progress = _PROGRESS.get()
    notice = getattr(progress, "notice", None)
    if callable(notice):
        notice(text)
    elif progress is True:
        print(text, file=sys.stderr, flush=True)
