"""Building the numba backend's kernels ahead of time, into Numba's on-disk cache (``python -m spectra compile``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["DTYPES", "KINDS", "CompiledKernel", "compile_numba_kernels"]

#: the input kinds whose kernels can be built ahead of time
KINDS = ("dense", "sparse", "stack")
#: the data types the kernels serve
DTYPES = ("float32", "float64", "complex64", "complex128")


class CompiledKernel(NamedTuple):
    """One signature of one kernel made ready by :func:`compile_numba_kernels`.

    Attributes
    ----------
    name : str
        The kernel (a serial twin ends in ``_serial``).
    dtype : str
        The data type of the input it serves (``"float64"``, ...).
    key : tuple of str
        The argument dtypes that select the signature (the data, then the index type of a sparse kernel;
        a kernel that reads the bits of a float has an unsigned integer).
    seconds : float
        Wall-clock time it took.
    source : str
        ``"compiled"`` (and written to the cache), ``"cache"`` (loaded from it) or ``"memory"`` (ready
        in this process already).
    """

    name: str
    dtype: str
    key: tuple[str, ...]
    seconds: float
    source: str


def compile_numba_kernels(
    dtypes: str | Iterable[str] | None = None, kinds: str | Iterable[str] | None = None
) -> list[CompiledKernel]:
    """Compile the numba backend's kernels for ``dtypes`` and ``kinds`` now, into Numba's on-disk cache.

    The numba backend compiles each kernel for the dtype (and index type) of a call on the call's first use,
    which takes tens of seconds per input kind (docs/performance.md, "First-call cost"); later processes load
    the machine code from the cache (``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the modules). This fills
    the cache ahead of time, e.g. while a Docker image or a CI cache is built, so that no call pays it.

    Parameters
    ----------
    dtypes : str or iterable of str, optional
        Data types of the inputs, among ``"float32"``, ``"float64"``, ``"complex64"``, ``"complex128"``
        (default: all four); one name alone may be passed as a string.
    kinds : str or iterable of str, optional
        Input kinds, among ``"dense"`` (2-D arrays, including the small-matrix certificate), ``"sparse"``
        (CSR/CSC, 32- and 64-bit indices) and ``"stack"`` (3-D and higher arrays) (default: all three); one
        kind alone may be passed as a string.

    Returns
    -------
    list of CompiledKernel
        One entry per kernel signature: its name, dtype, time and whether it was compiled, loaded from the
        cache, or already in memory.

    Raises
    ------
    ValueError
        An unknown dtype or kind.
    BackendUnavailableError
        Numba is not installed (names the pip extra).

    Examples
    --------
    >>> import spectra
    >>> done = spectra.compile_numba_kernels(["float64"], kinds=["sparse"])
    >>> sorted({k.dtype for k in done}), {k.source in ("compiled", "cache", "memory") for k in done}
    (['float64'], {True})
    >>> sorted({k.key for k in done if k.name == "csr_gram"})  # 32- and 64-bit indices
    [('float64', 'uint32'), ('float64', 'uint64')]
    """
    if isinstance(dtypes, str):  # one name, not an iterable of its characters
        dtypes = (dtypes,)
    if isinstance(kinds, str):
        kinds = (kinds,)
    dtypes = DTYPES if dtypes is None else tuple(str(d) for d in dtypes)
    kinds = KINDS if kinds is None else tuple(kinds)
    for name, given, known in (("dtype", dtypes, DTYPES), ("kind", kinds, KINDS)):
        bad = [x for x in given if x not in known]
        if bad:
            raise ValueError(f"unknown {name} {', '.join(map(repr, bad))}; choose among {', '.join(known)}")
    from . import backends

    backends._load("numba")  # BackendUnavailableError naming the extra when numba is missing
    from .backends import _numba_jit, _numba_stack  # noqa: F401 - registers the stack kernels

    return [CompiledKernel(*r) for r in _numba_jit.compile_registered(dtypes, kinds)]
