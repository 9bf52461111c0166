"""The command line: demo, norm FILE for each format, and clean failures (exit 2, one line, no traceback)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from spectra._cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_every_method(capsys):
    assert main(["demo", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["truth"] == 3.0
    assert {r["method"] for r in out["results"]} == {"svd", "power", "lanczos", "randomized"}
    for r in out["results"]:
        assert r["lower"] <= out["truth"] <= r["upper"]


@pytest.mark.parametrize("fmt", ["npy", "npz", "npz-sparse", "mtx"])
def test_norm_file(tmp_path, fmt, capsys):
    A = np.diag([5.0, 2.0, 1.0])
    path = tmp_path / f"a.{fmt.split('-')[0]}"
    if fmt == "npy":
        np.save(path, A)
    elif fmt == "npz":
        np.savez(path, A=A)
    elif fmt == "npz-sparse":
        sp.save_npz(path, sp.csr_array(A))
    else:
        scipy.io.mmwrite(path, sp.coo_array(A))
    assert main(["norm", str(path), "--json", "--method", "lanczos", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lower"] <= 5.0 <= out["upper"] and abs(out["value"] - 5.0) < 1e-12


def test_norm_table_output(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.eye(3))
    assert main(["norm", str(tmp_path / "a.npy")]) == 0
    assert re.search(r"svd\s+1(\.0+)?\s", capsys.readouterr().out)


@pytest.mark.parametrize("content", [b"not a matrix", b""])
@pytest.mark.parametrize("suffix", [".npy", ".npz", ".mtx", ".txt"])
def test_bad_files_exit_2_without_traceback(tmp_path, content, suffix):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "spectra", "norm", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("spectra: error:") and proc.stderr.count("\n") == 1


def test_missing_file_and_pickles(tmp_path, capsys):
    assert main(["norm", str(tmp_path / "missing.npy")]) == 2
    np.save(tmp_path / "obj.npy", np.array([[object()]], dtype=object), allow_pickle=True)
    assert main(["norm", str(tmp_path / "obj.npy")]) == 2
    np.savez(tmp_path / "two.npz", a=np.eye(2), b=np.eye(3))
    assert main(["norm", str(tmp_path / "two.npz")]) == 2
    assert "--key" in capsys.readouterr().err
    assert main(["norm", str(tmp_path / "two.npz"), "--key", "b"]) == 0


def test_readme_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    main_job, test_cmd = blocks[0].strip(), blocks[1].strip()
    assert "python -m spectra demo" in main_job
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_norm_zarr_with_dask(tmp_path, capsys):
    import zarr

    A = np.diag([5.0, 2.0, 1.0, 0.5])
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=A.shape, chunks=(2, 4), dtype=A.dtype)
    z[:] = A
    assert main(["norm", str(tmp_path / "a.zarr"), "--json", "--method", "lanczos"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["backend"] == "dask" and row["plan"].startswith("lanczos on dask")
    assert row["lower"] <= 5.0 <= row["upper"]
    np.save(tmp_path / "a.npy", A)
    assert main(["norm", str(tmp_path / "a.npy"), "--json", "--backend", "dask", "--method", "lanczos"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "dask"
