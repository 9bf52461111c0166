"""The trade-off plot script reads an asv results directory and writes one figure per problem."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("plot_tradeoffs", ROOT / "asv_bench" / "plot_tradeoffs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_load_and_plot(tmp_path):
    machine = tmp_path / "results" / "box"
    machine.mkdir(parents=True)
    (machine / "machine.json").write_text("{}")
    params = [["'lanczos'", "'power'"], ["'numpy'"], ["'gaussian'"], ["'float64'"]]
    cols = ["result", "params"]
    data = {
        "result_columns": cols,
        "results": {
            "bench_norm.DenseNorm.time_norm": [[0.5, 2.0], params],
            "bench_norm.DenseNorm.track_rel_error": [[1e-15, 1e-5], params],
            "bench_norm.DenseNorm.track_certified_width": [[1e-7, 0.1], params],
            "bench_norm.DenseNorm.track_matvecs": [[179, 2001], params],
            "bench_peers.TimeDensePeers.time_norm": [[0.7], [["'svds-arpack'"], ["'gaussian'"]]],
            "bench_peers.DensePeers.track_rel_error": [[1e-14], [["'svds-arpack'"], ["'gaussian'"]]],
        },
    }
    (machine / "abc-existing.json").write_text(json.dumps(data))
    mod = _script()
    res = mod.load(tmp_path / "results")
    assert res["bench_norm.DenseNorm.track_matvecs"][("power", "numpy", "gaussian", "float64")] == 2001
    written = mod.plot(res, tmp_path / "out")
    assert [p.name for p in written] == ["tradeoff_gaussian.png"]
    assert written[0].stat().st_size > 10_000
