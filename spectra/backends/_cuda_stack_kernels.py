"""CUDA C source of the stack certificate kernel ``small_gram_certify``: the GPU twin of ``_numba_stack``.

Leaf module: strings and names only. Compiled like :mod:`._cuda_kernels` (one module per dtype, the same
``COMPILE_OPTIONS``, the same NVRTC compile test for sm_80 and sm_90).

One **warp per matrix**, every matrix of Gram order ``q <= 64`` (lane ``l`` owns the indices ``l`` and
``l + 32`` of every vector of length ``q``); a block holds 1, 2 or 4 warps (matrices), as many as fit in
shared memory (``_cuda_launch.certify_launches``). Why a warp and not a block:

- the recurrence is serial (``q`` Lanczos steps, each with ``j + 1`` reorthogonalisation sweeps and a
  column-by-column Cholesky factorisation); per step there are only ``q`` or ``q^2`` independent
  operations, which 32 lanes cover, and the reductions are warp shuffles with no ``__syncthreads``;
- every branch that depends on the data (Lanczos stopping, Ritz convergence, Cholesky breakdown, retries)
  depends on one matrix only and on values every lane of its warp holds bit for bit (butterfly
  reductions add the same two partial sums on both lanes of a pair, and the tridiagonal root finder runs
  redundantly on every lane), so **no data-dependent branch diverges inside a warp**. Lanes differ only
  in index bounds (``i < q``, upper triangle). Warps of a block never wait for one another (no block
  barrier), so a matrix that needs more steps delays no other; its cost is bounded by ``q`` Lanczos
  steps (``maxsteps``), at most 60 Laguerre steps per Ritz test (one test every other step), and three
  Cholesky attempts.

Per warp, shared memory holds ``G`` (``q x q``, row-major), a region ``V`` of ``q x max(q, 33)`` entries
(first a tile of 32 rows of ``W`` column-major with leading dimension 33, then the Lanczos vectors as
rows, then a tile again for the certifying product, then the Cholesky factor column-major), the Ritz
vector ``x`` and ``alpha, beta, y, d`` (``q`` doubles each) and 32 row sums. The matrix itself is read
from device memory twice (the Gram pass and the certifying product), tile by tile, so ``max(m, n)`` is
not limited.

Arithmetic is that of ``_numba_stack`` and docs/bounds.md §7: float64 (complex128 for complex data),
single-precision entries widened exactly, ``(a c1) c2`` scaling. ``COMPILE_OPTIONS`` contains
``--fmad=false``: no multiply-add is contracted implicitly. ``fma()`` is written out only where the CPU
kernel allows contraction too (numba ``fastmath={"contract"}``): the Gram accumulation (an FMA rounds once
where a multiply and an add round twice, so Higham's inner-product bound ``gamma_p |W|^H |W|`` still holds,
for any summation order) and the Lanczos recurrence (an estimate, no analysis needed). The Gershgorin sums,
the certifying product, the norms and the Cholesky factorisation round every multiply and add separately,
as the analysis assumes; a complex ``|z|^2`` is ``re*re + im*im`` and a complex inner product
``sum_k a_k conj(b_k)`` is accumulated as the real inner product of length ``2k`` over the real and
imaginary parts, which is what the complex majorants ``gamma_{2k+2}``/``gamma_{2k+4}`` of §7 cover. The
sums run in a different order than on the CPU (butterfly reductions); every bound used holds for any
order (Higham, Lemma 8.4 and §3.1). ``|z|`` of a complex entry is ``sqrt(re*re + im*im)`` (within 2u, as
libm's ``hypot``). ``sqrt`` and ``/`` in double are IEEE round-to-nearest on every CUDA device.

The start vector is either given (``has_v0``) or drawn in the kernel from a counter-based hash of
``(seed, matrix, index)`` (uniform in (-1, 1), no host draw and no transfer): the certificate needs
nothing of the start, which only decides how fast the estimate converges.

Kernel
------
``small_gram_certify(A, c1, c2, c_stride, adjoint, has_v0, v0, seed, rtol, maxsteps, out, X, first, nmat, r, c)``
    ``A`` C-ordered ``(nmat, r, c)``; ``c1[b c_stride]``, ``c2[b c_stride]`` doubles; ``W = A`` (``q = c``)
    or ``W = A^H`` (``adjoint``, ``q = r``); ``v0`` ``(nmat, q)`` wide (read only if ``has_v0``);
    ``out`` ``(nmat, 4)`` doubles: lower, upper (``inf`` where the certificate failed), estimate, Lanczos
    steps; ``X`` ``(nmat, q)`` wide: the Ritz vector. Warp ``w`` of block ``k`` takes matrix
    ``first + k warps_per_block + w``; warps past ``nmat`` return at once.
"""

from __future__ import annotations

from ._cuda_kernels import COMPILE_OPTIONS, DTYPES

__all__ = [
    "COMPILE_OPTIONS",
    "DTYPES",
    "HOT_KERNELS",
    "MAX_Q",
    "MAX_WARPS",
    "TILE",
    "kernel_names",
    "source",
    "warp_shared_bytes",
]

#: largest Gram order (two entries per lane)
MAX_Q = 64
#: rows of ``W`` per tile of the Gram pass and of the certifying product
TILE = 32
#: warps (matrices) per block at most
MAX_WARPS = 4


def kernel_names() -> tuple[str, ...]:
    """Every entry point of a dtype module (the same names in each)."""
    return ("small_gram_certify",)


#: kernels whose register spills or local-memory stack fail the compile test
HOT_KERNELS = kernel_names()


def warp_shared_bytes(q: int, is_complex: bool) -> int:
    """Shared memory of one warp (one matrix) of Gram order ``q``: the layout in the module docstring."""
    wide = 16 if is_complex else 8
    vld = max(q, TILE + 1)
    return (q * q + q * vld + q) * wide + (4 * q + TILE) * 8


_WIDE_REAL = r"""
typedef double W;
#define CPLX 0
__device__ __forceinline__ W w_zero() { return 0.0; }
__device__ __forceinline__ W w_from(T a, double s1, double s2) { return ((double)a * s1) * s2; }
__device__ __forceinline__ W w_conj(W a) { return a; }
__device__ __forceinline__ W w_real(double a) { return a; }
__device__ __forceinline__ double w_re(W a) { return a; }
__device__ __forceinline__ W w_add(W a, W b) { return a + b; }
__device__ __forceinline__ W w_mul(W a, W b) { return a * b; }
__device__ __forceinline__ W w_sub(W a, W b) { return a - b; }
__device__ __forceinline__ W w_scale(W a, double s) { return a * s; }
__device__ __forceinline__ W w_div(W a, double s) { return a / s; }
__device__ __forceinline__ W w_cfma(W a, W b, W c) { return fma(a, b, c); }   /* conj(a) b + c, one rounding */
__device__ __forceinline__ W w_rfma(W a, double s, W c) { return fma(a, s, c); }   /* a s + c, one rounding */
__device__ __forceinline__ double w_abs2(W a) { return a * a; }
__device__ __forceinline__ double w_abs(W a) { return fabs(a); }
__device__ __forceinline__ bool w_nonzero(W a) { return a != 0.0; }
__device__ __forceinline__ double w_sub_abs2(double d, W a) { return d - a * a; }
__device__ __forceinline__ W w_sub_mulconj(W s, W a, W b) { return s - a * b; }   /* s - a conj(b) */
__device__ __forceinline__ W w_shfl_xor(W v, int lane_mask) { return __shfl_xor_sync(0xffffffffu, v, lane_mask); }
__device__ __forceinline__ W w_hash(unsigned long long seed, long long b, long long i) {
    return hash_unit(seed, 2 * (b * MAX_Q + i));
}
"""

_WIDE_COMPLEX = r"""
typedef double2 W;
#define CPLX 1
__device__ __forceinline__ W w_make(double x, double y) { W z; z.x = x; z.y = y; return z; }
__device__ __forceinline__ W w_zero() { return w_make(0.0, 0.0); }
__device__ __forceinline__ W w_from(T a, double s1, double s2) {
    return w_make(((double)a.x * s1) * s2, ((double)a.y * s1) * s2);
}
__device__ __forceinline__ W w_conj(W a) { return w_make(a.x, -a.y); }
__device__ __forceinline__ W w_real(double a) { return w_make(a, 0.0); }
__device__ __forceinline__ double w_re(W a) { return a.x; }
__device__ __forceinline__ W w_add(W a, W b) { return w_make(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ W w_mul(W a, W b) { return w_make(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }
__device__ __forceinline__ W w_sub(W a, W b) { return w_make(a.x - b.x, a.y - b.y); }
__device__ __forceinline__ W w_scale(W a, double s) { return w_make(a.x * s, a.y * s); }
__device__ __forceinline__ W w_div(W a, double s) { return w_make(a.x / s, a.y / s); }
__device__ __forceinline__ W w_cfma(W a, W b, W c) {   /* conj(a) b + c */
    return w_make(fma(a.x, b.x, fma(a.y, b.y, c.x)), fma(a.x, b.y, fma(-a.y, b.x, c.y)));
}
__device__ __forceinline__ W w_rfma(W a, double s, W c) { return w_make(fma(a.x, s, c.x), fma(a.y, s, c.y)); }
__device__ __forceinline__ double w_abs2(W a) { return a.x * a.x + a.y * a.y; }
__device__ __forceinline__ double w_abs(W a) { return sqrt(a.x * a.x + a.y * a.y); }
__device__ __forceinline__ bool w_nonzero(W a) { return (a.x != 0.0) | (a.y != 0.0); }   /* |a| may underflow */
/* d - |a|^2 as the real inner product of length 2: d - re^2 - im^2, each product and difference rounded */
__device__ __forceinline__ double w_sub_abs2(double d, W a) { d = d - a.x * a.x; return d - a.y * a.y; }
/* s - a conj(b), each part as a real inner product of length 2 */
__device__ __forceinline__ W w_sub_mulconj(W s, W a, W b) {
    double x = s.x - a.x * b.x;
    x = x - a.y * b.y;
    double y = s.y - a.y * b.x;
    y = y + a.x * b.y;
    return w_make(x, y);
}
__device__ __forceinline__ W w_shfl_xor(W v, int lane_mask) {
    v.x = __shfl_xor_sync(0xffffffffu, v.x, lane_mask); v.y = __shfl_xor_sync(0xffffffffu, v.y, lane_mask); return v;
}
__device__ __forceinline__ W w_hash(unsigned long long seed, long long b, long long i) {
    return w_make(hash_unit(seed, 2 * (b * MAX_Q + i)), hash_unit(seed, 2 * (b * MAX_Q + i) + 1));
}
"""

_PRELUDE = r"""
#define MAX_Q __MAX_Q__
#define TILE __TILE__
#define TLD (TILE + 1)
#define NS (MAX_Q / 32)
#define U_ROUND 0x1.0p-53
#define INF_D __longlong_as_double(0x7ff0000000000000LL)

/* uniform in (-1, 1), never 0: splitmix64 of the counter */
__device__ __forceinline__ double hash_unit(unsigned long long seed, long long counter) {
    unsigned long long z = seed + 0x9E3779B97F4A7C15ull * (unsigned long long)(counter + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    return ((double)(z >> 11) + 0.5) * 0x1.0p-52 - 1.0;
}
"""

_KERNEL = r"""
/* Python's max/min (the CPU kernel's): the first argument unless the second is larger/smaller */
__device__ __forceinline__ double py_max(double a, double b) { return b > a ? b : a; }
__device__ __forceinline__ double py_min(double a, double b) { return b < a ? b : a; }

__device__ __forceinline__ double gamma_k(double k) {
    const double pu = k * U_ROUND;
    return pu < 1.0 ? pu / (1.0 - pu) : INF_D;
}

/* butterfly sums: both lanes of a pair add the same two numbers, so every lane ends with the same bits */
__device__ __forceinline__ double warp_sum(double v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}
__device__ __forceinline__ double warp_max(double v) {
    for (int off = 16; off > 0; off >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}
__device__ __forceinline__ W warp_sum_w(W v) {
    for (int off = 16; off > 0; off >>= 1) v = w_add(v, w_shfl_xor(v, off));
    return v;
}

/* Tile of the nt = min(TILE, p - i0) rows i0.. of W into tile[j TLD + t] = W(i0 + t, j), widened and scaled
   (a c1) c2; returns nt. W = A (q = c): contiguous in the flat index; W = A^H (q = r): W(i, j) = conj(A(j, i)),
   contiguous in t. The warp synchronises before (the previous tile's readers are done) and after. */
__device__ __forceinline__ long long load_tile(const T* __restrict__ Ab, bool adjoint, long long c, long long i0,
                                               long long p, long long q, double s1, double s2, W* tile, int lane) {
    const long long nt = p - i0 < TILE ? p - i0 : TILE;
    const long long total = nt * q;
    __syncwarp();
    for (long long e = lane; e < total; e += 32) {
        long long t, j;
        T a;
        if (!adjoint) { t = e / q; j = e - t * q; a = Ab[(i0 + t) * c + j]; }
        else { j = e / nt; t = e - j * nt; a = Ab[j * c + i0 + t]; }
        const W v = w_from(a, s1, s2);
        tile[j * TLD + t] = adjoint ? w_conj(v) : v;
    }
    __syncwarp();
    return nt;
}

/* Largest eigenvalue of the k x k tridiagonal (alpha, beta) and |y_k| of its eigenvector: Laguerre from
   above (the CPU kernel's pivot form _top_ritz, step for step; the CPU evaluates tridiagonals of order
   <= 32 from the characteristic polynomial instead, the same iteration). Every lane runs it on the same
   shared values. */
__device__ __forceinline__ double top_ritz(const double* alpha, const double* beta, long long k, double theta0,
                                           double* yk_out) {
    double hi = -INF_D;
    for (long long i = 0; i < k; ++i) {
        const double s = alpha[i] + (i > 0 ? fabs(beta[i - 1]) : 0.0) + (i < k - 1 ? fabs(beta[i]) : 0.0);
        hi = py_max(hi, s);
    }
    const double scale = py_max(fabs(hi), 1e-300);
    double x = hi + 1e-12 * scale;
    double yk2 = 1.0;
    for (long long it = 0; it < 60; ++it) {
        double r_prev = 1.0, d1_prev = 0.0, d2_prev = 0.0, g = 0.0, h = 0.0;
        bool exact = false;
        for (long long i = 0; i < k; ++i) {
            double r, d1, d2;
            if (i > 0) {
                const double bb = beta[i - 1] * beta[i - 1];
                const double ir = 1.0 / r_prev;
                r = (alpha[i] - x) - bb * ir;
                d1 = -1.0 + bb * d1_prev * ir * ir;
                d2 = bb * (d2_prev * ir * ir - 2.0 * d1_prev * d1_prev * ir * ir * ir);
            } else {
                r = alpha[0] - x; d1 = -1.0; d2 = 0.0;
            }
            if (r == 0.0) { exact = true; break; }
            const double q1 = d1 / r;
            g += q1;
            h += q1 * q1 - d2 / r;
            r_prev = r; d1_prev = d1; d2_prev = d2;
        }
        if (exact) { yk2 = 1.0; break; }
        const double ratio = fabs(r_prev * g);
        yk2 = ratio > 0.0 ? 1.0 / ratio : 1.0;
        if (!(g > 0.0)) break;
        const double disc = ((double)k - 1.0) * ((double)k * h - g * g);
        const double step = (double)k / (g + sqrt(disc > 0.0 ? disc : 0.0));
        if (!(step > 1e-15 * scale && step < INF_D)) break;
        x -= step;
    }
    *yk_out = sqrt(py_min(yk2, 1.0));
    return py_max(x, theta0);
}

/* Unit eigenvector y of the tridiagonal for theta: two steps of inverse iteration (_top_vector). One lane. */
__device__ __forceinline__ void top_vector(const double* alpha, const double* beta, long long k, double theta,
                                           double* y, double* d) {
    const double sigma = theta + 1e-13 * py_max(fabs(theta), 1e-300);
    for (long long i = 0; i < k; ++i) y[i] = 1.0;
    for (long long sweep = 0; sweep < 2; ++sweep) {
        for (long long i = 0; i < k; ++i) {
            const double bb = i > 0 ? beta[i - 1] * beta[i - 1] : 0.0;
            d[i] = (alpha[i] - sigma) - (i > 0 ? bb / d[i - 1] : 0.0);
            if (!(fabs(d[i]) >= 1e-300)) d[i] = -1e-300;   /* a zero or subnormal pivot (the zero matrix) */
        }
        for (long long i = 1; i < k; ++i) y[i] -= beta[i - 1] / d[i - 1] * y[i - 1];
        y[k - 1] /= d[k - 1];
        for (long long i = k - 2; i >= 0; --i) y[i] = y[i] / d[i] - beta[i] / d[i] * y[i + 1];
        double big = 0.0;   /* scale by the largest entry first: y_i^2 may overflow (tiny pivots) */
        for (long long i = 0; i < k; ++i) big = py_max(big, fabs(y[i]));
        double nrm = 0.0;
        for (long long i = 0; i < k; ++i) { y[i] /= big; nrm += y[i] * y[i]; }
        nrm = sqrt(nrm);
        for (long long i = 0; i < k; ++i) y[i] /= nrm;
    }
}

/* Upper bound on lambda_max(G) if the Cholesky factorisation of mu I - G completes, else inf (bounds.md §7,
   Higham Thm 10.3). M holds the factor column-major: element (i, k) at M[k q + i]. */
__device__ __forceinline__ double cholesky_upper(const W* G, double mu, W* M, long long q, int lane) {
    double diag_err = 0.0;
    for (long long e = lane; e < q * q; e += 32) {
        const long long k = e / q, i = e - k * q;
        if (i == k) {
            const double v = mu - w_re(G[e]);
            M[e] = w_real(v);
            diag_err = py_max(diag_err, fabs(v));
        } else {
            M[e] = w_sub(w_zero(), w_conj(G[e]));   /* -(G(i, k)) = -conj(G(k, i)) */
        }
    }
    diag_err = warp_max(diag_err);
    __syncwarp();
    for (long long j = 0; j < q; ++j) {
        double dd = w_re(M[j * q + j]);   /* every lane, in the CPU kernel's order */
        for (long long k = 0; k < j; ++k) dd = w_sub_abs2(dd, M[k * q + j]);
        __syncwarp();
        if (!(dd > 0.0)) return INF_D;   /* the same decision on every lane */
        const double ljj = sqrt(dd);
    #pragma unroll
    for (int s = 0; s < NS; ++s) {
            const long long i = lane + 32 * s;
            if (i > j && i < q) {
                W acc = M[j * q + i];
                for (long long k = 0; k < j; ++k) acc = w_sub_mulconj(acc, M[k * q + i], M[k * q + j]);
                M[j * q + i] = w_div(acc, ljj);
            }
        }
        if (lane == 0) M[j * q + j] = w_real(ljj);
        __syncwarp();
    }
    double fro2 = 0.0;
    for (long long e = lane; e < q * q; e += 32) {
        const long long k = e / q, i = e - k * q;
        if (i >= k) fro2 += w_abs2(M[e]);
    }
    fro2 = warp_sum(fro2);
    fro2 *= 1.0 + gamma_k((double)(q * q + 2));
    const double g_chol = CPLX ? gamma_k((double)(2 * q + 2)) : gamma_k((double)(q + 1));
    return (mu + U_ROUND * diag_err + g_chol * fro2) * (1.0 + 4.0 * U_ROUND);
}

extern "C" __global__ void __launch_bounds__(32 * __MAX_WARPS__, 1)
small_gram_certify(const T* __restrict__ A, const double* __restrict__ c1, const double* __restrict__ c2,
                   long long c_stride, long long adjoint_flag, long long has_v0, const W* __restrict__ v0,
                   unsigned long long seed, double rtol, long long maxsteps, double* __restrict__ out,
                   W* __restrict__ X, long long first, long long nmat, long long r, long long c) {
    const int lane = threadIdx.x & 31;
    const long long warp = threadIdx.x >> 5;
    const long long b = first + (long long)blockIdx.x * (long long)(blockDim.x >> 5) + warp;
    if (b >= nmat) return;   /* the whole warp */
    const bool adjoint = adjoint_flag != 0;
    const long long q = adjoint ? r : c, p = adjoint ? c : r;
    const long long vld = q > TLD ? q : TLD;
    extern __shared__ double2 smem_aligned[];
    const long long warp_bytes = (q * q + q * vld + q) * (long long)sizeof(W) + (4 * q + TILE) * 8;
    char* base = reinterpret_cast<char*>(smem_aligned) + warp * warp_bytes;
    W* G = reinterpret_cast<W*>(base);
    W* V = G + q * q;
    W* x = V + q * vld;
    double* alpha = reinterpret_cast<double*>(x + q);
    double* beta = alpha + q;
    double* y = beta + q;
    double* d = y + q;
    double* rt = d + q;
    const T* __restrict__ Ab = A + b * r * c;
    const double s1 = c1[b * c_stride], s2 = c2[b * c_stride];

    /* ---- 1. G = W^H W (upper triangle, FMA), Gershgorin sums max_j (|W|^T |W| 1)_j (separate roundings) */
    for (long long e = lane; e < q * q; e += 32) G[e] = w_zero();
    double gersh[NS];
#pragma unroll
    for (int s = 0; s < NS; ++s) gersh[s] = 0.0;
    double nonzero = 0.0;   /* entries of W that are not 0 (this lane's rows) */
    for (long long i0 = 0; i0 < p; i0 += TILE) {
        const long long nt = load_tile(Ab, adjoint, c, i0, p, q, s1, s2, V, lane);
        for (long long t = lane; t < nt; t += 32) {
            double sr = 0.0;
            for (long long j = 0; j < q; ++j) {
                sr += w_abs(V[j * TLD + t]);
                nonzero += w_nonzero(V[j * TLD + t]) ? 1.0 : 0.0;
            }
            rt[t] = sr;
        }
        __syncwarp();
        for (long long e = lane; e < q * q; e += 32) {
            const long long j = e / q, k = e - j * q;
            if (k < j) continue;
            W acc = G[e];
            for (long long t = 0; t < nt; ++t) acc = w_cfma(V[j * TLD + t], V[k * TLD + t], acc);
            G[e] = acc;
        }
    #pragma unroll
    for (int s = 0; s < NS; ++s) {
            const long long j = lane + 32 * s;
            if (j < q) {
                double g = gersh[s];
                for (long long t = 0; t < nt; ++t) g += w_abs(V[j * TLD + t]) * rt[t];
                gersh[s] = g;
            }
        }
    }
    __syncwarp();
    for (long long e = lane; e < q * q; e += 32) {   /* Hermitian: the lower triangle mirrors the upper */
        const long long j = e / q, k = e - j * q;
        if (k < j) G[e] = w_conj(G[k * q + j]);
        else if (k == j) G[e] = w_real(w_re(G[e]));
    }
    double best = 0.0;
#pragma unroll
    for (int s = 0; s < NS; ++s) best = py_max(best, gersh[s]);
    best = warp_max(best);
    __syncwarp();

    /* ---- 2. Lanczos with full reorthogonalisation on G (the CPU kernel's _lanczos); V[c q + i] */
    const double tol = 0.05 * rtol;
    const long long kmax = q < maxsteps ? q : maxsteps;
    W v[NS];
    double nrm2 = 0.0;
#pragma unroll
    for (int s = 0; s < NS; ++s) {
        const long long i = lane + 32 * s;
        v[s] = w_zero();
        if (i < q) v[s] = has_v0 ? v0[b * q + i] : w_hash(seed, b, i);
        nrm2 += w_abs2(v[s]);
    }
    const double nrm = sqrt(warp_sum(nrm2));
#pragma unroll
    for (int s = 0; s < NS; ++s) {
        const long long i = lane + 32 * s;
        if (i < q) V[i] = w_div(v[s], nrm);
    }
    __syncwarp();
    if (warp_sum(nonzero) == 0.0) {   /* W = 0 exactly: its norm is 0 (the CPU twin's test in _certify_one) */
    #pragma unroll
    for (int s = 0; s < NS; ++s) {
            const long long i = lane + 32 * s;
            if (i < q) X[b * q + i] = V[i];
        }
        if (lane == 0) { out[4 * b] = 0.0; out[4 * b + 1] = 0.0; out[4 * b + 2] = 0.0; out[4 * b + 3] = 0.0; }
        return;   /* the whole warp: the sum is the same in every lane */
    }
    double theta = 0.0, yk = 1.0;
    long long k = 0;
    for (long long j = 0; j < kmax; ++j) {
        W w[NS];
        double before = 0.0;
    #pragma unroll
    for (int s = 0; s < NS; ++s) {   /* (G v_j)_i = sum_c conj(G(c, i)) v_j(c): unit stride across lanes */
            const long long i = lane + 32 * s;
            W acc = w_zero();
            if (i < q) {
                for (long long cc = 0; cc < q; ++cc) acc = w_cfma(G[cc * q + i], V[j * q + cc], acc);
            }
            w[s] = acc;
            before += w_abs2(acc);
        }
        before = warp_sum(before);
        double a = 0.0, bsq = 0.0;
        for (long long sweep = 0; sweep < 2; ++sweep) {   /* MGS; again only if it cancelled (DGKS) */
            for (long long cc = 0; cc <= j; ++cc) {
                W part = w_zero();
            #pragma unroll
    for (int s = 0; s < NS; ++s) {
                    const long long i = lane + 32 * s;
                    if (i < q) part = w_cfma(V[cc * q + i], w[s], part);
                }
                const W cf = warp_sum_w(part);
            #pragma unroll
    for (int s = 0; s < NS; ++s) {
                    const long long i = lane + 32 * s;
                    if (i < q) w[s] = w_sub(w[s], w_mul(cf, V[cc * q + i]));
                }
                if (cc == j) a += w_re(cf);
            }
            bsq = 0.0;
        #pragma unroll
    for (int s = 0; s < NS; ++s) bsq += w_abs2(w[s]);
            bsq = warp_sum(bsq);
            if (bsq > 0.5 * before) break;
            before = bsq;
        }
        const double bj = sqrt(bsq);
        if (lane == 0) { alpha[j] = a; beta[j] = bj; }
        __syncwarp();
        k = j + 1;
        if (k == kmax) break;
        if (k >= (kmax < 6 ? kmax : 6) && k % 2 == 0) {   /* the Ritz test every other step */
            theta = top_ritz(alpha, beta, k, theta, &yk);
            if (bj * yk <= tol * fabs(theta) || bj <= 1e-14 * fabs(theta)) break;
        } else if (bj <= 1e-14 * fabs(a)) {   /* invariant subspace */
            break;
        }
        const double inv = 1.0 / bj;
    #pragma unroll
    for (int s = 0; s < NS; ++s) {
            const long long i = lane + 32 * s;
            if (i < q) V[(j + 1) * q + i] = w_scale(w[s], inv);
        }
        __syncwarp();
    }
    theta = top_ritz(alpha, beta, k, theta, &yk);
    if (lane == 0) top_vector(alpha, beta, k, theta, y, d);
    __syncwarp();
#pragma unroll
    for (int s = 0; s < NS; ++s) {   /* the Ritz vector x = V^T y */
        const long long i = lane + 32 * s;
        if (i < q) {
            W acc = w_zero();
            for (long long cc = 0; cc < k; ++cc) acc = w_rfma(V[cc * q + i], y[cc], acc);
            x[i] = acc;
            X[b * q + i] = acc;
        }
    }
    __syncwarp();

    /* ---- 3. certified lower bound ||W x|| / ||x|| (bounds.md §6c), every product and sum rounded */
    double ny2 = 0.0, na2 = 0.0;
    for (long long i0 = 0; i0 < p; i0 += TILE) {
        const long long nt = load_tile(Ab, adjoint, c, i0, p, q, s1, s2, V, lane);
        for (long long t = lane; t < nt; t += 32) {
            W sy = w_zero();
            double sa = 0.0;
            for (long long j = 0; j < q; ++j) {
                const W a = V[j * TLD + t];
                sy = w_add(sy, w_mul(a, x[j]));
                sa += w_abs(a) * w_abs(x[j]);
            }
            ny2 += w_abs2(sy);
            na2 += sa * sa;
        }
    }
    double nx2 = 0.0;
#pragma unroll
    for (int s = 0; s < NS; ++s) {
        const long long i = lane + 32 * s;
        if (i < q) nx2 += w_abs2(x[i]);
    }
    ny2 = warp_sum(ny2);
    na2 = warp_sum(na2);
    nx2 = warp_sum(nx2);
    const double ny = sqrt(ny2), na = sqrt(na2), nx = sqrt(nx2);
    const double g_prod = CPLX ? gamma_k((double)(2 * q + 4)) : gamma_k((double)q);
    const double num = ny * (1.0 - gamma_k((double)(p + 2))) - g_prod * na * (1.0 + gamma_k((double)(p + 2)));
    const double den = nx * (1.0 + gamma_k((double)(q + 2)));
    const double est = nx > 0.0 ? ny / nx : 0.0;
    const double lower = (den <= 0.0 || num <= 0.0) ? 0.0 : num / den;

    /* ---- 4. certified upper bound: Cholesky of mu I - G plus the rounding of G (bounds.md §7) */
    const double g_gram = CPLX ? gamma_k((double)(2 * p + 4)) : gamma_k((double)p);
    const double err_g = g_gram * best * (1.0 + gamma_k((double)(p + q + 2))) + (double)(q * p) * 0x1.0p-1022;
    const double rho = py_max(theta, est * est);
    double upper = INF_D;
    for (long long attempt = 0; attempt < 3; ++attempt) {   /* mu = rho (1 + grow rtol), grow = 1/4, 1/2, 1 */
        const double grow = attempt == 0 ? 0.25 : (attempt == 1 ? 0.5 : 1.0);
        __syncwarp();
        const double lam = cholesky_upper(G, rho * (1.0 + grow * rtol), V, q, lane);
        if (lam < INF_D) {
            upper = sqrt((lam + err_g) * (1.0 + 2.0 * U_ROUND)) * (1.0 + 2.0 * U_ROUND);
            break;
        }
    }
    if (lane == 0) {
        out[4 * b] = lower;
        out[4 * b + 1] = upper;
        out[4 * b + 2] = py_min(py_max(est, lower), upper);
        out[4 * b + 3] = (double)k;
    }
}
"""


def source(dtype: str) -> str:
    """Complete CUDA C source of the module for ``dtype`` (a key of :data:`DTYPES`)."""
    elem, real, is_complex = DTYPES[dtype]
    prelude = f"typedef {elem} T;\ntypedef {real} R;\n" + _PRELUDE.replace("__MAX_Q__", str(MAX_Q)).replace(
        "__TILE__", str(TILE)
    )
    body = _KERNEL.replace("__MAX_WARPS__", str(MAX_WARPS))
    return prelude + (_WIDE_COMPLEX if is_complex else _WIDE_REAL) + body
