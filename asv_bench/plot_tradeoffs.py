"""Turn an asv results directory into speed/accuracy trade-off plots, one figure per problem.

    python asv_bench/plot_tradeoffs.py [asv_bench/results] [-o docs/_static/tradeoffs]

Left panel: time against relative error, for spectra's methods x backends and for the peers measured in
the same run. Right panel: certified width against products with A (spectra only: peers report no
interval). Needs matplotlib (``pip install "spectra-linalg[bench]"``).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from pathlib import Path


def load(results_dir: Path) -> dict[str, dict[tuple, float]]:
    """``{benchmark name: {parameter tuple: value}}`` from the newest result file of every machine."""
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for machine in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        files = sorted((f for f in machine.glob("*.json") if f.name != "machine.json"), key=lambda f: f.stat().st_mtime)
        if not files:
            continue
        data = json.loads(files[-1].read_text())
        columns = data.get("result_columns", ["result", "params"])
        for name, row in data["results"].items():
            record = dict(zip(columns, row, strict=False))
            values, params = record.get("result"), record.get("params") or []
            if values is None:
                continue
            for combo, value in zip(itertools.product(*params), values, strict=True):
                if value is not None:
                    out[name][tuple(p.strip("'") for p in combo)] = float(value)
    return out


def plot(results: dict, outdir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = results.get("bench_norm.DenseNorm.time_norm", {})
    errors = results.get("bench_norm.DenseNorm.track_rel_error", {})
    widths = results.get("bench_norm.DenseNorm.track_certified_width", {})
    products = results.get("bench_norm.DenseNorm.track_matvecs", {})
    peer_times = results.get("bench_peers.TimeDensePeers.time_norm", {})
    peer_errors = results.get("bench_peers.DensePeers.track_rel_error", {})
    problems = sorted({k[2] for k in errors})
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    floor = 1e-17  # exact answers are drawn on the floor of the log axis
    for problem in problems:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for key, err in sorted(errors.items()):
            method, backend, prob, dtype = key
            if prob != problem or dtype != "float64":
                continue
            label = f"spectra {method} ({backend})"
            if key in times:
                ax1.scatter(times[key], max(err, floor), marker="o", label=label)
            if key in widths and key in products:
                ax2.scatter(products[key], max(widths[key], floor), marker="o", label=label)
        for (peer, prob), err in sorted(peer_errors.items()):
            if prob == problem and (peer, prob) in peer_times:
                ax1.scatter(peer_times[(peer, prob)], max(err, floor), marker="x", label=peer)
        ax1.set(
            xscale="log",
            yscale="log",
            xlabel="time [s]",
            ylabel="relative error of the value",
            title=f"{problem}: speed vs accuracy",
        )
        ax2.set(
            xscale="log",
            yscale="log",
            xlabel="products with A or A^H",
            ylabel="(upper - lower) / lower",
            title=f"{problem}: certified width vs cost",
        )
        ax1.legend(fontsize=7)
        ax2.legend(fontsize=7)
        fig.tight_layout()
        path = outdir / f"tradeoff_{problem}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main(argv=None) -> int:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default=here / "results", type=Path)
    parser.add_argument("-o", "--outdir", default=here.parent / "docs" / "_static" / "tradeoffs", type=Path)
    args = parser.parse_args(argv)
    for path in plot(load(args.results), args.outdir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
