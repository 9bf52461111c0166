"""BLAS thread policy of the NumPy backend: small products run on one thread, large ones keep BLAS's own."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator
from threadpoolctl import threadpool_info

import spectra
from spectra.backends import _threads
from spectra.backends.numpy import BLAS_ONE_THREAD_BELOW, NumPyBackend


def _blas_threads() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def _watching_operator(A, seen):
    def matvec(x):
        seen.append(_blas_threads())
        return A @ x

    return LinearOperator(A.shape, matvec=matvec, rmatvec=lambda y: A.T @ y, dtype=A.dtype)


def test_small_operator_runs_on_one_blas_thread():
    """The regression: a LinearOperator power iteration ran with every BLAS thread on tiny products."""
    seen = []
    A = np.random.default_rng(0).standard_normal((300, 200))
    r = spectra.norm(_watching_operator(A, seen), method="power", seed=0, maxiter=5)
    assert seen and set(seen) == {1}
    assert r.lower <= np.linalg.norm(A, 2) <= r.upper * (1 + 1e-14)


def test_threads_restored_after_the_call():
    before = _blas_threads()
    spectra.norm(np.ones((50, 40)), method="lanczos", seed=0)
    assert _blas_threads() == before


@pytest.mark.parametrize(
    ("A", "one"),
    [
        (np.zeros((10, 10)), False),
        (np.zeros((64, 63)), False),
        (np.zeros((64, 64)), True),
        (sp.random_array((10_000, 10_000), density=1e-3, rng=0, format="csr"), True),
        (np.zeros((1, BLAS_ONE_THREAD_BELOW)), False),
    ],
    ids=["tiny-dense", "below-4096", "small-dense", "sparse-100k-nonzeros", "large-dense"],
)
def test_context_follows_the_size(A, one):
    """One BLAS thread from 4096 entries (BLAS_UNTOUCHED_BELOW: below it OpenBLAS stays on one thread by
    itself, and the limit's cost is a fifth of a 10 x 10 norm) up to BLAS_ONE_THREAD_BELOW."""
    if _threads.blas_threads() == 1:
        pytest.skip("BLAS runs one thread here: nothing to tell apart")
    with NumPyBackend().context(A):
        assert (_blas_threads() == 1) == one


def _set_blas_threads(count: int) -> None:
    """Set every BLAS library to ``count`` threads, leaving no thread in control of OpenBLAS's shared pool."""
    from threadpoolctl import OpenBLASController, ThreadpoolController

    for lib in ThreadpoolController().lib_controllers:
        if lib.user_api == "blas":
            lib.set_num_threads(count)
    OpenBLASController.clear_controlling_thread(force=True)


def test_overlapping_calls_from_threads_restore_the_count():
    """Regression: each call saved the count in force on entry and restored it on exit, so a call that began
    inside another thread's limit and ended after it left the whole process on one BLAS thread. Now the limit
    holds while any call needs it and the last one to leave restores the count before the first."""
    import threading

    original = _blas_threads()
    _set_blas_threads(3)
    steps = {name: threading.Event() for name in ("a_in", "b_in", "a_out")}
    seen = {}

    def first():
        with _threads.one_blas_thread():
            steps["a_in"].set()
            steps["b_in"].wait(10)
        steps["a_out"].set()

    def second():
        steps["a_in"].wait(10)
        with _threads.one_blas_thread():
            steps["b_in"].set()
            steps["a_out"].wait(10)
            seen["after the first left"] = _blas_threads()

    try:
        workers = [threading.Thread(target=first), threading.Thread(target=second)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(20)
        assert all(steps[s].is_set() for s in steps)
        assert seen == {"after the first left": 1}  # still limited: the second call needs it
        assert _blas_threads() == 3  # the count before the first call, restored by the last
    finally:
        _set_blas_threads(original)


_CALLER_LIMIT = r"""
import json, sys
from threadpoolctl import OpenBLASController, ThreadpoolController, threadpool_info, threadpool_limits
from spectra.backends import _threads
from spectra.backends.numba import NumbaBackend

def blas():
    return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})

for lib in ThreadpoolController().lib_controllers:
    if lib.user_api == "blas":
        lib.set_num_threads(3)
OpenBLASController.clear_controlling_thread(force=True)
out, backend = {}, NumbaBackend()
if sys.argv[1] == "outside-first":
    _threads.blas_threads()  # the first look at BLAS's count, outside any limit
with threadpool_limits(1, "blas"):
    _threads.blas_threads()
    with backend.context(), backend.block_algebra():
        out["inside the caller's limit"] = blas()
with backend.context(), backend.block_algebra():
    out["without a limit"] = blas()
out["after"] = blas()
print(json.dumps(out))
"""


@pytest.mark.parametrize("first_look", ["outside-first", "inside-first"])
def test_block_algebra_never_raises_blas_above_the_callers_limit(first_look):
    """Regression: ``block_algebra`` raised BLAS to the count read at spectra's first call, 3 inside a caller's
    ``threadpool_limits(1)``; and a first call made inside such a limit kept 1 for the whole process. Now it
    raises BLAS to the count in force when the call began, never above it."""
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _CALLER_LIMIT, first_look], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"inside the caller's limit": [1], "without a limit": [3], "after": [3]}


_WORKQUEUE = r"""
import threading
import numpy as np, numba, scipy.sparse as sp
from spectra.backends.numba import NumbaBackend

be = NumbaBackend()
A = np.random.default_rng(0).standard_normal((2000, 1100))  # above DENSE_SERIAL_BELOW: parallel kernels
S = sp.random_array((3000, 3000), density=0.03, format="csr", rng=1)  # above SERIAL_BELOW
X, Xs = np.ones((1100, 1)), np.ones((3000, 1))
be.max_abs(A[:100])  # the serial twin of the maximum, ready to stand in for the parallel kernel

def passes():
    out = [be.gram(A, X)[1], be.gram(S, Xs)[1], be.max_abs(A), be.entry_stats(A)[1].fro]
    return b"".join(np.asarray(o).tobytes() for o in out)

reference = passes()
assert numba.threading_layer() == "workqueue"
start, results = threading.Barrier(3), []

def worker():
    for _ in range(15):
        start.wait(60)  # the three threads start their parallel regions together
        results.append(passes() == reference)

threads = [threading.Thread(target=worker) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
print("equal", len(results), all(results))
"""


def test_concurrent_calls_on_the_workqueue_layer():
    """Regression: on Numba's workqueue layer (not thread-safe), parallel kernels started from several threads at
    once ended the process with SIGABRT ("Concurrent access has been detected"). Now one parallel region runs
    at a time, the others on bitwise-equal serial twins or after it: the same bits as a lone call."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NUMBA_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", _WORKQUEUE], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.split()[-3:] == ["equal", "45", "True"]
