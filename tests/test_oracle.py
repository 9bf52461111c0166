"""Contract tests: every method on every input flavour against float64 LAPACK, on prescribed spectra."""

from __future__ import annotations

import numpy as np
import pytest

import spectra
from spectra._testing import matrix_with_singular_values, spectrum

from .conftest import FOREIGN, as_flavour, assert_interval, backend_for, oracle, oracle_slack, to_numpy

METHODS = ["svd", "power", "lanczos", "randomized", "gram", "auto"]
DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
SHAPES = [(40, 25), (25, 40), (30, 30), (1, 17), (17, 1), (1, 1), (2, 2)]


def _matrix(shape, dtype, name="outlier", seed=0):
    m, n = shape
    k = min(m, n)
    return matrix_with_singular_values(3.0 * spectrum(name, k), m, n, dtype=dtype, seed=seed)


def _value_tol(dtype, method):
    single = np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64))
    if method == "power":
        return 1e-3 if single else 1e-5
    return 1e-4 if single else 2e-6


class TestOracle:
    @pytest.mark.parametrize("method", METHODS)
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("shape", SHAPES)
    def test_prescribed_spectrum(self, method, dtype, shape, flavour):
        A = _matrix(shape, dtype)
        r = spectra.norm(as_flavour(A, flavour), method=method, backend=backend_for(flavour), seed=1)
        truth = oracle(A)
        assert_interval(r, truth, oracle_slack(A))
        assert abs(r.value - truth) <= _value_tol(dtype, method) * truth
        assert isinstance(r.value, float) and isinstance(r.lower, float) and isinstance(r.upper, float)
        assert r.converged
        if method != "power":  # certified by default: the width meets rtol (or the precision's floor)
            floor = 1e-6 if np.dtype(dtype) in (np.dtype(np.float64), np.dtype(np.complex128)) else 1e-3
            assert r.upper <= (1 + floor) * r.lower

    @pytest.mark.parametrize("method", ["svd", "lanczos", "randomized", "gram"])
    @pytest.mark.parametrize("name", ["outlier", "repeated", "clustered", "flat", "rank_one", "decaying"])
    def test_spectrum_families(self, method, name):
        A = _matrix((60, 45), np.float64, name)
        r = spectra.norm(A, method=method, seed=3)
        assert_interval(r, oracle(A), oracle_slack(A))
        assert r.converged
        assert r.upper <= (1 + 1e-6) * r.lower * (1 + 1e-12)
        # the Ritz value of a Krylov space converges far beyond rtol; gram's estimate is only held to rtol
        assert abs(r.value - 3.0) <= (1e-6 if method == "gram" else 1e-9) * 3.0

    @pytest.mark.parametrize("method", METHODS)
    @pytest.mark.parametrize("order", ["C", "F", "strided"])
    @pytest.mark.parametrize("shape", [(80, 60), (60, 80)])
    @pytest.mark.parametrize("backend", ["numpy", "numba"])
    def test_memory_layouts(self, method, order, shape, backend):
        base = _matrix((2 * shape[0], 3 * shape[1]), np.float64, seed=5)
        A = {
            "C": np.ascontiguousarray(base[: shape[0], : shape[1]]),
            "F": np.asfortranarray(base[: shape[0], : shape[1]]),
            "strided": base[::2, ::3],
        }[order]
        r = spectra.norm(A, method=method, backend=backend, seed=0)
        assert_interval(r, oracle(A), oracle_slack(A))

    @pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized", "gram"])
    def test_stack(self, method, flavour):
        A = np.stack([_matrix((12, 9), np.float64, seed=s) * (s + 1) for s in range(6)]).reshape(3, 2, 12, 9)
        r = spectra.norm(as_flavour(A, flavour), method=method, backend=backend_for(flavour), seed=0)
        assert to_numpy(r.value).shape == (3, 2)
        assert to_numpy(r.converged).shape == (3, 2)
        truth = oracle(A)
        assert_interval(r, truth, oracle_slack(A))
        np.testing.assert_allclose(to_numpy(r.value), truth, rtol=1e-5)
        if flavour in FOREIGN:  # results in the input's namespace and on its device
            import array_api_compat

            X = as_flavour(A, flavour)
            assert array_api_compat.array_namespace(r.value) is array_api_compat.array_namespace(X)
            assert array_api_compat.device(r.upper) == array_api_compat.device(X)

    @pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized", "gram"])
    @pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0), (2, 0, 3)])
    def test_empty_is_exactly_zero(self, method, shape):
        r = spectra.norm(np.zeros(shape), method=method)
        assert np.all(to_numpy(r.value) == 0) and np.all(to_numpy(r.upper) == 0)
        assert np.all(to_numpy(r.confidence) == 1.0)
        assert np.all(to_numpy(r.matvecs) == 0)

    @pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized", "gram"])
    def test_zero_matrix(self, method):
        r = spectra.norm(np.zeros((7, 4)), method=method)
        assert (r.value, r.lower, r.upper, r.confidence) == (0.0, 0.0, 0.0, 1.0)

    @pytest.mark.parametrize("method", ["power", "lanczos", "randomized", "gram"])
    def test_stack_with_a_zero_matrix(self, method):
        A = np.stack([_matrix((10, 8), np.float64), np.zeros((10, 8))])
        r = spectra.norm(A, method=method, seed=0)
        np.testing.assert_allclose(r.value, [3.0, 0.0], atol=1e-12)
        assert r.upper[1] == 0.0
