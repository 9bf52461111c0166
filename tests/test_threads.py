"""BLAS thread policy of the NumPy backend: small products run on one thread, large ones keep BLAS's own."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator
from threadpoolctl import threadpool_info

import spectra
from spectra.backends import _threads
from spectra.backends.numpy import BLAS_ONE_THREAD_BELOW, NumPyBackend


def _blas_threads() -> int:
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


def _watching_operator(A, seen):
    def matvec(x):
        seen.append(_blas_threads())
        return A @ x

    return LinearOperator(A.shape, matvec=matvec, rmatvec=lambda y: A.T @ y, dtype=A.dtype)


def test_small_operator_runs_on_one_blas_thread():
    """The regression: a LinearOperator power iteration ran with every BLAS thread on tiny products."""
    seen = []
    A = np.random.default_rng(0).standard_normal((300, 200))
    r = spectra.norm(_watching_operator(A, seen), method="power", seed=0, maxiter=5)
    assert seen and set(seen) == {1}
    assert r.lower <= np.linalg.norm(A, 2) <= r.upper * (1 + 1e-14)


def test_threads_restored_after_the_call():
    before = _blas_threads()
    spectra.norm(np.ones((50, 40)), method="lanczos", seed=0)
    assert _blas_threads() == before


@pytest.mark.parametrize(
    ("A", "one"),
    [
        (np.zeros((10, 10)), False),
        (np.zeros((64, 63)), False),
        (np.zeros((64, 64)), True),
        (sp.random_array((10_000, 10_000), density=1e-3, rng=0, format="csr"), True),
        (np.zeros((1, BLAS_ONE_THREAD_BELOW)), False),
    ],
    ids=["tiny-dense", "below-4096", "small-dense", "sparse-100k-nonzeros", "large-dense"],
)
def test_context_follows_the_size(A, one):
    """One BLAS thread from 4096 entries (BLAS_UNTOUCHED_BELOW: below it OpenBLAS stays on one thread by
    itself, and the limit's cost is a fifth of a 10 x 10 norm) up to BLAS_ONE_THREAD_BELOW."""
    if _threads.blas_threads() == 1:
        pytest.skip("BLAS runs one thread here: nothing to tell apart")
    with NumPyBackend().context(A):
        assert (_blas_threads() == 1) == one
