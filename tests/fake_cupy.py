"""A NumPy-backed stand-in for the parts of CuPy that the backend's kernel wrappers use, without a GPU.

Devices: every array remembers the device that was current when it was made (``cuda.Device(i)`` as a
context manager switches it), and a kernel launch asserts that each array argument lives on the current
device, as a real launch needs. ``small_gram_certify`` is emulated by its CPU twin
(``spectra.backends._numba_stack``) on the matrices each warp owns, with the start the kernel would use.

``RawModule(...).get_function(name)`` returns an emulator of that entry point's documented contract
(spectra/backends/_cuda_kernels.py) which reads its pointer arguments as flat device memory (base
pointer plus the strides the kernel uses), block by block as the launch geometry assigns the work. So the
host wrapper's argument order, views, buffer shapes, conjugations and geometry are checked against the
kernels' contract; the CUDA C itself is checked by NVRTC (compile) and on a GPU (``-m gpu``).
"""

from __future__ import annotations

import re
import types

import numpy as np

from spectra.backends import _cuda_kernels as src
from spectra.backends import _cuda_stack_kernels as stack_src

SM_COUNT = 4
MAX_SHARED = 100 * 1024


_current = [0]  # the current device


class Device:
    """``cupy.cuda.Device``: a context manager that makes device ``id`` current."""

    def __init__(self, id=None):
        self.id = _current[0] if id is None else int(id)
        self._previous: list[int] = []

    def __enter__(self):
        self._previous.append(_current[0])
        _current[0] = self.id
        return self

    def __exit__(self, *exc):
        _current[0] = self._previous.pop()

    def synchronize(self):
        pass


class ndarray(np.ndarray):  # the name CuPy uses
    def __array_finalize__(self, obj):
        self._device_id = getattr(obj, "_device_id", _current[0])  # views and results stay where they are

    def get(self) -> np.ndarray:
        return np.array(self.view(np.ndarray))

    @property
    def device(self):
        return types.SimpleNamespace(id=self._device_id)


def _wrap(x) -> ndarray:
    return np.asarray(x).view(ndarray)


def empty(shape, dtype=np.float64):
    return _wrap(np.full(shape, np.nan, dtype=dtype))  # NaN: an output the kernel forgot to write shows


def ones(shape, dtype=np.float64):
    return _wrap(np.ones(shape, dtype=dtype))


def asarray(x, dtype=None):
    return _wrap(np.asarray(x, dtype=dtype))


def ascontiguousarray(x, dtype=None):
    return _wrap(np.ascontiguousarray(x, dtype=dtype))


def stack(xs):
    return _wrap(np.stack([np.asarray(x) for x in xs]))


float64 = np.float64
complex128 = np.complex128


class DeviceNamespace:
    """``array_api_compat.numpy`` whose ``concat`` keeps the device type (NumPy's would drop it)."""

    def __getattr__(self, name):
        import array_api_compat.numpy

        return getattr(array_api_compat.numpy, name)

    def concat(self, arrays, axis=0):
        return _wrap(np.concatenate([np.asarray(a) for a in arrays], axis=axis))


linalg = types.SimpleNamespace(svd=lambda A, **kw: np.linalg.svd(np.asarray(A), **kw))
launches: list[tuple[str, tuple, int]] = []  # (kernel, grid, shared bytes) of every launch
launch_devices: list[int] = []  # the current device at every launch
#: how ``small_gram_certify`` is emulated: by its CPU twin ("cpu_twin") or its CUDA source ("cuda_emulator")
CERTIFY_BY = "cpu_twin"


def _flat(a):
    """A pointer argument as its flat memory (shared with the array), other arguments as they are."""
    return _memory(a) if isinstance(a, np.ndarray) and a.ndim else a


def _memory(a) -> np.ndarray:
    """The flat device memory behind a pointer argument (a contiguous array, C or F order)."""
    a = np.asarray(a)
    assert a.flags.c_contiguous or a.flags.f_contiguous, "a kernel was passed a non-contiguous array"
    return a.reshape(-1, order="C" if a.flags.c_contiguous else "F")  # a view in memory order


def _out(a) -> np.ndarray:
    flat = _memory(a)
    assert np.shares_memory(flat, np.asarray(a))
    return flat


class _Kernel:
    def __init__(self, name: str, dtype: np.dtype):
        self.name, self.dtype = name, dtype
        self.max_dynamic_shared_size_bytes = 48 * 1024

    def __call__(self, grid, block, args, shared_mem: int = 0):
        certify = self.name == "small_gram_certify"
        assert block == (src.THREADS,) or (certify and block[0] in (32, 64, 128)), block
        assert 1 <= grid[0] <= 2**31 - 1
        assert shared_mem <= max(self.max_dynamic_shared_size_bytes, 48 * 1024) and shared_mem <= MAX_SHARED
        wide = np.dtype(np.complex128 if self.dtype.kind == "c" else np.float64)
        for a in args:
            if isinstance(a, np.ndarray) and a.dtype.kind in "fc" and a.ndim and self.name != "reduce_real":
                ok = a.dtype in (self.dtype, np.dtype(np.float64)) or (certify and a.dtype == wide)
                assert ok, (self.name, a.dtype)
            if isinstance(a, ndarray):
                where = f"{self.name}: an argument on device {a.device.id}, launched on {_current[0]}"
                assert a.device.id == _current[0], where
        launches.append((self.name, grid, shared_mem))
        launch_devices.append(_current[0])
        if certify:
            return self._small_gram_certify(grid[0], block[0] // 32, shared_mem, *args)
        k = re.fullmatch(r"gram_rows_k(\d+)", self.name)
        if k:
            with np.errstate(invalid="ignore"):  # as for gram_stack below
                return self._gram_rows(int(k.group(1)), grid[0], shared_mem, *args)
        if self.name == "gram_stack":
            # OpenBLAS can leave a spurious FE_INVALID flag after small float32 products of finite data
            # (numpy/numpy#24067, OpenMathLib/OpenBLAS#1924); the tests compare every output with a
            # reference, so a real NaN still fails them.
            with np.errstate(invalid="ignore"):
                return self._gram_stack(grid[0], *args)
        return getattr(self, "_" + self.name)(grid[0], *args)

    def _gram_rows(self, K, blocks, shared, A, lda, X, c, Y, Zp, m, n, rpb):
        assert shared >= (n * K + (src.THREADS // 32 + 1) * K) * self.dtype.itemsize
        assert blocks * rpb >= m
        a, x, y, zp = _memory(A), _memory(X).reshape(n, K), _out(Y).reshape(m, K), _out(Zp).reshape(blocks, n, K)
        cr = np.real(_memory(c)[0])
        for b in range(blocks):
            r0, r1 = b * rpb, min(m, (b + 1) * rpb)
            rows = np.stack([a[i * lda : i * lda + n] for i in range(r0, r1)]) if r1 > r0 else np.zeros((0, n))
            y[r0:r1] = rows @ x
            zp[b] = rows.conj().T @ (cr * y[r0:r1])

    def _reduce_partials(self, blocks, P, out, size, parts):
        _out(out)[:size] = _memory(P)[: parts * size].reshape(parts, size).sum(axis=0)

    _reduce_real = _reduce_partials

    def _gram_stack(self, count, A, X, c, c_stride, Y, Z, first, m, n, k):
        a, x, cm, y, z = _memory(A), _memory(X), _memory(c), _out(Y), _out(Z)
        for b in range(first, first + count):
            Ab = a[b * m * n : (b + 1) * m * n].reshape(m, n)
            yb = Ab @ x[b * n * k : (b + 1) * n * k].reshape(n, k)
            y[b * m * k : (b + 1) * m * k] = yb.reshape(-1)
            z[b * n * k : (b + 1) * n * k] = (Ab.conj().T @ (np.real(cm[b * c_stride]) * yb)).reshape(-1)

    def _max_abs(self, blocks, A, size, out):
        a, o = _memory(A)[:size], _out(out)
        owner = (np.arange(size) // src.THREADS) % blocks  # grid-stride assignment
        for b in range(blocks):
            v = a[owner == b]
            fin = np.isfinite(v)
            o[2 * b] = np.max(np.abs(v[fin]).astype(np.float64), initial=0.0)
            o[2 * b + 1] = np.count_nonzero(~fin)

    def _abs_stats_rows(self, blocks, A, lda, m, n, scale, rpb, colsq, gers, rows):
        a = _memory(A)
        cs, gs, rs = _out(colsq).reshape(blocks, n), _out(gers).reshape(blocks, n), _out(rows)
        for b in range(blocks):
            r0, r1 = b * rpb, min(m, (b + 1) * rpb)
            blk = np.abs(np.stack([a[i * lda : i * lda + n] for i in range(r0, r1)]).astype(np.complex128)) * scale
            s1, s2 = blk.sum(axis=1), (blk * blk).sum(axis=1)
            cs[b], gs[b] = (blk * blk).sum(axis=0), blk.T @ s1
            rs[2 * b], rs[2 * b + 1] = s2.sum(), s2.max(initial=0.0)

    def _small_gram_certify(
        self, blocks, warps, shared, A, c1, c2, cs, adj, has_v0, v0, seed, rtol, steps_max, out, X, first, nmat, r, c
    ):
        from spectra.backends._numba_stack import small_gram_certify

        if CERTIFY_BY == "cuda_emulator":  # the kernel's CUDA source itself, on the same flat memory
            from . import cuda_warp_emulator

            args = (A, c1, c2, cs, adj, has_v0, v0, seed, rtol, steps_max, out, X, first, nmat, r, c)
            cuda_warp_emulator.launch_certify(self.dtype.name, blocks, 32 * warps, *(_flat(a) for a in args))
            return

        q = r if adj else c
        assert shared >= warps * stack_src.warp_shared_bytes(q, self.dtype.kind == "c")
        mats = np.arange(first, min(nmat, first + blocks * warps))  # warp w of block k: first + k warps + w
        assert first + blocks * warps >= mats[-1] + 1 > first + (blocks - 1) * warps  # no block without a matrix
        a = _memory(A)[: nmat * r * c].reshape(nmat, r, c)[mats]
        wide = np.complex128 if self.dtype.kind == "c" else np.float64
        start = _memory(v0).reshape(nmat, q)[mats] if has_v0 else hash_start(int(seed), mats, q, wide)
        o, x = _out(out).reshape(nmat, 4), _out(X).reshape(nmat, q)
        res, steps, xs = np.empty((mats.size, 3)), np.empty(mats.size, dtype=np.int64), np.empty((mats.size, q), wide)
        s1, s2 = _memory(c1)[mats * cs], _memory(c2)[mats * cs]
        small_gram_certify(
            a,
            s1,
            s2,
            bool(adj),
            np.ascontiguousarray(start, dtype=wide),
            rtol,
            steps_max,
            res,
            steps,
            xs,
            self.dtype.kind == "c",
            1,  # one task: the fake stands in for one launch
        )
        o[mats, :3], o[mats, 3], x[mats] = res, steps, xs


def hash_start(seed: int, mats: np.ndarray, q: int, wide) -> np.ndarray:
    """The kernel's start without ``v0``: splitmix64 of ``(seed, matrix, index)``, uniform in (-1, 1)."""
    counter = 2 * (mats[:, None].astype(np.uint64) * np.uint64(stack_src.MAX_Q) + np.arange(q, dtype=np.uint64))

    def unit(k):
        z = np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15) * (k + np.uint64(1))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-52 - 1.0

    return unit(counter) + 1j * unit(counter + np.uint64(1)) if wide == np.complex128 else unit(counter)


class RawModule:
    def __init__(self, code: str, options: tuple):
        stack = "small_gram_certify(" in code
        kernels = stack_src if stack else src
        assert options == kernels.COMPILE_OPTIONS
        elem = re.match(r"typedef (\w+) T;", code).group(1)
        self.dtype = np.dtype({v[0]: k for k, v in src.DTYPES.items()}[elem])
        self.names = set(kernels.kernel_names())

    def get_function(self, name: str) -> _Kernel:
        assert name in self.names, name
        return _Kernel(name, self.dtype)


class CUDARuntimeError(RuntimeError):
    pass


cuda = types.SimpleNamespace(
    Device=Device,
    runtime=types.SimpleNamespace(
        CUDARuntimeError=CUDARuntimeError,
        getDeviceCount=lambda: 1,
        cudaDevAttrMultiProcessorCount=16,
        cudaDevAttrMaxSharedMemoryPerBlockOptin=97,
        deviceGetAttribute=lambda attr, dev: {16: SM_COUNT, 97: MAX_SHARED}[attr],
    ),
)
