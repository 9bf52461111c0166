"""Host work of a certified dense Lanczos call, two source trees side by side (e.g. main and a branch).

Two worker processes import spectra from the given trees; the driver asks them in turn (A, B, B, A, ...)
for one ``spectra.norm(A, method="lanczos", backend="numba", seed=0)`` each and prints the CPU time of the
call, of the fused Gram passes in it (``NumbaBackend._row_gram``), and their difference, the host work.
Run with one thread each so that CPU time means something on a busy machine::

    git archive main spectra | tar -x -C /tmp/main_src
    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python docs/scripts/lanczos_host_ab.py /tmp/main_src . \\
        [--dtype float32] [--rounds 15]

float64 runs the 3000 x 3000 Gaussian at ``rtol=1e-6``, float32 the 4000 x 4000 one at ``rtol=1e-5``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

PROBLEMS = {"float64": (3000, 1e-6), "float32": (4000, 1e-5)}


def worker(src: str, dtype: str) -> None:
    sys.path.insert(0, os.path.abspath(src))
    import numpy as np

    import spectra
    from spectra.backends import numba as nb

    n, rtol = PROBLEMS[dtype]
    A = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    passes = [0.0]
    kernel = nb.NumbaBackend._row_gram

    def timed(*args, **kw):
        t0 = time.process_time()
        try:
            return kernel(*args, **kw)
        finally:
            passes[0] += time.process_time() - t0

    nb.NumbaBackend._row_gram = timed
    r = spectra.norm(A, method="lanczos", backend="numba", rtol=rtol, seed=0)  # also compiles
    print(f"{spectra.__file__}: {r.iterations} steps, [{r.lower!r}, {r.upper!r}]", flush=True)
    for _ in sys.stdin:
        time.sleep(0.2)
        passes[0] = 0.0
        t0 = time.process_time()
        spectra.norm(A, method="lanczos", backend="numba", rtol=rtol, seed=0)
        print(time.process_time() - t0, passes[0], flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("a", help="source tree A (holds the spectra package)")
    p.add_argument("b", help="source tree B")
    p.add_argument("--dtype", choices=sorted(PROBLEMS), default="float64")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.worker, args.dtype)
    import numpy as np

    procs = {}
    for name, src in (("A", args.a), ("B", args.b)):
        cmd = [sys.executable, __file__, args.a, args.b, "--dtype", args.dtype, "--worker", src]
        procs[name] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")
        print(name, procs[name].stdout.readline().strip())
    times = {name: [] for name in procs}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
            procs[name].stdin.write("go\n")
            procs[name].stdin.flush()
            times[name].append([float(x) for x in procs[name].stdout.readline().split()])
        loads.append(os.getloadavg()[0])
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()

    def spread(x, scale=1e3, digits=1):
        x = np.asarray(x) * scale
        return f"{np.median(x):.{digits}f} ({x.min():.{digits}f}-{x.max():.{digits}f})"

    a, b = np.array(times["A"]), np.array(times["B"])
    for name, t in (("A", a), ("B", b)):
        print(f"{name}: call {spread(t[:, 0])} ms, passes {spread(t[:, 1])} ms, host {spread(t[:, 0] - t[:, 1])} ms")
    print("host B/A", spread((b[:, 0] - b[:, 1]) / (a[:, 0] - a[:, 1]), 1, 3))
    print("call B/A", spread(b[:, 0] / a[:, 0], 1, 3))
    print("load average", " ".join(f"{x:.1f}" for x in loads))


if __name__ == "__main__":
    main()
