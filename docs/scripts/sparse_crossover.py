"""Where the numba backend starts to beat SciPy's products on sparse inputs: certified Lanczos by size.

For square CSR matrices with ten uniformly placed nonzeros per row (``sp.random_array``) and
preferential-attachment graphs (``spectra._testing.preferential_attachment_graph``, m = 5) of ``n`` = 2·10³ to
2·10⁵ rows, times ``spectra.norm(A, method="lanczos", seed=0)`` with ``backend="numpy"`` and
``backend="numba"``, alternating, each call after a pause of 0.25 s (as ``docs/scripts/sparse_lanczos.py``), and
prints the median and min-max of the ratio numpy / numba per matrix. Used for the sparse rule of
``backend="auto"`` (docs/performance.md, "Sparse inputs under auto")::

    python docs/scripts/sparse_crossover.py [rounds]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import scipy.sparse as sp

import spectra
from spectra._testing import preferential_attachment_graph

SETTLE = 0.25
SIZES = (2_000, 6_000, 20_000, 60_000, 200_000)


def matrices():
    for n in SIZES:
        yield f"random n={n}", sp.random_array((n, n), density=10 / n, format="csr", rng=np.random.default_rng(5))
        yield f"graph n={n}", preferential_attachment_graph(n, 5, seed=0)


def _seconds(A, backend: str) -> float:
    time.sleep(SETTLE)
    t0 = time.perf_counter()
    spectra.norm(A, method="lanczos", backend=backend, seed=0)
    return time.perf_counter() - t0


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    print("matrix               nnz       numpy [ms]  numba [ms]  numpy / numba, median (min-max)")
    for name, A in matrices():
        for backend in ("numpy", "numba"):  # compile or load the kernels, warm the caches
            spectra.norm(A, method="lanczos", backend=backend, seed=0)
        times = {"numpy": [], "numba": []}
        for r in range(rounds):
            order = ("numpy", "numba") if r % 2 == 0 else ("numba", "numpy")
            for backend in order:
                times[backend].append(_seconds(A, backend))
        ratio = np.array(times["numpy"]) / np.array(times["numba"])
        print(
            f"{name:20s} {A.nnz:9d}  {1e3 * np.median(times['numpy']):10.2f}  {1e3 * np.median(times['numba']):10.2f}"
            f"  {np.median(ratio):.2f} ({ratio.min():.2f}-{ratio.max():.2f})"
        )


if __name__ == "__main__":
    main()
