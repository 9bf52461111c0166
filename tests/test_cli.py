"""The command line: demo, norm FILE for each format, options, progress, plots, and clean failures
(exit 2, one line, no traceback)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import spectra
from spectra import _cli, _cli_progress, _loaders
from spectra._cli import main
from spectra._install import DISTRIBUTION
from spectra._testing import matrix_with_singular_values, spectrum

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_every_method(capsys):
    assert main(["demo", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["truth"] == 3.0
    assert {r["method"] for r in out["results"]} == {"svd", "power", "lanczos", "randomized"}
    for r in out["results"]:
        assert r["lower"] <= out["truth"] <= r["upper"]


def test_demo_takes_the_maxiter_its_legend_suggests(monkeypatch, capsys):
    """Regression: the legend says "pass a larger --maxiter", but ``demo`` rejected ``--maxiter``. It now sets the
    budget of the iterative methods (svd is direct and gets none); the legend also explains ``rel. error``."""
    monkeypatch.setattr(_cli, "DEMO_SHAPE", (300, 150))
    assert main(["demo", "--json", "--maxiter", "7"]) == 0
    rows = {r["method"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert rows["power"]["matvecs"] == 2 * 7 + 1 and not rows["power"]["converged"]
    assert rows["svd"]["converged"] and rows["svd"]["matvecs"] == 0
    assert main(["demo", "--maxiter", "7"]) == 0
    out = capsys.readouterr().out
    assert "conv. no - the iteration budget (--maxiter) ran out" in out and "--maxiter" in _cli.LEGEND
    assert "rel. error  |value - ||A||_2| / ||A||_2" in out


def _write(path: Path, fmt: str, A) -> Path:
    """``A`` stored in format ``fmt`` under ``path`` (suffix added); ``-group``/``-sparse`` variants."""
    base = fmt.split("-")[0]
    path = path.with_suffix(f".{base}")
    if fmt == "npy":
        np.save(path, A)
    elif fmt == "npz":
        np.savez(path, A=A)
    elif fmt == "npz-sparse":
        sp.save_npz(path, sp.csr_array(A))
    elif fmt == "mtx":
        scipy.io.mmwrite(path, sp.coo_array(A))
    elif fmt == "mat":
        scipy.io.savemat(path, {"A": A})
    elif fmt == "mat-sparse":
        scipy.io.savemat(path, {"A": sp.csc_array(A)})
    elif fmt == "safetensors":
        from safetensors.numpy import save_file

        save_file({"weight": np.ascontiguousarray(A)}, str(path))
    elif fmt == "zarr":
        import zarr

        z = zarr.open(str(path), mode="w", shape=A.shape, dtype=A.dtype)
        z[...] = A
    elif fmt == "zarr-group":
        import zarr

        g = zarr.open_group(str(path), mode="w")
        for name, M in (("A", A), ("B", 2 * A)):
            z = (g.create_array if hasattr(g, "create_array") else g.create_dataset)(name, shape=M.shape, dtype=M.dtype)
            z[...] = M
    return path


FORMATS = ["npy", "npz", "npz-sparse", "mtx", "mat", "mat-sparse", "safetensors", "zarr", "zarr-group"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_norm_file(tmp_path, fmt, capsys):
    A = np.diag([5.0, 2.0, 1.0])
    path = _write(tmp_path / "a", fmt, A)
    key = ["--key", "B"] if fmt == "zarr-group" else []
    assert main(["norm", str(path), "--json", "--method", "lanczos", "--seed", "3", *key]) == 0
    out = json.loads(capsys.readouterr().out)
    truth = 10.0 if fmt == "zarr-group" else 5.0
    assert out["lower"] <= truth <= out["upper"] and abs(out["value"] - truth) < 1e-12
    assert out["shape"] == [3, 3] and out["dtype"] == "float64"
    assert out["backend"] == ("dask" if fmt.startswith("zarr") else "numpy")  # zarr is read lazily, with Dask
    assert out["format"] == fmt.split("-")[0]
    assert ("sparse" in out["storage"]) == fmt.endswith("sparse") or fmt == "mtx"


def test_float32_safetensors_reports_its_dtype_and_effective_rtol(tmp_path, capsys):
    A = np.diag([3.0, 1.0, 0.5]).astype(np.float32)
    path = _write(tmp_path / "w", "safetensors", A)
    assert main(["norm", str(path), "--json", "--method", "lanczos", "--rtol", "1e-9"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dtype"] == "float32" and out["rtol_effective"] > 1e-9
    assert out["lower"] <= 3.0 <= out["upper"]


def test_bfloat16_safetensors_is_read_through_torch(tmp_path, capsys):
    """A bfloat16 tensor (the usual dtype of model weights) is read through PyTorch and widened exactly to
    float32; without PyTorch the error names the extra. Regression: "could not be read as safetensors
    (TypeError: data type 'bfloat16' not understood)"."""
    import torch
    from safetensors.torch import save_file

    W = torch.from_numpy(np.random.default_rng(0).standard_normal((80, 50))).to(torch.bfloat16)
    save_file({"w": W, "b": torch.zeros(3)}, tmp_path / "m.safetensors")
    assert main(["norm", str(tmp_path / "m.safetensors"), "--key", "w", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    truth = np.linalg.norm(W.to(torch.float64).numpy(), 2)  # bfloat16 -> float64 is exact
    # bfloat16 where ml_dtypes (imported by JAX) has given NumPy the dtype, else read through torch as float32
    assert out["dtype"] in ("bfloat16", "float32") and out["lower"] <= truth <= out["upper"]


def test_float8_safetensors_is_read_through_torch(tmp_path, capsys, monkeypatch):
    """Float8 (no NumPy dtype, ml_dtypes or not) is read through PyTorch; without it the error names the extra.
    Regression: float8 tensors raised safetensors' ``AttributeError``, which the PyTorch fallback missed."""
    import torch
    from safetensors.torch import save_file

    W = torch.from_numpy(np.random.default_rng(1).standard_normal((30, 20))).to(torch.float8_e4m3fn)
    save_file({"w": W}, tmp_path / "f8.safetensors")
    assert main(["norm", str(tmp_path / "f8.safetensors"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    truth = np.linalg.norm(W.to(torch.float64).numpy(), 2)  # float8 -> float64 is exact
    assert out["lower"] <= truth <= out["upper"]
    monkeypatch.setattr(_loaders.importlib.util, "find_spec", lambda name, *a: None if name == "torch" else 1)
    assert main(["norm", str(tmp_path / "f8.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "'w'" in err and "float8" in err and 'pip install "spectra-linalg[torch]"' in err


def test_norm_table_output(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.eye(3))
    assert main(["norm", str(tmp_path / "a.npy")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"svd\s+numpy\s+1(\.0+)?\s", out)
    assert "3 x 3 float64, dense, memory-mapped" in out and "backend" in out


@pytest.mark.parametrize("fill", [3e38, 1e-300, 1.7e308])
def test_table_columns_stay_apart_for_any_exponent(tmp_path, capsys, fill):
    """Regression: a value with a three-digit exponent filled its 20-wide column, so 'value' and 'lower' ran
    together ('3.79473304379473e+393.79472309173737e+39') and the row could not be split into its columns."""
    A = np.full((40, 4), fill, dtype=np.float32 if fill == 3e38 else np.float64)
    np.save(tmp_path / "a.npy", A)
    assert main(["norm", str(tmp_path / "a.npy"), "--method", "svd"]) == 0
    head, row = capsys.readouterr().out.strip().splitlines()[-2:]
    assert len(row.split()) == len(head.split())  # one number per column
    lower, upper = (float(x) for x in row.split()[3:5])
    truth = fill * math.sqrt(40 * 4)  # rank one: ||A||_2 = ||A||_F, exact up to the float64 square root
    assert lower <= truth * (1 + 1e-15) and truth * (1 - 1e-15) <= upper


@pytest.mark.parametrize("name", ["a.npy", "a.mtx", "s.npz"])
def test_a_key_for_a_file_of_one_matrix_is_an_error(tmp_path, capsys, name):
    """Regression: ``--key`` was silently ignored for files that hold one matrix (a mistyped key in a script
    went unnoticed), while a one-array .npz refused an unknown key."""
    A = np.arange(12.0).reshape(4, 3)
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, A)
    elif name.endswith(".mtx"):
        scipy.io.mmwrite(path, sp.coo_matrix(A))
    else:
        sp.save_npz(path, sp.csr_matrix(A))
    assert main(["norm", str(path), "--key", "nonexistent"]) == 2
    assert "holds one matrix" in capsys.readouterr().err
    assert main(["norm", str(path), "--json", "--method", "svd" if name.endswith(".npy") else "lanczos"]) == 0


def test_dask_backend_on_a_sparse_file_says_what_to_do_on_the_command_line(tmp_path, capsys):
    """Regression: the message told a command-line user to wrap the input with dask.array.from_array."""
    sp.save_npz(tmp_path / "s.npz", sp.csr_matrix(np.eye(4)))
    assert main(["norm", str(tmp_path / "s.npz"), "--backend", "dask"]) == 2
    err = capsys.readouterr().err
    assert "leave out --backend" in err and "from_array" not in err


def test_backend_option(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.diag([4.0, 1.0]))
    for backend in ("numpy", "numba", "array_api"):
        assert main(["norm", str(tmp_path / "a.npy"), "--backend", backend, "--method", "power", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["backend"] == backend and out["lower"] <= 4.0 <= out["upper"]
    with pytest.raises(SystemExit):
        main(["norm", str(tmp_path / "a.npy"), "--backend", "nope"])


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert spectra.__version__ in out and DISTRIBUTION in out


@pytest.mark.parametrize(("argv0", "prog"), [("/usr/local/bin/spectra", "spectra"), (None, "python -m spectra")])
def test_usage_names_how_it_was_invoked(tmp_path, argv0, prog):
    """The installed script (a console-script wrapper, as pip writes it) says ``spectra``, not ``python -m``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if argv0 is None:
        cmd = [sys.executable, "-m", "spectra", "--help"]
    else:
        script = tmp_path / "spectra"
        script.write_text("import sys\nfrom spectra.__main__ import main\nsys.exit(main())\n")
        cmd = [sys.executable, str(script), "--help"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: {prog} ")


def test_sparse_svd_says_what_a_command_line_user_can_do(tmp_path, capsys):
    path = _write(tmp_path / "s", "mtx", np.diag([2.0, 1.0]))
    assert main(["norm", str(path), "--method", "svd"]) == 2
    err = capsys.readouterr().err
    assert "toarray" not in err and "--method lanczos" in err and err.count("\n") == 1


def test_text_file_named_npy_gets_a_clear_message(tmp_path, capsys):
    (tmp_path / "bad.npy").write_text("not a matrix\n1 2\n3 4\n")
    assert main(["norm", str(tmp_path / "bad.npy")]) == 2
    err = capsys.readouterr().err
    assert "not a NumPy .npy file" in err and "pickle" not in err


def test_stack_is_refused_before_running(tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.zeros((2, 3, 3)))
    assert main(["norm", str(tmp_path / "s.npy")]) == 2
    assert "one matrix" in capsys.readouterr().err


def test_missing_reader_names_the_extra(tmp_path, monkeypatch, capsys):
    path = _write(tmp_path / "w", "safetensors", np.eye(2))
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import safetensors now raises ImportError
    assert main(["norm", str(path)]) == 2
    assert 'pip install "spectra-linalg[safetensors]"' in capsys.readouterr().err


def test_plot_needs_matplotlib_and_says_so(tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "a.npy", np.eye(2))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert main(["norm", str(tmp_path / "a.npy"), "--plot", str(tmp_path / "p.png")]) == 2
    assert 'pip install "spectra-linalg[plot]"' in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()


def test_plot_into_a_missing_directory_fails_before_computing(tmp_path, capsys):
    # regression: the table was computed and printed, then a bare "[Errno 2] No such file or directory"
    np.save(tmp_path / "a.npy", np.eye(2))
    for target, says in ((tmp_path / "no" / "p.png", "does not exist"), (tmp_path, "is a directory")):
        assert main(["norm", str(tmp_path / "a.npy"), "--plot", str(target)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and f"--plot {target}: " in err and says in err
        assert "Errno" not in err
    assert main(["demo", "--plot", str(tmp_path / "no" / "p.png")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "does not exist" in err


def test_plot_of_the_interval(tmp_path, capsys):
    A = matrix_with_singular_values(spectrum("decaying", 60, seed=0), 80, 60, seed=0)
    path = _write(tmp_path / "a", "mtx", A)
    png = tmp_path / "conv.png"
    assert main(["norm", str(path), "--plot", str(png), "--json"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    steps = _cli_progress.Recorder()
    r = spectra.norm(sp.csr_array(A), seed=0, progress=steps)
    assert r.lower <= np.linalg.norm(A, 2) <= r.upper and steps[-1].final and len(steps) > 3


@pytest.fixture
def terminal(monkeypatch):
    """stderr counts as a terminal, and the bar shows at once."""
    monkeypatch.setattr(_cli_progress, "terminal", lambda stream=None: True)
    monkeypatch.setattr(_cli_progress.ProgressBar, "DELAY", 0.0)


def test_progress_bar_on_a_terminal(tmp_path, terminal, capsys):
    np.save(tmp_path / "a.npy", matrix_with_singular_values(spectrum("flat", 50, seed=0), 60, 50, seed=0))
    assert main(["norm", str(tmp_path / "a.npy"), "--method", "lanczos"]) == 0
    err = capsys.readouterr().err
    assert "certified digits" in err and "products" in err


def test_no_progress_bar_off_a_terminal(tmp_path, capsys):
    np.save(tmp_path / "a.npy", matrix_with_singular_values(spectrum("flat", 50, seed=0), 60, 50, seed=0))
    assert main(["norm", str(tmp_path / "a.npy"), "--method", "lanczos"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["norm", str(tmp_path / "a.npy"), "--method", "lanczos", "--progress"]) == 0
    assert "spectra lanczos: products=" in capsys.readouterr().err


def test_terminal_without_tqdm_gets_text_lines(monkeypatch, terminal):
    monkeypatch.setattr(_cli_progress.ProgressBar, "available", staticmethod(lambda: False))
    args = _cli._parser().parse_args(["norm", "x.npy"])
    shown = _cli._progress_for(args, "x", None)
    assert callable(shown)
    monkeypatch.setattr(_cli_progress, "terminal", lambda stream=None: False)
    assert _cli._progress_for(args, "x", None) is False  # no callback: the methods skip progress work


def test_demo_off_a_terminal_prints_text_lines_for_long_runs(monkeypatch, capsys):
    monkeypatch.setattr(_cli_progress, "terminal", lambda stream=None: False)
    args = _cli._parser().parse_args(["demo"])
    callback = _cli._progress_for(args, "power", None, always=True)
    step = dict(method="power", products=10, lower=1.0, upper=2.0, rtol=1e-6, done=0, total=1)
    callback(spectra.Progress(**step, elapsed=0.1))  # short runs stay silent
    assert capsys.readouterr().err == ""
    callback(spectra.Progress(**step, elapsed=1.5))
    assert capsys.readouterr().err.startswith("spectra power: products=    10 lower=1 upper=2 width=1.00e+00")


def test_demo_explains_the_table_and_shows_progress(monkeypatch, terminal, tmp_path, capsys):
    monkeypatch.setattr(_cli, "DEMO_SHAPE", (300, 150))
    png = tmp_path / "demo.png"
    assert main(["demo", "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    for method in ("svd", "lanczos", "randomized", "power"):
        assert re.search(rf"^{method}\s+(numpy|numba)\s", out, re.M)
    assert "How to read the table" in out and "conv." in out and "still valid" in out
    assert "conf." in out and "budget" in out
    # why each method ran where it ran (300 x 150 is below numba's threshold: every one on numpy, with a reason)
    assert "Why each backend (backend=auto):" in out
    assert re.search(r"^  randomized numpy  numpy input; auto moves only power and lanczos to numba", out, re.M)
    assert re.search(r"^  svd        numpy  numpy input; LAPACK's SVD$", out, re.M)
    assert "power" in captured.err and "certified digits" in captured.err
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_loader_registry_is_one_entry_per_format():
    names = [f.name for f in _loaders.FORMATS]
    assert names == ["npy", "npz", "mtx", "mat", "safetensors", "zarr"]
    suffixes = [s for f in _loaders.FORMATS for s in f.suffixes]
    assert len(suffixes) == len(set(suffixes))
    assert _loaders.find_format("X.NPY").name == "npy" and _loaders.find_format("d.zarr/").name == "zarr"
    with pytest.raises(ValueError, match="unknown file type"):
        _loaders.find_format("a.csv")


def test_mat_with_several_variables_and_cells(tmp_path, capsys):
    path = tmp_path / "m.mat"
    scipy.io.savemat(path, {"A": np.diag([4.0, 1.0]), "S": sp.csc_array(np.diag([7.0, 1.0]))})
    assert main(["norm", str(path)]) == 2
    assert "--key" in capsys.readouterr().err
    assert main(["norm", str(path), "--key", "S", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["upper"] >= 7.0
    cells = np.empty((1, 2), dtype=object)
    cells[0, 0], cells[0, 1] = np.eye(2), "text"
    scipy.io.savemat(tmp_path / "c.mat", {"C": cells})
    assert main(["norm", str(tmp_path / "c.mat")]) == 2
    assert "not a numeric matrix" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"not a matrix", b""])
@pytest.mark.parametrize("suffix", [".npy", ".npz", ".mtx", ".mat", ".safetensors", ".zarr", ".txt"])
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
    assert "no such file" in capsys.readouterr().err
    np.save(tmp_path / "obj.npy", np.array([[object()]], dtype=object), allow_pickle=True)
    assert main(["norm", str(tmp_path / "obj.npy")]) == 2
    assert "never" in capsys.readouterr().err
    np.savez(tmp_path / "obj.npz", A=np.array([[object()]], dtype=object))
    assert main(["norm", str(tmp_path / "obj.npz")]) == 2
    assert "never" in capsys.readouterr().err
    np.savez(tmp_path / "two.npz", a=np.eye(2), b=np.eye(3))
    assert main(["norm", str(tmp_path / "two.npz")]) == 2
    assert "holds 2 arrays (a, b); choose one with --key" in capsys.readouterr().err
    np.savez(tmp_path / "empty.npz")  # regression: "holds 0 arrays (none); choose one with --key"
    assert main(["norm", str(tmp_path / "empty.npz")]) == 2
    assert (
        capsys.readouterr().err
        == f"spectra: error: {tmp_path / 'empty.npz'} holds no arrays: there is no matrix to read\n"
    )
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


def test_table_row_keeps_columns_apart_for_long_calls():
    """Regression: a 121.8 s first call (Numba compiling) printed matvecs and time as ``53121767.1ms``."""
    from spectra._cli import _table_row

    row = dict(method="lanczos", backend="numba", value=3.0, lower=2.9, upper=3.1, relative_width=0.07)
    row.update(confidence=0.999, converged=True, matvecs=53)
    assert _table_row({**row, "seconds": 121.7671}, None).split()[-2:] == ["53", "121.8s"]
    assert _table_row({**row, "seconds": 0.0123}, None).split()[-2:] == ["53", "12.3ms"]
    assert _table_row({**row, "seconds": 9.9999}, None).split()[-2:] == ["53", "9999.9ms"]


def test_stack_and_vector_say_what_to_use_instead(tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.ones((5, 3, 3)))
    np.save(tmp_path / "v.npy", np.ones(4))
    assert main(["norm", str(tmp_path / "s.npy")]) == 2
    assert "for one norm per matrix of a stack call spectra.norm(A) in Python" in capsys.readouterr().err
    assert main(["norm", str(tmp_path / "v.npy")]) == 2
    assert "a vector's 2-norm is numpy.linalg.norm" in capsys.readouterr().err


def test_nan_entries_get_a_command_line_message(tmp_path, capsys):
    """Regression: the library's advice (pass check_finite=False) named no option of the command line."""
    A = np.ones((4, 4))
    A[1, 2] = np.nan
    np.save(tmp_path / "nan.npy", A)
    assert main(["norm", str(tmp_path / "nan.npy")]) == 2
    err = capsys.readouterr().err
    assert "nan.npy contains NaN or Inf entries: its spectral norm is undefined" in err and "check_finite" not in err


def test_every_norm_option_has_help(capsys):
    with pytest.raises(SystemExit):
        main(["norm", "--help"])
    out = capsys.readouterr().out
    assert "iteration budget (default: the method's own)" in out and "svd for small dense matrices" in out
    assert "(default 0.999)" in out


def test_a_first_call_says_how_much_of_its_time_compiled_kernels(tmp_path, monkeypatch, capsys):
    """Regression: the time column of a first numba call (121.8 s, almost all of it Numba compiling its kernels) was
    shown as the method's time with nothing to tell them apart. The seconds spent preparing kernels (what
    :attr:`spectra.Progress.compile_seconds` counts) now go in the JSON row, and a line under the table row says how
    much of the time they took when it is at least a second."""
    from spectra import _compile_notice

    path = tmp_path / "a.npy"
    np.save(path, np.diag([3.0, 2.0, 1.0]))
    real = _cli._api.norm

    def compiling(*args, **kwargs):  # stands for a first call: the compile hook records 2.5 s
        _compile_notice.record(2.5)
        return real(*args, **kwargs)

    assert main(["norm", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["compile_seconds"] == 0.0
    assert main(["norm", str(path)]) == 0
    assert "compiled" not in capsys.readouterr().out
    monkeypatch.setattr(_cli._api, "norm", compiling)
    assert main(["norm", str(path), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["compile_seconds"] == 2.5 and row["value"] == 3.0
    assert main(["norm", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[3] == (
        "  (svd on numpy: 2.5 s of that time compiled Numba's kernels or loaded them from the cache, once per "
        "machine; python -m spectra compile does it ahead)"
    )


def test_norm_zarr_array_inside_a_subgroup(tmp_path, capsys):
    """Regression: a zarr store whose arrays sit in sub-groups (``layers/w``) could not be read: without --key
    "holds no arrays", with ``--key layers/w`` "has no array 'layers/w' (it has none)". Arrays are now found at
    any depth, by their path in the store."""
    import zarr

    path = str(tmp_path / "nested.zarr")
    g = zarr.open_group(path, mode="w")
    g.create_group("layers").create_array("w", data=np.diag([7.0, 2.0, 1.0]))
    assert main(["norm", path, "--json", "--method", "lanczos"]) == 0  # the only array: no --key needed
    assert json.loads(capsys.readouterr().out)["lower"] <= 7.0
    g.create_array("top", data=np.diag([3.0, 1.0]))
    assert main(["norm", path, "--key", "layers/w", "--json", "--method", "lanczos"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["lower"] <= 7.0 <= row["upper"]
    assert main(["norm", path]) == 2
    assert "holds 2 arrays (layers/w, top); choose one with --key" in capsys.readouterr().err
