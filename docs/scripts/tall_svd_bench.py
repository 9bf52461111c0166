"""Tall-and-skinny dense matrices under ``auto`` (the SVD route) against ``np.linalg.norm(A, 2)``.

Same process, a warm-up call each, then the best and worst of 3 (docs/performance.md, "Tall-and-skinny
matrices: the SVD reads no entry statistics"). Usage: ``python docs/scripts/tall_svd_bench.py``.
"""

from __future__ import annotations

import time

import numpy as np

import spectra


def spread(f, repeats: int = 3) -> str:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return f"{1e3 * min(times):.0f}-{1e3 * max(times):.0f} ms"


def main() -> None:
    for shape in [(10**7, 2), (4 * 10**6, 5), (10**6, 10)]:
        A = np.random.default_rng(0).standard_normal(shape)
        cases = {"spectra": lambda A=A: spectra.norm(A), "np.linalg.norm": lambda A=A: np.linalg.norm(A, 2)}
        for f in cases.values():
            f()  # warm-up
        print(shape, spectra.norm(A).method, {name: spread(f) for name, f in cases.items()})


if __name__ == "__main__":
    main()
