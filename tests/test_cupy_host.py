"""The CuPy backend's host side, without a GPU: kernels compiled by NVRTC for sm_80/sm_90 (register,
spill and stack report), launch geometry, dispatch, and one device-to-host transfer per iteration."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import types
from pathlib import Path

import array_api_strict as xs
import numpy as np
import pytest
import scipy.sparse as sp

import spectra
from spectra import backends, methods
from spectra._errors import BackendUnavailableError
from spectra._operand import make_operand
from spectra._testing import matrix_with_singular_values, spectrum
from spectra.backends import _cuda_kernels as src
from spectra.backends import _cuda_launch as launch
from spectra.backends._base import ArrayAPIBackend
from spectra.methods._common import Options

from .nvrtc import compile_cubin, ptxas_report

ARCHS = ["sm_80", "sm_90"]


def _kernel_modules() -> list[str]:
    """Every CUDA source module of the backend (``spectra/backends/_cuda_*kernels.py``): new ones are found."""
    root = Path(src.__file__).parent
    return sorted(p.stem for p in root.glob("_cuda_*kernels.py"))


def test_kernel_modules_are_discovered():
    assert {"_cuda_kernels", "_cuda_stack_kernels"} <= set(_kernel_modules())


# ---------------------------------------------------------------------------------------- NVRTC compile
@pytest.fixture(
    scope="module",
    params=[(m, d, a) for m in _kernel_modules() for d in src.DTYPES for a in ARCHS],
    ids=lambda p: f"{p[0].strip('_')}-{p[1]}-{p[2]}",
)
def compiled(request):
    name, dtype, arch = request.param
    kernels = importlib.import_module(f"spectra.backends.{name}")
    assert kernels.COMPILE_OPTIONS == src.COMPILE_OPTIONS  # the single compile policy
    options = [f"--gpu-architecture={arch}", "-Xptxas", "-v", *kernels.COMPILE_OPTIONS]
    return kernels, compile_cubin(kernels.source(dtype), f"spectra{name}_{dtype}.cu", options)


def test_every_kernel_compiles_without_spills(compiled):
    """Every entry point the backend launches, for every module and dtype, on sm_80 and sm_90: no spill, no stack."""
    kernels, compiled = compiled
    assert compiled.cubin[:4] == b"\x7fELF"
    report = ptxas_report(compiled.log)
    assert set(report) == set(kernels.kernel_names()), compiled.log
    for name in kernels.HOT_KERNELS:
        r = report[name]
        assert r.spill_stores == 0 and r.spill_loads == 0, (name, r)
        assert r.stack == 0, (name, r)  # no local-memory stack frame (register arrays stay in registers)
        assert r.registers <= 65536 // src.THREADS, (name, r)  # a block of THREADS threads fits an SM


def test_no_implicit_contraction():
    """The compile policy forbids implicit FMA contraction: the rounding analysis of bounds.md §7 counts every
    multiply and add of the certificate separately; FMA appears only where written as ``fma()``."""
    assert "--fmad=false" in src.COMPILE_OPTIONS
    assert not any("fast" in o or "fmad=true" in o for o in src.COMPILE_OPTIONS)


def test_ptxas_report_parser_reads_spills():
    log = (
        "ptxas info    : Function properties for gram_rows_k3\n"
        "ptxas         .     16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n"
        "ptxas info    : Used 255 registers, used 1 barriers\n"
    )
    r = ptxas_report(log)["gram_rows_k3"]
    assert (r.registers, r.stack, r.spill_stores, r.spill_loads) == (255, 16, 8, 4)


def test_a_compile_error_is_reported():
    from .nvrtc import NVRTCError

    with pytest.raises(NVRTCError, match="undefined"):
        compile_cubin('extern "C" __global__ void k() { undefined_name(); }', "bad.cu", ["--gpu-architecture=sm_80"])


@pytest.mark.parametrize("name", _kernel_modules())
def test_index_arithmetic_is_64_bit(name):
    """Loops over elements use ``long long``; ``int`` loop counters only run over warps, lanes, slots and k."""
    kernels = importlib.import_module(f"spectra.backends.{name}")
    for dtype in kernels.DTYPES:
        code = kernels.source(dtype)
        counters = set(re.findall(r"for \(int (\w+) =", code))
        assert counters <= {"kk", "s", "off", "w"}, counters
        assert "long long e = " in code


# ---------------------------------------------------------------------------------------- launch geometry
@pytest.mark.parametrize("m", [1, 7, 255, 256, 257, 10_000, 3_000_001])
@pytest.mark.parametrize("n", [1, 100, 20_000])
@pytest.mark.parametrize("k", [1, 5, 16])
def test_rows_launch_covers_every_row_once(m, n, k):
    geo = launch.rows_launch(m, n, k, 4, sm_count=132, max_shared=227 * 1024)
    if launch.gram_rows_shared_bytes(n, k, 4) > 227 * 1024:
        assert geo is None
        return
    assert geo.blocks * geo.rows_per_block >= m > (geo.blocks - 1) * geo.rows_per_block  # no empty block
    assert 1 <= geo.blocks <= min(m, launch.GRID_X_MAX)
    assert geo.shared_bytes <= 227 * 1024


def test_rows_launch_declines():
    assert launch.rows_launch(100, 100, 17, 8, 132, 227 * 1024) is None  # k above MAX_K: two cuBLAS products
    assert launch.rows_launch(100, 100, 0, 8, 132, 227 * 1024) is None
    assert launch.rows_launch(0, 100, 1, 8, 132, 227 * 1024) is None
    # the accumulator n x k must fit: 20 000 float32 columns fit for k = 1 on an H100-class device, not k = 4
    assert launch.rows_launch(20_000, 20_000, 1, 4, 132, 227 * 1024) is not None
    assert launch.rows_launch(20_000, 20_000, 4, 4, 132, 227 * 1024) is None


def test_grid_1d_stays_within_the_grid_limit():
    assert launch.grid_1d(1, 132) == 1
    assert launch.grid_1d(10**15, 132) == 132 * 8  # grid-stride beyond
    assert launch.grid_1d(10**15, 10**9) == launch.GRID_X_MAX


def test_stack_launches_split_at_the_grid_limit():
    assert launch.stack_launches(100_000, 32, 32, 1, 16, 227 * 1024) == [(0, 100_000)]
    big = 2 * launch.GRID_X_MAX + 5
    parts = launch.stack_launches(big, 4, 4, 1, 8, 48 * 1024)
    assert parts == [(0, launch.GRID_X_MAX), (launch.GRID_X_MAX, launch.GRID_X_MAX), (2 * launch.GRID_X_MAX, 5)]
    assert launch.stack_launches(10, 200, 200, 1, 16, 227 * 1024) is None  # 640 KB per matrix: cuBLAS


def test_stats_launch():
    geo = launch.stats_launch(1000, 132)
    assert geo.blocks * geo.rows_per_block >= 1000 > (geo.blocks - 1) * geo.rows_per_block


# ---------------------------------------------------------------------------------------- dispatch
@pytest.fixture
def fresh_registry(monkeypatch):
    monkeypatch.setattr(backends, "_cache", {})
    monkeypatch.delitem(sys.modules, "spectra.backends.cupy", raising=False)


def test_missing_cupy_names_the_extra(fresh_registry, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    with pytest.raises(BackendUnavailableError, match=r'pip install "spectra-linalg\[cupy\]"'):
        backends._load("cupy")


def _fake_cupy(monkeypatch):
    """A CuPy that imports but finds no device (as on a machine without a driver)."""
    runtime = types.SimpleNamespace()

    class CUDARuntimeError(RuntimeError):
        pass

    def no_device():
        raise CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    runtime.CUDARuntimeError, runtime.getDeviceCount = CUDARuntimeError, no_device
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=runtime)
    fake.ndarray = type("ndarray", (), {"ndim": 2, "shape": (3, 3), "dtype": np.dtype(np.float64)})
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def test_no_gpu_is_reported_as_such(fresh_registry, monkeypatch):
    fake = _fake_cupy(monkeypatch)
    with pytest.raises(BackendUnavailableError, match="no usable NVIDIA GPU"):
        backends._load("cupy")
    with pytest.raises(BackendUnavailableError, match="no usable NVIDIA GPU"):  # auto routes CuPy arrays there
        backends.resolve(fake.ndarray(), "auto")


def test_cupy_backend_refuses_host_arrays(fresh_registry, monkeypatch):
    """A host array is refused where the CuPy backend loads (no silent transfer to the device)."""
    monkeypatch.setitem(backends._cache, "cupy", object())  # stands for a CuPy backend that loaded
    with pytest.raises(ValueError, match="no silent device transfers"):
        spectra.norm(np.eye(3), backend="cupy")


def test_backend_cupy_without_cupy_names_the_extra(fresh_registry, monkeypatch):
    """Regression: without CuPy, ``backend="cupy"`` on a host array raised ValueError (the input check ran before
    the library was loaded) instead of the documented BackendUnavailableError naming the pip extra."""
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError, whether or not it is installed
    for A in (np.eye(3), sp.eye(3, format="csr"), [[1.0, 0.0], [0.0, 2.0]]):
        with pytest.raises(BackendUnavailableError, match=r"spectra-linalg\[cupy\]"):
            spectra.norm(A, backend="cupy")


def test_import_spectra_imports_no_gpu_library():
    code = "import sys, spectra; print(sorted(m for m in ('cupy', 'cupyx', 'torch', 'jax') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------------------------- synchronisation
_DEVICE = xs.Device("device1")  # array-api-strict refuses implicit host conversion of arrays on it


class CountingBackend(ArrayAPIBackend):
    """The reference primitives on arrays that live on a second (simulated) device; counts transfers.

    ``np.asarray`` of such an array raises, so a transfer that bypasses :meth:`to_host` fails the test.
    """

    name = "counting"

    def __init__(self):
        self.transfers = 0

    def to_host(self, x):
        self.transfers += 1
        return np.asarray(x.to_device(xs.Device("CPU_DEVICE")))


def _transfers(method: str, maxiter: int, dtype, block_size=None) -> tuple[int, int]:
    A = matrix_with_singular_values(spectrum("flat", 60), 90, 60, dtype=dtype, seed=0)
    be = CountingBackend()
    op = make_operand(xs.asarray(A, device=_DEVICE), "dense", be, check_finite=True)
    opts = Options(1e-15, True, 0.999, maxiter, True, block_size, None, np.random.default_rng(0), False, False)
    before = be.transfers
    res = methods.get(method)(op, opts)
    return be.transfers - before, res.iterations


@pytest.mark.parametrize("method", ["power", "lanczos"])
@pytest.mark.parametrize("dtype", [np.float64, np.complex64])
def test_one_transfer_per_iteration(method, dtype, monkeypatch):
    scalar_reads = []
    for conv in ("__float__", "__bool__", "__int__", "__complex__"):
        orig = getattr(type(xs.asarray(0.0)), conv)

        def counted(self, *a, _orig=orig):
            if self.device == _DEVICE:
                scalar_reads.append(self)
            return _orig(self, *a)

        monkeypatch.setattr(type(xs.asarray(0.0)), conv, counted)
    t_short, it_short = _transfers(method, 4, dtype)
    t_long, it_long = _transfers(method, 8, dtype)
    assert it_long > it_short
    assert scalar_reads == []  # no hidden synchronisation through Python scalars
    assert t_long - t_short <= it_long - it_short  # at most one transfer per further iteration
    assert t_short <= it_short + 2  # plus the final certificate's two norms


@pytest.mark.parametrize("dtype", [np.float64, np.complex64])
def test_randomized_transfers_per_pass(dtype):
    """One transfer per block pass: the projected small problem (both Gram-Schmidt coefficients and both
    QR factors of the twice-orthogonalised block, docs/design.md). It was four before (CholeskyQR2's host
    decisions and the residual probes' norms)."""
    t_short, it_short = _transfers("randomized", 3, dtype, block_size=4)
    t_long, it_long = _transfers("randomized", 6, dtype, block_size=4)
    assert it_long > it_short
    assert t_long - t_short == it_long - it_short


# ---------------------------------------------------------------------------------------- benchmarks
def test_gpu_benchmarks_are_skipped_without_a_device(monkeypatch):
    """asv reports NotImplementedError from setup as skipped; the reason names the missing device."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "asv_bench"))
    bench_gpu = importlib.import_module("benchmarks.bench_gpu")
    for cls in (bench_gpu.FusedPass, bench_gpu.CertifiedGaussian, bench_gpu.SmallStack):
        with pytest.raises(NotImplementedError, match="no usable CUDA device"):
            cls().setup(*(values[0] for values in cls.params))
