"""Shared problems for the benchmarks: matrices with known norms, cached on disk, and peer availability.

Every dense problem's exact norm is known: prescribed-spectrum families come from
``spectra._testing`` (``||A||_2 = 1`` by construction); the Gaussian matrix's norm is computed once by
LAPACK in float64 and cached with it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from spectra._testing import matrix_with_singular_values, spectrum

CACHE = Path(tempfile.gettempdir()) / "spectra-bench-cache"

#: dense problem families: name -> (m, n); SPECTRA_BENCH_SMALL=1 shrinks every problem for smoke runs
SMALL = os.environ.get("SPECTRA_BENCH_SMALL") == "1"
DENSE = {
    "gaussian": (3000, 3000),
    "decaying": (2000, 1000),
    "flat": (2000, 1000),
    "clustered": (2000, 1000),
    "lowrank_noise": (2000, 1000),
}
#: sparse problem families: name -> size
SPARSE = {"graph": 200_000, "fem2d": 100}
if SMALL:
    DENSE = {k: (m // 10, n // 10) for k, (m, n) in DENSE.items()}
    SPARSE = {"graph": 3000, "fem2d": 20}


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cached(key: str, make):
    CACHE.mkdir(parents=True, exist_ok=True)
    key = f"{key}-v2"
    path = CACHE / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".npz")
    if path.exists():
        with np.load(path, allow_pickle=False) as f:
            return f["A"], float(f["norm"])
    A, norm = make()
    np.savez(path, A=A, norm=norm)
    return A, norm


def dense_problem(family: str, dtype="float64"):
    """``(A, ||A||_2)`` for a dense problem family (float64 truth, also for float32 storage)."""
    m, n = DENSE[family]

    def make():
        if family == "gaussian":
            A = np.random.default_rng(0).standard_normal((m, n))
            return A, float(np.linalg.svd(A, compute_uv=False)[0])
        s = spectrum(family, min(m, n), seed=1)
        return matrix_with_singular_values(s, m, n, seed=2), float(s.max())

    if dtype != "float64":  # the stored single-precision matrix has its own (float64-computed) norm

        def make_single():
            A64, _ = dense_problem(family)
            A = A64.astype(dtype)
            return A, float(np.linalg.svd(A.astype(np.float64), compute_uv=False)[0])

        A, norm = _cached(f"dense-{family}-{m}-{n}-{dtype}", make_single)
        return np.ascontiguousarray(A), norm
    A, norm = _cached(f"dense-{family}-{m}-{n}", make)
    return np.ascontiguousarray(A), norm


def sparse_problem(family: str):
    """``(A, ||A||_2)`` for a sparse family; the norm is known in closed form."""
    if family == "graph":
        # 200k x 200k with ~1.8M nonzeros and exactly known singular values: Q1 diag(s) P Q2 with
        # block-diagonal random orthogonal Q1, Q2 (3 x 3 blocks) and a random permutation P
        n = SPARSE[family]
        rng = np.random.default_rng(3)
        s = 0.9 * np.sort(rng.uniform(0.0, 1.0, n))[::-1]
        s[0] = 1.0  # a dominant singular value, as in a graph with a leading eigenvalue
        D = sp.csr_array((s, (np.arange(n), rng.permutation(n))), shape=(n, n))
        A = (_block_orthogonal(n, rng) @ D @ _block_orthogonal(n, rng)).tocsr()
        return A, 1.0
    k = SPARSE[family]  # 2-D Poisson (5-point Laplacian) on a k x k grid: exact eigenvalues
    T = sp.diags_array([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)], offsets=[-1, 0, 1])
    A = (sp.kron(T, sp.eye_array(k)) + sp.kron(sp.eye_array(k), T)).tocsr()
    lam = 2 - 2 * np.cos(np.pi * k / (k + 1))
    return A, float(2 * lam)


def _block_orthogonal(n: int, rng, b: int = 3):
    nb = n // b
    q, r = np.linalg.qr(rng.standard_normal((nb, b, b)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    base = (np.arange(nb) * b)[:, None, None]
    rows = np.broadcast_to(base + np.arange(b)[None, :, None], q.shape)
    cols = np.broadcast_to(base + np.arange(b)[None, None, :], q.shape)
    rest = np.arange(nb * b, n)  # identity on the remainder
    return sp.csr_array(
        (np.r_[q.ravel(), np.ones(rest.size)], (np.r_[rows.ravel(), rest], np.r_[cols.ravel(), rest])),
        shape=(n, n),
    )


def rel_error(value: float, truth: float) -> float:
    return abs(float(value) - truth) / truth
