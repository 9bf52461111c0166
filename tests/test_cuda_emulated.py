"""The CUDA source of ``small_gram_certify`` executed on the CPU (tests/cuda_warp_emulator.py), without a GPU.

The very string the CuPy backend compiles runs with 32 lanes (fibers) per warp, the backend's launch
geometry and argument layout; its certified intervals are checked against LAPACK (zero misses, every dtype,
both sides, adversarial spectra, several tiles, scaled matrices) and its estimates against the CPU twin
(``_numba_stack``). A divergent shuffle or ``__syncwarp`` makes the emulated launch fail.
The device's own compiler and timing are checked by NVRTC (test_cupy_host.py) and ``-m gpu``.
"""

from __future__ import annotations

import numpy as np
import pytest

from spectra.backends import _cuda_launch as launch
from spectra.backends.numba import NumbaBackend

from . import cuda_warp_emulator as emu
from . import fake_cupy
from .conftest import oracle
from .test_small_stack import DTYPES, PROFILES, _stack

#: (m, n, adjoint): tall and wide on both sides, one row/column (q = 1 included), several tiles of 32 rows
CASES = [
    (9, 6, False),
    (6, 9, True),
    (9, 6, True),
    (1, 5, False),
    (5, 1, True),
    (6, 1, False),
    (70, 3, False),
    (3, 70, True),
]


def _check(out, A, c1, c2, rtol):
    truth = oracle(A) * c1 * c2
    slack = 4.0 * max(A.shape[-2:]) * 2.0**-53
    lower, upper = out[:, 0], out[:, 1]
    assert np.all(lower <= truth * (1 + slack)), np.flatnonzero(lower > truth * (1 + slack))
    assert np.all(truth <= upper * (1 + slack)), np.flatnonzero(truth > upper * (1 + slack))
    assert np.all(upper <= (1 + rtol) * lower)  # every one settled by the certificate


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("m", "n", "adjoint"), CASES)
def test_emulated_kernel_certifies_and_matches_the_cpu_twin(dtype, m, n, adjoint):
    A = np.concatenate([_stack(profile, 1, m, n, dtype, seed=5) for profile in PROFILES])
    B = A.shape[0]
    q = m if adjoint else n
    c1, c2 = np.ldexp(1.0, (np.arange(B) % 3) - 1), np.ldexp(1.0, -(np.arange(B) % 2))
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    v0 = np.random.default_rng(2).standard_normal((B, q)).astype(wide)
    out, X, _ = emu.small_gram_certify(A, c1, c2, adjoint, v0, 1e-6, q)
    _check(out, A, c1, c2, 1e-6)
    # The numba kernel estimates with a different recurrence (no reorthogonalisation, 2 steps per retry), so
    # within the same step budget it may leave a matrix to the general path (upper = inf); where both certified,
    # the estimates agree to the certificate's width.
    cpu, _, _ = NumbaBackend().small_gram_certify(A, c1, c2, adjoint, v0, 1e-6, q)
    both = np.isfinite(cpu[:, 1])
    assert both.sum() >= B // 2
    np.testing.assert_allclose(out[both, 2], cpu[both, 2], rtol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_emulated_kernel_on_32_by_32(dtype):
    """The benchmark's size: one tile, 2 warps per block, the Ritz test every other step."""
    A = _stack("clustered", 3, 32, 32, dtype, seed=1)
    out, _, geo = emu.small_gram_certify(A, np.ones(3), np.ones(3), False, 11, 1e-6, 32)
    assert geo.warps == (2 if np.dtype(dtype).kind == "f" else 1)
    _check(out, A, np.ones(3), np.ones(3), 1e-6)


def test_seeded_start_matches_the_host_mirror():
    """With one Lanczos step the Ritz vector is the normalised start: the kernel's hash equals fake_cupy's."""
    for dtype in (np.float64, np.complex64):
        A = _stack("flat", 5, 7, 6, dtype)
        wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
        _, X, _ = emu.small_gram_certify(A, np.ones(5), np.ones(5), False, 2**63 + 12345, 1e-6, 1)
        start = fake_cupy.hash_start(2**63 + 12345, np.arange(5), 6, wide)
        start /= np.linalg.norm(start, axis=1, keepdims=True)
        np.testing.assert_allclose(np.abs(np.sum(X * start.conj(), axis=1)), 1.0, rtol=1e-12)  # up to sign


def test_every_matrix_once_across_blocks_and_launches(monkeypatch):
    """7 matrices, 4 warps per block (the last block half empty), launches split at a (tiny) grid limit."""
    A = _stack("outlier", 7, 6, 5, np.float64, seed=3)
    ones = np.ones(7)
    out, _, geo = emu.small_gram_certify(A, ones, ones, False, 1, 1e-6, 5)
    assert geo.warps == 4 and geo.launches == ((0, 2),)
    monkeypatch.setattr(launch, "GRID_X_MAX", 1)
    split, _, geo = emu.small_gram_certify(A, ones, ones, False, 1, 1e-6, 5)
    assert geo.launches == ((0, 1), (4, 1))
    np.testing.assert_array_equal(split, out)  # the same warp arithmetic wherever the matrix lands
    _check(out, A, ones, ones, 1e-6)


def test_known_values_and_breakdowns():
    """ones(9, 4) (rank one: invariant subspace after one step), diag(3, 2, 1, 0.5), the zero matrix."""
    A = np.stack([np.ones((9, 4)), np.pad(np.diag([3.0, 2.0, 1.0, 0.5]), ((0, 5), (0, 0))), np.zeros((9, 4))])
    out, _, _ = emu.small_gram_certify(A, np.ones(3), np.ones(3), False, 4, 1e-6, 4)
    assert out[0, 0] <= 6.0 <= out[0, 1] and out[0, 1] - out[0, 0] <= 6e-6
    assert out[1, 0] <= 3.0 <= out[1, 1] and out[1, 1] - out[1, 0] <= 3e-6
    assert out[2, 0] == out[2, 1] == 0.0  # the zero matrix: exactly 0, as the CPU twin


_LANES = r"""
__global__ void lanes(double* out, long long diverge) {
    const int lane = threadIdx.x & 31;
    if (diverge && lane == 7) { out[lane] = -1.0; return; }  /* lane 7 skips the shuffle */
    out[lane] = __shfl_xor_sync(0xffffffffu, (double)lane, 1);
}
"""
_LANES_WRAPPER = r"""
struct LaneArgs { double* out; long long diverge; };
static void lanes_body(void* p) { lanes(static_cast<LaneArgs*>(p)->out, static_cast<LaneArgs*>(p)->diverge); }
extern "C" int run_lanes(double* out, long long diverge) {
    LaneArgs a{out, diverge};
    return emulate_launch(1, 32, lanes_body, &a);
}
"""


def test_the_emulator_shuffles_and_refuses_divergent_lanes():
    """A shuffle exchanges the values of lanes ``l`` and ``l ^ 1``; a lane that returns while the others wait
    at the shuffle makes the launch fail (the warp-uniformity the emulator checks)."""
    import ctypes

    lib = emu.build(_LANES, _LANES_WRAPPER, 16)
    out = np.full(32, np.nan)
    assert lib.run_lanes(ctypes.c_void_p(out.ctypes.data), ctypes.c_longlong(0)) == 0
    np.testing.assert_array_equal(out, np.arange(32) ^ 1)
    assert lib.run_lanes(ctypes.c_void_p(out.ctypes.data), ctypes.c_longlong(1)) == 1


def test_zero_matrix_gives_zero_lower_bound_not_nan():
    """Regression: the zero matrix's Ritz value is a subnormal shift (~1e-312); inverse iteration divided by a
    subnormal pivot, overflowed and returned lower = NaN (in the CPU twin as well; the fallback hid it)."""
    A = np.zeros((2, 9, 4))
    for out in (
        emu.small_gram_certify(A, np.ones(2), np.ones(2), False, 4, 1e-6, 4)[0],
        NumbaBackend().small_gram_certify(A, np.ones(2), np.ones(2), False, np.ones((2, 4)), 1e-6, 4)[0],
    ):
        assert np.all(out[:, 0] == 0.0) and np.all(out[:, 1] <= 1e-150) and not np.any(np.isnan(out))


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_matrix_is_settled_as_exactly_zero_like_the_cpu_twin(dtype):
    """Regression: the CUDA kernel ran Lanczos on a zero matrix and returned the upper bound 9e-154 (the square
    root of its underflow slack), so the matrix was not settled and went on to the general path, where the
    CPU twin returns [0, 0]. Now both return exactly [0, 0]. A matrix whose only entry is a complex number so
    small that its squared modulus underflows is not mistaken for zero."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((6, 9, 4))
    if np.dtype(dtype).kind == "c":
        A = A + 1j * rng.standard_normal(A.shape)
    A = A.astype(dtype)
    A[[0, 4]] = 0
    ones = np.ones(6)
    out, _, _ = emu.small_gram_certify(A, ones, ones, False, 4, 1e-6, 16)
    twin, _, _ = NumbaBackend().small_gram_certify(A, ones, ones, False, np.ones((6, 4)), 1e-6, 16)
    assert np.all(out[[0, 4], :4] == 0.0) and np.all(twin[[0, 4], :4] == 0.0), (out[[0, 4]], twin[[0, 4]])
    _check(out[[1, 2, 3, 5]], A[[1, 2, 3, 5]], ones[:4], ones[:4], 1e-6)
    if np.dtype(dtype).kind == "c":
        tiny = np.zeros((1, 9, 4), dtype=np.complex128)
        tiny[0, 2, 1] = 1e-170j  # |a|^2 = 1e-340 underflows to 0 in float64
        out, _, _ = emu.small_gram_certify(tiny, ones[:1], ones[:1], False, 4, 1e-6, 16)
        assert out[0, 0] <= 1e-170 * (1 + 1e-12) and 1e-170 <= out[0, 1]  # not [0, 0]: the interval holds


def test_explicit_budget_gives_valid_bounds():
    A = _stack("geometric", 4, 16, 12, np.float64, seed=8)
    out, _, _ = emu.small_gram_certify(A, np.ones(4), np.ones(4), False, 3, 1e-6, 2)
    truth = oracle(A)
    assert np.all(out[:, 3] <= 2) and np.all(out[:, 0] <= truth * (1 + 1e-15))
    ok = np.isfinite(out[:, 1])  # a two-step estimate may be too low for the certificate: then inf
    assert np.all(truth[ok] <= out[ok, 1] * (1 + 1e-15))
