"""Why the fused dense pass stops short of the read: the pass as a DRAM stream plus an L2 re-read.

One thread, thread CPU time, best of the repeats. For each shape and dtype it times

- ``read``: the integer sum over ``A``'s bytes (asv's read, ``bench_primitives``), from DRAM;
- ``dot``: the pass's first phase alone, ``y = A x`` with the pass's row groups (eight rows ``h`` apart), from DRAM;
- ``scatter (L2)``: the pass's second phase alone, ``z += A_g^H y_g``, on one group of eight rows that stays in
  L2 (the pass re-reads each group from L2 right after its dot products), scaled to the whole matrix;
- ``pass``: the backend's serial kernel (``_numba_serial.dense_gram``), which does both phases per group;

and prints the model ``dot + scatter (L2)`` beside the measured pass, and the fraction of the read a pass can
reach when the scatter does not overlap the stream, ``read / (read + scatter (L2))``::

    NUMBA_NUM_THREADS=1 python docs/scripts/dense_pass_model.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "asv_bench"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's spectra, not an installed one

from benchmarks.bench_primitives import SHAPES, _serial_read, _words

from spectra.backends import _numba_serial

_FASTMATH = {"reassoc", "nsz", "contract"}


@numba.njit(nogil=True, fastmath=_FASTMATH, error_model="numpy")
def dot_phase(B, x, y):
    """The pass's dot products alone: eight rows ``h`` apart per group, as in ``dense_gram``."""
    m, n = B.shape
    h = m // 8
    zero = y.dtype.type(0)
    for g in range(h):
        b0, b1, b2, b3 = B[g], B[g + h], B[g + 2 * h], B[g + 3 * h]
        b4, b5, b6, b7 = B[g + 4 * h], B[g + 5 * h], B[g + 6 * h], B[g + 7 * h]
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
        for j in range(n):
            xj = x[j]
            s0 += b0[j] * xj
            s1 += b1[j] * xj
            s2 += b2[j] * xj
            s3 += b3[j] * xj
            s4 += b4[j] * xj
            s5 += b5[j] * xj
            s6 += b6[j] * xj
            s7 += b7[j] * xj
        y[g], y[g + h], y[g + 2 * h], y[g + 3 * h] = s0, s1, s2, s3
        y[g + 4 * h], y[g + 5 * h], y[g + 6 * h], y[g + 7 * h] = s4, s5, s6, s7


@numba.njit(nogil=True, fastmath=_FASTMATH, error_model="numpy")
def scatter_phase(G, y, z, times):
    """The pass's scatter of one group of eight rows (``G``: 8 x n), ``times`` times over (it stays in L2)."""
    b0, b1, b2, b3, b4, b5, b6, b7 = G[0], G[1], G[2], G[3], G[4], G[5], G[6], G[7]
    s0, s1, s2, s3, s4, s5, s6, s7 = y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]
    for _ in range(times):
        for j in range(G.shape[1]):
            z[j] += (
                np.conj(b0[j]) * s0
                + np.conj(b1[j]) * s1
                + np.conj(b2[j]) * s2
                + np.conj(b3[j]) * s3
                + np.conj(b4[j]) * s4
                + np.conj(b5[j]) * s5
                + np.conj(b6[j]) * s6
                + np.conj(b7[j]) * s7
            )


def best(repeat, f, *args):
    f(*args)
    out = []
    for _ in range(repeat):
        t0 = time.thread_time()
        f(*args)
        out.append(time.thread_time() - t0)
    return min(out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    if numba.get_num_threads() != 1:
        sys.exit("run with NUMBA_NUM_THREADS=1 (one thread: CPU time then times the work)")
    print(
        f"{'shape':>12} {'dtype':>8} {'read':>6} {'dot':>6} {'scatter(L2)':>11} {'model':>6} {'pass':>6}  "
        f"{'read/pass':>9} {'read/(read+scatter)':>19}   (ms)"
    )
    for dtype in ("float64", "float32"):
        for m, n, order in SHAPES.values():
            if order != "C":
                continue  # Fortran order runs the same kernel on the transpose: a C-ordered n x m
            A = np.random.default_rng(0).standard_normal((m, n)).astype(dtype)
            x = np.random.default_rng(1).standard_normal(n).astype(dtype)
            y, z = np.empty(m, dtype), np.zeros(n, dtype)
            X, Y, Z = x[:, None].copy(), np.empty((m, 1), dtype), np.empty((n, 1), dtype)
            G = np.ascontiguousarray(A[:8])
            words = _words(A)
            groups = m // 8
            t_read = best(args.repeat, _serial_read, words)
            t_dot = best(args.repeat, dot_phase, A, x, y)
            t_scat = best(args.repeat, scatter_phase, G, y, z, groups)
            t_pass = best(args.repeat, _numba_serial.dense_gram, A, X, A.dtype.type(1), Y, Z, 1)
            ms = [1e3 * t for t in (t_read, t_dot, t_scat, t_dot + t_scat, t_pass)]
            print(
                f"{m:>6}x{n:<5} {dtype:>8} "
                + " ".join(f"{v:6.2f}" for v in ms[:2])
                + f" {ms[2]:11.2f} "
                + " ".join(f"{v:6.2f}" for v in ms[3:])
                + f"  {t_read / t_pass:9.2f} {t_read / (t_read + t_scat):19.2f}",
                flush=True,
            )
    print("load average", " ".join(f"{v:.1f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
