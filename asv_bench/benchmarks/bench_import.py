"""Cost of ``import spectra`` and of the first call in a fresh interpreter, beside what they cannot avoid.

asv runs each ``timeraw_`` benchmark's code in a new process, so nothing is cached in ``sys.modules``.
``import spectra`` needs NumPy, ``scipy.sparse`` (with ``scipy.sparse.linalg.LinearOperator``) and
array-api-compat's NumPy wrapper; the difference between the two benchmarks is spectra's own share.
:class:`FirstCall` times the first ``spectra.norm`` call of a process on the numba backend, which compiles
the kernels its input needs when Numba's cache is empty (docs/performance.md, "First-call cost").
"""

from __future__ import annotations

#: what ``import spectra`` imports from other packages (tests/test_import.py checks the list stays true)
PREREQUISITES = "import numpy, scipy.sparse, scipy.sparse.linalg, array_api_compat.numpy"


class ImportTime:
    """Seconds to import, in a fresh interpreter each time."""

    repeat = (5, 20, 30.0)

    def timeraw_import_spectra(self):
        return "import spectra"

    def timeraw_import_prerequisites(self):
        return PREREQUISITES


#: the inputs of the first-call benchmarks (built in the setup, outside the timing)
FIRST_CALL_INPUTS = {
    "dense-float64": "A = np.random.default_rng(0).standard_normal((1000, 800))",
    "dense-float32": "A = np.random.default_rng(0).standard_normal((1000, 800)).astype(np.float32)",
    "stack-float64": "A = np.random.default_rng(0).standard_normal((2000, 16, 16))",
    "csr-float64": "A = scipy.sparse.random(20000, 20000, density=1e-4, format='csr', random_state=0)",
}


def _first_call_setup(kind: str, warm: bool) -> str:
    """Setup code of a first call: a fresh, empty ``NUMBA_CACHE_DIR`` (set before anything imports Numba) and
    the input; ``warm`` fills that cache first in another process (the same call), as a previous run would."""
    setup = (
        "import atexit, os, shutil, subprocess, sys, tempfile\n"
        "os.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp(prefix='spectra-bench-numba-')\n"
        "atexit.register(shutil.rmtree, os.environ['NUMBA_CACHE_DIR'], True)\n"
        "import numpy as np, scipy.sparse\n"
        f"{FIRST_CALL_INPUTS[kind]}\n"
    )
    if warm:
        inputs = FIRST_CALL_INPUTS[kind]
        code = f"import numpy as np, scipy.sparse, spectra; {inputs}; spectra.norm(A, backend='numba', seed=0)"
        setup += f"subprocess.run([sys.executable, '-c', {code!r}], check=True)\n"
    return setup


class FirstCall:
    """Seconds of the first ``spectra.norm`` call in a fresh interpreter (``import spectra`` included), per input
    kind: the numba backend with an empty Numba cache (``cold``: it compiles the kernels the call needs) or with
    the cache a previous process left (``warm``: it loads them), beside the NumPy backend's first call."""

    params = (list(FIRST_CALL_INPUTS), ["numba-cold", "numba-warm", "numpy"])
    param_names = ("input", "backend")
    repeat = (1, 3, 600.0)
    number = 1
    timeout = 1800.0

    def timeraw_first_call(self, kind: str, backend: str):
        name = backend.split("-")[0]
        code = f"import spectra\nspectra.norm(A, backend={name!r}, seed=0)\n"
        return code, _first_call_setup(kind, backend == "numba-warm")
