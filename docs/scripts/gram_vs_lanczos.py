"""Gram iteration against Lanczos: the asv class ``bench_gram.GramVsLanczos`` run in-process (docs/performance.md).

Prints, per problem and rtol, the outcome computed by ``setup_cache`` (worst width, smallest confidence, misses,
iterations) and the min/max of three timed calls::

    python docs/scripts/gram_vs_lanczos.py
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "asv_bench")]

from benchmarks.bench_gram import GramVsLanczos  # noqa: E402


def main() -> None:
    bench = GramVsLanczos()
    outcomes = bench.setup_cache()
    for method, problem, rtol in itertools.product(*bench.params):
        bench.setup(outcomes, method, problem, rtol)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            bench.time_norm(outcomes, method, problem, rtol)
            times.append(time.perf_counter() - t0)
        o = outcomes[(method, problem, rtol)]
        print(
            f"{problem:14s} {method:8s} rtol={rtol:g}  time min {min(times):.3f}s max {max(times):.3f}s  "
            f"width {o['width']:.2e}  conf {o['confidence']}  misses {o['misses']}  iterations {o['iterations']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
