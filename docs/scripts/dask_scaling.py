"""The Dask backend's numbers in docs/performance.md: per-step time and overhead of the Gram pass on a
LocalCluster (1 and 2 workers, n = 10 000 and 20 000, i.e. 4x the data), then certified Lanczos end to end
against NumPy in memory and ``dask.array.linalg.svd_compressed`` at n = 20 000::

    python docs/scripts/dask_scaling.py [steps]

Uses the problem and helpers of asv_bench/benchmarks/bench_dask.py.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "asv_bench"))

from benchmarks.bench_dask import gram_steps, spiked, start_cluster

import spectra


def scaling(steps: int) -> None:
    print("| workers | n | panels | step (s), median [min, max] | task time / workers (s) | overhead (s) |")
    print("|---|---|---|---|---|---|")
    for n in (10_000, 20_000):
        for workers in (1, 2):
            cluster, client = start_cluster(workers)
            try:
                A = spiked(n)
                st, tt = gram_steps(A, steps)
                over = [s - t / workers for s, t in zip(st, tt, strict=True)]
                spread = f"{statistics.median(st):.3f} [{min(st):.3f}, {max(st):.3f}]"
                print(
                    f"| {workers} | {n} | {len(A.chunks[0])} | {spread} "
                    f"| {statistics.median(tt) / workers:.3f} | {statistics.median(over):.3f} |",
                    flush=True,
                )
                del A
            finally:
                client.close()
                cluster.close()


def end_to_end(n: int = 20_000) -> None:
    import dask.array as da

    cluster, client = start_cluster(2)
    try:
        A = spiked(n)
        t0 = time.perf_counter()
        r = spectra.norm(A, method="lanczos", rtol=1e-6, seed=0)
        t_dask = time.perf_counter() - t0
        print(f"dask (2 workers): {t_dask:.1f} s, {r.iterations} steps, {r!r}", flush=True)
        t0 = time.perf_counter()
        _, s, _ = da.linalg.svd_compressed(A, k=1, n_power_iter=2, seed=0)
        s1 = float(s[0].compute())
        t_sc = time.perf_counter() - t0
        outside = max(r.lower - s1, s1 - r.upper, 0.0) / r.lower
        print(f"svd_compressed(k=1, n_power_iter=2): {t_sc:.1f} s, value {s1!r}, outside the interval by {outside:.1e}")
        A_np = A.compute()
    finally:
        client.close()
        cluster.close()
    for backend in ("numpy", "auto"):
        t0 = time.perf_counter()
        rn = spectra.norm(A_np, method="lanczos", rtol=1e-6, seed=0, backend=backend)
        t_np = time.perf_counter() - t0
        diff = max(abs(r.lower - rn.lower) / rn.lower, abs(r.upper - rn.upper) / rn.upper)
        print(f"in memory, backend={rn.backend}: {t_np:.1f} s, {rn.iterations} steps; difference to dask {diff:.1e}")


def phases(n: int = 20_000, workers: int = 2) -> None:
    """Where the time of one certified run goes: layout + entry statistics, the Gram steps, the rest."""
    from spectra._plan import make_plan

    cluster, client = start_cluster(workers)
    try:
        A = spiked(n)
        t0 = time.perf_counter()
        plan, be, A, _ = make_plan(A, "dense", method="lanczos", backend="auto", block_size=None)
        P = be.prepare(A, plan)
        be.max_abs(P)
        t_stats = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = spectra.norm(A, method="lanczos", rtol=1e-6, seed=0)
        t_run = time.perf_counter() - t0
        st, tt = gram_steps(A, 3)
        print(
            f"n={n}, {workers} workers: layout + statistics {t_stats:.1f} s; norm {t_run:.1f} s for {r.iterations} "
            f"steps; a Gram step {statistics.median(st):.2f} s (tasks {statistics.median(tt) / workers:.2f} s)",
            flush=True,
        )
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    scaling(steps)
    if "--phases" in sys.argv:
        phases()
    else:
        end_to_end()
