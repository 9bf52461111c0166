"""``method="randomized"`` certifies where the block-Dixon and probe bounds alone could not (docs/bounds.md §4d).

Regression tests for the cases where it stopped far from ``rtol`` after its whole budget (3211 products):
a large sparse matrix (1.5% width, 66-198 s), a dense float32 2000 x 500 (2.3%), the command-line demo's
randomized row (3e-2). Scaled down to run in seconds; each must now certify ``rtol`` and need no more
passes than ``lanczos`` needs steps on the same input (both counts are deterministic for a seed).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import spectra
from spectra import _cli
from spectra._testing import matrix_with_singular_values, sparse_with_singular_values, spectrum


def _certifies_within_lanczos_steps(A, truth, **kw):
    r = spectra.norm(A, method="randomized", seed=0, **kw)
    lz = spectra.norm(A, method="lanczos", seed=0, **kw)
    assert r.lower <= truth <= r.upper
    assert r.converged and r.relative_width <= r.rtol_effective
    assert r.iterations <= lz.iterations, (r.iterations, lz.iterations)
    return r


def test_large_sparse_flat_spectrum():
    s = spectrum("flat", 3000, seed=1)
    A = sparse_with_singular_values(s, 3000, 3000, density_extra=0.5, seed=2)
    r = _certifies_within_lanczos_steps(A, float(s.max()))
    assert r.matvecs < 3211


def test_dense_float32_gaussian():
    A = np.random.default_rng(0).standard_normal((400, 100)).astype(np.float32)
    truth = float(np.linalg.svd(A.astype(np.float64), compute_uv=False)[0])
    r = _certifies_within_lanczos_steps(A, truth)
    assert r.rtol_effective < 1e-3  # the float32 floor, not a width of percents


def test_demo_row_certifies(monkeypatch, capsys):
    monkeypatch.setattr(_cli, "DEMO_SHAPE", (400, 200))
    assert _cli.main(["demo", "--json"]) == 0
    rows = {r["method"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    row = rows["randomized"]
    assert row["converged"] and row["lower"] <= 3.0 <= row["upper"]
    assert (row["upper"] - row["lower"]) / row["lower"] <= 1e-6 * (1 + 1e-9)
    assert row["matvecs"] < 3211


@pytest.mark.parametrize("block_size", [1, 2, 4, 16])
@pytest.mark.parametrize("name", ["flat", "clustered", "decaying", "repeated"])
def test_every_block_size_certifies(name, block_size):
    """The bound needs no particular block size: each certifies rtol=1e-6 on each spectrum."""
    s = spectrum(name, 300, seed=3)
    A = matrix_with_singular_values(s, 400, 300, seed=4)
    r = spectra.norm(A, method="randomized", block_size=block_size, seed=1)
    assert r.converged and r.lower <= 1.0 <= r.upper


def test_the_result_says_why_auto_avoids_it():
    A = matrix_with_singular_values(spectrum("flat", 60), 80, 60)
    for kw in ({"method": "randomized"}, {"block_size": 2}):
        r = spectra.norm(A, seed=0, **kw)
        assert r.method == "randomized" and "products each" in r.plan.why_method
    assert spectra.norm(A, seed=0).method != "randomized"
    assert spectra.norm(A, seed=0, method="auto").method != "randomized"
