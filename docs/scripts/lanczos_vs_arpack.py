"""Certified Lanczos (rtol 1e-6) against ``svds(k=1, solver="arpack")`` on a 3000 x 3000 Gaussian.

Each round times ARPACK, spectra with the numba backend and spectra with the numpy backend in the same
process (best of three calls each) and prints the ratios; ARPACK's products are counted once through a
``LinearOperator``. Used for the table in docs/performance.md::

    python docs/scripts/lanczos_vs_arpack.py [rounds]
"""

from __future__ import annotations

import sys
import timeit

import numpy as np
import scipy.sparse.linalg as sla

import spectra


def best_of(f, repeat: int = 3) -> float:
    return min(timeit.repeat(f, number=1, repeat=repeat))


def main(rounds: int = 5) -> None:
    A = np.random.default_rng(0).standard_normal((3000, 3000))
    counts = [0, 0]

    def mv(x):
        counts[0] += 1
        return A @ x

    def rmv(x):
        counts[1] += 1
        return A.T @ x

    sla.svds(sla.LinearOperator(A.shape, matvec=mv, rmatvec=rmv, dtype=A.dtype), k=1, solver="arpack")
    r = spectra.norm(A, method="lanczos", backend="numba", rtol=1e-6)  # also warms the JIT cache
    print(f"ARPACK products: A {counts[0]}, A^T {counts[1]}; spectra: {r.matvecs} products, {r.iterations} steps")

    def arpack():
        return sla.svds(A, k=1, solver="arpack", return_singular_vectors=False)

    for _ in range(rounds):
        ta = best_of(arpack)
        tn = best_of(lambda: spectra.norm(A, method="lanczos", backend="numba", rtol=1e-6))
        tp = best_of(lambda: spectra.norm(A, method="lanczos", backend="numpy", rtol=1e-6))
        print(f"arpack {ta:.3f} s   numba {tn:.3f} s ({tn / ta:.2f})   numpy {tp:.3f} s ({tp / ta:.2f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
