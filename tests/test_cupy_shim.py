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


def _device_vectors(monkeypatch):
    """Vector arithmetic by NumPy on fake device arrays, which stay device arrays (as on a GPU namespace)."""
    monkeypatch.setattr(array_api_compat, "array_namespace", lambda *a, **k: fake_cupy.DeviceNamespace())

    def device_column_store(self, first, limit, xp):  # the store as on a device namespace: concatenation
        self._xp, self._limit, self._rows = xp, limit, None
        self.array = first

    monkeypatch.setattr(_krylov.ColumnStore, "__init__", device_column_store)


@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["C", "F", "stack", "tiny"])
def test_methods_run_on_the_backend_primitives(be, monkeypatch, method, dtype, layout):
    """Every method, unchanged, on the CuPy backend's primitives (fake device arrays; vector arithmetic by
    NumPy on them): the interval holds and the fused kernels did the Gram passes."""
    _device_vectors(monkeypatch)
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
        if method == "lanczos" and layout != "F":  # C-ordered, Gram order <= 64: the stack certificate
            assert kernels == {"small_gram_certify"}, kernels
        else:
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


# ---------------------------------------------------------------------------------------- stack certificate
def _stack(B, m, n, dtype, seed=0):
    return np.stack(
        [
            matrix_with_singular_values(
                spectrum(("outlier", "clustered", "flat")[b % 3], min(m, n), seed=b), m, n, dtype=dtype, seed=seed + b
            )
            for b in range(B)
        ]
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(9, 5), (5, 9), (32, 32), (1, 4), (70, 3)])
@pytest.mark.parametrize("adjoint", [False, True])
@pytest.mark.parametrize("seeded", [False, True])
def test_stack_certificate_driver(be, dtype, shape, adjoint, seeded):
    """Arguments, start, scale stride and outputs of ``small_gram_certify`` against its CPU twin run directly."""
    from spectra.backends._numba_stack import small_gram_certify

    B = 7
    A = _stack(B, *shape, dtype)
    q = shape[0] if adjoint else shape[1]
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    c1, c2 = np.ldexp(1.0, np.arange(B) % 3 - 1), np.ldexp(1.0, -(np.arange(B) % 2))
    if q > 64:  # the GPU kernel's limit (the method always takes the smaller side)
        with pytest.raises(ValueError, match="Gram order 70"):
            be.small_gram_certify(fake_cupy.asarray(A), c1, c2, adjoint, 1, 1e-6, q)
        return
    start = 12345 if seeded else _rand((B, q), wide, seed=3)
    out, steps, X = be.small_gram_certify(fake_cupy.asarray(A), c1, c2, adjoint, start, 1e-6, q)
    assert isinstance(out, np.ndarray) and not isinstance(out, fake_cupy.ndarray) and out.shape == (B, 3)
    assert steps.dtype == np.int64 and isinstance(X, fake_cupy.ndarray) and X.shape == (B, q) and X.dtype == wide
    v0 = fake_cupy.hash_start(12345, np.arange(B), q, wide) if seeded else start
    want, want_steps, want_x = np.empty((B, 3)), np.empty(B, dtype=np.int64), np.empty((B, q), dtype=wide)
    small_gram_certify(
        A,
        c1,
        c2,
        adjoint,
        np.ascontiguousarray(v0, dtype=wide),
        1e-6,
        q,
        want,
        want_steps,
        want_x,
        np.dtype(dtype).kind == "c",
        1,  # one task
    )
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(steps, want_steps)
    np.testing.assert_array_equal(X.get(), want_x)
    truth = oracle(A) * c1 * c2
    assert np.all(out[:, 0] <= truth * (1 + 1e-12)) and np.all(truth <= out[:, 1] * (1 + 1e-12))
    names = [name for name, _, _ in fake_cupy.launches]
    assert names == ["small_gram_certify"]


def test_seeded_start_is_uniform_and_nonzero():
    x = fake_cupy.hash_start(7, np.arange(2000), 64, np.float64)
    assert np.all(np.abs(x) < 1) and np.all(x != 0)
    assert abs(x.mean()) < 0.01 and abs(np.mean(x * x) - 1 / 3) < 0.01  # uniform on (-1, 1)
    assert not np.array_equal(x, fake_cupy.hash_start(8, np.arange(2000), 64, np.float64))


def test_stack_certificate_geometry_and_grid_limit(be, monkeypatch):
    """Launches split at the grid limit (made tiny here): every matrix is computed once, by the right warp."""
    from spectra.backends import _cuda_launch as launch

    A = _stack(23, 12, 10, np.float64)
    ones = np.ones(23)
    full, _, _ = be.small_gram_certify(fake_cupy.asarray(A), ones, ones, False, 1, 1e-6, 10)
    monkeypatch.setattr(launch, "GRID_X_MAX", 2)
    fake_cupy.launches.clear()
    split, _, _ = be.small_gram_certify(fake_cupy.asarray(A), ones, ones, False, 1, 1e-6, 10)
    np.testing.assert_array_equal(split, full)
    geo = launch.certify_launch(23, 10, False, fake_cupy.MAX_SHARED)
    assert geo.warps == 4 and len(fake_cupy.launches) == len(geo.launches) == 3  # 8 matrices per launch
    assert [grid for _, grid, _ in fake_cupy.launches] == [(2,), (2,), (2,)]


@pytest.mark.parametrize("q", [1, 8, 32, 64])
@pytest.mark.parametrize("cplx", [False, True])
def test_certify_launch(q, cplx):
    from spectra.backends import _cuda_launch as launch
    from spectra.backends import _cuda_stack_kernels as stack_src

    geo = launch.certify_launch(100_000, q, cplx, 227 * 1024)
    per = stack_src.warp_shared_bytes(q, cplx)
    assert geo.shared_bytes == geo.warps * per and 1 <= geo.warps <= stack_src.MAX_WARPS
    assert geo.warps == 1 or geo.shared_bytes <= launch.CERTIFY_BLOCK_SHARED
    assert sum(blocks for _, blocks in geo.launches) * geo.warps >= 100_000
    assert launch.certify_launch(10, 65, cplx, 227 * 1024) is None  # beyond MAX_Q
    assert launch.certify_launch(0, q, cplx, 227 * 1024) is None
    if q == 64 and cplx:  # 131 KiB for one complex128 warp of order 64: an A100/H100 holds it, a 96 KiB device not
        assert launch.certify_launch(10, q, cplx, 163 * 1024) is not None
        assert launch.certify_launch(10, q, cplx, 96 * 1024) is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(20, 12), (12, 20)])
@pytest.mark.parametrize("certify_by", ["cpu_twin", "cuda_emulator"])
def test_norm_of_a_stack_through_the_certificate(be, monkeypatch, dtype, shape, certify_by):
    """Lanczos on a stack on the CuPy backend: the certificate settles every matrix (confidence 1). The kernel
    is emulated by its CPU twin, or by its own CUDA source on the warp emulator (tests/cuda_warp_emulator.py)."""
    monkeypatch.setattr(array_api_compat, "array_namespace", lambda *a, **k: fake_cupy.DeviceNamespace())
    monkeypatch.setattr(fake_cupy, "CERTIFY_BY", certify_by)
    A = _stack(6, *shape, dtype)
    op = make_operand(fake_cupy.asarray(A), "dense", be, check_finite=True, uses_gram=True)
    opts = Options(1e-6, True, 0.999, 1000, False, None, None, np.random.default_rng(0), True, False)
    fake_cupy.launches.clear()
    res = methods.get("lanczos")(op, opts)
    lower, upper = op.unscale(res.lower), op.unscale(res.upper)
    truth = oracle(A)
    assert np.all(lower <= truth * (1 + 1e-12)) and np.all(truth <= upper * (1 + 1e-12))
    assert np.all(res.deterministic) and np.all(res.converged)
    assert [name for name, _, _ in fake_cupy.launches if name == "small_gram_certify"] == ["small_gram_certify"]
    u, v = np.asarray(res.u)[..., 0], np.asarray(res.v)[..., 0]  # unit singular vectors of the effective operator
    Av = np.einsum("bij,bj->bi", np.asarray(A, dtype=np.complex128), v)
    np.testing.assert_allclose(np.linalg.norm(Av, axis=1), truth, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, rtol=1e-6)


def test_stack_fallback_and_warm_start_on_the_device(be, monkeypatch):
    """Matrices the certificate leaves go to the general path (indexed on the device); v0 on the wide side."""
    monkeypatch.setattr(array_api_compat, "array_namespace", lambda *a, **k: fake_cupy.DeviceNamespace())
    real = type(be).small_gram_certify

    def failing(self, A, *args):
        out, steps, X = real(self, A, *args)
        out[::2, 1] = np.inf
        return out, steps, X

    monkeypatch.setattr(type(be), "small_gram_certify", failing)
    A = _stack(4, 9, 14, np.float64)  # wide: the kernel works on A^H, v0 goes through A on the device
    op = make_operand(fake_cupy.asarray(A), "dense", be, check_finite=True, uses_gram=True)
    v0 = _rand((4, 14), np.float64, seed=5)
    opts = Options(1e-6, True, 0.999, 1000, False, None, v0, np.random.default_rng(0), True, False)
    res = methods.get("lanczos")(op, opts)
    truth = oracle(A)
    lower, upper = op.unscale(res.lower), op.unscale(res.upper)
    assert np.all(lower <= truth * (1 + 1e-12)) and np.all(truth <= upper * (1 + 1e-12))
    assert np.all(res.deterministic[1::2]) and not np.any(res.deterministic[::2])


# ---------------------------------------------------------------------------------------- multi-GPU
def test_kernels_run_on_the_device_that_holds_the_input(be):
    """An input on device 1 while device 0 is current: every launch and allocation on device 1, results there."""
    with fake_cupy.Device(1):
        A = fake_cupy.asarray(_rand((40, 30), np.float64))
        S = fake_cupy.asarray(_stack(5, 10, 8, np.complex64))
        X = fake_cupy.asarray(_rand((30, 2), np.float64, seed=1))
    assert fake_cupy._current[0] == 0 and A.device.id == 1
    fake_cupy.launches.clear()
    fake_cupy.launch_devices.clear()
    Y, Z = be.gram(A, X)
    assert Y.device.id == 1 and Z.device.id == 1
    be.max_abs(A)
    be.abs_stats(A, np.array([1.0]), np.array([1.0]))
    out, _, Xs = be.small_gram_certify(S, np.ones(5), np.full(5, 2.0), False, 3, 1e-6, 8)
    assert Xs.device.id == 1 and np.all(np.isfinite(out[:, 1]))
    assert be.from_host(np.ones(3), A).device.id == 1
    assert len(fake_cupy.launch_devices) >= 5 and set(fake_cupy.launch_devices) == {1}
    assert fake_cupy._current[0] == 0  # the caller's current device is restored
    with be.context(A):
        assert fake_cupy._current[0] == 1
    with be.context(np.ones(3)):  # not a device array: nothing changes
        assert fake_cupy._current[0] == 0


def test_a_launch_on_the_wrong_device_is_caught():
    """The fake's own check: an argument on another device than the current one fails the launch."""
    with fake_cupy.Device(1):
        A = fake_cupy.asarray(np.ones(10))
    out = fake_cupy.empty(2)
    kern = fake_cupy.RawModule(code=src_source(), options=src_options()).get_function("max_abs")
    with pytest.raises(AssertionError, match="on device 1, launched on 0"):
        kern((1,), (256,), (A, np.int64(10), out))


def src_source():
    from spectra.backends import _cuda_kernels

    return _cuda_kernels.source("float64")


def src_options():
    from spectra.backends import _cuda_kernels

    return _cuda_kernels.COMPILE_OPTIONS


def test_a_long_matrix_goes_to_the_fused_pass(be, monkeypatch):
    """Gram order <= 64 but a long side beyond CERTIFY_MAX_LONG_SIDE: lanczos runs on the fused Gram pass."""
    from spectra.backends import _cuda_launch as launch

    _device_vectors(monkeypatch)
    monkeypatch.setattr(launch, "CERTIFY_MAX_LONG_SIDE", 50)
    A = matrix_with_singular_values(spectrum("outlier", 8), 60, 8, dtype=np.float64, seed=2)
    assert not be.small_stack_takes(fake_cupy.asarray(A))
    assert be.small_stack_takes(fake_cupy.asarray(A[:50]))
    op = make_operand(fake_cupy.asarray(A), "dense", be, check_finite=True, uses_gram=True)
    opts = Options(1e-8, True, 0.999, 200, True, None, None, np.random.default_rng(0), False, False)
    fake_cupy.launches.clear()
    res = methods.get("lanczos")(op, opts)
    kernels = {name for name, _, _ in fake_cupy.launches}
    assert "small_gram_certify" not in kernels and "reduce_partials" in kernels
    truth = oracle(A)
    assert op.unscale(res.lower)[0] <= truth * (1 + 1e-12) <= op.unscale(res.upper)[0] * (1 + 2e-12)
