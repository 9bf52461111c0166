"""``import spectra`` stays light: no optional or heavy module is imported until it is needed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_import", ROOT / "asv_bench" / "benchmarks" / "bench_import.py")
bench_import = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_import)

#: imported only when a call needs them (scipy.special: the thresholds of the probabilistic bounds)
HEAVY = [
    *("scipy.stats", "scipy.special", "numba", "torch", "dask", "cupy", "jax"),
    *("tqdm", "matplotlib", "safetensors", "zarr"),
]


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(json.loads(proc.stdout.splitlines()[-1]))


@pytest.mark.parametrize("code", ["import spectra", "import spectra._cli"])
def test_import_spectra_imports_nothing_heavy(code):
    loaded = _modules_after(code)
    assert not [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(tuple(h + "." for h in HEAVY))]
    assert not [m for m in HEAVY if m in loaded]


def test_import_spectra_needs_only_its_prerequisites():
    """Everything ``import spectra`` loads beyond the prerequisites' own modules is spectra's (or stdlib)."""
    extra = _modules_after("import spectra") - _modules_after(bench_import.PREREQUISITES)
    foreign = {m for m in extra if m.split(".")[0] not in ("spectra", *sys.stdlib_module_names)}
    assert not foreign


def test_first_norm_call_still_works_after_lazy_imports():
    code = "import numpy as np, spectra; print(spectra.norm(np.diag([2.0, 1.0]), method='randomized', seed=0).lower)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert abs(float(proc.stdout) - 2.0) < 1e-12


@pytest.mark.parametrize("name", ["timeraw_import_spectra", "timeraw_import_prerequisites"])
def test_import_benchmark_code_runs(name):
    code = getattr(bench_import.ImportTime(), name)()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_public_test_matrices():
    """``spectra.testing`` is the public home of the generators the README and guides use (their examples
    imported the private ``spectra._testing``): a prescribed spectrum's norm, checked against LAPACK."""
    import spectra.testing as t

    assert set(t.__all__) <= set(dir(t))
    A = t.matrix_with_singular_values(2.5 * t.spectrum("decaying", 6), 9, 7, seed=3)
    assert abs(np.linalg.norm(A, 2) - 2.5) < 1e-12
    S = t.sparse_with_singular_values(t.spectrum("flat", 5), 40, 30, seed=1)
    assert abs(np.linalg.norm(S.toarray(), 2) - 1.0) < 1e-12
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "spectra._testing" not in readme and "from spectra.testing import" in readme


def test_sparse_test_matrix_with_too_many_singular_values_is_a_clear_error():
    """Regression: SciPy's "row index exceeds matrix dimensions" instead of the dense version's message."""
    import spectra.testing as t

    with pytest.raises(ValueError, match=r"len\(s\)=3 exceeds min\(m, n\)=2"):
        t.sparse_with_singular_values([3.0, 2.0, 1.0], 4, 2)
