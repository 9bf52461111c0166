"""The single-precision Gram kernels compute in single precision.

Regression: the dense pass started its sums at ``za[0] * 0``; Numba types a float32 times an int64 as float64,
so every float32 (complex64) sum was formed in float64 (complex128) with a conversion per entry, which made
the float32 pass slower per byte than the float64 one (docs/performance.md). The rounding analysis assumes the
working precision (docs/bounds.md §6e), so nothing needs the wider sums. The kernels are compiled afresh
(Numba does not show the code it loads from its cache), on the calling thread: the arithmetic is that of the
parallel build, which compiles the same source.
"""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest

from spectra.backends import _numba_kernels as kernels
from spectra.backends import _numba_serial as serial_kernels


def _llvm_ir(kernel, dtype) -> str:
    _, sig = kernel.declared[(np.dtype(dtype),)]
    fresh = numba.njit([sig], **{**kernel.options, "parallel": False})(kernel.py_func)
    return fresh.inspect_llvm(sig.args)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("kernel", [serial_kernels.dense_gram, kernels.dense_gram_batched], ids=lambda k: k.__name__)
def test_single_precision_sums_are_not_widened(kernel, dtype):
    ir = _llvm_ir(kernel, dtype)
    assert "fpext" not in ir  # no float -> double conversion
    assert not re.search(r"= f(add|sub|mul)[^\n]*double", ir)  # no double-precision arithmetic
    assert re.search(r"= f(add|mul)[^\n]*float", ir)  # the sums themselves are there, in single precision
