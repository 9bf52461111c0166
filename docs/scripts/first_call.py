"""First-call cost of the numba backend per input kind, in fresh interpreters (docs/performance.md, "First-call cost").

For each input kind, and for each source tree given (e.g. a checkout of an older commit, then this one; the
trees alternate), two fresh interpreters run with ``PYTHONPATH`` set to the tree and one new, empty
``NUMBA_CACHE_DIR``: ``cold`` (the cache is empty: the call compiles what it needs) and then ``warm`` (a new
process with the cache the first one left: it loads). Each prints ``import spectra`` time, the first
``spectra.norm(A, backend="numba", seed=0)`` call (which imports and compiles or loads the kernels) and a
second call, as one JSON line with the load average::

    nice -n 15 python docs/scripts/first_call.py 1 /tmp/old-tree . -- dense64 stack64 csr64 dense32 complex128

The first argument is the number of rounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: the inputs, built in the child from seed 0
INPUTS = {
    "dense64": "rng.standard_normal((1000, 800))",
    "dense32": "rng.standard_normal((1000, 800)).astype(np.float32)",
    "complex128": "rng.standard_normal((1000, 800)) + 1j * rng.standard_normal((1000, 800))",
    "stack64": "rng.standard_normal((2000, 16, 16))",
    "csr64": "sp.random(20000, 20000, density=1e-4, format='csr', random_state=0)",
}

_CHILD = """
import json, time
t0 = time.perf_counter()
import numpy as np, scipy.sparse as sp
import spectra
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
A = {expr}
t = time.perf_counter(); spectra.norm(A, backend="numba", seed=0); first = time.perf_counter() - t
t = time.perf_counter(); spectra.norm(A, backend="numba", seed=0); second = time.perf_counter() - t
print(json.dumps(dict(file=spectra.__file__, import_s=t_import, first_s=first, second_s=second)))
"""


def run(tree: str, kind: str, cache: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()), NUMBA_CACHE_DIR=cache)
    code = _CHILD.format(expr=INPUTS[kind])
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main(rounds: int, trees: list[str], kinds: list[str]) -> None:
    for r in range(rounds):
        for kind in kinds:
            for tree in trees:
                with tempfile.TemporaryDirectory(prefix="spectra-first-call-") as cache:
                    for phase in ("cold", "warm"):
                        result = run(tree, kind, cache)
                        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
                        print(json.dumps(dict(round=r, tree=tree, kind=kind, phase=phase, load=load, **result)))


if __name__ == "__main__":
    args = sys.argv[1:]
    split = args.index("--") if "--" in args else len(args)
    main(int(args[0]), args[1:split] or ["."], args[split + 1 :] or list(INPUTS))
