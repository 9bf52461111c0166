"""When should block projections lift the numba backend's one-thread BLAS limit? (docs/performance.md)

Times whole ``randomized`` calls on the numba backend with the limit lifted never, always, and from the
default basis size on, for a dense 3000 x 3000 Gaussian matrix and the asv "graph" matrix::

    python docs/scripts/randomized_blas_lift.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

import spectra
from spectra.methods import _gram_lanczos

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "asv_bench"))
from benchmarks.common import sparse_problem


def main() -> None:
    warnings.simplefilter("ignore", spectra.ConvergenceWarning)
    problems = [
        ("3000^2 Gaussian, rtol 1e-6", np.random.default_rng(0).standard_normal((3000, 3000)), {"rtol": 1e-6}),
        ("graph 200000^2, 20 passes", sparse_problem("graph")[0], {"rtol": 1e-4, "maxiter": 20}),
    ]
    default = _gram_lanczos._LARGE_BASIS
    for label, threshold in (("from default", default), ("always", 0), ("never", 1 << 62)):
        _gram_lanczos._LARGE_BASIS = threshold
        for name, A, kw in problems:
            times = []
            for _ in range(2):
                t = time.perf_counter()
                spectra.norm(A, method="randomized", backend="numba", seed=0, **kw)
                times.append(time.perf_counter() - t)
            print(f"lift {label:12s} {name:28s} " + ", ".join(f"{x:.2f} s" for x in times))
    _gram_lanczos._LARGE_BASIS = default


if __name__ == "__main__":
    main()
