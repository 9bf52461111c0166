"""Run warp-synchronous CUDA C on the CPU: the kernel source compiled by the host C++ compiler, one fiber per lane.

For kernels that use only warp-level cooperation (``__shfl_xor_sync``, ``__syncwarp``; no ``__syncthreads``,
no atomics), a warp can be emulated by 32 lanes that meet at a barrier at every shuffle and every
``__syncwarp``. Each lane is a fiber (``ucontext``) with its own stack in one host thread: a lane runs until
it reaches a barrier, then the next lane runs; when all 32 have arrived, the next round resumes them, in
ascending lane order in even rounds and descending order in odd ones (so a read of another lane's write that
is not separated from it by a barrier sees the stale value in one of the two orders). The warps of a grid
run one after another (valid: such warps never wait for one another). Every lane must reach the same
sequence of barriers, so a kernel whose control flow diverges inside a warp at a shuffle or ``__syncwarp``
(some lanes return while others wait at a barrier) fails here instead of silently computing: the emulator
checks the warp-uniformity that the kernel's documentation claims. (Fibers switch in about a microsecond,
where 32 host threads meeting at a condition variable took tens of microseconds per barrier on two cores.)

Arithmetic is the host's IEEE double with ``-ffp-contract=off`` (what ``--fmad=false`` gives on the
device) and libm's correctly rounded ``fma``/``sqrt``, so the results equal the device's up to the order
of operations that the source fixes anyway.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

_SHIM = r"""
#include <cmath>
#include <cstring>
#include <cstdint>
#include <ucontext.h>
using std::fma; using std::sqrt; using std::fabs; using std::fmax; using std::hypot; using std::isfinite;

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__
#define __ldg(p) (*(p))

struct float2 { float x, y; };
struct double2 { double x, y; };
struct Dim { unsigned x = 0, y = 1, z = 1; };
Dim threadIdx, blockIdx;  /* of the running lane: set by the scheduler at every switch */
Dim blockDim, gridDim;

inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }

/* the 32 lanes of the running warp, each a fiber on its own stack; a barrier switches back to the scheduler */
struct Warp {
    ucontext_t scheduler; ucontext_t lane[32]; bool done[32]; int running = 0;
    alignas(16) char stack[32][1 << 18];
};
Warp warp;
double shfl_slot[32];

inline void warp_barrier() { swapcontext(&warp.lane[warp.running], &warp.scheduler); }
inline void __syncwarp(unsigned = 0xffffffffu) { warp_barrier(); }
template <typename V> inline V __shfl_xor_sync(unsigned, V v, int lane_mask) {
    static_assert(sizeof(V) <= sizeof(double), "one slot per lane");
    const int lane = threadIdx.x & 31;
    std::memcpy(&shfl_slot[lane], &v, sizeof(V));
    warp_barrier();
    V out; std::memcpy(&out, &shfl_slot[lane ^ lane_mask], sizeof(V));
    warp_barrier();
    return out;
}
"""

_DRIVER = r"""
/* dynamic shared memory of one block (the warps of a block run one after another on it) */
double2 smem_aligned[__SMEM_WORDS__];

static void (*lane_body)(void*);
static void* lane_args;
static void lane_main() { lane_body(lane_args); warp.done[warp.running] = true; }  /* returns to the scheduler */

/* 0, or 1 when the lanes of a warp diverged: some returned while others waited at a barrier */
extern "C" int emulate_launch(unsigned grid, unsigned block, void (*body)(void*), void* args) {
    blockDim.x = block; gridDim.x = grid; lane_body = body; lane_args = args;
    for (unsigned b = 0; b < grid; ++b) {
        for (unsigned w = 0; w < block / 32; ++w) {
            for (int l = 0; l < 32; ++l) {
                getcontext(&warp.lane[l]);
                warp.lane[l].uc_stack.ss_sp = warp.stack[l];
                warp.lane[l].uc_stack.ss_size = sizeof warp.stack[l];
                warp.lane[l].uc_link = &warp.scheduler;
                makecontext(&warp.lane[l], lane_main, 0);
                warp.done[l] = false;
            }
            for (long long round = 0;; ++round) {  /* every lane once per round: up to its next barrier or its end */
                int finished = 0;
                for (int i = 0; i < 32; ++i) {
                    const int l = (round & 1) ? 31 - i : i;
                    warp.running = l; threadIdx.x = 32 * w + l; blockIdx.x = b;
                    swapcontext(&warp.scheduler, &warp.lane[l]);
                    finished += warp.done[l];
                }
                if (finished == 32) break;
                if (finished) return 1;
            }
        }
    }
    return 0;
}
"""

_CACHE: dict[str, ctypes.CDLL] = {}


def compiler() -> str:
    """The host C++ compiler (``g++``); its absence is an error, not a skip (CI installs it)."""
    cxx = shutil.which("g++")
    if cxx is None:
        raise RuntimeError("g++ is needed to emulate the CUDA kernels on the host (apt-get install g++)")
    return cxx


def build(source: str, wrappers: str, smem_bytes: int) -> ctypes.CDLL:
    """Compile ``source`` (CUDA C) with the shim, the launch driver and ``wrappers`` (C++ entry points)."""
    words = -(-smem_bytes // 16)
    code = _SHIM + source + _DRIVER.replace("__SMEM_WORDS__", str(max(words, 1))) + wrappers
    key = hashlib.sha256(code.encode()).hexdigest()[:16]
    if key not in _CACHE:
        work = Path(tempfile.mkdtemp(prefix="spectra_warp_emu_"))
        (work / "k.cpp").write_text(code)
        lib = work / "k.so"
        cmd = [compiler(), "-std=c++20", "-O1", "-ffp-contract=off", "-fPIC", "-shared", "-w"]
        subprocess.run([*cmd, str(work / "k.cpp"), "-o", str(lib)], check=True, capture_output=True, text=True)
        _CACHE[key] = ctypes.CDLL(str(lib))
    return _CACHE[key]


_CERTIFY_WRAPPER = r"""
struct CertArgs {
    const T* A; const double* c1; const double* c2; long long c_stride, adjoint, has_v0; const W* v0;
    unsigned long long seed; double rtol; long long maxsteps; double* out; W* X; long long first, nmat, r, c;
};
static void certify_body(void* p) {
    const CertArgs* a = static_cast<const CertArgs*>(p);
    small_gram_certify(a->A, a->c1, a->c2, a->c_stride, a->adjoint, a->has_v0, a->v0, a->seed, a->rtol,
                       a->maxsteps, a->out, a->X, a->first, a->nmat, a->r, a->c);
}
extern "C" int run_certify(unsigned grid, unsigned block, const void* A, const double* c1, const double* c2,
                           long long c_stride, long long adjoint, long long has_v0, const void* v0,
                           unsigned long long seed, double rtol, long long maxsteps, double* out, void* X,
                           long long first, long long nmat, long long r, long long c) {
    CertArgs a{static_cast<const T*>(A), c1, c2, c_stride, adjoint, has_v0, static_cast<const W*>(v0), seed, rtol,
               maxsteps, out, static_cast<W*>(X), first, nmat, r, c};
    return emulate_launch(grid, block, certify_body, &a);
}
"""


def launch_certify(dtype: str, grid: int, threads: int, *args) -> None:
    """One launch of ``small_gram_certify`` for ``dtype`` with the kernel's arguments (NumPy arrays for pointers)."""
    from spectra.backends import _cuda_stack_kernels as stack_src

    lib = build(stack_src.source(dtype), _CERTIFY_WRAPPER, stack_src.MAX_WARPS * 140_000)
    kinds = "PPPqqqPQdqPPqqqq"  # pointer, long long, unsigned long long, double: the kernel's parameter list
    conv = {"P": lambda a: ctypes.c_void_p(a.ctypes.data), "q": ctypes.c_longlong, "Q": ctypes.c_ulonglong}
    conv["d"] = ctypes.c_double
    lib.run_certify.restype = ctypes.c_int
    values = [conv[k](a if k == "P" else (int(a) if k in "qQ" else float(a))) for k, a in zip(kinds, args, strict=True)]
    if lib.run_certify(ctypes.c_uint(grid), ctypes.c_uint(threads), *values) != 0:
        raise RuntimeError("the emulated kernel failed: its lanes diverged at a shuffle or __syncwarp")


def small_gram_certify(A, c1, c2, adjoint: bool, v0, rtol: float, maxsteps: int, max_shared: int = 227 * 1024):
    """The CUDA kernel ``small_gram_certify`` run on the emulator with the backend's launch geometry.

    Arguments as :meth:`spectra.backends.cupy.CuPyBackend.small_gram_certify` (host NumPy arrays; ``v0`` an
    array or an integer seed). Returns ``(out (B, 4), X (B, q), geometry)``.
    """
    import numpy as np

    from spectra.backends import _cuda_launch as launch

    A = np.ascontiguousarray(A)
    B, r, c = A.shape
    q = r if adjoint else c
    cplx = A.dtype.kind == "c"
    wide = np.complex128 if cplx else np.float64
    geo = launch.certify_launch(B, q, cplx, max_shared)
    seeded = isinstance(v0, (int, np.integer))
    v0a = np.zeros(1, dtype=wide) if seeded else np.ascontiguousarray(v0, dtype=wide)
    c1a, c2a = np.ascontiguousarray(c1, dtype=np.float64), np.ascontiguousarray(c2, dtype=np.float64)
    out = np.full((B, 4), np.nan)
    X = np.full((B, q), np.nan, dtype=wide)
    seed = int(v0) % 2**64 if seeded else 0
    for first, blocks in geo.launches:
        args = (A, c1a, c2a, 1, int(adjoint), 0 if seeded else 1, v0a, seed, rtol, maxsteps, out, X, first, B, r, c)
        launch_certify(A.dtype.name, blocks, geo.threads, *args)
    return out, X, geo
