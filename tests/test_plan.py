"""The plan: backend, method and Gram side chosen in one place, with reasons, recorded on the result."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

import spectra
from spectra._plan import AUTO_SVD_MAX_WORK, Plan, make_plan, shape_of
from spectra._validate import standardize_matrix


def _plan(A, method="auto", backend="auto", block_size=None) -> Plan:
    A, kind = standardize_matrix(A)
    return make_plan(A, kind, method=method, backend=backend, block_size=block_size)[0]


def test_auto_method_and_reasons():
    p = _plan(np.ones((30, 20)))
    assert (p.backend, p.method) == ("numpy", "svd") and "<=" in p.why_method and p.why_backend == "numpy input"
    n = round(AUTO_SVD_MAX_WORK ** (1 / 3)) + 1
    p = _plan(np.ones((n, n)))
    assert p.method == "lanczos" and ">" in p.why_method
    assert _plan(sp.eye(5, format="csr")).why_method == "sparse input"
    assert _plan(np.ones((5, 4)), block_size=2).method == "randomized"
    assert _plan(np.ones((5, 4)), method="power").why_method == "requested"


def test_side_smaller_or_fused():
    assert _plan(np.ones((4, 9)), method="lanczos").transposed is True  # wide: AAᴴ, the smaller side
    assert _plan(np.ones((9, 4)), method="lanczos").transposed is False
    p = _plan(np.asfortranarray(np.ones((400, 300))), method="lanczos", backend="numba")
    assert p.transposed is True and p.why_side == "one read of A per step"  # F order: AAᴴ in one read
    assert str(p) == "lanczos on numba, AAᴴ (one read of A per step)"
    # tall and thin: a basis on the long side (9 x 9 against 4 x 4 entries) would outweigh A itself (9 x 4)
    p = _plan(np.asfortranarray(np.ones((9, 4))), method="lanczos", backend="numba")
    assert p.transposed is False and p.why_side.startswith("smaller side: a basis on the long side")


def test_moved_to_numba_with_a_reason():
    from spectra.backends import NUMBA_MIN_ENTRIES

    n = int(np.ceil(np.sqrt(NUMBA_MIN_ENTRIES)))
    p = _plan(np.ones((n, n)), method="lanczos")
    assert p.backend == "numba" and "fused" in p.why_backend


def test_on_the_result_and_in_its_repr():
    r = spectra.norm(np.diag([3.0, 1.0]), method="lanczos", seed=0)
    assert r.plan == Plan("numpy", "lanczos", False, "numpy input", "requested", "smaller side")
    assert "plan='lanczos on numpy, AᴴA (smaller side)'" in repr(r)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.plan.method = "svd"
    assert spectra.norm(np.zeros((0, 3))).plan.method == "svd"  # the empty shortcut carries it too


def test_unknown_dimensions():
    class Lazy:
        shape = (float("nan"), 3)

    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        shape_of(Lazy())
