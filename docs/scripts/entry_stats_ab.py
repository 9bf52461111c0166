"""The entry statistics of a dense matrix on the numba backend: two reads against one.

Every dense call reads ``A`` for ``max |a_ij|`` (the scale) and for the statistics of §5 (Frobenius norm,
Gershgorin, largest row and column). Where no scaling is needed both come from one read
(``NumbaBackend.entry_stats``). This script times, alternating in one process, the two reads (``max_abs``,
then ``abs_stats`` at scale 1) against the one (``entry_stats``), beside one fused Gram pass for scale,
and prints medians and the min-max spread of the ratio (each timed call right after an untimed one)::

    python docs/scripts/entry_stats_ab.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's spectra, not an installed one

from spectra.backends.numba import NumbaBackend

CASES = [((4000, 4000), np.float32), ((3000, 3000), np.float64), ((8000, 2000), np.float64), ((2000, 8000), np.float32)]


def _seconds(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def _case(be: NumbaBackend, A: np.ndarray, repeat: int) -> tuple[dict[str, float], np.ndarray]:
    """Median milliseconds of the two reads, the one read and one Gram pass; the two/one ratio of each round."""
    one = np.array([1.0])
    x = np.random.default_rng(1).standard_normal((A.shape[1], 1)).astype(A.dtype)
    runs = {
        "two": lambda: (be.max_abs(A), be.abs_stats(A, one, one)),
        "one": lambda: be.entry_stats(A),
        "gram": lambda: be.gram(A, x),
    }
    for f in runs.values():  # compile or load the kernels, warm the pages
        f()
    t = {k: [] for k in runs}
    for _ in range(repeat):
        for k, f in runs.items():
            f()  # back to back, as in a computation: a pause lets the idle cores sleep, and waking them is timed too
            t[k].append(_seconds(f))
    return {k: 1e3 * float(np.median(v)) for k, v in t.items()}, np.array(t["two"]) / np.array(t["one"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    be = NumbaBackend()
    print(f"{'shape, dtype':<22}{'two reads [ms]':>16}{'one read [ms]':>15}{'one Gram pass [ms]':>20}  two/one")
    for shape, dtype in CASES:
        A = np.random.default_rng(0).standard_normal(shape).astype(dtype)
        med, ratio = _case(be, A, args.repeat)
        label = f"{shape[0]} x {shape[1]}, {np.dtype(dtype).name}"
        print(
            f"{label:<22}{med['two']:>16.2f}{med['one']:>15.2f}{med['gram']:>20.2f}  "
            f"{np.median(ratio):.2f} ({ratio.min():.2f}-{ratio.max():.2f})"
        )


if __name__ == "__main__":
    main()
