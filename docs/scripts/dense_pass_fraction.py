"""One fused dense Gram pass (numba) against one read of the same bytes, in one process.

For each shape, memory order and dtype the pass ``A^H (A x)`` (``A (A^H x)`` for Fortran order: the kernel on
the C-ordered transpose) and a read of ``A`` alternate; the fraction is read time / pass time for the best of the
repeats and the median of the per-repeat fractions (with their min-max). The read is asv's
(``bench_primitives``): an integer sum over ``A``'s bytes viewed as 64-bit words, on Numba's threads like the
pass, memory bound for float32 and float64 alike (NumPy's float32 ``sum`` is pairwise and bound by arithmetic,
so it flattered float32 passes). ``--cpu`` times the thread's CPU time, which on a loaded machine is the more
stable measure for one thread (run with ``NUMBA_NUM_THREADS=1``: pass and read then run on the calling thread).
``--base REV`` also times the kernel of another commit, interleaved (``base/new`` ratios per repeat)::

    NUMBA_NUM_THREADS=1 python docs/scripts/dense_pass_fraction.py --cpu [--base 5f07dc4]
    python docs/scripts/dense_pass_fraction.py            # all threads, wall-clock
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "asv_bench"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's spectra, not an installed one

from benchmarks.bench_primitives import SHAPES, _parallel_read, _serial_read, _words

from spectra.backends import _numba_kernels, _numba_serial
from spectra.backends.numba import _blocks


def base_kernel(rev: str, serial: bool):
    """``dense_gram`` as of commit ``rev`` (its kernel module compiled from a file of its own), or its twin."""
    root = Path(__file__).resolve().parents[2]
    source = subprocess.run(
        ["git", "-C", str(root), "show", f"{rev}:spectra/backends/_numba_kernels.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    source = source.replace("from ._numba_jit import", "from spectra.backends._numba_jit import")
    path = Path(tempfile.gettempdir()) / "spectra-base-kernels" / f"base_kernels_{rev[:12]}.py"
    path.parent.mkdir(exist_ok=True)
    if not path.exists() or path.read_text() != source:  # a file of its own: Numba caches its compiled code
        path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # Numba's cached code finds its module's globals by name
    spec.loader.exec_module(module)
    if serial:
        return _numba_serial.serial_twin(module.dense_gram, _reduce_blocks=_numba_serial._reduce_blocks)
    return module.dense_gram


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--cpu", action="store_true", help="thread CPU time (one thread) instead of wall-clock time")
    p.add_argument("--base", help="a commit whose dense_gram is timed beside this checkout's")
    args = p.parse_args()
    clock = time.thread_time if args.cpu else time.perf_counter
    serial = numba.get_num_threads() == 1  # as the backend: the serial twin on one thread
    read_words = _serial_read if serial else _parallel_read
    kernels = {"pass": _numba_serial.dense_gram if serial else _numba_kernels.dense_gram}
    if args.base:
        kernels["base"] = base_kernel(args.base, serial)
    head = f"{'shape':>14} {'dtype':>8} {'read ms':>8} {'pass ms':>8} {'best':>5} {'median':>6} {'min-max':>10}"
    print(head + (f" {'base ms':>8} {'base/pass':>9} {'min-max':>11}" if args.base else ""))
    for dtype in ("float64", "float32"):
        for m, n, order in SHAPES.values():
            A = np.asarray(np.random.default_rng(0).standard_normal((m, n)).astype(dtype), order=order)
            B = A.T if order == "F" else A  # the backend's route for Fortran order: the C-ordered transpose
            x = np.random.default_rng(1).standard_normal((B.shape[1], 1)).astype(dtype)
            words = _words(A)
            nb = 1 if serial else _blocks(B.shape[0])

            def read(words=words):
                return read_words(words)

            def run(kernel, B=B, x=x, nb=nb):
                Y, Z = np.empty((B.shape[0], 1), B.dtype), np.empty((B.shape[1], 1), B.dtype)
                kernel(B, x, B.dtype.type(1), Y, Z, nb)

            tasks = {"read": read, **{k: (lambda f=f: run(f)) for k, f in kernels.items()}}
            times = {k: [] for k in tasks}
            for f in tasks.values():
                f()
            for _ in range(args.repeat):
                for k, f in tasks.items():
                    t0 = clock()
                    f()
                    times[k].append(clock() - t0)
            t = {k: np.array(v) for k, v in times.items()}
            fr = t["read"] / t["pass"]
            line = (
                f"{m:>6}x{n:<6}{order} {dtype:>8} {t['read'].min() * 1e3:8.2f} {t['pass'].min() * 1e3:8.2f} "
                f"{t['read'].min() / t['pass'].min():5.2f} {np.median(fr):6.2f} {fr.min():4.2f}-{fr.max():4.2f}"
            )
            if args.base:
                q = t["base"] / t["pass"]
                line += f" {t['base'].min() * 1e3:8.2f} {np.median(q):9.3f} {q.min():5.3f}-{q.max():5.3f}"
            print(line, flush=True)
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
