"""Where the passes of a certified dense Lanczos run go: the lower bound against the certificate.

For the 3000 x 3000 Gaussian of the ARPACK comparison (``rtol=1e-6``), prints for several start vectors the
product at which the lower bound (a Ritz value) is within ``rtol`` of the LAPACK norm, the product at which
the probabilistic upper bound is, and the products of the certified run. Then the iterations that ``b``
independent runs would need: each run at confidence ``1 - delta**(1/b)`` (so that all ``b`` upper bounds miss
together with probability ``delta``, and the largest of them holds with confidence ``1 - delta``); the
combined run needs the largest of its ``b`` runs' iterations. And the cost of a Gram pass with ``k`` columns
against one with a single column (CPU time, so run it with ``NUMBA_NUM_THREADS=1``). Used for
docs/performance.md ("The certificate's share of the passes")::

    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python docs/scripts/certificate_lag.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg as sl

import spectra


def lag(A: np.ndarray, sigma: float, rtol: float, seeds: int) -> None:
    print("seed  lower within rtol  upper within rtol  certified  (products; two per step)")
    for seed in range(seeds):
        steps = []
        r = spectra.norm(A, method="lanczos", backend="numba", rtol=rtol, seed=seed, progress=steps.append)
        low = next(p.products for p in steps if sigma - p.lower <= rtol * sigma)
        up = next(p.products for p in steps if p.upper - sigma <= rtol * sigma)
        print(f"{seed:4d}  {low:17d}  {up:17d}  {r.matvecs:9d}")


def independent_runs(A: np.ndarray, rtol: float, delta: float, seeds: int) -> None:
    print("b  confidence per run  iterations per run  largest per group of b")
    for b in (1, 2, 4, 8):
        confidence = 1.0 - delta ** (1.0 / b)
        its = [
            spectra.norm(A, method="lanczos", backend="numba", rtol=rtol, confidence=confidence, seed=s).iterations
            for s in range(seeds)
        ]
        groups = [max(its[i : i + b]) for i in range(0, seeds - b + 1, b)]
        print(f"{b}  {confidence:.4f}  {its}  {groups}")


def column_cost(n: int, repeats: int) -> None:
    import numba

    from spectra.backends import _numba_kernels as kernels

    rng = np.random.default_rng(1)
    for dtype in (np.float64, np.float32):
        A = rng.standard_normal((n, n)).astype(dtype)
        blocks = numba.get_num_threads()
        X = {k: np.ascontiguousarray(rng.standard_normal((n, k)).astype(dtype)) for k in (1, 2, 4, 8)}
        times = {k: [] for k in X}
        for _ in range(repeats + 1):  # the first round compiles or loads; it is dropped
            for k, x in X.items():
                Y, Z = np.empty((n, k), dtype), np.empty((n, k), dtype)
                t0 = time.process_time()
                kernels.dense_gram(A, x, dtype(1), Y, Z, blocks)
                times[k].append(time.process_time() - t0)
        one = np.median(times[1][1:])
        cells = [f"k={k}: {1e3 * np.median(t[1:]):.2f} ms ({np.median(t[1:]) / one:.2f}x)" for k, t in times.items()]
        print(f"{np.dtype(dtype).name} {n}x{n}, {blocks} thread(s): " + "  ".join(cells))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--rtol", type=float, default=1e-6)
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--repeats", type=int, default=11)
    args = p.parse_args()
    A = np.random.default_rng(0).standard_normal((args.n, args.n))
    sigma = float(sl.svdvals(A)[0])
    lag(A, sigma, args.rtol, min(args.seeds, 4))
    independent_runs(A, args.rtol, 1e-3, args.seeds)
    column_cost(args.n, args.repeats)


if __name__ == "__main__":
    main()
