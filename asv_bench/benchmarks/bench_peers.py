"""Peers on the same problems, so their speed and accuracy sit beside spectra's on the dashboard.

A peer returns a number without an interval; ``track_rel_error`` records how wrong it is. ``time_`` is
skipped (NotImplementedError, as in SciPy's suite) when a peer's answer is wrong beyond its own tolerance.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg
import scipy.linalg.interpolative as sli
from scipy.sparse.linalg import svds

import spectra
from spectra.backends import available_backends

from .common import DENSE, SMALL, SPARSE, dense_problem, has, rel_error, sparse_problem

#: name -> (function, the relative accuracy it claims or is asked for)
PEERS = {
    "numpy.linalg.norm": (lambda A: np.linalg.norm(A, 2), 1e-12),
    "scipy.linalg.svdvals": (lambda A: scipy.linalg.svdvals(A)[0], 1e-12),
    "svds-arpack": (
        lambda A: svds(A, k=1, solver="arpack", tol=1e-6, return_singular_vectors=False, random_state=0)[0],
        1e-6,
    ),
    "svds-lobpcg": (
        lambda A: svds(A, k=1, solver="lobpcg", tol=1e-6, return_singular_vectors=False, random_state=0)[0],
        1e-6,
    ),
    "svds-propack": (
        lambda A: svds(A, k=1, solver="propack", tol=1e-6, return_singular_vectors=False, random_state=0)[0],
        1e-6,
    ),
    "interpolative.estimate_spectral_norm": (
        lambda A: sli.estimate_spectral_norm(
            __import__("scipy.sparse.linalg", fromlist=["aslinearoperator"]).aslinearoperator(A), its=20
        ),
        1e-2,
    ),
}
if has("sklearn"):
    from sklearn.utils.extmath import randomized_svd

    PEERS["sklearn.randomized_svd"] = (
        lambda A: randomized_svd(A, n_components=1, n_iter=7, random_state=0)[1][0],
        1e-3,
    )
if has("torch"):
    import torch

    PEERS["torch.linalg.matrix_norm"] = (lambda A: float(torch.linalg.matrix_norm(torch.from_numpy(A), ord=2)), 1e-12)
DENSE_ONLY = {"numpy.linalg.norm", "scipy.linalg.svdvals", "torch.linalg.matrix_norm"}


def _evaluate(f, A) -> float:
    """A peer's answer, or NaN when it raises (non-convergence is recorded, not hidden)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(f(A))
        except Exception:
            return float("nan")


class _Peers:
    params = (sorted(PEERS), list(DENSE))
    param_names = ["peer", "problem"]
    timeout = 600
    load = staticmethod(dense_problem)

    def setup(self, peer, problem):
        self.A, self.truth = self.load(problem)
        self.f, self.tol = PEERS[peer]
        self.value = _evaluate(self.f, self.A)


class DensePeers(_Peers):
    """Accuracy of every peer, whether or not it met its own tolerance."""

    def track_rel_error(self, peer, problem):
        return rel_error(self.value, self.truth)

    track_rel_error.unit = "relative error"


class TimeDensePeers(_Peers):
    """Time of the peers whose answer is within their own tolerance (the others are skipped, not timed)."""

    def setup(self, peer, problem):
        super().setup(peer, problem)
        if not rel_error(self.value, self.truth) <= 10 * self.tol:  # also skips NaN (the peer failed)
            raise NotImplementedError("answer outside the peer's own tolerance: see DensePeers.track_rel_error")

    def time_norm(self, peer, problem):
        self.f(self.A)


class SparsePeers(DensePeers):
    params = (sorted(set(PEERS) - DENSE_ONLY), list(SPARSE))
    load = staticmethod(sparse_problem)


class TimeSparsePeers(TimeDensePeers):
    params = SparsePeers.params
    load = staticmethod(sparse_problem)

    def peakmem_norm(self, peer, problem):
        self.f(self.A)


class LanczosAgainstArpack:
    """Certified Lanczos (``rtol=1e-6``) against ``svds(A, k=1, solver="arpack")`` (default tolerance) on
    the 3000 x 3000 Gaussian, in one process, so the ratio does not depend on how busy the machine was
    between benchmarks. ARPACK runs with its usual BLAS threads.

    ``track_time_ratio``: each solver best of 3 in a row, after a 0.5 s pause. ``track_time_ratio_alternating``:
    the calls alternate, so every spectra call starts right after ARPACK's multithreaded BLAS calls, whose
    idle OpenBLAS threads keep spinning on the cores for a while (measured: the numba backend's Lanczos takes
    0.37-0.44 s right after ARPACK against 0.27-0.34 s after a 0.2 s pause).
    """

    params = [b for b in ("numpy", "numba") if b in available_backends()]
    param_names = ["backend"]
    timeout = 600

    def setup(self, backend):
        self.A, _ = dense_problem("gaussian")
        self.spectra = lambda: spectra.norm(self.A, method="lanczos", backend=backend, rtol=1e-6)
        self.arpack = lambda: svds(self.A, k=1, solver="arpack", return_singular_vectors=False, random_state=0)
        self.spectra()  # JIT and thread-pool set-up outside the timings
        self.arpack()

    def track_time_ratio(self, backend):
        time.sleep(0.5)
        t_arpack = min(_seconds(self.arpack) for _ in range(3))
        time.sleep(0.5)
        t_spectra = min(_seconds(self.spectra) for _ in range(3))
        return t_spectra / t_arpack

    track_time_ratio.unit = "spectra time / ARPACK time"

    def track_time_ratio_alternating(self, backend):
        t_spectra, t_arpack = np.inf, np.inf
        for _ in range(3):
            t_arpack = min(t_arpack, _seconds(self.arpack))
            t_spectra = min(t_spectra, _seconds(self.spectra))
        return t_spectra / t_arpack

    track_time_ratio_alternating.unit = "spectra time / ARPACK time"


class Float32LanczosAgainstArpack:
    """Single precision: certified Lanczos (``rtol=1e-5``, raised to the float32 floor) on a 4000 x 4000
    float32 Gaussian against ``svds(k=1, solver="arpack")`` on the same float32 array, alternating in one
    process (docs/performance.md, "Dense Lanczos against ARPACK,
    one thread each, and single precision"). The kernels read ``A`` in float32; only the final
    certified product accumulates in float64. Accuracy sits beside the time: the certified relative width and
    ARPACK's relative distance from the certified interval's midpoint (float64 truth is not computed at
    this size)."""

    params = [b for b in ("numpy", "numba") if b in available_backends()]
    param_names = ["backend"]
    timeout = 600

    def setup(self, backend):
        n = 400 if SMALL else 4000
        self.A = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
        self.spectra = lambda: spectra.norm(self.A, method="lanczos", backend=backend, rtol=1e-5)
        self.arpack = lambda: svds(self.A, k=1, solver="arpack", return_singular_vectors=False, random_state=0)[0]
        self.result = self.spectra()  # JIT and thread-pool set-up outside the timings
        self.arpack_value = float(self.arpack())

    def track_time_ratio_alternating(self, backend):
        t_spectra, t_arpack = [], []
        for _ in range(5):
            time.sleep(0.3)
            t_arpack.append(_seconds(self.arpack))
            time.sleep(0.3)
            t_spectra.append(_seconds(self.spectra))
        return float(np.median(np.array(t_spectra) / np.array(t_arpack)))

    track_time_ratio_alternating.unit = "spectra time / ARPACK time (median of 5 pairs)"

    def track_certified_width(self, backend):
        return float(self.result.relative_width)

    track_certified_width.unit = "(upper - lower) / lower"

    def track_arpack_distance(self, backend):
        mid = 0.5 * (self.result.lower + self.result.upper)
        return abs(self.arpack_value - mid) / mid

    track_arpack_distance.unit = "relative distance from the certified midpoint"


def _seconds(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def _best_alternating(calls: dict, repeats: int = 3) -> dict:
    """Best time of each call, the calls alternating ``repeats`` times (after one warm-up call each)."""
    for f in calls.values():
        f()
    best = dict.fromkeys(calls, np.inf)
    for _ in range(repeats):
        for name, f in calls.items():
            best[name] = min(best[name], _seconds(f))
    return best


class CpuTensorsAgainstNumPy:
    """PyTorch and JAX arrays on the CPU under ``auto``, read through a zero-copy NumPy view
    (``spectra/_host_view.py``), against the same data as a NumPy array (ratio about 1) and against the generic
    ``array_api`` backend they ran on before (docs/performance.md, "Torch and JAX arrays on the CPU": 0.23 for
    torch on 3000², 0.08 for JAX float32). JAX in its default 32-bit mode (float32)."""

    params = ([lib for lib in ("torch", "jax") if has(lib)], ["matrix", "stack"])
    param_names = ["library", "input"]
    timeout = 600

    def setup(self, library, kind):
        shapes = {"matrix": (3000, 3000), "stack": (5000, 32, 32)}
        if SMALL:
            shapes = {"matrix": (200, 150), "stack": (50, 8, 8)}
        A = np.random.default_rng(0).standard_normal(shapes[kind])
        if library == "torch":
            import torch

            X = torch.from_numpy(A)
        else:
            import jax.numpy as jnp

            X = jnp.asarray(A.astype(np.float32))
            A = np.asarray(X)
        calls = {
            "view": lambda: spectra.norm(X, seed=0),
            "numpy": lambda: spectra.norm(A, seed=0),
            "array_api": lambda: spectra.norm(X, seed=0, backend="array_api"),
        }
        self.best = _best_alternating(calls)

    def track_time_over_numpy(self, library, kind):
        return self.best["view"] / self.best["numpy"]

    track_time_over_numpy.unit = "time on the array / time on the NumPy array"

    def track_time_over_array_api(self, library, kind):
        return self.best["view"] / self.best["array_api"]

    track_time_over_array_api.unit = "time under auto / time on the array_api backend"


class TallSkinnyAgainstNumPy:
    """Tall-and-skinny dense matrices under ``auto`` (the SVD, which reads ``max |a_ij|`` only, not the entry
    statistics of the deterministic caps) against ``np.linalg.norm(A, 2)`` (docs/performance.md,
    "Tall-and-skinny matrices": 1.0-1.3 after, 2-4 before)."""

    params = ["10000000x2", "4000000x5", "1000000x10"]
    param_names = ["shape"]
    timeout = 600

    def setup(self, shape):
        m, n = (int(s) for s in shape.split("x"))
        A = np.random.default_rng(0).standard_normal((m // 100 if SMALL else m, n))
        self.best = _best_alternating({"spectra": lambda: spectra.norm(A), "numpy": lambda: np.linalg.norm(A, 2)})
        self.r, self.truth = spectra.norm(A), float(np.linalg.norm(A, 2))

    def track_time_ratio(self, shape):
        return self.best["spectra"] / self.best["numpy"]

    track_time_ratio.unit = "spectra time / np.linalg.norm time"

    def track_rel_error(self, shape):
        return rel_error(self.r.value, self.truth)

    track_rel_error.unit = "relative error"
