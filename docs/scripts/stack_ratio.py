"""``np.linalg.norm`` time over spectra's on stacks, interleaved in one process (docs/performance.md).

For each stack ``BxMxN`` (float64 Gaussian, seed 0): 7 rounds of ``np.linalg.norm(S, 2, axis=(-2, -1))``,
``spectra.norm(S, rtol=1e-6, seed=0)`` (auto) and the numba stack kernel alone, in turn; prints the median
(min–max) of the per-round ratios of wall and of CPU (``time.process_time``) time, the worst width and the
Lanczos steps. Every interval is checked against LAPACK first::

    nice -n 15 python docs/scripts/stack_ratio.py 5000x32x32 100000x8x8
    NUMBA_NUM_THREADS=1 nice -n 15 python docs/scripts/stack_ratio.py 5000x32x32 100000x8x8
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import spectra
from spectra.backends.numba import NumbaBackend


def _timed(f) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    f()
    return time.perf_counter() - w, time.process_time() - c


def measure(case: str, be: NumbaBackend) -> str:
    B, m, n = map(int, case.split("x"))
    S = np.random.default_rng(0).standard_normal((B, m, n))
    truth = np.linalg.svd(S, compute_uv=False)[:, 0]
    r = spectra.norm(S, rtol=1e-6, seed=0)
    if not (np.all(r.lower <= truth) and np.all(truth <= r.upper)):
        raise AssertionError("an interval missed the LAPACK norm")
    ones, q = np.ones(B), min(m, n)
    v0 = np.random.default_rng(1).standard_normal((B, q))
    out, steps, _ = be.small_gram_certify(S, ones, ones, m < n, v0, 1e-6, 2 * q + 8)
    fs = {
        "numpy": lambda: np.linalg.norm(S, 2, axis=(-2, -1)),
        "spectra": lambda: spectra.norm(S, rtol=1e-6, seed=0),
        "kernel": lambda: be.small_gram_certify(S, ones, ones, m < n, v0, 1e-6, 2 * q + 8),
    }
    res = {k: [] for k in fs}
    for _ in range(7):
        for k, f in fs.items():
            res[k].append(_timed(f))
    t = {k: np.array(v) for k, v in res.items()}
    line = f"{case} load {os.getloadavg()[0]:.1f}"
    for k in ("spectra", "kernel"):
        rw, rc = t["numpy"][:, 0] / t[k][:, 0], t["numpy"][:, 1] / t[k][:, 1]
        line += f" | numpy/{k}: wall {np.median(rw):.2f} ({rw.min():.2f}-{rw.max():.2f})"
        line += f" cpu {np.median(rc):.2f} ({rc.min():.2f}-{rc.max():.2f})"
    line += " | median wall ms " + " ".join(f"{k}={np.median(v[:, 0]) * 1e3:.0f}" for k, v in t.items())
    line += f" | width {(r.upper / r.lower - 1).max():.2g}, unsettled {int(np.sum(~np.isfinite(out[:, 1])))},"
    return line + f" steps mean {steps.mean():.1f} max {steps.max()}"


def main(cases: list[str]) -> None:
    be = NumbaBackend()
    for case in cases:
        print(measure(case, be), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["5000x32x32", "100000x8x8"])
