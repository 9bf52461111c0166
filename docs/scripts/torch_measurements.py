"""The numbers quoted in docs/torch.md: spectra.torch.spectral_norm against PyTorch's, measured in one run.

Run from the repository root: ``python docs/scripts/torch_measurements.py [--timing-only] [--threads N]``.
Timings are the median of ``REPEATS`` blocks (and their min-max spread), PyTorch and spectra interleaved so that
machine noise hits both; each block is timed by the wall clock and by the process CPU time (the latter, with one
thread, is what other jobs on a loaded machine disturb least).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "asv_bench"))

from benchmarks.bench_torch import gram_iteration_conv_bound, make_layer, training_run

REPEATS = 5


def block_time(layer, x, opt=None, n=5) -> tuple[float, float]:
    """(wall, CPU) seconds per forward+backward (+ optimiser step), averaged over a block of ``n``."""
    t, c = time.perf_counter(), time.process_time()
    for _ in range(n):
        if opt is not None:
            opt.zero_grad()
        layer(x).sum().backward()
        if opt is not None:
            opt.step()
    return (time.perf_counter() - t) / n, (time.process_time() - c) / n


def summary(kind, mode, times, clock) -> str:
    i = 0 if clock == "wall" else 1
    t = {k: [b[i] for b in v] for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in t.items()}
    ratio = [s / p for s, p in zip(t["spectra"], t["pytorch"], strict=True)]
    return (
        f"{kind} {mode} ({clock}): none {med['none'] * 1e3:.1f} ms, pytorch {med['pytorch'] * 1e3:.1f} ms "
        f"[{min(t['pytorch']) * 1e3:.1f}, {max(t['pytorch']) * 1e3:.1f}], spectra {med['spectra'] * 1e3:.1f} ms "
        f"[{min(t['spectra']) * 1e3:.1f}, {max(t['spectra']) * 1e3:.1f}]; spectra/pytorch per block "
        f"median {statistics.median(ratio):.2f} (min {min(ratio):.2f}, max {max(ratio):.2f})"
    )


def main() -> None:
    import argparse
    import os

    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    for impl in () if args.timing_only else ("pytorch", "spectra"):
        r = training_run(impl)
        n = r["norms"]
        print(
            f"training {impl:8s}: fraction ||W/sigma|| > 1 = {np.mean(n > 1):.4f}, tightness mean = {np.mean(n):.4f},"
            f" min = {n.min():.4f}, worst = {n.max():.5f}, refreshes = {r['refreshes']}, {r['seconds']:.1f} s"
        )
    for kind in ("linear1024", "conv64"):
        setups = {impl: make_layer(kind, impl) for impl in ("none", "pytorch", "spectra")}
        for mode in ("forward+backward", "sgd step"):
            times = {impl: [] for impl in setups}
            opts = {impl: torch.optim.SGD(setups[impl][0].parameters(), lr=1e-4) for impl in setups}
            for _ in range(REPEATS):
                for impl, (layer, x) in setups.items():
                    times[impl].append(block_time(layer, x, opts[impl] if mode == "sgd step" else None))
            print(summary(kind, mode, times, "wall"))
            print(summary(kind, mode, times, "cpu"))
        p = setups["spectra"][0].parametrizations.weight[0]
        print(f"  {kind}: spectra refreshes during the timing: {p.refreshes}, confidence {p.confidence}")
    import spectra

    torch.manual_seed(0)
    w = torch.nn.Conv2d(64, 64, 3, padding=1).weight.detach().double()
    t = time.perf_counter()
    op = spectra.conv_norm(w, (32, 32), padding=1, seed=0, rtol=1e-6)
    t_op = time.perf_counter() - t
    t = time.perf_counter()
    emb = spectra.conv_norm(w, (32, 32), padding=1, method="fft")
    t_emb = time.perf_counter() - t
    kernel = float(torch.linalg.matrix_norm(w.reshape(64, -1), 2))
    t = time.perf_counter()
    gram = gram_iteration_conv_bound(w, (34, 34))
    t_gram = time.perf_counter() - t
    print(
        f"Conv2d(64,64,3,padding=1) 32x32: operator [{op.lower:.6f}, {op.upper:.6f}] ({op.method}, {t_op:.1f} s), "
        f"embedding bound {emb.upper:.6f} ({t_emb:.1f} s), reshaped kernel {kernel:.6f}, "
        f"operator/kernel {op.lower / kernel:.3f}; lip4conv Gram iteration (6 steps, 34x34) {gram:.6f} "
        f"({t_gram:.2f} s); load average {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
