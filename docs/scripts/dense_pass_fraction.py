"""One fused dense Gram pass (numba) against one read of the same bytes, in one process.

For each shape, memory order and dtype the pass ``A^H (A x)`` (``A (A^H x)`` for Fortran order) and a read
of ``A`` (NumPy's sum over its bytes) alternate; the fraction is read time / pass time for the best and the
median of the repeats. ``--cpu`` times the thread's CPU time, which on a loaded machine is the
more stable measure for one thread (run with ``NUMBA_NUM_THREADS=1``)::

    NUMBA_NUM_THREADS=1 python docs/scripts/dense_pass_fraction.py --cpu
    python docs/scripts/dense_pass_fraction.py            # all threads, wall-clock, parallel read
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from spectra.backends.numba import NumbaBackend

SHAPES = [(3000, 3000, "C"), (3000, 3000, "F"), (8000, 2000, "C"), (2000, 8000, "C")]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--cpu", action="store_true", help="thread CPU time (one thread) instead of wall-clock time")
    args = p.parse_args()
    clock = time.thread_time if args.cpu else time.perf_counter
    cores = 1 if args.cpu else (os.cpu_count() or 1)
    pool = ThreadPoolExecutor(max_workers=cores)
    be = NumbaBackend()
    print(f"{'shape':>14} {'dtype':>8} {'read ms':>8} {'pass ms':>8} {'best':>5} {'median':>6}")
    with be.context():
        for dtype in ("float64", "float32"):
            for m, n, order in SHAPES:
                A = np.asarray(np.random.default_rng(0).standard_normal((m, n)).astype(dtype), order=order)
                adjoint = bool(be.fused_gram_adjoint(A))
                x = np.random.default_rng(1).standard_normal((m if adjoint else n, 1)).astype(dtype)
                parts = np.array_split(A.reshape(-1, order="A"), cores)

                def read(parts=parts):  # one thread: in this thread, so that its CPU time is counted
                    return parts[0].sum() if cores == 1 else sum(pool.map(np.sum, parts))

                def gram(A=A, x=x, adjoint=adjoint):
                    be.gram(A, x, adjoint=adjoint)

                gram()
                tr, tg = [], []
                for _ in range(args.repeat):
                    for f, out in ((read, tr), (gram, tg)):
                        t0 = clock()
                        f()
                        out.append(clock() - t0)
                tr, tg = np.array(tr), np.array(tg)
                print(
                    f"{m:>6}x{n:<6}{order} {dtype:>8} {tr.min() * 1e3:8.2f} {tg.min() * 1e3:8.2f} "
                    f"{tr.min() / tg.min():5.2f} {np.median(tr / tg):6.2f}"
                )
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
