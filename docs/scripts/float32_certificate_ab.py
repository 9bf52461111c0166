"""The float32 certificate product: numba's in-place wide kernel against widened row blocks, in one process.

Whole ``spectra.norm`` calls on a 4000 x 4000 float32 Gaussian (``rtol=1e-5``, numba backend); the "old"
calls patch the generic ``wide_product`` (8 MiB row blocks converted to float64) back in. Five interleaved
pairs, CPU time of the process; run with one thread for both sides::

    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python docs/scripts/float32_certificate_ab.py
"""

from __future__ import annotations

import os
import time

import numpy as np

import spectra
from spectra.backends.numba import NumbaBackend
from spectra.backends.numpy import NumPyBackend


def main(pairs: int = 5) -> None:
    A = np.random.default_rng(0).standard_normal((4000, 4000)).astype(np.float32)
    kernel = NumbaBackend.wide_product

    def seconds(kind: str) -> float:
        NumbaBackend.wide_product = kernel if kind == "new" else NumPyBackend.wide_product
        time.sleep(0.3)
        t0 = time.process_time()
        spectra.norm(A, method="lanczos", backend="numba", rtol=1e-5, seed=0)
        return time.process_time() - t0

    seconds("new"), seconds("old")
    res = {"old": [], "new": []}
    for _ in range(pairs):
        for kind in res:
            res[kind].append(seconds(kind))
    NumbaBackend.wide_product = kernel
    for kind, t in res.items():
        print(kind, " ".join(f"{x:.3f}" for x in t), f"median {np.median(t):.3f}")
    r = np.array(res["new"]) / np.array(res["old"])
    print(f"new / old median {np.median(r):.3f}, min {r.min():.3f}, max {r.max():.3f}")
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
