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


def main(mode: str, rounds: int) -> None:
    print("load before:", os.getloadavg(), "numba threads:", nb.numba.get_num_threads())
    for dtype in (np.float32, np.float64):
        for n in SIZES:
            A = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
            if mode == "pass":
                for k in (1, 4):
                    X = np.random.default_rng(1).standard_normal((n, k)).astype(dtype)
                    fs = {
                        "parallel": lambda: _pass_round(A, X, _numba_kernels.dense_gram, nb._blocks(n)),
                        "serial": lambda: _pass_round(A, X, _numba_serial.dense_gram, 1),
                    }
                    res = {key: [] for key in fs}
                    for _ in range(rounds):
                        for key, f in fs.items():
                            res[key].append(f())
                    ratio = np.array(res["parallel"]) / np.array(res["serial"])
                    print(
                        f"{np.dtype(dtype).name:8s} n={n:5d} k={k} entries x k={n * n * k:9d}  pass ms: "
                        f"parallel {_fmt(res['parallel'])}  serial {_fmt(res['serial'])}  "
                        f"parallel/serial {np.median(ratio):.2f} ({ratio.min():.2f}-{ratio.max():.2f})",
                        flush=True,
                    )
            else:
                fs = {
                    "parallel": lambda: _norm_round(A, "numba", 0),
                    "serial": lambda: _norm_round(A, "numba", 1 << 62),
                    "numpy": lambda: _norm_round(A, "numpy", 0),
                }
                res = {key: [] for key in fs}
                for _ in range(rounds):
                    for key, f in fs.items():
                        res[key].append(f())
                ratio = np.array(res["parallel"]) / np.array(res["serial"])
                print(
                    f"{np.dtype(dtype).name:8s} n={n:5d} entries={n * n:9d}  norm ms: parallel {_fmt(res['parallel'])}  "
                    f"serial {_fmt(res['serial'])}  numpy {_fmt(res['numpy'])}  "
                    f"parallel/serial {np.median(ratio):.2f} ({ratio.min():.2f}-{ratio.max():.2f})",
                    flush=True,
                )
    print("load after:", os.getloadavg())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "pass", int(sys.argv[2]) if len(sys.argv) > 2 else 7)
