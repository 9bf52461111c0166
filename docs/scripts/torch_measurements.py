"""The numbers quoted in docs/torch.md: spectra.torch.spectral_norm against PyTorch's, measured in one run.

Run from the repository root: ``python docs/scripts/torch_measurements.py``. Timings are the median of
``REPEATS`` blocks (and their min-max spread), PyTorch and spectra interleaved so that machine noise hits both.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "asv_bench"))

from benchmarks.bench_torch import make_layer, training_run

REPEATS = 5


def block_time(layer, x, opt=None, n=5) -> float:
    t = time.perf_counter()
    for _ in range(n):
        if opt is not None:
            opt.zero_grad()
        layer(x).sum().backward()
        if opt is not None:
            opt.step()
    return (time.perf_counter() - t) / n


def main() -> None:
    import torch

    for impl in ("pytorch", "spectra"):
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
            med = {k: statistics.median(v) for k, v in times.items()}
            spread = {k: (min(v), max(v)) for k, v in times.items()}
            ratio = [s / p for s, p in zip(times["spectra"], times["pytorch"], strict=True)]
            print(
                f"{kind} {mode}: none {med['none'] * 1e3:.1f} ms, pytorch {med['pytorch'] * 1e3:.1f} ms "
                f"[{spread['pytorch'][0] * 1e3:.1f}, {spread['pytorch'][1] * 1e3:.1f}], "
                f"spectra {med['spectra'] * 1e3:.1f} ms "
                f"[{spread['spectra'][0] * 1e3:.1f}, {spread['spectra'][1] * 1e3:.1f}]; spectra/pytorch per block "
                f"median {statistics.median(ratio):.2f} (min {min(ratio):.2f}, max {max(ratio):.2f})"
            )
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
    print(
        f"Conv2d(64,64,3,padding=1) 32x32: operator [{op.lower:.6f}, {op.upper:.6f}] ({op.method}, {t_op:.1f} s), "
        f"embedding bound {emb.upper:.6f} ({t_emb:.1f} s), reshaped kernel {kernel:.6f}, "
        f"operator/kernel {op.lower / kernel:.3f}"
    )


if __name__ == "__main__":
    main()
