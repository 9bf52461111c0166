"""One fused dense Gram pass (numba) against one read of the same bytes, in one process.

For each shape, memory order and dtype the pass ``A^H (A x)`` (``A (A^H x)`` for Fortran order) and a read
of ``A`` alternate; the fraction is read time / pass time for the best and the median of the repeats (with the
min-max of the per-repeat fractions). The read is asv's (``bench_primitives._read_time``'s kernel): an integer
sum over ``A``'s bytes viewed as 64-bit words, on Numba's threads like the pass, memory bound for float32 and
float64 alike (NumPy's float32 ``sum`` is pairwise and bound by arithmetic, so it flattered float32 passes).
``--cpu`` times the thread's CPU time, which on a loaded machine is the more stable measure for one thread
(run with ``NUMBA_NUM_THREADS=1``: pass and read then run on the calling thread)::

    NUMBA_NUM_THREADS=1 python docs/scripts/dense_pass_fraction.py --cpu
    python docs/scripts/dense_pass_fraction.py            # all threads, wall-clock
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

from benchmarks.bench_primitives import SHAPES, _parallel_read, _serial_read, _words

from spectra.backends.numba import NumbaBackend


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--cpu", action="store_true", help="thread CPU time (one thread) instead of wall-clock time")
    args = p.parse_args()
    clock = time.thread_time if args.cpu else time.perf_counter
    read_words = _serial_read if numba.get_num_threads() == 1 else _parallel_read
    be = NumbaBackend()
    print(f"{'shape':>14} {'dtype':>8} {'read ms':>8} {'pass ms':>8} {'best':>5} {'median':>6} {'min-max':>10}")
    with be.context():
        for dtype in ("float64", "float32"):
            for m, n, order in SHAPES.values():
                A = np.asarray(np.random.default_rng(0).standard_normal((m, n)).astype(dtype), order=order)
                adjoint = bool(be.fused_gram_adjoint(A))
                x = np.random.default_rng(1).standard_normal((m if adjoint else n, 1)).astype(dtype)
                words = _words(A)

                def read(words=words):
                    return read_words(words)

                def gram(A=A, x=x, adjoint=adjoint):
                    be.gram(A, x, adjoint=adjoint)

                gram(), read()
                tr, tg = [], []
                for _ in range(args.repeat):
                    for f, out in ((read, tr), (gram, tg)):
                        t0 = clock()
                        f()
                        out.append(clock() - t0)
                tr, tg = np.array(tr), np.array(tg)
                fr = tr / tg
                print(
                    f"{m:>6}x{n:<6}{order} {dtype:>8} {tr.min() * 1e3:8.2f} {tg.min() * 1e3:8.2f} "
                    f"{tr.min() / tg.min():5.2f} {np.median(fr):6.2f} {fr.min():4.2f}-{fr.max():4.2f}"
                )
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
