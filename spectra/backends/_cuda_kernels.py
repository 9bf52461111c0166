"""CUDA C source of the CuPy backend's kernels and the one policy that compiles them.

Leaf module: strings and names only; it imports neither CuPy nor NVRTC. :mod:`spectra.backends.cupy`
compiles :func:`source` with ``cupy.RawModule(code=..., options=COMPILE_OPTIONS)`` (CuPy adds the
device's ``--gpu-architecture``); the CI test compiles the same strings with the same options through
NVRTC for ``sm_80`` and ``sm_90`` and reads ptxas's register/spill report.

One module per dtype (``float32``, ``float64``, ``complex64``, ``complex128``); every kernel is an
``extern "C"`` entry point, so the names below are exactly what is launched. All index arithmetic is in
``long long`` (64 bits); every 1-D loop is grid-stride, so any size runs with a grid within the
2^31 - 1 limit. Reductions run in a fixed order (warp shuffle tree, then warps in order, then blocks in
order), so results are bit-reproducible for a given launch geometry.

Kernels
-------
``gram_rows_k{K}`` (K = 1..16)
    Rows of a C-ordered matrix ``A`` (row stride ``lda``): ``Y = A X`` and ``Zp[b] = A_b^H (c Y_b)`` for
    the rows ``A_b`` of block ``b``. A row is read from device memory once: its first
    ``ROW_CACHE * THREADS`` entries stay in registers between the dot product (phase 1) and the rank-one
    update (phase 2), the rest is re-read while cached (L1/L2). The block's ``n x K`` accumulator lives in
    shared memory.
``reduce_partials``
    ``Z = sum_b Zp[b]`` over blocks in increasing ``b``: the second, fixed-order stage.
``gram_stack``
    One thread block per matrix of a C-ordered stack: the matrix is loaded into shared memory once, then
    ``Y = A X`` and ``Z = A^H (c_b Y)`` are formed from it (``c`` per matrix).

The factor ``c`` is read from device memory (the real part of a ``T``), so a factor computed on the device
never has to visit the host.
``max_abs``
    Per block: the largest ``|a|`` (double) and the number of non-finite entries of a contiguous array.
``abs_stats_rows``
    One read of a C-ordered matrix: per row ``s1 = sum |a|``, ``s2 = sum |a|^2`` (scaled, in double); per
    block ``sum s2`` and ``max s2`` and, per column, partial sums of ``|a|^2`` and ``|a| s1`` (Gershgorin on
    ``|A|^T |A|``).
``reduce_real``
    ``out = sum_b P[b]`` in double, in increasing ``b``.
"""

from __future__ import annotations

__all__ = [
    "COMPILE_OPTIONS",
    "DTYPES",
    "HOT_KERNELS",
    "MAX_K",
    "ROW_CACHE",
    "THREADS",
    "kernel_names",
    "source",
]

#: threads per block of every kernel (the ``__launch_bounds__`` the register budget is compiled for)
THREADS = 256
#: entries of a row each thread keeps in registers between the two phases of ``gram_rows``
ROW_CACHE = 4
#: the fused dense kernel is instantiated for blocks of 1..MAX_K columns
MAX_K = 16
#: the single compile policy (no fast-math: the rounding analysis assumes IEEE arithmetic; no implicit
#: multiply-add contraction: every FMA is an explicit ``fma()`` in the source, where its one rounding is allowed)
COMPILE_OPTIONS = ("-std=c++17", "--fmad=false")

#: dtype name -> (element type, real type, complex?)
DTYPES = {
    "float32": ("float", "float", False),
    "float64": ("double", "double", False),
    "complex64": ("float2", "float", True),
    "complex128": ("double2", "double", True),
}


def kernel_names() -> tuple[str, ...]:
    """Every entry point of a dtype module (the same names in each)."""
    return (
        *(f"gram_rows_k{k}" for k in range(1, MAX_K + 1)),
        "reduce_partials",
        "gram_stack",
        "max_abs",
        "abs_stats_rows",
        "reduce_real",
    )


#: kernels whose register spills or local-memory stack fail the compile test (all of them are per-pass)
HOT_KERNELS = kernel_names()

_ARITHMETIC_REAL = r"""
__device__ __forceinline__ T t_zero() { return (T)0; }
__device__ __forceinline__ R t_real(T a) { return a; }
__device__ __forceinline__ T t_add(T a, T b) { return a + b; }
__device__ __forceinline__ T t_fma(T a, T b, T c) { return fma(a, b, c); }        /* a b + c */
__device__ __forceinline__ T t_cfma(T a, T b, T c) { return fma(a, b, c); }       /* conj(a) b + c */
__device__ __forceinline__ T t_scale(T a, R s) { return a * s; }
__device__ __forceinline__ double t_abs(T a) { return fabs((double)a); }
__device__ __forceinline__ double t_abs2(T a) { return (double)a * (double)a; }
__device__ __forceinline__ bool t_finite(T a) { return isfinite(a); }
__device__ __forceinline__ T t_shfl_xor(T v, int lane_mask) { return __shfl_xor_sync(0xffffffffu, v, lane_mask); }
"""

_ARITHMETIC_COMPLEX = r"""
__device__ __forceinline__ T t_zero() { T z; z.x = 0; z.y = 0; return z; }
__device__ __forceinline__ R t_real(T a) { return a.x; }
__device__ __forceinline__ T t_add(T a, T b) { T z; z.x = a.x + b.x; z.y = a.y + b.y; return z; }
__device__ __forceinline__ T t_fma(T a, T b, T c) {   /* a b + c */
    T z; z.x = fma(a.x, b.x, fma(-a.y, b.y, c.x)); z.y = fma(a.x, b.y, fma(a.y, b.x, c.y)); return z;
}
__device__ __forceinline__ T t_cfma(T a, T b, T c) {  /* conj(a) b + c */
    T z; z.x = fma(a.x, b.x, fma(a.y, b.y, c.x)); z.y = fma(a.x, b.y, fma(-a.y, b.x, c.y)); return z;
}
__device__ __forceinline__ T t_scale(T a, R s) { T z; z.x = a.x * s; z.y = a.y * s; return z; }
__device__ __forceinline__ double t_abs(T a) { return hypot((double)a.x, (double)a.y); }
__device__ __forceinline__ double t_abs2(T a) { return (double)a.x * (double)a.x + (double)a.y * (double)a.y; }
__device__ __forceinline__ bool t_finite(T a) { return isfinite(a.x) && isfinite(a.y); }
__device__ __forceinline__ T t_shfl_xor(T v, int lane_mask) {
    v.x = __shfl_xor_sync(0xffffffffu, v.x, lane_mask); v.y = __shfl_xor_sync(0xffffffffu, v.y, lane_mask); return v;
}
"""

_KERNELS = r"""
#define THREADS __THREADS__
#define ROW_CACHE __ROW_CACHE__
#define NWARPS (THREADS / 32)

__device__ __forceinline__ double d_shfl_xor(double v, int lane_mask) {
    return __shfl_xor_sync(0xffffffffu, v, lane_mask);
}

/* Sum of each of K per-thread values over the block, in a fixed order; the K results land in out[0..K). */
template <int K>
__device__ __forceinline__ void block_sum(T (&acc)[K], T* red, T* out) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int kk = 0; kk < K; ++kk) {
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) acc[kk] = t_add(acc[kk], t_shfl_xor(acc[kk], off));
    }
    if (lane == 0) {
#pragma unroll
        for (int kk = 0; kk < K; ++kk) red[warp * K + kk] = acc[kk];
    }
    __syncthreads();
    if (threadIdx.x < K) {
        T s = t_zero();
        for (int w = 0; w < NWARPS; ++w) s = t_add(s, red[w * K + threadIdx.x]);
        out[threadIdx.x] = s;
    }
    __syncthreads();
}

/* Shared memory: zsh[n K] (the block's accumulator of A_b^H c Y_b), then red[NWARPS K], ysh[K]. */
template <int K>
__device__ __forceinline__ void gram_rows(const T* __restrict__ A, long long lda, const T* __restrict__ X,
                                          const T* __restrict__ c,
                                          T* __restrict__ Y, T* __restrict__ Zp, long long m, long long n,
                                          long long rows_per_block) {
    extern __shared__ double2 smem_aligned[];
    T* zsh = reinterpret_cast<T*>(smem_aligned);
    T* red = zsh + n * K;
    T* ysh = red + NWARPS * K;
    const long long tid = threadIdx.x;
    const long long r0 = (long long)blockIdx.x * rows_per_block;
    const long long r1 = min(m, r0 + rows_per_block);
    for (long long e = tid; e < n * K; e += THREADS) zsh[e] = t_zero();
    __syncthreads();
    for (long long i = r0; i < r1; ++i) {
        const T* __restrict__ a = A + i * lda;
        T acc[K];
#pragma unroll
        for (int kk = 0; kk < K; ++kk) acc[kk] = t_zero();
        T cache[ROW_CACHE];
#pragma unroll
        for (int s = 0; s < ROW_CACHE; ++s) {
            const long long j = tid + (long long)s * THREADS;
            cache[s] = t_zero();
            if (j < n) {
                cache[s] = a[j];
#pragma unroll
                for (int kk = 0; kk < K; ++kk) acc[kk] = t_fma(cache[s], __ldg(X + j * K + kk), acc[kk]);
            }
        }
        for (long long j = tid + (long long)ROW_CACHE * THREADS; j < n; j += THREADS) {
            const T v = a[j];
#pragma unroll
            for (int kk = 0; kk < K; ++kk) acc[kk] = t_fma(v, __ldg(X + j * K + kk), acc[kk]);
        }
        block_sum<K>(acc, red, ysh);
        if (tid < K) {  /* only thread tid touches ysh[tid] between the two barriers */
            Y[i * K + tid] = ysh[tid];
            ysh[tid] = t_scale(ysh[tid], t_real(c[0]));
        }
        __syncthreads();
#pragma unroll
        for (int s = 0; s < ROW_CACHE; ++s) {
            const long long j = tid + (long long)s * THREADS;
            if (j < n) {
#pragma unroll
                for (int kk = 0; kk < K; ++kk) zsh[j * K + kk] = t_cfma(cache[s], ysh[kk], zsh[j * K + kk]);
            }
        }
        for (long long j = tid + (long long)ROW_CACHE * THREADS; j < n; j += THREADS) {
            const T v = a[j];
#pragma unroll
            for (int kk = 0; kk < K; ++kk) zsh[j * K + kk] = t_cfma(v, ysh[kk], zsh[j * K + kk]);
        }
        /* the next row's block_sum writes red/ysh only after its first barrier, which every thread reaches
           after finishing its reads of ysh above */
    }
    __syncthreads();
    T* __restrict__ zb = Zp + (long long)blockIdx.x * n * K;
    for (long long e = tid; e < n * K; e += THREADS) zb[e] = zsh[e];
}

__GRAM_INSTANCES__

/* addition of element type T, or of double (the statistics), without implicit narrowing */
template <typename U> struct Add { static __device__ __forceinline__ U f(U a, U b) { return t_add(a, b); } };
template <> struct Add<double> { static __device__ __forceinline__ double f(double a, double b) { return a + b; } };

/* out[e] = sum_b P[b len + e] over b in increasing order (the fixed-order second stage) */
template <typename U>
__device__ __forceinline__ void reduce_blocks(const U* __restrict__ P, U* __restrict__ out, long long len,
                                              long long parts, U zero) {
    const long long stride = (long long)gridDim.x * THREADS;
    for (long long e = (long long)blockIdx.x * THREADS + threadIdx.x; e < len; e += stride) {
        U s = zero;
        for (long long b = 0; b < parts; ++b) s = Add<U>::f(s, P[b * len + e]);
        out[e] = s;
    }
}

extern "C" __global__ void __launch_bounds__(THREADS)
reduce_partials(const T* __restrict__ P, T* __restrict__ out, long long len, long long parts) {
    reduce_blocks<T>(P, out, len, parts, t_zero());
}

/* One block per matrix: A (B, m, n) C-ordered, X (B, n, k), c[b c_stride] (real part used), Y (B, m, k),
   Z (B, n, k). Shared memory: ash[m n], ysh[m k]. Matrices first .. first + gridDim.x of the stack. */
extern "C" __global__ void __launch_bounds__(THREADS, 4)
gram_stack(const T* __restrict__ A, const T* __restrict__ X, const T* __restrict__ c, long long c_stride,
           T* __restrict__ Y, T* __restrict__ Z, long long first, long long m, long long n, long long k) {
    extern __shared__ double2 smem_aligned[];
    T* ash = reinterpret_cast<T*>(smem_aligned);
    T* ysh = ash + m * n;
    const long long b = first + blockIdx.x;
    const T* __restrict__ Ab = A + b * m * n;
    const T* __restrict__ Xb = X + b * n * k;
    const R cb = t_real(c[b * c_stride]);
    for (long long e = threadIdx.x; e < m * n; e += THREADS) ash[e] = Ab[e];
    __syncthreads();
    for (long long e = threadIdx.x; e < m * k; e += THREADS) {
        const long long i = e / k, kk = e % k;
        T s = t_zero();
        for (long long j = 0; j < n; ++j) s = t_fma(ash[i * n + j], Xb[j * k + kk], s);
        Y[b * m * k + e] = s;
        ysh[e] = t_scale(s, cb);
    }
    __syncthreads();
    for (long long e = threadIdx.x; e < n * k; e += THREADS) {
        const long long j = e / k, kk = e % k;
        T s = t_zero();
        for (long long i = 0; i < m; ++i) s = t_cfma(ash[i * n + j], ysh[i * k + kk], s);
        Z[b * n * k + e] = s;
    }
}

/* Per block: out[2 b] = max |a| over the block's share, out[2 b + 1] = number of non-finite entries. */
extern "C" __global__ void __launch_bounds__(THREADS)
max_abs(const T* __restrict__ A, long long size, double* __restrict__ out) {
    __shared__ double red[2 * NWARPS];
    double mx = 0.0, bad = 0.0;
    const long long stride = (long long)gridDim.x * THREADS;
    for (long long e = (long long)blockIdx.x * THREADS + threadIdx.x; e < size; e += stride) {
        const T v = A[e];
        if (t_finite(v)) mx = fmax(mx, t_abs(v)); else bad += 1.0;
    }
    for (int off = 16; off > 0; off >>= 1) {
        mx = fmax(mx, d_shfl_xor(mx, off));
        bad += d_shfl_xor(bad, off);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { red[2 * warp] = mx; red[2 * warp + 1] = bad; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < NWARPS; ++w) { mx = fmax(mx, red[2 * w]); bad += red[2 * w + 1]; }
        out[2 * (long long)blockIdx.x] = mx;
        out[2 * (long long)blockIdx.x + 1] = bad;
    }
}

/* One read of the rows of a C-ordered matrix, entries scaled by `scale` in double.
   Per block b: colsq[b, j] = sum |a_ij|^2, gers[b, j] = sum |a_ij| s1_i, rows[2 b] = sum_i s2_i,
   rows[2 b + 1] = max_i s2_i, with s1_i = sum_j |a_ij| and s2_i = sum_j |a_ij|^2 over the block's rows. */
extern "C" __global__ void __launch_bounds__(THREADS)
abs_stats_rows(const T* __restrict__ A, long long lda, long long m, long long n, double scale,
               long long rows_per_block, double* __restrict__ colsq, double* __restrict__ gers,
               double* __restrict__ rows) {
    __shared__ double red[2 * NWARPS];
    __shared__ double row_sums[2];
    const long long tid = threadIdx.x;
    const long long r0 = (long long)blockIdx.x * rows_per_block;
    const long long r1 = min(m, r0 + rows_per_block);
    double* __restrict__ cb = colsq + (long long)blockIdx.x * n;
    double* __restrict__ gb = gers + (long long)blockIdx.x * n;
    for (long long j = tid; j < n; j += THREADS) { cb[j] = 0.0; gb[j] = 0.0; }
    double fro2 = 0.0, rowmax = 0.0;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (long long i = r0; i < r1; ++i) {
        const T* __restrict__ a = A + i * lda;
        double s1 = 0.0, s2 = 0.0;
        for (long long j = tid; j < n; j += THREADS) {
            const double v = t_abs(a[j]) * scale;
            s1 += v;
            s2 = fma(v, v, s2);
        }
        for (int off = 16; off > 0; off >>= 1) { s1 += d_shfl_xor(s1, off); s2 += d_shfl_xor(s2, off); }
        if (lane == 0) { red[2 * warp] = s1; red[2 * warp + 1] = s2; }
        __syncthreads();
        if (tid == 0) {
            double t1 = 0.0, t2 = 0.0;
            for (int w = 0; w < NWARPS; ++w) { t1 += red[2 * w]; t2 += red[2 * w + 1]; }
            row_sums[0] = t1; row_sums[1] = t2;
        }
        __syncthreads();
        const double r1s = row_sums[0], r2s = row_sums[1];
        fro2 += r2s;
        rowmax = fmax(rowmax, r2s);
        for (long long j = tid; j < n; j += THREADS) {   /* same thread, same j as above: its own partials */
            const double v = t_abs(a[j]) * scale;
            cb[j] = fma(v, v, cb[j]);
            gb[j] = fma(v, r1s, gb[j]);
        }
        __syncthreads();   /* red and row_sums are rewritten by the next row */
    }
    if (tid == 0) { rows[2 * (long long)blockIdx.x] = fro2; rows[2 * (long long)blockIdx.x + 1] = rowmax; }
}

extern "C" __global__ void __launch_bounds__(THREADS)
reduce_real(const double* __restrict__ P, double* __restrict__ out, long long len, long long parts) {
    reduce_blocks<double>(P, out, len, parts, 0.0);
}
"""

_GRAM_INSTANCE = r"""
extern "C" __global__ void __launch_bounds__(THREADS, 1)
gram_rows_k{k}(const T* __restrict__ A, long long lda, const T* __restrict__ X, const T* __restrict__ c,
               T* __restrict__ Y, T* __restrict__ Zp, long long m, long long n, long long rows_per_block) {{
    gram_rows<{k}>(A, lda, X, c, Y, Zp, m, n, rows_per_block);
}}
"""


def source(dtype: str) -> str:
    """Complete CUDA C source of the module for ``dtype`` (a key of :data:`DTYPES`)."""
    elem, real, is_complex = DTYPES[dtype]
    prelude = f"typedef {elem} T;\ntypedef {real} R;\n"
    body = (
        _KERNELS.replace("__THREADS__", str(THREADS))
        .replace("__ROW_CACHE__", str(ROW_CACHE))
        .replace("__GRAM_INSTANCES__", "".join(_GRAM_INSTANCE.format(k=k) for k in range(1, MAX_K + 1)))
    )
    return prelude + (_ARITHMETIC_COMPLEX if is_complex else _ARITHMETIC_REAL) + body
