"""The GPU stack certificate ``small_gram_certify`` on a GPU: against LAPACK and against its CPU twin.

Marked ``gpu`` (deselected by default); run with ``python -m pytest -m gpu`` where an NVIDIA GPU exists.
Every interval is deterministic (confidence 1), so every sweep must show zero misses against the
float64/complex128 LAPACK oracle of the stored matrices, in every precision.
"""

from __future__ import annotations

import numpy as np
import pytest

import spectra
from spectra.backends.numba import NumbaBackend

from . import test_cupy_backend as gpu_suite
from .conftest import oracle
from .test_small_stack import DTYPES, PROFILES, _stack

pytestmark = pytest.mark.gpu

cp, be = gpu_suite.cp, gpu_suite.be  # the GPU suite's fixtures (CuPy with a device; the loaded backend)

SHAPES = [(32, 32), (8, 8), (40, 9), (9, 40), (1, 6), (6, 1), (64, 64), (3, 2), (700, 5), (5, 700)]


def _contains(lower, upper, truth, shape):
    slack = 4.0 * max(shape) * 2.0**-53  # the oracle's own rounding
    miss_low = np.flatnonzero(lower > truth * (1 + slack))
    miss_up = np.flatnonzero(truth > upper * (1 + slack))
    assert miss_low.size == 0 and miss_up.size == 0, (miss_low, miss_up)


#: (shape, adjoint) with Gram order q <= 64 on the kernel's side (the method always takes the smaller side)
SIDES = [(s, adj) for s in SHAPES for adj in (False, True) if (s[0] if adj else s[1]) <= 64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "adjoint"), SIDES)
def test_kernel_against_lapack_and_the_cpu_twin(cp, be, dtype, shape, adjoint):
    """The kernel's own output (before any fallback), both sides, adversarial spectra, scaled matrices."""
    m, n = shape
    q = m if adjoint else n
    A = np.concatenate([_stack(profile, 3, m, n, dtype, seed=7) for profile in PROFILES])
    B = A.shape[0]
    c1, c2 = np.ldexp(1.0, (np.arange(B) % 3) - 1), np.ldexp(1.0, -(np.arange(B) % 2))
    truth = oracle(A) * c1 * c2
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    v0 = np.random.default_rng(3).standard_normal((B, q)).astype(wide)
    out, steps, X = be.small_gram_certify(cp.asarray(A), c1, c2, adjoint, v0, 1e-6, q)
    assert X.shape == (B, q) and isinstance(X, cp.ndarray)
    assert np.all(steps >= 1) and np.all(steps <= q)
    _contains(out[:, 0], out[:, 1], truth, shape)
    # the CPU twin settles every one of these within rtol (checked); so must the same arithmetic on the GPU
    assert np.all(out[:, 1] <= (1 + 1e-6) * out[:, 0]), np.flatnonzero(~(out[:, 1] <= (1 + 1e-6) * out[:, 0]))
    cpu, _, _ = NumbaBackend().small_gram_certify(A, c1, c2, adjoint, v0, 1e-6, q)
    np.testing.assert_allclose(out[:, 2], cpu[:, 2], rtol=2e-6)  # both inside intervals of width 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(32, 32), (40, 9), (9, 40), (64, 64), (6, 1)])
def test_certified_interval_sweep_on_cupy_stacks(cp, dtype, shape):
    """spectra.norm on CuPy stacks: confidence 1 and zero misses for every profile, the result on the device."""
    for profile in PROFILES:
        A = _stack(profile, 20, *shape, dtype, seed=11)
        r = spectra.norm(cp.asarray(A), method="lanczos", seed=1)
        assert r.backend == "cupy" and isinstance(r.lower, cp.ndarray)
        assert np.all(cp.asnumpy(r.confidence) == 1.0)
        lower, upper = cp.asnumpy(r.lower), cp.asnumpy(r.upper)
        _contains(lower, upper, oracle(A), shape)
        assert np.all(cp.asnumpy(r.converged))
        assert np.all(upper / lower - 1 <= 1e-6), (profile, np.max(upper / lower - 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_scales_and_known_values(cp, dtype):
    single = np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64))
    scales = [1e30, 1e-30, 1.0] if single else [1e300, 1e-300, 1.0]
    A = _stack("outlier", 6, 12, 10, dtype, seed=3, scales=scales)
    r = spectra.norm(cp.asarray(A), method="lanczos", seed=0)
    _contains(cp.asnumpy(r.lower), cp.asnumpy(r.upper), oracle(A), A.shape[-2:])
    K = np.stack([np.ones((9, 4)), np.pad(np.diag([3.0, 2.0, 1.0, 0.5]), ((0, 5), (0, 0))), np.zeros((9, 4))])
    r = spectra.norm(cp.asarray(K.astype(dtype)), method="lanczos", seed=0)
    lower, upper = cp.asnumpy(r.lower), cp.asnumpy(r.upper)
    assert lower[0] <= 6.0 <= upper[0] and lower[1] <= 3.0 <= upper[1] and lower[2] == 0.0


def test_seeded_start_is_reproducible_and_vectors_are_unit(cp):
    A = _stack("clustered", 50, 16, 11, np.complex128, seed=4)
    r1 = spectra.norm(cp.asarray(A), method="lanczos", seed=5, return_vectors=True)
    r2 = spectra.norm(cp.asarray(A), method="lanczos", seed=5)
    np.testing.assert_array_equal(cp.asnumpy(r1.value), cp.asnumpy(r2.value))
    u, v = cp.asnumpy(r1.u), cp.asnumpy(r1.v)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(np.einsum("bij,bj->bi", A, v), axis=1), oracle(A), rtol=1e-6)


def test_explicit_budget(cp):
    A = _stack("flat", 30, 32, 32, np.float64, seed=2)
    r = spectra.norm(cp.asarray(A), method="lanczos", seed=0, maxiter=1)
    _contains(cp.asnumpy(r.lower), cp.asnumpy(r.upper), oracle(A), (32, 32))


def test_a_large_stack_in_one_launch(cp):
    """100 000 matrices of 8 x 8 (the benchmark's second size): zero misses."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((100_000, 8, 8)).astype(np.float32)
    r = spectra.norm(cp.asarray(A), method="lanczos", rtol=1e-6, seed=0)
    _contains(cp.asnumpy(r.lower), cp.asnumpy(r.upper), oracle(A), (8, 8))
    assert np.all(cp.asnumpy(r.confidence) == 1.0)


def test_second_device(cp):
    """Multi-GPU: a stack on device 1 is computed there, the result stays there, device 0 stays current."""
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("one GPU: the multi-GPU path is covered by the fake-device test in test_cupy_shim.py")
    A = _stack("outlier", 40, 20, 12, np.float64, seed=1)
    with cp.cuda.Device(1):
        Ad = cp.asarray(A)
    r = spectra.norm(Ad, method="lanczos", seed=0)
    assert r.lower.device.id == 1 and cp.cuda.Device().id == 0
    _contains(cp.asnumpy(r.lower), cp.asnumpy(r.upper), oracle(A), (20, 12))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "adjoint"), [((9, 6), False), ((6, 40), True), ((32, 32), False)])
def test_device_computes_what_the_cpu_warp_emulator_computes(cp, be, dtype, shape, adjoint):
    """The same source, the same operation order, IEEE double on both sides (``--fmad=false`` on the device,
    ``-ffp-contract=off`` on the host): the GPU's results equal the emulator's bit for bit, which is what
    makes the emulated tests of CI (tests/test_cuda_emulated.py) evidence about the device."""
    import shutil

    from . import cuda_warp_emulator as emu

    if shutil.which("g++") is None:
        pytest.skip("no host C++ compiler on this GPU machine: the emulator cannot be built here")
    A = np.concatenate([_stack(profile, 2, *shape, dtype, seed=9) for profile in PROFILES])
    B = A.shape[0]
    q = shape[0] if adjoint else shape[1]
    c1, c2 = np.ldexp(1.0, (np.arange(B) % 3) - 1), np.full(B, 0.5)
    out, _, X = be.small_gram_certify(cp.asarray(A), c1, c2, adjoint, 77, 1e-6, q)
    want, want_x, _ = emu.small_gram_certify(A, c1, c2, adjoint, 77, 1e-6, q)
    np.testing.assert_array_equal(out, want[:, :3])
    np.testing.assert_array_equal(X.get(), want_x)
