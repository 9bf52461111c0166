"""Certified Lanczos on sparse matrices: the numba backend against the NumPy/SciPy backend, interleaved.

Two 200 000 x 200 000 CSR matrices: 2 000 000 uniformly placed nonzeros (``sp.random_array``, seed 5) and
the adjacency matrix of a preferential-attachment graph (``spectra._testing.preferential_attachment_graph``,
m = 5, seed 0, 1 999 474 nonzeros). Each round calls ``spectra.norm(A, method="lanczos")`` with
``backend="numpy"`` and ``backend="numba"`` and ``svds(A, k=1, solver="arpack")`` one after the other (the
order rotates between rounds), and prints the time ratios numpy / numba and ARPACK / numba per round, then
their medians and min-max spreads. Used for the tables in docs/performance.md::

    python docs/scripts/sparse_lanczos.py [rounds] [--one-thread] [--breakdown | --modes] [--schedule | --schedule-only]

``--one-thread`` runs Numba's kernels on one thread: the per-core comparison (SciPy's products run on one
core; BLAS runs on one thread in the numba backend, and in the numpy backend below 2e6 nonzeros).
``--schedule`` adds ``numba-parallel``: the numba backend with every large pass on the parallel kernel, as
before passes chose between it and its serial twin by their times (``SCHEDULE_SPARSE_PASSES = False``);
``--schedule-only`` times these two alone. ``--prior`` adds ``numba-fresh``: the numba backend with every call
starting its pass schedule afresh (warm-up, or serial first on a busy machine), as before a call continued the
schedule of the last one (``_pass_schedule.PRIOR_SECONDS = -1``); ``--prior-only`` times these two alone.
``--breakdown`` times the parts of each call instead (same alternation): the Gram products of the Lanczos
steps, the Gram-Schmidt projections against the basis, the entry statistics, and the rest of the call
(tridiagonal and bound work, the final certified product, validation), medians over the rounds.
``--modes`` runs ``rounds`` numba calls in a row and prints, per call, its time and the mode of each of its
passes (``P`` parallel kernel, ``s`` serial twin), as the pass schedule chose them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

import spectra
from spectra._testing import preferential_attachment_graph


def problems(n: int = 200_000) -> dict:
    return {
        "random-2M": sp.random_array((n, n), density=10 / n, format="csr", rng=np.random.default_rng(5)),
        "graph-pa": preferential_attachment_graph(n, 5, seed=0),
    }


def _parallel_only(A):
    """The numba backend with every large pass on the parallel kernel (no choice by time, as before)."""
    import spectra.backends.numba as nb

    nb.SCHEDULE_SPARSE_PASSES = False
    try:
        return spectra.norm(A, method="lanczos", backend="numba", seed=0)
    finally:
        nb.SCHEDULE_SPARSE_PASSES = True


def _fresh_schedule(A):
    """The numba backend with a pass schedule started afresh in every call (as before priors)."""
    from spectra.backends import _pass_schedule

    saved = _pass_schedule.PRIOR_SECONDS
    _pass_schedule.PRIOR_SECONDS = -1.0
    try:
        return spectra.norm(A, method="lanczos", backend="numba", seed=0)
    finally:
        _pass_schedule.PRIOR_SECONDS = saved


def _calls(A) -> dict:
    calls = {
        "numpy": lambda: spectra.norm(A, method="lanczos", backend="numpy", seed=0),
        "numba": lambda: spectra.norm(A, method="lanczos", backend="numba", seed=0),
        "arpack": lambda: svds(A, k=1, solver="arpack", return_singular_vectors=False, random_state=0),
    }
    if "--schedule" in sys.argv:
        calls["numba-parallel"] = lambda: _parallel_only(A)
    if "--schedule-only" in sys.argv:  # the two numba variants alone, alternating
        calls = {"numba": calls["numba"], "numba-parallel": lambda: _parallel_only(A)}
    if "--prior" in sys.argv:
        calls["numba-fresh"] = lambda: _fresh_schedule(A)
    if "--prior-only" in sys.argv:
        calls = {"numba": calls["numba"], "numba-fresh": lambda: _fresh_schedule(A)}
    return calls


def measure(matrix: str, A, rounds: int) -> None:
    calls = _calls(A)
    for name in calls:  # JIT cache load and thread start-up outside the timings
        if name != "arpack":
            calls[name]()
    times = {name: [] for name in calls}
    names = list(calls)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - t0)
        print(f"{matrix} round {r}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()))
    res = calls["numba"]()
    print(f"{matrix}: {res.matvecs} products, width {(res.upper - res.lower) / res.lower:.1e}")
    for peer in [name for name in calls if name != "numba"]:
        q = np.array(times[peer]) / np.array(times["numba"])
        print(f"{matrix}: {peer}/numba median {np.median(q):.2f} (min {q.min():.2f}, max {q.max():.2f})")


#: backend primitives timed by ``--breakdown`` (outermost calls only: a backend may call its parent's)
PARTS = {
    "products": ("gram", "matmat", "rmatmat"),
    "projections": ("project_out", "project_out_unit"),
    "statistics": ("abs_stats",),
}


@contextlib.contextmanager
def timed_parts(seconds: dict):
    """Add the time spent in each of :data:`PARTS` to ``seconds[part]`` while the context is open."""
    from spectra.backends.numba import NumbaBackend
    from spectra.backends.numpy import NumPyBackend

    saved = []
    depth = {part: 0 for part in PARTS}
    for cls in (NumPyBackend, NumbaBackend):
        for part, name in ((part, name) for part, names in PARTS.items() for name in names):
            if name not in vars(cls):
                continue
            method = vars(cls)[name]

            def wrapper(*args, _method=method, _part=part, **kwargs):
                depth[_part] += 1
                t0 = time.perf_counter()
                try:
                    return _method(*args, **kwargs)
                finally:
                    depth[_part] -= 1
                    if not depth[_part]:
                        seconds[_part] += time.perf_counter() - t0

            saved.append((cls, name, method))
            setattr(cls, name, wrapper)
    try:
        yield
    finally:
        for cls, name, method in saved:
            setattr(cls, name, method)


def breakdown(matrix: str, A, rounds: int) -> None:
    calls = {k: v for k, v in _calls(A).items() if k != "arpack"}
    for call in calls.values():
        call()
    parts = {name: {part: [] for part in (*PARTS, "rest", "total")} for name in calls}
    names = list(calls)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            seconds = dict.fromkeys(PARTS, 0.0)
            with timed_parts(seconds):
                t0 = time.perf_counter()
                calls[name]()
                total = time.perf_counter() - t0
            seconds.update(rest=total - sum(seconds.values()), total=total)
            for part, value in seconds.items():
                parts[name][part].append(value)
    for name, values in parts.items():
        print(f"{matrix} {name}: " + ", ".join(f"{p} {1e3 * np.median(v):.0f} ms" for p, v in values.items()))


def modes(matrix: str, A, rounds: int) -> None:
    from spectra.backends import _pass_schedule

    log = []
    record = _pass_schedule.PassSchedule.record

    def logged(self, parallel, seconds, work):
        log.append("P" if parallel else "s")
        record(self, parallel, seconds, work)

    _pass_schedule.PassSchedule.record = logged
    try:
        for _ in range(rounds):
            log.clear()
            t0 = time.perf_counter()
            spectra.norm(A, method="lanczos", backend="numba", seed=0)
            print(f"{matrix}: {time.perf_counter() - t0:.3f} s {''.join(log)}")
    finally:
        _pass_schedule.PassSchedule.record = record


def main(rounds: int = 5) -> None:
    if "--one-thread" in sys.argv:
        import numba

        numba.set_num_threads(1)
    print("load average", os.getloadavg())
    for matrix, A in problems().items():
        run = breakdown if "--breakdown" in sys.argv else modes if "--modes" in sys.argv else measure
        run(matrix, A, rounds)
    print("load average", os.getloadavg())


if __name__ == "__main__":
    main(int(next((a for a in sys.argv[1:] if a.isdigit()), 5)))
