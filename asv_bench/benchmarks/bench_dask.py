"""The Dask backend on a ``distributed.LocalCluster``: per-step time and scheduler overhead, end to end
against NumPy in memory and against ``dask.array.linalg.svd_compressed`` (accuracy tracked: it returns no
bound), and the scaling with workers and matrix size.

The matrix is a spiked Gaussian generated on the workers, ``A = G/sqrt(n) + 3 u vᵀ`` (``‖A‖₂ ≈ 3.33``,
bulk edge 2): Lanczos certifies ``rtol=1e-6`` in a few dozen steps, so the end-to-end time is dominated by
passes over ``A``. The certified interval (width ``<= 1e-6``) is the reference for ``svd_compressed``'s error.
Full size is 20 000 × 20 000 float64 (3.2 GB); SPECTRA_BENCH_SMALL=1 shrinks it to 1 000 × 1 000.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import spectra

from .common import SMALL

#: matrix sizes (n x n float64) and worker counts; the first combination is the smoke test's
SIZES = [1000] if SMALL else [10_000, 20_000]
WORKERS = [1] if SMALL else [1, 2]
CHUNK = 250 if SMALL else 2000


def start_cluster(workers: int):
    """A LocalCluster of ``workers`` processes with one thread each, and its Client (the default scheduler)."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    return cluster, Client(cluster)


def spiked(n: int, seed: int = 0, panels: bool = True):
    """``G/sqrt(n) + 3 u vᵀ`` as a Dask array, generated and kept on the workers: in the row panels the
    backend would choose (used as they are), or in ``CHUNK``² blocks (``panels=False``: rechunked once)."""
    import dask.array as da

    from spectra.backends._dask_layout import panel_bytes

    rows = max(1, min(n, panel_bytes(8 * n * n) // (8 * n))) if panels else CHUNK
    cols = n if panels else CHUNK
    rng = da.random.default_rng(seed)
    G = rng.standard_normal((n, n), chunks=(rows, cols)) / np.sqrt(n)
    u = rng.standard_normal(n, chunks=rows)
    v = rng.standard_normal(n, chunks=cols)
    u, v = u / da.linalg.norm(u), v / da.linalg.norm(v)
    return (G + 3.0 * da.outer(u, v)).persist()


def gram_steps(A, steps: int = 5):
    """``(seconds per step, summed task seconds per step)`` of the Gram pass on the panels of ``A``."""
    from spectra._plan import make_plan

    plan, be, A, _ = make_plan(A, "dense", method="lanczos", backend="auto", block_size=None)
    P = be.prepare(A, plan)
    X = np.random.default_rng(1).standard_normal((A.shape[1], 1))
    be.gram(P, X)  # warm-up: the panels are built and kept, the workers import their kernels
    P.step_seconds.clear()
    P.task_seconds.clear()
    for _ in range(steps):
        be.gram(P, X)
    return P.step_seconds, P.task_seconds


class DaskGramStep:
    """One distributed Gram pass ``Aᴴ(A X)``: wall time per step, and the overhead beyond the workers'
    compute (``step - task seconds / workers``: scheduling, transfer of X and of the partials, the tree sum)."""

    params = (WORKERS, SIZES)
    param_names = ["workers", "n"]
    timeout = 1800

    def setup_cache(self):
        # One cluster and one measurement per parameter set, shared by both track_ functions.
        out = {}
        for workers in self.params[0]:
            cluster, client = start_cluster(workers)
            try:
                for n in self.params[1]:
                    out[workers, n] = gram_steps(spiked(n))
            finally:
                client.close()
                cluster.close()
        return out

    def track_step_seconds(self, measured, workers, n):
        steps, _ = measured[workers, n]
        return statistics.median(steps)

    track_step_seconds.unit = "seconds"

    def track_overhead_seconds(self, measured, workers, n):
        steps, tasks = measured[workers, n]
        return statistics.median(s - t / workers for s, t in zip(steps, tasks, strict=True))

    track_overhead_seconds.unit = "seconds"


class DaskEndToEnd:
    """Certified Lanczos (``rtol=1e-6``) on the cluster, NumPy in memory, and ``svd_compressed``, in one run."""

    params = (SIZES[:1] if SMALL else SIZES[-1:],)
    param_names = ["n"]
    timeout = 3600

    def setup_cache(self):
        # The three runs happen once, in one process; every track_ function reads their outcome.
        import dask.array as da

        out = {}
        cluster, client = start_cluster(max(WORKERS))
        try:
            for n in self.params[0]:
                A = spiked(n)
                t0 = time.perf_counter()
                r = spectra.norm(A, method="lanczos", rtol=1e-6, seed=0)
                t_dask = time.perf_counter() - t0
                A_np = A.compute()  # NumPy in memory (backend="auto": numba when installed and large enough)
                t0 = time.perf_counter()
                r_np = spectra.norm(A_np, method="lanczos", rtol=1e-6, seed=0)
                t_numpy = time.perf_counter() - t0
                del A_np
                t0 = time.perf_counter()
                _, s, _ = da.linalg.svd_compressed(A, k=1, n_power_iter=2, seed=0)
                s_compressed = float(s[0].compute())
                t_compressed = time.perf_counter() - t0
                out[n] = {
                    "t_dask": t_dask,
                    "t_numpy": t_numpy,
                    "t_compressed": t_compressed,
                    "s_compressed": s_compressed,
                    "dask": (float(r.lower), float(r.upper)),
                    "numpy": (float(r_np.lower), float(r_np.upper)),
                }
        finally:
            client.close()
            cluster.close()
        return out

    def track_dask_seconds(self, measured, n):
        return measured[n]["t_dask"]

    track_dask_seconds.unit = "seconds"

    def track_numpy_in_memory_seconds(self, measured, n):
        return measured[n]["t_numpy"]

    track_numpy_in_memory_seconds.unit = "seconds"

    def track_svd_compressed_seconds(self, measured, n):
        return measured[n]["t_compressed"]

    track_svd_compressed_seconds.unit = "seconds"

    def track_certified_width(self, measured, n):
        lo, up = measured[n]["dask"]
        return (up - lo) / lo

    track_certified_width.unit = "relative width"

    def track_svd_compressed_rel_error(self, measured, n):
        """Distance of svd_compressed's value from the certified interval, relative (0 if inside)."""
        lo, up = measured[n]["dask"]
        s = measured[n]["s_compressed"]
        return max(lo - s, s - up, 0.0) / lo

    track_svd_compressed_rel_error.unit = "relative error"

    def track_same_as_numpy(self, measured, n):
        """Largest relative difference of the Dask result's bounds to the in-memory run with the same seed."""
        (lo, up), (rlo, rup) = measured[n]["dask"], measured[n]["numpy"]
        return max(abs(lo - rlo) / rlo, abs(up - rup) / rup)

    track_same_as_numpy.unit = "relative difference"
