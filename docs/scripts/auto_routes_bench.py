"""Two routes of ``auto`` against their alternatives, same process, a warm-up call each, best and worst of 3.

``host-view``: PyTorch and JAX arrays on the CPU (a zero-copy NumPy view under ``auto``) against the same data as
a NumPy array and against the ``array_api`` backend (docs/performance.md, "Torch and JAX arrays on the CPU").
``tall``: tall-and-skinny matrices under the SVD against ``np.linalg.norm(A, 2)`` (docs/performance.md,
"Tall-and-skinny matrices: the SVD reads no entry statistics"). The asv twins are ``bench_peers.CpuTensorsAgainstNumPy``
and ``bench_peers.TallSkinnyAgainstNumPy``.

Usage: ``python docs/scripts/auto_routes_bench.py host-view`` or ``... tall``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import spectra


def spread(f, repeats: int = 3) -> str:
    f()  # warm-up (compilation, thread pools)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return f"{1e3 * min(times):.0f}-{1e3 * max(times):.0f} ms"


def host_view() -> None:
    import jax.numpy as jnp
    import torch

    for shape in [(3000, 3000), (5000, 32, 32)]:
        A = np.random.default_rng(0).standard_normal(shape)
        T = torch.from_numpy(A)
        J = jnp.asarray(A.astype(np.float32))  # JAX's default 32-bit mode
        cases = {
            "numpy": (A, "auto"),
            "torch auto (view)": (T, "auto"),
            "torch array_api": (T, "array_api"),
            "jax f32 auto (view)": (J, "auto"),
            "jax f32 array_api": (J, "array_api"),
        }
        print(
            shape, {name: spread(lambda X=X, b=b: spectra.norm(X, seed=0, backend=b)) for name, (X, b) in cases.items()}
        )


def tall() -> None:
    for shape in [(10**7, 2), (4 * 10**6, 5), (10**6, 10)]:
        A = np.random.default_rng(0).standard_normal(shape)
        cases = {"spectra": lambda A=A: spectra.norm(A), "np.linalg.norm": lambda A=A: np.linalg.norm(A, 2)}
        print(shape, spectra.norm(A).method, {name: spread(f) for name, f in cases.items()})


if __name__ == "__main__":
    {"host-view": host_view, "tall": tall}[sys.argv[1] if len(sys.argv) > 1 else "host-view"]()
