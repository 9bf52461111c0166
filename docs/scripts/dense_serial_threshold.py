"""Serial twins against the parallel dense kernels on small matrices (docs/performance.md).

For each ``n x n`` Gaussian matrix (seed 0) and dtype, in one process and interleaved round by round:

- ``pass``: one Gram pass ``A^H (A x)`` (``k`` columns) through the parallel kernel and through its serial
  twin, each call followed by 1 ms of other host work (as between the steps of an iterative method, long
  enough for Numba's idle worker threads to go back to sleep); per round the median time of 20 calls;
- ``norm``: ``spectra.norm(A, method="lanczos", backend="numba")`` with every dense kernel parallel
  (``DENSE_SERIAL_BELOW = 0``), with the serial twins (``DENSE_SERIAL_BELOW`` above the size), and on the
  numpy backend; each interval is checked against LAPACK.

Prints the median (min–max) over the rounds and the load average before and after::

    nice -n 15 python docs/scripts/dense_serial_threshold.py pass 7
    nice -n 15 python docs/scripts/dense_serial_threshold.py norm 7
    nice -n 15 python docs/scripts/dense_serial_threshold.py compile 5
    nice -n 15 python docs/scripts/dense_serial_threshold.py norm 7 256,400,1024 float64   # sizes, dtypes

``compile``: CPU seconds of the first import of the dense kernels and of their serial twins with an empty Numba cache
(``NUMBA_CACHE_DIR`` in a temporary directory), then with that cache. Since the kernels compile each signature on
first use, importing them compiles nothing; ``docs/scripts/first_call.py`` measures the first call instead.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import spectra
import spectra.backends.numba as nb
from spectra.backends import _numba_kernels, _numba_serial

SIZES = (128, 256, 400, 512, 724, 1024, 1448, 2048)


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _pass_round(A, X, kernel, nb_blocks) -> float:
    m, n = A.shape
    Y, Z = np.empty((m, X.shape[1]), A.dtype), np.empty((n, X.shape[1]), A.dtype)
    times = []
    for _ in range(20):
        _busy(1e-3)
        t = time.perf_counter()
        kernel(A, X, A.dtype.type(1), Y, Z, nb_blocks)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _norm_round(A, backend: str, below: int) -> float:
    nb.DENSE_SERIAL_BELOW = below
    t = time.perf_counter()
    r = spectra.norm(A, method="lanczos", backend=backend, seed=0)
    elapsed = time.perf_counter() - t
    truth = np.linalg.norm(A.astype(np.float64), 2)
    if not (r.lower <= truth <= r.upper):
        raise AssertionError(f"interval {r.interval} misses {truth}")
    return elapsed


def _fmt(xs) -> str:
    xs = np.asarray(xs) * 1e3
    return f"{np.median(xs):8.3f} ({xs.min():.3f}-{xs.max():.3f})"


def _compare(label: str, fs: dict, rounds: int) -> None:
    """Run the contenders ``fs`` in turn for ``rounds`` rounds; print each median (min-max) and parallel/serial."""
    res = {key: [] for key in fs}
    for _ in range(rounds):
        for key, f in fs.items():
            res[key].append(f())
    ratio = np.array(res["parallel"]) / np.array(res["serial"])
    times = "  ".join(f"{key} {_fmt(v)}" for key, v in res.items())
    print(f"{label}  {times}  parallel/serial {np.median(ratio):.2f} ({ratio.min():.2f}-{ratio.max():.2f})", flush=True)


_COMPILE_CHILD = """
import resource, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
import numba, numpy
c0 = cpu()
from spectra.backends import _numba_kernels
c1 = cpu()
from spectra.backends import _numba_serial
print(f"{c1 - c0:.2f} {cpu() - c1:.2f}")
"""


def compile_times(rounds: int) -> None:
    """CPU seconds of importing the dense kernels and then their serial twins, with an empty on-disk cache
    (compiling) and again with the cache just written (loading), in a fresh interpreter each."""
    import subprocess
    import tempfile

    root = str(Path(__file__).resolve().parents[2])
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=root)
            runs = [subprocess.run([sys.executable, "-c", _COMPILE_CHILD], env=env, capture_output=True, text=True)]
            runs.append(subprocess.run([sys.executable, "-c", _COMPILE_CHILD], env=env, capture_output=True, text=True))
        (k0, t0), (k1, t1) = (r.stdout.split() for r in runs)
        print(f"compile: kernels {k0} s, twins {t0} s; from the cache: kernels {k1} s, twins {t1} s", flush=True)


def main(mode: str, rounds: int, sizes=SIZES, dtypes=("float32", "float64")) -> None:
    print("load before:", os.getloadavg(), "numba threads:", nb.numba.get_num_threads())
    if mode == "compile":
        compile_times(rounds)
    for dtype in dtypes if mode != "compile" else ():
        for n in sizes:
            A = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
            name = np.dtype(dtype).name
            if mode == "pass":
                for k in (1, 4):
                    X = np.random.default_rng(1).standard_normal((n, k)).astype(dtype)
                    fs = {
                        "parallel": lambda A=A, X=X: _pass_round(A, X, _numba_kernels.dense_gram, nb._blocks(len(A))),
                        "serial": lambda A=A, X=X: _pass_round(A, X, _numba_serial.dense_gram, 1),
                    }
                    _compare(f"{name:8s} n={n:5d} k={k} entries x k={n * n * k:9d}  pass ms:", fs, rounds)
            else:
                fs = {
                    "parallel": lambda A=A: _norm_round(A, "numba", 0),
                    "serial": lambda A=A: _norm_round(A, "numba", 1 << 62),
                    "numpy": lambda A=A: _norm_round(A, "numpy", 0),
                }
                _compare(f"{name:8s} n={n:5d} entries={n * n:9d}  norm ms:", fs, rounds)
    print("load after:", os.getloadavg())


if __name__ == "__main__":
    args = sys.argv[1:] + [None] * 4
    main(
        args[0] or "pass",
        int(args[1] or 7),
        tuple(int(v) for v in args[2].split(",")) if args[2] else SIZES,
        tuple(args[3].split(",")) if args[3] else ("float32", "float64"),
    )
