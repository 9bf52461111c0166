"""Serial twins of the dense Numba kernels: the same source compiled without a parallel region.

A parallel kernel wakes Numba's worker threads on every call. On a loaded machine that costs tens of
milliseconds (docs/performance.md, "Small dense matrices on the numba backend"), far more than one pass over
a small matrix, and an iterative method pays it at every step. :func:`serial_twin` compiles a kernel's own
Python function again with ``parallel=False`` (``numba.prange`` then runs as ``range``), with the same
explicit signatures (each compiled on first use), options and on-disk cache, under a name of its own, so
both variants come from one source. The backend calls the twins with one block below
:data:`spectra.backends.numba.DENSE_SERIAL_BELOW`. Leaf module: it only compiles.
"""

from __future__ import annotations

import types as pytypes

import numba

from . import _numba_kernels as kernels
from ._numba_jit import LazyKernel, njit_cached

__all__ = ["abs_stats_rows", "dense_gram", "max_abs_bits_rows", "max_abs_rows", "serial_twin", "wide_product_rows"]


def serial_twin(kernel, **helpers):
    """``kernel``'s Python function compiled with ``parallel=False``, calling ``helpers`` for the named globals.

    ``helpers`` replaces the parallel kernels the body calls (``_reduce_blocks``) by their own twins. The twin
    gets the qualified name ``<name>_serial``: Numba's cache files are named by it (their index does not tell
    a parallel build from a serial one of the same code), so the two variants never load each other's code.
    Under ``NUMBA_DISABLE_JIT`` the kernels are plain functions and so is the twin.
    """
    f = getattr(kernel, "py_func", kernel)
    twin = pytypes.FunctionType(f.__code__, {**f.__globals__, **helpers}, f.__name__, f.__defaults__, f.__closure__)
    twin.__qualname__ = twin.__name__ = f"{f.__name__}_serial"
    twin.__doc__, twin.__module__ = f.__doc__, f.__module__
    if isinstance(kernel, LazyKernel):  # the same declared signatures, each compiled on first use
        return LazyKernel(twin, kernel.declared, kernel.key_args, {**kernel.options, "parallel": False}, kernel.kinds)
    if not isinstance(kernel, numba.core.registry.CPUDispatcher):
        return twin
    options = {**kernel.targetoptions, "parallel": False}
    options.pop("nopython", None)
    return njit_cached(**options)(twin)  # a helper without signatures: typed by its callers


_reduce_blocks = serial_twin(kernels._reduce_blocks)
dense_gram = serial_twin(kernels.dense_gram, _reduce_blocks=_reduce_blocks)
wide_product_rows = serial_twin(kernels.wide_product_rows, _reduce_blocks=_reduce_blocks)
max_abs_rows = serial_twin(kernels.max_abs_rows)
max_abs_bits_rows = serial_twin(kernels.max_abs_bits_rows)
abs_stats_rows = serial_twin(kernels.abs_stats_rows)

#: twins that compute their kernel's bits from the same arguments (maxima, exact in any order; ``abs_stats_rows``,
#: compiled without reassociation, sums in source order), run instead of it while another thread runs a parallel
#: region on Numba's workqueue layer
BITWISE_TWINS = ("max_abs_rows", "max_abs_bits_rows", "abs_stats_rows")
for _name in BITWISE_TWINS:
    if isinstance(getattr(kernels, _name), LazyKernel):
        getattr(kernels, _name).fallback = globals()[_name]
