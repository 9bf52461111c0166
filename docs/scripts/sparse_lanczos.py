"""Certified Lanczos on sparse matrices: the numba backend against the NumPy/SciPy backend, interleaved.

Two 200 000 x 200 000 CSR matrices: 2 000 000 uniformly placed nonzeros (``sp.random_array``, seed 5) and
the adjacency matrix of a preferential-attachment graph (``spectra._testing.preferential_attachment_graph``,
m = 5, seed 0, about 2 000 000 nonzeros). Each round calls ``spectra.norm(A, method="lanczos")`` with
``backend="numpy"`` and ``backend="numba"`` one after the other (the order alternates between rounds), and
prints the time ratio numpy / numba per round, then the median and the min-max spread. Used for the table
in docs/performance.md::

    python docs/scripts/sparse_lanczos.py [rounds] [--one-thread]

``--one-thread`` runs Numba's kernels on one thread (BLAS is on one thread in both backends below 2e6
nonzeros... and for the numba backend always), the per-core comparison.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import scipy.sparse as sp

import spectra
from spectra._testing import preferential_attachment_graph


def problems(n: int = 200_000) -> dict:
    return {
        "random-2M": sp.random_array((n, n), density=10 / n, format="csr", rng=np.random.default_rng(5)),
        "graph-pa": preferential_attachment_graph(n, 5, seed=0),
    }


def main(rounds: int = 5) -> None:
    if "--one-thread" in sys.argv:
        import numba

        numba.set_num_threads(1)
    print("load average", os.getloadavg())
    for name, A in problems().items():
        for backend in ("numpy", "numba"):  # JIT cache load and thread start-up outside the timings
            spectra.norm(A, method="lanczos", backend=backend, seed=0)
        times = {"numpy": [], "numba": []}
        for r in range(rounds):
            order = ("numpy", "numba") if r % 2 == 0 else ("numba", "numpy")
            for backend in order:
                t0 = time.perf_counter()
                res = spectra.norm(A, method="lanczos", backend=backend, seed=0)
                times[backend].append(time.perf_counter() - t0)
            ratio = times["numpy"][-1] / times["numba"][-1]
            print(
                f"{name} round {r}: numpy {times['numpy'][-1]:.3f} s, numba {times['numba'][-1]:.3f} s, "
                f"ratio {ratio:.2f} ({res.matvecs} products, width {(res.upper - res.lower) / res.lower:.1e})"
            )
        ratios = np.array(times["numpy"]) / np.array(times["numba"])
        print(
            f"{name}: numpy/numba median {np.median(ratios):.2f} (min {ratios.min():.2f}, max {ratios.max():.2f}); "
            f"numpy median {np.median(times['numpy']):.3f} s, numba median {np.median(times['numba']):.3f} s"
        )
    print("load average", os.getloadavg())


if __name__ == "__main__":
    main(int(next((a for a in sys.argv[1:] if a.isdigit()), 5)))
