"""The asv suite stays runnable, so a broken benchmark fails CI.

`asv check` discovers every benchmark; a quick `asv run` executes a cheap subset end to end; and every
benchmark class runs in-process once, on its first parameter combination, with shrunken problems
(SPECTRA_BENCH_SMALL=1).
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "asv_bench"


def _asv(*args, timeout=600):
    """asv in BENCH with a configuration whose results go to a temporary directory: the committed results of
    the published run (asv_bench/results) are never touched by the tests."""
    import json
    import tempfile

    from asv.util import load_json

    asv = shutil.which("asv")
    assert asv is not None, "asv is part of the test extra: pip install -e '.[test]'"
    env = dict(os.environ, SPECTRA_BENCH_SMALL="1")
    with tempfile.TemporaryDirectory(prefix="asv-test-") as tmp:
        conf = load_json(str(BENCH / "asv.conf.json"), js_comments=True)
        conf.update(
            repo=str(BENCH.parent),
            benchmark_dir=str(BENCH / "benchmarks"),
            env_dir=str(BENCH / "env"),
            results_dir=str(Path(tmp) / "results"),
            html_dir=str(Path(tmp) / "html"),
        )
        config = Path(tmp) / "asv.conf.json"
        config.write_text(json.dumps(conf))
        subprocess.run([asv, "machine", "--yes"], cwd=BENCH, capture_output=True, env=env, timeout=120)
        return subprocess.run(
            [asv, *args, "--config", str(config)], cwd=BENCH, capture_output=True, text=True, env=env, timeout=timeout
        )


def test_asv_check():
    proc = _asv("check", "--python=same")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No problems found" in proc.stdout


def test_asv_quick_run():
    """One class end to end through asv's runner: a ``time_`` and a ``track_`` benchmark, each in a spawned
    process, both reported. (``bench_norm.Coverage.track`` ran here too: its six parameter combinations, 600 norm
    calls, took half of this test's time. Its method runs in-process below, like every class's, and
    ``asv check`` validates every class's parameters.)"""
    proc = _asv(
        "run",
        "--python=same",
        "--quick",
        "--dry-run",
        "--show-stderr",
        "-b",
        r"bench_primitives.ReadBandwidth",
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "failed" not in out.lower(), out
    assert "ReadBandwidth.time_read" in out and "track_gbytes_per_second" in out, out


def _benchmark_classes():
    os.environ["SPECTRA_BENCH_SMALL"] = "1"
    sys.path.insert(0, str(BENCH))
    try:
        for name in sorted(p.stem for p in (BENCH / "benchmarks").glob("bench_*.py")):
            module = importlib.import_module(f"benchmarks.{name}")
            for cls_name, cls in inspect.getmembers(module, inspect.isclass):
                if (
                    cls.__module__ == module.__name__
                    and not cls_name.startswith("_")
                    and any(m.startswith(("time_", "track_", "peakmem_")) for m in dir(cls))
                ):
                    # the GPU benchmarks need a device: they run with the gpu suite (pytest -m gpu)
                    marks = (pytest.mark.gpu,) if name == "bench_gpu" else ()
                    yield pytest.param(cls, id=f"{name}.{cls_name}", marks=marks)
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("cls", list(_benchmark_classes()))
def test_benchmark_class_runs(cls, monkeypatch):
    monkeypatch.setenv("SPECTRA_BENCH_SMALL", "1")
    params = getattr(cls, "params", None)
    if params is None:
        args = ()
    elif params and isinstance(params[0], list):
        args = tuple(p[0] for p in params)
    else:
        args = (params[0],)
    bench = cls()
    if cls.__name__.startswith("Time") and "Peers" in cls.__name__:
        args = ("numpy.linalg.norm", *args[1:]) if "Dense" in cls.__name__ else ("svds-arpack", *args[1:])
    if hasattr(bench, "setup_cache"):  # asv passes the cached value first; compute it on the smallest grid
        cls_params = cls.params
        cls.params = tuple([p[0]] for p in cls_params)
        try:
            args = (bench.setup_cache(), *args)
        finally:
            cls.params = cls_params
    if hasattr(bench, "setup"):
        bench.setup(*args)
    try:
        for name in dir(bench):
            if name.startswith(("time_", "track_", "peakmem_")):
                result = getattr(bench, name)(*args)
                if name.startswith("track_"):
                    assert isinstance(result, (int, float))
    finally:
        if hasattr(bench, "teardown"):
            bench.teardown(*args)


def test_reference_products_run_with_their_own_blas_threads(monkeypatch):
    """Regression: the NumPy reference of the Gram-pass benchmarks was timed inside the numba backend's
    context, with BLAS limited to one thread, which inflated the reported speedups (3.3x instead of 1.7x)."""
    pytest.importorskip("numba")
    from threadpoolctl import threadpool_info

    def blas_threads():
        return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    baseline = blas_threads()
    if baseline == 1:
        pytest.skip("BLAS runs one thread here: nothing to tell apart")
    monkeypatch.setenv("SPECTRA_BENCH_SMALL", "1")
    monkeypatch.syspath_prepend(str(BENCH))
    bench_primitives = importlib.import_module("benchmarks.bench_primitives")
    bench = bench_primitives.DenseGramPass()
    bench.setup("numba", next(iter(bench_primitives.SHAPES)), "float64")
    try:
        seen = []
        bench._reference_best(lambda: seen.append(blas_threads()), repeat=1)
        assert seen == [baseline]
        assert blas_threads() == 1  # spectra's side is still timed inside the context
    finally:
        bench.teardown()


def test_gram_iteration_conv_peer_bounds_the_circulant(monkeypatch):
    """The lip4conv peer of bench_torch: above the exact circulant norm (dense oracle), converging to it."""
    import numpy as np
    import torch

    from spectra._testing import conv_layer_matrix

    monkeypatch.syspath_prepend(str(BENCH))
    bench_torch = importlib.import_module("benchmarks.bench_torch")
    w = torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    M = conv_layer_matrix(w.double().numpy(), (6, 5), (1, 1), ((1, 1), (1, 1)), (1, 1), 1, "circular")
    truth = np.linalg.norm(M, 2)
    bounds = [bench_torch.gram_iteration_conv_bound(w, (6, 5), t) for t in (1, 3, 6, 10)]
    assert all(b >= truth * (1 - 1e-12) for b in bounds)
    assert bounds[0] > bounds[1] > bounds[2] and bounds[-1] <= truth * (1 + 1e-9)
