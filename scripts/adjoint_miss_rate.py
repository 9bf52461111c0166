"""Measure how often the LinearOperator adjoint test misses a wrong ``rmatvec`` (docs/design.md, "Hostile inputs").

Usage: ``python scripts/adjoint_miss_rate.py [seeds] [method] [family]``; family is ``perm`` (the transpose with its
output permuted, the family of tests/test_hostile_inputs.py), ``rank1`` (the adjoint plus a rank-one term of size
``||A||_2``) or ``sign`` (one output entry with the wrong sign). Each seed draws ``m, n`` in [3, 60) and a Gaussian
``A`` and runs ``spectra.norm(op, method=method, seed=seed, maxiter=2)``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.sparse.linalg import LinearOperator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's spectra, not an installed one

import spectra


def wrong_adjoint(rng: np.random.Generator, M: np.ndarray, family: str):
    """A ``rmatvec`` that is not ``M^T``, or ``None`` where the draw happens to be right."""
    m, n = M.shape
    if family == "perm":
        P = rng.permutation(n)
        return None if np.all(P == np.arange(n)) else (lambda y: (M.T @ y)[P])
    if family == "rank1":
        a, b = rng.standard_normal(m), rng.standard_normal(n)
        c = np.linalg.norm(M, 2) / (np.linalg.norm(a) * np.linalg.norm(b))
        return lambda y: M.T @ y + c * (a @ y) * b
    k = int(rng.integers(n))

    def flipped(y):
        z = M.T @ y
        z[k] = -z[k]
        return z

    return flipped


def main(seeds: int, method: str, family: str) -> None:
    caught = total = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        m, n = rng.integers(3, 60, size=2)
        M = rng.standard_normal((m, n))
        rmatvec = wrong_adjoint(rng, M, family)
        if rmatvec is None:
            continue
        op = LinearOperator((m, n), matvec=lambda x, M=M: M @ x, rmatvec=rmatvec, dtype=float)
        total += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                spectra.norm(op, method=method, seed=seed, maxiter=2)
        except ValueError as exc:
            if "not the adjoint" not in str(exc):
                raise
            caught += 1
    print(f"{spectra.__file__}: {method} {family}: missed {total - caught} of {total} ({(total - caught) / total:.2%})")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 3000, args[1] if len(args) > 1 else "lanczos", args[2] if len(args) > 2 else "perm")
