"""One CSR Gram pass ``A^T (A x)`` under other layouts and schedules: what was tried for the sparse goal.

Three measurements on 200 000 x 200 000 matrices (``random-2M``, ``graph-pa`` as in ``sparse_lanczos.py``,
and ``pa-shuffled``, the same graph with its nodes relabelled at random), each with its contenders
interleaved in one process, medians and min-max of the per-round times::

    python docs/scripts/sparse_pass_layout.py reorder [rounds]   # RCM, bipartite RCM, degree order
    python docs/scripts/sparse_pass_layout.py slabs [rounds]     # column slabs with 16-bit indices
    python docs/scripts/sparse_pass_layout.py schedule [rounds]  # static, dynamic and serial passes

``reorder`` permutes rows and columns once (``scipy.sparse.csgraph.reverse_cuthill_mckee`` of ``A`` for the
symmetric graphs and of ``A + A^T`` for the random matrix, RCM of the bipartite graph ``[[0, A], [A^T, 0]]``
split into a row and a column order, or rows and columns by decreasing degree) and times the fused pass on one
Numba thread against SciPy's two products, on each order. ``slabs`` splits the columns into slabs of
``2**bits`` (16, 17, 18) whose indices fit 16 bits and runs ``y = A x`` and then ``z = A^T y`` slab by slab, so
the gathered and scattered entries stay in the 1 MiB L2 cache; plus a banded matrix with the same number of
nonzeros, the pass with perfect locality. ``schedule`` runs the library's parallel pass (one block per
thread), the same with a serial sum of the accumulators, dynamic chunks (16 or 64 blocks, per-thread
accumulators, ``numba.set_parallel_chunksize(1)``) and the serial twin, with 2 ms of sleep between passes as
in a Lanczos step. The prototype kernels here are for measurement only; docs/performance.md has the results.
"""

from __future__ import annotations

import os
import sys
import time

import numba
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

from spectra._testing import preferential_attachment_graph
from spectra.backends import _numba_sparse as kernels
from spectra.backends._numba_sparse import _csr_rows
from spectra.backends.numba import _nnz_blocks, _unsigned

N = 200_000


def matrices(shuffled: bool = False) -> dict:
    out = {
        "random-2M": sp.random_array((N, N), density=10 / N, format="csr", rng=np.random.default_rng(5)),
        "graph-pa": preferential_attachment_graph(N, 5, seed=0),
    }
    if shuffled:
        p = np.random.default_rng(3).permutation(N)
        out["pa-shuffled"] = sp.csr_array(out["graph-pa"][p][:, p])
    for A in out.values():
        A.sort_indices()
    return out


def interleave(cands: dict, rounds: int, pause: float = 0.0) -> None:
    for f in cands.values():
        f()
    times = {k: [] for k in cands}
    keys = list(cands)
    for r in range(rounds):
        for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
            t0 = time.perf_counter()
            cands[k]()
            times[k].append(time.perf_counter() - t0)
            time.sleep(pause)
    for k, v in times.items():
        v = 1e3 * np.array(v)
        print(f"  {k:28s} median {np.median(v):6.2f} ms  (min {v.min():6.2f}, max {v.max():6.2f})", flush=True)


def _values(A):
    return np.broadcast_to(A.data[:1], A.data.shape) if np.all(A.data == A.data[0]) else A.data


def fused_serial(A):
    ip, ix = _unsigned(A)
    data, X = _values(A), np.random.default_rng(0).standard_normal((A.shape[1], 1))
    Y, Z = np.empty((A.shape[0], 1)), np.empty((A.shape[1], 1))
    bounds = np.array([0, A.shape[0]], dtype=np.int64)
    return lambda: kernels.csr_gram_serial(ip, ix, data, X, 1.0, Y, Z, bounds)


def scipy_pass(A):
    x, AT = np.random.default_rng(0).standard_normal(A.shape[1]), A.T
    return lambda: AT @ (A @ x)


def orders(name: str, A) -> dict:
    """``{order: (row permutation, column permutation)}`` and the time each took."""
    out = {"original": (None, None)}
    t0 = time.perf_counter()
    p = reverse_cuthill_mckee(A if name != "random-2M" else (A + A.T).tocsr(), symmetric_mode=True)
    out["rcm"] = (p, p)
    t1 = time.perf_counter()
    m = A.shape[0]
    q = reverse_cuthill_mckee(sp.bmat([[None, A], [A.T, None]], format="csr"), symmetric_mode=True)
    out["rcm-bipartite"] = (q[q < m], q[q >= m] - m)
    t2 = time.perf_counter()
    d = np.argsort(-np.diff(A.indptr), kind="stable")
    out["degree"] = (d, d)
    print(f"{name}: rcm {t1 - t0:.3f} s, bipartite rcm {t2 - t1:.3f} s", flush=True)
    return out


def reorder(rounds: int) -> None:
    for name, A in matrices(shuffled=True).items():
        cands = {}
        for order, (r, c) in orders(name, A).items():
            t0 = time.perf_counter()
            B = A if r is None else sp.csr_array(A[r][:, c])
            B.sort_indices()
            coo = B.tocoo()
            spread = np.mean(np.abs(coo.row.astype(np.int64) - coo.col))
            print(f"  {order}: permuted in {time.perf_counter() - t0:.3f} s, mean |i - j| {spread:.0f}", flush=True)
            cands[f"{name} {order} fused"] = fused_serial(B)
            cands[f"{name} {order} scipy"] = scipy_pass(B)
        interleave(cands, rounds)


@numba.njit(cache=False)
def _slabs(indptr, indices, data, n, bits):
    """The nonzeros regrouped slab by slab (row order kept), column offsets within the slab in 16 bits."""
    m = indptr.shape[0] - 1
    S = (n + (1 << bits) - 1) >> bits
    ptr = np.zeros(S * m + 1, np.int64)
    for i in range(m):
        for p in range(indptr[i], indptr[i + 1]):
            ptr[(indices[p] >> bits) * m + i + 1] += 1
    for q in range(S * m):
        ptr[q + 1] += ptr[q]
    fill = ptr[:-1].copy()
    idx, val = np.empty(indices.shape[0], np.uint16), np.empty(data.shape[0], data.dtype)
    for i in range(m):
        for p in range(indptr[i], indptr[i + 1]):
            q = (indices[p] >> bits) * m + i
            idx[fill[q]] = indices[p] & ((1 << bits) - 1)
            val[fill[q]] = data[p]
            fill[q] += 1
    return ptr, idx, val


@numba.njit(cache=False, fastmath=True, error_model="numpy")
def _slab_gram(ptr, idx, val, x, y, z, m, bits):
    S = (z.shape[0] + (1 << bits) - 1) >> bits
    y[:] = 0
    z[:] = 0
    for s in range(S):
        xs = x[s << bits :]
        for i in range(m):
            t = 0.0
            for p in range(ptr[s * m + i], ptr[s * m + i + 1]):
                t += val[p] * xs[idx[p]]
            y[i] += t
    for s in range(S):
        zs = z[s << bits :]
        for i in range(m):
            t = y[i]
            for p in range(ptr[s * m + i], ptr[s * m + i + 1]):
                zs[idx[p]] += val[p] * t


def slabs(rounds: int) -> None:
    mats = matrices()
    offsets = list(range(-5, 5))
    mats["band-2M"] = sp.diags_array([np.ones(N - abs(k)) for k in offsets], offsets=offsets, format="csr")
    for bits in (16, 17, 18):
        print(f"slabs of 2**{bits} columns", flush=True)
        cands = {}
        for name, A in mats.items():
            ptr, idx, val = _slabs(A.indptr, A.indices, A.data, A.shape[1], bits)
            x = np.random.default_rng(0).standard_normal(A.shape[1])
            y, z = np.empty(A.shape[0]), np.empty(A.shape[1])
            _slab_gram(ptr, idx, val, x, y, z, A.shape[0], bits)
            ref = A.T @ (A @ x)
            assert np.allclose(z, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
            cands[f"{name} fused"] = fused_serial(A)
            cands[f"{name} slabs"] = lambda a=(ptr, idx, val, x, y, z, A.shape[0], bits): _slab_gram(*a)
            cands[f"{name} scipy"] = scipy_pass(A)
        interleave(cands, rounds)


@numba.njit(parallel=True, fastmath=True, error_model="numpy")
def _static_serial_sum(indptr, indices, data, X, Y, Z, bounds):
    nb = bounds.shape[0] - 1
    acc = np.empty((nb, Z.shape[0], 1), dtype=Z.dtype)
    for blk in numba.prange(nb):
        acc[blk][:] = 0
        _csr_rows(indptr, indices, data, X, 1.0, Y, acc[blk], bounds[blk], bounds[blk + 1])
    Z[:] = acc[0]
    for b in range(1, nb):
        Z += acc[b]


@numba.njit(parallel=True, fastmath=True, error_model="numpy")
def _dynamic(indptr, indices, data, X, Y, Z, bounds, acc):
    acc[:] = 0
    old = numba.set_parallel_chunksize(1)
    for blk in numba.prange(bounds.shape[0] - 1):
        _csr_rows(indptr, indices, data, X, 1.0, Y, acc[numba.get_thread_id()], bounds[blk], bounds[blk + 1])
    numba.set_parallel_chunksize(old)
    Z[:] = acc[0]
    for b in range(1, acc.shape[0]):
        Z += acc[b]


def _blocks(indptr, nb):
    b = np.searchsorted(indptr, np.arange(nb + 1) * int(indptr[-1]) // nb).astype(np.int64)
    b[0], b[-1] = 0, len(indptr) - 1
    return b


def schedule(rounds: int) -> None:
    for name, A in matrices().items():
        print(name, flush=True)
        _schedule_one(A, rounds)


def _schedule_one(A, rounds: int) -> None:
    ip, ix = _unsigned(A)
    data, X = _values(A), np.random.default_rng(0).standard_normal((N, 1))
    Y, Z = np.empty((N, 1)), np.empty((N, 1))
    acc = np.empty((numba.get_num_threads(), N, 1))
    two = _nnz_blocks(A.indptr)
    interleave(
        {
            "parallel (library)": lambda: kernels.csr_gram(ip, ix, data, X, 1.0, Y, Z, two),
            "parallel, serial sum": lambda: _static_serial_sum(ip, ix, data, X, Y, Z, two),
            "dynamic, 16 blocks": lambda: _dynamic(ip, ix, data, X, Y, Z, _blocks(A.indptr, 16), acc),
            "dynamic, 64 blocks": lambda: _dynamic(ip, ix, data, X, Y, Z, _blocks(A.indptr, 64), acc),
            "serial twin": lambda: kernels.csr_gram_serial(ip, ix, data, X, 1.0, Y, Z, two),
            "scipy": scipy_pass(A),
        },
        rounds,
        pause=0.002,
    )


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "reorder"
    print("load average", os.getloadavg())
    {"reorder": reorder, "slabs": slabs, "schedule": schedule}[what](int(sys.argv[2]) if len(sys.argv) > 2 else 21)
    print("load average", os.getloadavg())
