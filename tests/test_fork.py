"""A process forked after Numba's GNU OpenMP threading layer ran (multiprocessing's default start method on
Linux, PyTorch DataLoader workers): it must not run a parallel numba kernel, which aborts it.

Regression: ``spectra.norm`` on a 2000 x 1100 matrix (``backend="auto"`` -> numba) in the parent, then the same
call in a forked child: the child died with "Terminating: fork() called from a process already using GNU
OpenMP, this is unsafe.", and a ``multiprocessing.Pool`` waiting for it hung.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")

#: forks ``child(conn)`` and reads what it sends; a child that hangs (waiting for threads that do not exist in
#: it) never answers, and ``got`` is then ``None`` after WAIT seconds
_RUN_CHILD = """ctx = mp.get_context("fork")
a, b = ctx.Pipe()
p = ctx.Process(target=child, args=(b,))
p.start()
b.close()  # the child's end: the parent sees EOF when the child dies
try:
    got = a.recv() if a.poll(WAIT) else None
except EOFError:
    got = None"""

_SCRIPT = r"""
import json, multiprocessing as mp, sys
import numpy as np, numba, spectra
from spectra.backends import _fork

A = np.random.default_rng(0).standard_normal((2000, 1100))
S = np.random.default_rng(1).standard_normal((300, 8, 8))
if sys.argv[1] == "after":
    parent = spectra.norm(A, seed=0)  # auto: numba's parallel kernels, the threading layer starts
    layer = numba.threading_layer()
    vendor = getattr(sys.modules.get("numba.np.ufunc.omppool"), "openmp_vendor", None)
else:
    parent, layer, vendor = None, None, None

def child(conn):
    out = {"reason": _fork.fork_unsafe()}
    r = spectra.norm(A, seed=0)
    out["auto"] = [r.backend, r.lower, r.upper, r.plan.why_backend]
    s = spectra.norm(S, seed=0)
    out["stack"] = [s.plan.stack, float(s.lower.min())]
    try:
        out["numba"] = spectra.norm(A, seed=0, backend="numba").backend
    except spectra.BackendUnavailableError as exc:
        out["numba"] = "error: " + str(exc)
    conn.send(out)

__RUN_CHILD__
p.join(60)
print(json.dumps({"layer": layer, "vendor": vendor, "exitcode": p.exitcode, "child": got,
                  "parent": None if parent is None else [parent.backend, parent.lower, parent.upper]}))
""".replace("__RUN_CHILD__", _RUN_CHILD.replace("WAIT", "240"))


def _run(when: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, when], capture_output=True, text=True, timeout=420, env=os.environ.copy()
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_child_forked_after_gnu_openmp_ran_stays_on_numpy():
    out = _run("after")
    child = out["child"]
    assert out["exitcode"] == 0 and child is not None, out  # the child lived and answered
    assert out["parent"][0] == "numba"
    unsafe = out["layer"] == "omp" and out["vendor"] == "GNU"
    if unsafe:
        assert "forked" in child["reason"] and "'spawn'" in child["reason"]
        backend, lower, upper, why = child["auto"]
        assert backend == "numpy" and "cannot run in this process" in why
        assert child["stack"][0] == "batched SVD"
        assert child["numba"].startswith("error: backend='numba' cannot run in this process")
    else:  # a fork-safe layer (TBB, workqueue, Intel's OpenMP): the child keeps numba
        assert child["reason"] == "" and child["auto"][0] == "numba" and child["numba"] == "numba"
        backend, lower, upper, why = child["auto"]
    _, p_lower, p_upper = out["parent"]
    assert max(lower, p_lower) <= min(upper, p_upper)  # both hold the norm: the intervals meet


def test_a_child_forked_before_any_parallel_kernel_keeps_numba():
    out = _run("before")
    assert out["exitcode"] == 0 and out["child"]["reason"] == ""
    assert out["child"]["auto"][0] == "numba" and out["child"]["numba"] == "numba"


_GOMP_SCRIPT = r"""
import ctypes, json, multiprocessing as mp, sys
import numpy as np, spectra
from spectra.backends import _fork

gomp = ctypes.CDLL("libgomp.so.1")  # GNU OpenMP, as PyTorch's CPU wheels load it
region = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda data: None)
gomp.GOMP_parallel(region, None, 2, 0)  # one parallel region (a torch op, say): the runtime's threads start
A = np.random.default_rng(0).standard_normal((1500, 1400))  # auto -> numba

def child(conn):
    out = {"reason": _fork.fork_unsafe()}
    r = spectra.norm(A, method="lanczos", seed=0, maxiter=5)
    out["auto"] = [r.backend, r.plan.why_backend]
    try:
        out["numba"] = spectra.norm(A, seed=0, backend="numba", maxiter=5).backend
    except spectra.BackendUnavailableError as exc:
        out["numba"] = "error: " + str(exc)
    conn.send(out)

__RUN_CHILD__
p.kill()
print(json.dumps({"child": got}))
""".replace("__RUN_CHILD__", _RUN_CHILD.replace("WAIT", "60"))


@pytest.mark.parametrize("layer", [None, "workqueue"])
def test_a_child_forked_after_another_librarys_gnu_openmp_ran_stays_on_numpy(layer):
    """Regression: after PyTorch ran a parallel op in the parent (GNU OpenMP, ``libgomp``), a forked child (a
    ``DataLoader`` worker) that ran ``spectra.norm`` on a large matrix hung forever in the first numba kernel,
    which runs on the same OpenMP runtime; only Numba's own layer was checked at the fork. Now GNU OpenMP loaded
    at the fork keeps ``auto`` on NumPy and makes ``backend="numba"`` raise, unless Numba is set to a layer
    without it (``workqueue`` here), where the child keeps numba."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if layer is not None:
        env["NUMBA_THREADING_LAYER"] = layer
    proc = subprocess.run([sys.executable, "-c", _GOMP_SCRIPT], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    child = json.loads(proc.stdout.strip().splitlines()[-1])["child"]
    assert child is not None, "the forked child hung in spectra.norm"
    if layer is None:
        assert "GNU OpenMP" in child["reason"] and "'spawn'" in child["reason"]
        assert child["auto"][0] == "numpy" and "cannot run in this process" in child["auto"][1]
        assert child["numba"].startswith("error: backend='numba' cannot run in this process")
    else:
        assert child["reason"] == "" and child["auto"][0] == "numba" and child["numba"] == "numba"
