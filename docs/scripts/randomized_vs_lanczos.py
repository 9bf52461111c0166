"""randomized beside lanczos per spectrum: interleaved timing in one process, traced peak memory.

Usage: ``nice -n 15 python docs/scripts/randomized_vs_lanczos.py REPEATS BLOCKS [NAMES]``, e.g.
``... 5 4,2`` or ``... 3 4 sprand,graph``. Ratios are randomized / lanczos per repeat (median, min-max).
"""

import sys
import time
import tracemalloc
import warnings

import numpy as np
import scipy.sparse as sp

import spectra
from spectra._testing import matrix_with_singular_values, spectrum

warnings.simplefilter("ignore")
REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
BS = [int(x) for x in sys.argv[2].split(",")] if len(sys.argv) > 2 else [None]
ONLY = sys.argv[3].split(",") if len(sys.argv) > 3 else None


def problems():
    rng = np.random.default_rng(0)
    yield "gaussian 2000x500 f32", rng.standard_normal((2000, 500)).astype(np.float32)
    for name in ["flat", "clustered", "decaying", "lowrank_noise"]:
        yield f"{name} 1000x500", matrix_with_singular_values(spectrum(name, 500, seed=1), 1000, 500, seed=2)
    n = 50_000
    r = np.random.default_rng(1)
    k = 250_000
    coo = (r.standard_normal(k), (r.integers(0, n, k), r.integers(0, n, k)))
    yield "sprand 5e4 (2.5e5 nnz)", sp.csr_array(coo, shape=(n, n))
    B = sp.csr_array((np.ones(125_000), (r.integers(0, n, 125_000), r.integers(0, n, 125_000))), shape=(n, n))
    yield "graph 5e4 (sym 0/1)", (B + B.T).tocsr()


for name, A in problems():
    if ONLY and not any(o in name for o in ONLY):
        continue
    calls = [("lanczos", {})] + [("randomized", {} if b is None else {"block_size": b}) for b in BS]
    times = {i: [] for i in range(len(calls))}
    info = {}
    for rep in range(REPS):
        for i, (m, kw) in enumerate(calls):
            t = time.perf_counter()
            r = spectra.norm(A, method=m, seed=rep, **kw)
            times[i].append(time.perf_counter() - t)
            info[i] = (r.matvecs, r.iterations, r.relative_width, r.converged, r.backend)
    mem = {}
    for i, (m, kw) in enumerate(calls):
        tracemalloc.start()
        spectra.norm(A, method=m, seed=0, **kw)
        mem[i] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    tl = np.array(times[0])
    for i, (m, kw) in enumerate(calls):
        t = np.array(times[i])
        ratio = t / tl
        p, it, w, c, be = info[i]
        print(
            f"{name:24s} {m:10s} b={kw.get('block_size', '-')!s:3s} med {np.median(t):6.3f}s "
            f"ratio med {np.median(ratio):5.2f} [{ratio.min():.2f}-{ratio.max():.2f}] prod={p:5d} it={it:4d} "
            f"width={w:.1e} conv={c} peak={mem[i]:6.1f}MiB mem_ratio={mem[i] / mem[0]:.2f} be={be}",
            flush=True,
        )
