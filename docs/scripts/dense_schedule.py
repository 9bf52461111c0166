"""Dense numba passes scheduled (parallel kernel or the same kernel on one thread, by their times) against every
pass in parallel, whole ``spectra.norm`` calls interleaved in one process.

Two problems: certified Lanczos on the 3000 x 3000 Gaussian (``rtol=1e-6``) and 200 power steps on the demo's
2000 x 1000 matrix. Each round runs both settings of ``spectra.backends.numba.SCHEDULE_DENSE_PASSES`` (the
order alternates between rounds); printed: the times, the ratio parallel-only / scheduled per round (above 1:
scheduling is faster), its median and min-max, and the load average. The results are bitwise equal (checked).
Used for docs/performance.md::

    python docs/scripts/dense_schedule.py [rounds]
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np

import spectra
import spectra.backends.numba as nb
from spectra._testing import matrix_with_singular_values, spectrum


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    problems = {
        "lanczos 3000x3000": (
            np.random.default_rng(0).standard_normal((3000, 3000)),
            dict(method="lanczos", rtol=1e-6),
        ),
        "power 200 steps, 2000x1000": (
            matrix_with_singular_values(3.0 * spectrum("clustered", 1000), 2000, 1000, seed=0),
            dict(method="power", maxiter=200),
        ),
    }
    warnings.simplefilter("ignore", spectra.ConvergenceWarning)
    print("load average at the start", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    for name, (A, kw) in problems.items():

        def call(scheduled: bool, A=A, kw=kw):
            nb.SCHEDULE_DENSE_PASSES = scheduled
            try:
                t0 = time.perf_counter()
                r = spectra.norm(A, backend="numba", seed=0, **kw)
                return time.perf_counter() - t0, r
            finally:
                nb.SCHEDULE_DENSE_PASSES = True

        call(True), call(False)  # compile / warm up
        ratios = []
        for i in range(rounds):
            order = (True, False) if i % 2 == 0 else (False, True)
            out = {s: call(s) for s in order}
            (ts, rs), (tp, rp) = out[True], out[False]
            assert (rs.lower, rs.upper, rs.matvecs) == (rp.lower, rp.upper, rp.matvecs)
            ratios.append(tp / ts)
            print(f"{name} round {i}: scheduled {ts:.3f} s, parallel only {tp:.3f} s, ratio {tp / ts:.2f}", flush=True)
        r = np.array(ratios)
        print(f"{name}: parallel-only / scheduled median {np.median(r):.2f} (min {r.min():.2f}, max {r.max():.2f})")
    print("load average at the end", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
