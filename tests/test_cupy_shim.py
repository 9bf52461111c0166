"""The CuPy backend's kernel wrappers without a GPU: CuPy replaced by tests/fake_cupy.py, whose kernels
emulate each entry point's contract on flat memory. Checks argument order, views (F order through the C
kernel on ``A^T``), buffer shapes, the inner factor, the launch geometry and the statistics' assembly."""

from __future__ import annotations

import importlib
import sys
import types

import array_api_compat
import numpy as np
import pytest

from spectra import methods
from spectra._operand import make_operand
from spectra._testing import matrix_with_singular_values, spectrum
from spectra.backends.numpy import NumPyBackend
from spectra.methods import _krylov
from spectra.methods._common import Options

from . import fake_cupy
from .conftest import oracle, oracle_slack
from .conftest import random_matrix as _rand

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


@pytest.fixture
def be(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.delitem(sys.modules, "spectra.backends.cupy", raising=False)
    module = importlib.import_module("spectra.backends.cupy")
    module._module.cache_clear()
    module._device_facts.cache_clear()
    fake_cupy.launches.clear()
    yield module.CuPyBackend()
    module._module.cache_clear()
    module._device_facts.cache_clear()
    monkeypatch.delitem(sys.modules, "spectra.backends.cupy")


def _reference(A, X, c, adjoint):
    A, X = A.astype(np.complex128), X.astype(np.complex128)
    Ah = A.conj().swapaxes(-1, -2)
    Y = (Ah if adjoint else A) @ X
    return Y, (A if adjoint else Ah) @ (c * Y)


def _close(got, want, dtype):
    tol = 1e-4 if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64)) else 1e-12
    np.testing.assert_allclose(np.asarray(got), want, atol=tol * max(1.0, float(np.abs(want).max())), rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (5, 7), (300, 40), (40, 300)])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("k", [1, 3, 16])
def test_fused_dense_pass(be, dtype, shape, order, k):
    A = np.asarray(_rand(shape, dtype), order=order)
    Ad = fake_cupy.asarray(A)
    adjoint = be.fused_gram_adjoint(Ad)
    assert adjoint is (order == "F" and min(shape) > 1)
    X = _rand((shape[0] if adjoint else shape[1], k), dtype, seed=1)
    c = fake_cupy.asarray(np.full((1, 1), 0.5, dtype=dtype))
    Y, Z = be.gram(Ad, fake_cupy.asarray(X), c, adjoint=adjoint)
    Yr, Zr = _reference(A, X, 0.5, adjoint)
    assert Y.dtype == A.dtype and Y.shape == Yr.shape and Z.shape == Zr.shape
    _close(Y, Yr, dtype)
    _close(Z, Zr, dtype)
    names = [name for name, _, _ in fake_cupy.launches]
    assert names == [f"gram_rows_k{k}", "reduce_partials"]


def test_inner_factor_none_is_one(be):
    A = _rand((30, 20), np.float64)
    X = _rand((20, 2), np.float64, seed=1)
    Y, Z = be.gram(fake_cupy.asarray(A), fake_cupy.asarray(X))
    Yr, Zr = _reference(A, X, 1.0, False)
    _close(Y, Yr, np.float64)
    _close(Z, Zr, np.float64)


def test_accumulator_beyond_shared_memory_is_not_fused(be):
    wide = fake_cupy.asarray(np.zeros((10, 20_000)))  # 160 KB accumulator > the fake device's 100 KB
    assert be.fused_gram_adjoint(wide) is None
    assert be.fused_gram_adjoint(fake_cupy.asarray(np.zeros((20_000, 10)))) is False
    assert be.fused_gram_adjoint(fake_cupy.asarray(np.zeros((20, 30)))[::2]) is None  # strided: cuBLAS


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 8), (5, 7), (7, 5)])
@pytest.mark.parametrize("k", [1, 4])
def test_stack_pass(be, dtype, shape, k):
    A = _rand((3, 4, *shape), dtype)
    X = _rand((3, 4, shape[1], k), dtype, seed=2)
    c = np.linspace(0.5, 2.0, 12).reshape(3, 4, 1, 1)
    assert be.fused_gram_adjoint(fake_cupy.asarray(A)) is False
    Y, Z = be.gram(fake_cupy.asarray(A), fake_cupy.asarray(X), fake_cupy.asarray(c.astype(dtype)))
    Yr, Zr = _reference(A, X, c, False)
    _close(Y, Yr, dtype)
    _close(Z, Zr, dtype)
    assert [name for name, _, _ in fake_cupy.launches] == ["gram_stack"]
    assert fake_cupy.launches[0][1] == (12,)  # one block per matrix


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (9, 1), (300, 40), (40, 300)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_entry_statistics(be, dtype, shape, order):
    A = np.asarray(_rand(shape, dtype) * 3.0, order=order)
    ref = NumPyBackend()
    c1, c2 = np.array([0.5]), np.array([0.25])
    np.testing.assert_allclose(be.max_abs(fake_cupy.asarray(A)), ref.max_abs(A), rtol=1e-6)
    got, want = be.abs_stats(fake_cupy.asarray(A), c1, c2), ref.abs_stats(A, c1, c2)
    for field in ("fro", "maxcol", "maxrow"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=1e-12)
    assert (got.p_row, got.p_col) == (want.p_row, want.p_col)
    # Gershgorin of |A|^T|A| (C order) or |A||A|^T (F order): each bounds ||A||^2
    assert got.gersh[0] >= np.linalg.norm(A.astype(np.complex128) * 0.125, 2) * (1 - 1e-12)
    assert "abs_stats_rows" in [name for name, _, _ in fake_cupy.launches]


@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["C", "F", "stack", "tiny"])
def test_methods_run_on_the_backend_primitives(be, monkeypatch, method, dtype, layout):
    """Every method, unchanged, on the CuPy backend's primitives (fake device arrays; vector arithmetic by
    NumPy on them): the interval holds and the fused kernels did the Gram passes."""
    monkeypatch.setattr(array_api_compat, "array_namespace", lambda *a, **k: fake_cupy.DeviceNamespace())

    def device_column_store(self, first, limit, xp):  # the store as on a device namespace: concatenation
        self._xp, self._limit, self._rows = xp, limit, None
        self.array = first

    monkeypatch.setattr(_krylov.ColumnStore, "__init__", device_column_store)
    shape = {"C": (60, 40), "F": (60, 40), "stack": (3, 20, 12), "tiny": (1e-30, 30, 20)}[layout]
    if layout == "tiny":  # entries far below 1: the scaled path passes the inner factor to the kernel
        A = matrix_with_singular_values(3e-30 * spectrum("outlier", 20), 30, 20, dtype=dtype, seed=1)
    elif layout == "stack":
        A = np.stack(
            [
                matrix_with_singular_values(spectrum("outlier", 12) * (s + 1), 20, 12, dtype=dtype, seed=s)
                for s in range(3)
            ]
        )
    else:
        A = np.asarray(matrix_with_singular_values(3.0 * spectrum("outlier", 40), *shape, dtype=dtype), order=layout)
    op = make_operand(fake_cupy.asarray(A), "dense", be, check_finite=True, uses_gram=method != "svd")
    single = np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64))
    opts = Options(
        1e-3 if single else 1e-8,
        method != "power",
        0.999,
        200,
        True,
        4 if method == "randomized" else None,
        None,
        np.random.default_rng(0),
        False,
        False,
    )
    fake_cupy.launches.clear()
    res = methods.get(method)(op, opts)
    lower, upper = op.unscale(res.lower), op.unscale(res.upper)
    truth = oracle(A).reshape(-1)
    slack = oracle_slack(A)
    assert np.all(lower <= truth * (1 + slack)) and np.all(truth <= upper * (1 + slack)), (lower, truth, upper)
    if method != "svd":
        kernels = {name for name, _, _ in fake_cupy.launches}
        assert ("gram_stack" if layout == "stack" else "reduce_partials") in kernels, kernels


def test_torch_cuda_tensors_go_through_dlpack(be, monkeypatch):
    """``backend="cupy"`` takes a CUDA tensor through DLPack (no host copy); a CPU tensor is refused."""
    from spectra import backends
    from spectra.backends._device_types import is_foreign_gpu_array

    torch = types.ModuleType("torch")
    torch.Tensor = type("Tensor", (), {"ndim": 2, "shape": (3, 3)})
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setattr(backends, "_cache", {})
    cuda, cpu = torch.Tensor(), torch.Tensor()
    cuda.device, cpu.device = types.SimpleNamespace(type="cuda"), types.SimpleNamespace(type="cpu")
    assert is_foreign_gpu_array(cuda) and not is_foreign_gpu_array(cpu)
    assert backends.resolve(cuda, "cupy").name == "cupy"
    with pytest.raises(ValueError, match="no silent device transfers"):
        backends.resolve(cpu, "cupy")
    seen = []
    monkeypatch.setattr(fake_cupy, "from_dlpack", lambda x: seen.append(x) or "on the device", raising=False)
    assert be.prepare_input(cuda) == "on the device" and seen == [cuda]
    assert be.prepare_input(fake_cupy.asarray(np.eye(2))) is not None and seen == [cuda]  # CuPy arrays as they are
