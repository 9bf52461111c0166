"""Certified Lanczos against ``svds(k=1, solver="arpack")`` on a dense Gaussian, in one process.

The two solvers alternate (ARPACK, spectra, ARPACK, spectra, ...), each call after a 0.3 s pause; the
ratio of each pair is printed with its median and spread. ``--cpu`` times CPU seconds of the process
instead of wall-clock seconds: with ``NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` both sides run on one
thread and the ratio depends much less on how busy the machine is. Used for docs/performance.md::

    python docs/scripts/lanczos_vs_arpack.py [--rounds 7] [--dtype float32] [--cpu]

float64 runs the 3000 x 3000 problem at ``rtol=1e-6``, float32 the 4000 x 4000 one at ``rtol=1e-5``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.sparse.linalg as sla

import spectra

PROBLEMS = {"float64": (3000, 1e-6), "float32": (4000, 1e-5)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--dtype", choices=sorted(PROBLEMS), default="float64")
    p.add_argument("--backend", default="numba")
    p.add_argument("--cpu", action="store_true", help="CPU time of the process instead of wall-clock time")
    args = p.parse_args()
    n, rtol = PROBLEMS[args.dtype]
    A = np.random.default_rng(0).standard_normal((n, n)).astype(args.dtype)
    clock = time.process_time if args.cpu else time.perf_counter
    counts = [0, 0]

    def mv(x):
        counts[0] += 1
        return A @ x

    def rmv(x):
        counts[1] += 1
        return A.T @ x

    op = sla.LinearOperator(A.shape, matvec=mv, rmatvec=rmv, dtype=A.dtype)
    s_arpack = sla.svds(op, k=1, solver="arpack", return_singular_vectors=False, random_state=0)[0]
    r = spectra.norm(A, method="lanczos", backend=args.backend, rtol=rtol)  # also warms the JIT cache
    print(f"{args.dtype} {n}x{n}, rtol {rtol:g}, backend {args.backend}, {'CPU' if args.cpu else 'wall'} time")
    print(f"ARPACK: {counts[0]} products with A, {counts[1]} with A^T, value {s_arpack!r}")
    print(f"spectra: {r.matvecs} products, {r.iterations} steps, [{r.lower!r}, {r.upper!r}]")
    print(f"certified relative width {r.relative_width:.2e}")
    print(f"ARPACK's value {'inside' if r.lower <= s_arpack <= r.upper else 'OUTSIDE'} the certified interval")

    def arpack():
        sla.svds(A, k=1, solver="arpack", return_singular_vectors=False, random_state=0)

    def ours():
        spectra.norm(A, method="lanczos", backend=args.backend, rtol=rtol)

    def seconds(f) -> float:
        time.sleep(0.3)
        t0 = clock()
        f()
        return clock() - t0

    ta, ts = [], []
    for _ in range(args.rounds):
        ta.append(seconds(arpack))
        ts.append(seconds(ours))
    ratios = np.array(ts) / np.array(ta)
    print("ARPACK  " + " ".join(f"{t:.3f}" for t in ta))
    print("spectra " + " ".join(f"{t:.3f}" for t in ts))
    print(f"ratio median {np.median(ratios):.3f}, min {ratios.min():.3f}, max {ratios.max():.3f}")
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
