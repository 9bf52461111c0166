"""The JIT policy of the Numba kernels in one place: typed signatures, compiled on first use, cached on disk.

Every kernel declares explicit signatures (read-only C-ordered inputs, the output types, for each data type
and index type it serves), so no layout or mutability specialisation is ever compiled; but only the
signature a call needs is compiled, when the call needs it. Compiling all of them at import took 17-95 s per
module on the 2-core development machine (docs/performance.md, "First-call cost"). A :class:`LazyKernel`
keys its signatures by the dtypes of the arguments that select them (``key_args``), compiles or loads that
one signature through Numba's own :meth:`~numba.core.dispatcher.Dispatcher.compile` on the first call with
that key, and otherwise passes the call straight to the dispatcher, whose automatic compilation stays
disabled. Numba's on-disk cache keeps one index per function with any number of signatures, each added when
it is first compiled; a later process loads them.

Before a signature is compiled (not when it is loaded from the cache) :mod:`spectra._compile_notice` says so
once per input kind: on ``logging.getLogger("spectra")``, and as one line to whoever asked for progress.
:func:`compile_registered` compiles declared signatures ahead of time (:func:`spectra.compile_numba_kernels`).
Leaf module: it only compiles.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numba
import numpy as np
from numba.core.compiler_lock import global_compiler_lock

from .. import _compile_notice
from . import _numba_workqueue as workqueue

__all__ = [
    "LazyKernel",
    "compile_registered",
    "compiling_for",
    "describe_input",
    "disk_cache_missing",
    "lazy_kernel",
    "njit_cached",
]

#: every :class:`LazyKernel` made in this process, in order of creation
REGISTRY: list[LazyKernel] = []

#: what the running computation reads ("float64 dense", "float32 CSR", ...), named in the compile notice
_INPUT: contextvars.ContextVar[str | None] = contextvars.ContextVar("spectra_numba_input", default=None)


#: why Numba's on-disk cache is not used in this process ("" while it is), set when a kernel is decorated
_NO_DISK_CACHE = [""]


def njit_cached(*args, **options) -> Callable:
    """:func:`numba.njit` with ``cache=True``; without the on-disk cache where Numba finds no writable place for it.

    Numba raises ``RuntimeError`` ("cannot cache function ...: no locator available") at decoration when neither
    ``NUMBA_CACHE_DIR`` nor ``__pycache__`` beside the module nor the user's cache directory is writable (a
    read-only install run by a user without a writable home). The kernels then compile in memory in every process
    that uses them, and :func:`disk_cache_missing` says why (``backend="auto"`` stays on NumPy then).

    Parameters
    ----------
    *args, **options
        Those of :func:`numba.njit` (signatures, ``nogil``, ``parallel``, ...), without ``cache``.

    Returns
    -------
    callable
        The decorator.
    """

    def decorate(py_func):
        try:
            return numba.njit(*args, cache=True, **options)(py_func)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            _NO_DISK_CACHE[0] = (
                "Numba finds no writable directory for its on-disk cache, so its kernels would be compiled again in "
                "every process (tens of seconds); set NUMBA_CACHE_DIR to a writable directory"
            )
            return numba.njit(*args, **options)(py_func)

    return decorate


def disk_cache_missing() -> str:
    """Why the Numba kernels are compiled without the on-disk cache in this process ("" when they are cached)."""
    return _NO_DISK_CACHE[0]


def describe_input(A) -> str | None:
    """``"<dtype> <kind>"`` of an input the backend reads (``"float64 dense"``, ``"complex64 CSR"``), else ``None``."""
    dtype = getattr(A, "dtype", None)
    if dtype is None:
        return None
    fmt = getattr(A, "format", None)
    if isinstance(fmt, str) and fmt in ("csr", "csc", "coo", "bsr", "dia", "dok", "lil"):
        kind = fmt.upper()
    elif isinstance(A, np.ndarray):
        kind = "stack" if A.ndim >= 3 else "dense"
    else:
        kind = type(A).__name__
    try:
        return f"{np.dtype(dtype).name} {kind}"
    except TypeError:  # not a NumPy dtype (the kernels never see such an input)
        return None


@contextlib.contextmanager
def compiling_for(A):
    """Within the context, a compile notice names the input ``A`` (see :func:`describe_input`)."""
    token = _INPUT.set(describe_input(A))
    try:
        yield
    finally:
        _INPUT.reset(token)


def _cached(dispatcher, sig) -> bool:
    """Whether Numba's on-disk cache holds ``sig`` of ``dispatcher`` for this machine and source.

    Reads the index Numba itself consults in :meth:`Dispatcher.compile` (the same key); a layout it does not
    have (another Numba version) counts as "not cached", which only costs a notice too many.
    """
    try:
        cache = dispatcher._cache
        key = cache._index_key(sig, dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # a private layout of Numba's cache: a guess, never an error
        return False


class LazyKernel:
    """A Numba kernel whose explicit signatures are compiled one at a time, on the first call that needs one.

    Parameters
    ----------
    py_func : callable
        The kernel's Python source.
    signatures : dict
        ``{key: (dtype, signature)}``: ``key`` the tuple of NumPy dtypes of the arguments ``key_args`` that
        selects the signature, ``dtype`` the data type of the input it serves.
    key_args : tuple of int
        Positions of the arguments whose dtypes form the key.
    options : dict
        Options of :func:`numba.njit` (``cache=True`` is always set).
    kinds : tuple of str
        The input kinds (:data:`KINDS`) whose computations call the kernel.
    """

    def __init__(self, py_func, signatures: dict, key_args: Sequence[int], options: dict, kinds: Sequence[str]):
        self.py_func = py_func
        self.declared = dict(signatures)
        self.key_args = tuple(key_args)
        self.options = {k: v for k, v in options.items() if k != "cache"}
        self.kinds = tuple(kinds)
        self.__name__ = py_func.__name__
        self.__qualname__ = getattr(py_func, "__qualname__", py_func.__name__)
        self.__doc__ = py_func.__doc__
        self.__module__ = py_func.__module__
        self.dispatcher = njit_cached(**self.options)(py_func)
        self.dispatcher._can_compile = False  # calls never compile: only the declared signatures exist
        self._ready: set[tuple] = set()
        self.parallel = bool(self.options.get("parallel"))
        #: a kernel that computes the same bits from the same arguments on the calling thread (the serial twin),
        #: run instead while another thread runs a parallel region on Numba's workqueue layer (:mod:`._numba_workqueue`)
        self.fallback: LazyKernel | None = None
        REGISTRY.append(self)

    # Numba's view of the kernel, for inspection (tests, cache statistics)
    @property
    def signatures(self) -> list:
        """The signatures compiled (or loaded) in this process so far."""
        return self.dispatcher.signatures

    @property
    def overloads(self) -> dict:
        return self.dispatcher.overloads

    @property
    def targetoptions(self) -> dict:
        return self.dispatcher.targetoptions

    @property
    def stats(self):
        """Numba's cache statistics of the dispatcher: ``cache_path``, ``cache_hits``, ``cache_misses``."""
        return self.dispatcher.stats

    def __repr__(self) -> str:
        return f"<LazyKernel {self.__qualname__}: {len(self.signatures)}/{len(self.declared)} signatures ready>"

    def __call__(self, *args):
        key = tuple([args[i].dtype for i in self.key_args])
        if key not in self._ready:
            self.prepare(key)
        if self.parallel and not workqueue.layer_is_threadsafe():  # one parallel region at a time on workqueue
            twin = self.fallback if self.fallback is not None and key in self.fallback._ready else None
            return workqueue.run(self.dispatcher, twin, args)  # a twin not yet compiled: wait rather than compile
        return self.dispatcher(*args)

    def prepare(self, key: tuple) -> tuple | None:
        """Compile (or load from the cache) the signature for ``key``.

        Returns ``(name, dtype, key names, seconds, source)`` with ``source`` ``"compiled"``, ``"cache"`` or
        ``"memory"`` (ready before), or ``None`` when no signature is declared for ``key`` (the call then
        fails in the dispatcher with Numba's own ``TypeError``).
        """
        if key not in self.declared:
            return None
        dtype, sig = self.declared[key]
        head = (self.__qualname__, np.dtype(dtype).name, tuple(np.dtype(k).name for k in key))
        with global_compiler_lock:  # automatic compilation is re-enabled only for this one signature
            if key in self._ready:
                return (*head, 0.0, "memory")
            loaded = _cached(self.dispatcher, sig)
            if not loaded:
                _compile_notice.announce(_INPUT.get() or f"{head[1]} {self.kinds[0]}", self.dispatcher.stats.cache_path)
            t0 = time.perf_counter()
            self.dispatcher._can_compile = True
            try:
                self.dispatcher.compile(sig)
            finally:
                self.dispatcher._can_compile = False
            seconds = time.perf_counter() - t0
            self._ready.add(key)
        _compile_notice.record(seconds)  # reported apart from the method's time (Progress.compile_seconds)
        source = "cache" if loaded else "compiled"
        _compile_notice.LOGGER.debug("%s %s: %s in %.2f s", self.__qualname__, head[2], source, seconds)
        return (*head, seconds, source)


def lazy_kernel(
    entries: Iterable[tuple[tuple, Any]], *, key_args: Sequence[int], kinds: Sequence[str], **options
) -> Callable:
    """Decorator: ``py_func`` as a :class:`LazyKernel` with the declared ``entries``, ``(key types, signature)``.

    The key types are the Numba types of the arguments at ``key_args``; the first is the data type the
    signature serves, except that an unsigned integer stands for the float of its width (a kernel that reads
    the bits of a float). Under ``NUMBA_DISABLE_JIT`` the function is returned as it is.
    """
    as_dtype = numba.np.numpy_support.as_dtype
    entries = list(entries)

    def decorate(py_func):
        if numba.config.DISABLE_JIT:
            return py_func
        signatures = {}
        for key_types, sig in entries:
            key = tuple(as_dtype(t) for t in key_types)
            data = key[0] if key[0].kind != "u" else np.dtype(f"f{key[0].itemsize}")
            signatures[key] = (data, sig)
        return LazyKernel(py_func, signatures, key_args, options, kinds)

    return decorate


def compile_registered(dtypes: Iterable[str], kinds: Iterable[str]) -> list[tuple]:
    """Make every declared signature of the registered kernels for ``dtypes`` and ``kinds`` ready (compiled or
    loaded from the cache); one :meth:`LazyKernel.prepare` record per signature."""
    want_dtypes = {np.dtype(d) for d in dtypes}
    want_kinds = set(kinds)
    done = []
    for kernel in list(REGISTRY):
        if want_kinds.intersection(kernel.kinds):
            done += [kernel.prepare(key) for key, (dtype, _) in kernel.declared.items() if dtype in want_dtypes]
    return done
