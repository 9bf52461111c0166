"""The sphinx-gallery tutorials in examples/ run standalone (``python examples/plot_x.py``) and draw a figure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_standalone(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    code = (
        "import runpy, matplotlib.pyplot as plt; "
        f"runpy.run_path({str(script)!r}, run_name='__main__'); "
        f"plt.gcf().savefig({str(tmp_path / 'figure.png')!r}); "
        "assert plt.get_fignums(), 'no figure drawn'"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "figure.png").stat().st_size > 1000


def test_there_are_two_tutorials():
    assert {p.stem for p in EXAMPLES} >= {"plot_spectral_normalisation_gan", "plot_lipschitz_certificate"}
