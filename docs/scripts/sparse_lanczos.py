"""Certified Lanczos on sparse matrices: the numba backend against the NumPy/SciPy backend, interleaved.

Two 200 000 x 200 000 CSR matrices: 2 000 000 uniformly placed nonzeros (``sp.random_array``, seed 5) and
the adjacency matrix of a preferential-attachment graph (``spectra._testing.preferential_attachment_graph``,
m = 5, seed 0, 1 999 474 nonzeros). Each round calls ``spectra.norm(A, method="lanczos")`` with
``backend="numpy"`` and ``backend="numba"`` and ``svds(A, k=1, solver="arpack")`` one after the other (the
order rotates between rounds), and prints the time ratios numpy / numba and ARPACK / numba per round, then
their medians and min-max spreads. Every timed call starts after a pause of :data:`SETTLE` seconds, so that no
call runs beside the threads the one before left spinning (OpenBLAS's workers spin for about 0.1 s after a
threaded product: the numpy backend's projections on ``random-2M``, whose 2·10⁶ nonzeros reach
``BLAS_ONE_THREAD_BELOW``); asv's ``bench_sparse.SparseLanczosRatios`` measures the same way. Used for the tables in
docs/performance.md::

    python docs/scripts/sparse_lanczos.py [rounds] [--one-thread] [--breakdown | --modes] [--schedule | --schedule-only]

``--one-thread`` runs Numba's kernels on one thread: the per-core comparison (SciPy's products run on one
core; BLAS runs on one thread in the numba backend, and in the numpy backend below 2e6 nonzeros).
``--schedule`` adds ``numba-parallel``: the numba backend with every large pass on the parallel kernel, as
before passes chose between it and its serial twin by their times (``SCHEDULE_SPARSE_PASSES = False``);
``--schedule-only`` times these two alone. ``--prior`` adds ``numba-fresh``: the numba backend with every call
starting its pass schedule afresh (warm-up, or serial first on a busy machine), as before a call continued the
schedule of the last one (``_pass_schedule.PRIOR_SECONDS = -1``); ``--prior-only`` times these two alone.
``--breakdown`` times the parts of each call instead (same alternation): the Gram products of the Lanczos
steps, the Gram-Schmidt projections against the basis, the entry statistics (with the largest entry), the
input scans (canonical order, empty lines, equal stored values), the start vector, the final certified product,
and the rest of the call (tridiagonal and bound work, the basis, the plan), medians over the rounds, in wall
time and in the calling thread's CPU time (``time.thread_time``: what a part costs on its own core, less
disturbed by a busy machine; a parallel kernel's other threads are not in it).
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


#: seconds of pause before every timed call (longer than OpenBLAS's spinning after a threaded product, 0.1 s)
SETTLE = 0.25


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
            time.sleep(SETTLE)
            t0 = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - t0)
        print(f"{matrix} round {r}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()))
    res = calls["numba"]()
    print(f"{matrix}: {res.matvecs} products, width {(res.upper - res.lower) / res.lower:.1e}")
    for peer in [name for name in calls if name != "numba"]:
        q = np.array(times[peer]) / np.array(times["numba"])
        print(f"{matrix}: {peer}/numba median {np.median(q):.2f} (min {q.min():.2f}, max {q.max():.2f})")


#: what ``--breakdown`` times: part -> (module or class, attribute); only the outermost timed call counts (a
#: backend may call its parent's method, the final certified product is a product)
PARTS = {
    "products": [
        (f"spectra.backends.{m}", n)
        for m in ("numba.NumbaBackend", "numpy.NumPyBackend")
        for n in ("gram", "matmat", "rmatmat")
    ],
    "projections": [
        (f"spectra.backends.{m}", n)
        for m in ("numba.NumbaBackend", "numpy.NumPyBackend")
        for n in ("project_out", "project_out_unit")
    ],
    "statistics": [
        (f"spectra.backends.{m}", n)
        for m in ("numba.NumbaBackend", "numpy.NumPyBackend")
        for n in ("abs_stats", "max_abs")
    ],
    "scans": [
        ("spectra._sparse", "_check_structure"),
        ("spectra._sparse", "_is_canonical"),
        ("spectra._compress", "drop_empty"),
        ("spectra.backends.numba", "_values_all_equal"),
    ],
    "start": [("spectra.methods.lanczos", "start_vector")],
    "final": [("spectra.methods.lanczos", "krylov_finish")],
}


def _owner(path: str):
    """The module or class named by a dotted path (the longest importable prefix, then attributes)."""
    import importlib

    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


@contextlib.contextmanager
def timed_parts(seconds: dict, cpu: dict):
    """Add the wall time and the calling thread's CPU time spent in each of :data:`PARTS` to ``seconds[part]`` and
    ``cpu[part]`` while the context is open."""
    saved = []
    depth = [0]  # timed calls open
    for part, targets in PARTS.items():
        for path, name in targets:
            owner = _owner(path)
            if isinstance(owner, type) and name not in vars(owner):
                continue
            method = vars(owner)[name] if isinstance(owner, type) else getattr(owner, name)

            def wrapper(*args, _method=method, _part=part, **kwargs):
                depth[0] += 1
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    return _method(*args, **kwargs)
                finally:
                    depth[0] -= 1
                    if not depth[0]:
                        seconds[_part] += time.perf_counter() - t0
                        cpu[_part] += time.thread_time() - c0

            saved.append((owner, name, method))
            setattr(owner, name, wrapper)
    try:
        yield
    finally:
        for owner, name, method in saved:
            setattr(owner, name, method)


def breakdown(matrix: str, A, rounds: int) -> None:
    calls = {k: v for k, v in _calls(A).items() if k != "arpack"}
    for call in calls.values():
        call()
    columns = (*PARTS, "rest", "total")
    parts = {name: {part: [] for part in columns} for name in calls}
    cpu_parts = {name: {part: [] for part in columns} for name in calls}
    names = list(calls)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            seconds, cpu = dict.fromkeys(PARTS, 0.0), dict.fromkeys(PARTS, 0.0)
            time.sleep(SETTLE)
            with timed_parts(seconds, cpu):
                t0, c0 = time.perf_counter(), time.thread_time()
                calls[name]()
                total, total_cpu = time.perf_counter() - t0, time.thread_time() - c0
            seconds.update(rest=total - sum(seconds.values()), total=total)
            cpu.update(rest=total_cpu - sum(cpu.values()), total=total_cpu)
            for part in columns:
                parts[name][part].append(seconds[part])
                cpu_parts[name][part].append(cpu[part])
    for name in names:
        for label, table in (("wall", parts), ("cpu", cpu_parts)):
            values = table[name]
            print(
                f"{matrix} {name} {label}: "
                + ", ".join(f"{p} {1e3 * np.median(v):.1f}" for p, v in values.items())
                + " ms"
            )


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
