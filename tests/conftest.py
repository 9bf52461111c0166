"""One backend fixture drives every parametrisation; helpers shared by the tests."""

from __future__ import annotations

import numpy as np
import pytest

#: input flavours: NumPy inputs on every backend that takes them, array-api-strict inputs, and CuPy inputs
#: (marked ``gpu``: deselected by default, run with ``-m gpu`` where a GPU exists).
#: Every backend is tested; a missing optional dependency fails here instead of being skipped.
FLAVOURS = ["numpy", "numba", "array_api", "array_api_strict", pytest.param("cupy", marks=pytest.mark.gpu)]


def as_flavour(A: np.ndarray, flavour: str):
    if flavour == "array_api_strict":
        import array_api_strict as xs

        return xs.asarray(A)
    if flavour == "cupy":
        import cupy

        return cupy.asarray(A)
    return A


def backend_for(flavour: str) -> str:
    return "auto" if flavour in ("array_api_strict", "cupy") else flavour  # auto: dispatch by type


def to_numpy(x):
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):  # device arrays never convert implicitly
        return x.get()
    return np.asarray(x)


def random_matrix(shape, dtype, seed=0) -> np.ndarray:
    """Standard (complex) Gaussian entries of ``dtype``."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        A = A + 1j * rng.standard_normal(shape)
    return A.astype(dtype)


def oracle(A) -> np.ndarray:
    """float64/complex128 LAPACK spectral norm of the stored matrix (per matrix of a stack)."""
    A = np.asarray(A)
    wide = np.complex128 if np.iscomplexobj(A) else np.float64
    A = A.astype(wide)
    if A.shape[-1] == 0 or A.shape[-2] == 0:
        return np.zeros(A.shape[:-2])
    return np.linalg.svd(A, compute_uv=False)[..., 0]


def oracle_slack(A) -> float:
    """Relative uncertainty of the oracle itself (LAPACK backward error, docs/bounds.md §6a)."""
    return 8.0 * max(A.shape[-2:]) * 2.0**-53


@pytest.fixture(params=FLAVOURS)
def flavour(request):
    return request.param


def assert_interval(r, truth, slack: float) -> None:
    lower, upper, value = (np.asarray(to_numpy(x), dtype=np.float64) for x in (r.lower, r.upper, r.value))
    truth = np.asarray(truth, dtype=np.float64)
    assert np.all(lower <= upper), (lower, upper)
    assert np.all(lower <= value) and np.all(value <= upper), (lower, value, upper)
    assert np.all(lower <= truth * (1 + slack)), f"lower {lower} above the true norm {truth}"
    assert np.all(truth <= upper * (1 + slack)), f"upper {upper} below the true norm {truth}"
