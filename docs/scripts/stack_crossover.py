"""Crossover of the numba stack kernel against the batched SVD, by matrix order and count (docs/performance.md).

For every order ``n`` and count ``B`` a float64 Gaussian stack ``(B, n, n)`` is solved, interleaved in one
process, by the stack kernel (``method="lanczos", backend="numba"``, certified ``rtol=1e-6``), by spectra's
``method="svd"`` on NumPy (LAPACK per matrix, an interval from the SVD's backward error) and by
``np.linalg.norm(S, 2, axis=(-2, -1))``. Prints one Markdown row per case: the median time of each and the
median (min–max) of the per-repeat ratios svd / kernel and numpy / kernel (above 1: the kernel is faster)::

    nice -n 15 python docs/scripts/stack_crossover.py [--repeats 5] [--orders 2,4,8] [--counts 1,16,256]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import spectra

ORDERS = (2, 4, 8, 16, 32, 48, 64, 96, 128)
COUNTS = (1, 4, 16, 64, 256, 1024, 4096)


def _contenders(S: np.ndarray):
    return {
        "kernel": lambda: spectra.norm(S, method="lanczos", backend="numba", rtol=1e-6, seed=0),
        "svd": lambda: spectra.norm(S, method="svd", backend="numpy"),
        "numpy": lambda: np.linalg.norm(S, 2, axis=(-2, -1)),
    }


def measure(n: int, B: int, repeats: int) -> dict[str, np.ndarray]:
    S = np.random.default_rng(0).standard_normal((B, n, n))
    truth = np.linalg.svd(S, compute_uv=False)[:, 0]
    fs = _contenders(S)
    r = fs["kernel"]()  # warm up (cache load) and check
    if not (np.all(r.lower <= truth) and np.all(truth <= r.upper)):
        raise AssertionError(f"an interval missed the LAPACK norm (n={n}, B={B})")
    if not np.all(r.confidence == 1.0):  # matrices the certificate left to the general path
        print(f"note: n={n}, B={B}: {int(np.sum(r.confidence < 1))} matrices solved by the general path")
    fs["svd"]()
    times = {k: [] for k in fs}
    for _ in range(repeats):
        for name, f in fs.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {k: np.array(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--orders", default=",".join(map(str, ORDERS)))
    ap.add_argument("--counts", default=",".join(map(str, COUNTS)))
    ap.add_argument("--max-entries", type=float, default=3e7, help="skip stacks with more entries than this")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}, NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    print("| n | B | kernel ms | svd ms | numpy ms | svd / kernel | numpy / kernel |")
    print("|---|---|---|---|---|---|---|")
    for n in map(int, args.orders.split(",")):
        for B in map(int, args.counts.split(",")):
            if B * n * n > args.max_entries:
                continue
            t = measure(n, B, args.repeats)
            cells = [f"{np.median(t[k]) * 1e3:.3g}" for k in ("kernel", "svd", "numpy")]
            for peer in ("svd", "numpy"):
                ratio = t[peer] / t["kernel"]
                cells.append(f"{np.median(ratio):.2f} ({ratio.min():.2f}–{ratio.max():.2f})")
            print(f"| {n} | {B} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
