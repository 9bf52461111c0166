"""PyTorch and JAX CPU arrays: the zero-copy NumPy view (``auto``) against the ``array_api`` backend.

Same process, a warm-up call each, then the best and worst of 3 (docs/performance.md, "Torch and JAX arrays on
the CPU"). Usage: ``python docs/scripts/host_view_bench.py``.
"""

from __future__ import annotations

import time

import jax.numpy as jnp
import numpy as np
import torch

import spectra


def spread(f, repeats: int = 3) -> str:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return f"{1e3 * min(times):.0f}-{1e3 * max(times):.0f} ms"


def main() -> None:
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
        for X, backend in cases.values():
            spectra.norm(X, seed=0, backend=backend)  # warm-up (compilation)
        out = {
            name: spread(lambda X=X, b=backend: spectra.norm(X, seed=0, backend=b))
            for name, (X, backend) in cases.items()
        }
        print(shape, out)


if __name__ == "__main__":
    main()
