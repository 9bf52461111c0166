"""spectra.norm over method x backend x problem: time, accuracy, certified width, cost, coverage."""

from __future__ import annotations

import itertools
import warnings

import numpy as np

import spectra
from spectra.backends import available_backends

from .common import DENSE, SMALL, SPARSE, dense_problem, rel_error, sparse_problem

METHODS = ["svd", "power", "lanczos", "randomized"]
BACKENDS = [b for b in ("numpy", "numba") if b in available_backends()]


def _run(A, method, backend, rtol=1e-6, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spectra.ConvergenceWarning)
        return spectra.norm(A, method=method, backend=backend, rtol=rtol, seed=seed)


class DenseNorm:
    """Dense problems with known norm. Every call's outcome is computed once per run in ``setup_cache``;
    the ``track_`` benchmarks read it, ``time_norm`` times the call again."""

    params = (METHODS, BACKENDS, list(DENSE), ["float64", "float32"])
    param_names = ["method", "backend", "problem", "dtype"]
    timeout = 900

    def setup_cache(self):
        outcomes = {}
        for method, backend, problem, dtype in itertools.product(*self.params):
            A, truth = dense_problem(problem, dtype)
            r = _run(A, method, backend)
            slack = 8 * max(A.shape) * np.finfo(np.float64).eps
            outcomes[(method, backend, problem, dtype)] = dict(
                rel_error=rel_error(r.value, truth),
                width=(r.upper - r.lower) / r.lower,
                matvecs=r.matvecs,
                holds=int(r.lower <= truth * (1 + slack) and truth <= r.upper * (1 + slack)),
            )
        return outcomes

    def setup(self, outcomes, method, backend, problem, dtype):
        self.outcome = outcomes[(method, backend, problem, dtype)]
        self.A = None

    def time_norm(self, outcomes, method, backend, problem, dtype):
        if self.A is None:
            self.A, _ = dense_problem(problem, dtype)
        _run(self.A, method, backend)

    def track_rel_error(self, outcomes, method, backend, problem, dtype):
        return self.outcome["rel_error"]

    track_rel_error.unit = "relative error"

    def track_certified_width(self, outcomes, method, backend, problem, dtype):
        return self.outcome["width"]

    track_certified_width.unit = "(upper - lower) / lower"

    def track_matvecs(self, outcomes, method, backend, problem, dtype):
        return self.outcome["matvecs"]

    track_matvecs.unit = "products with A or A^H"

    def track_interval_holds(self, outcomes, method, backend, problem, dtype):
        return self.outcome["holds"]

    track_interval_holds.unit = "1 if lower <= ||A|| <= upper"


class SparseNorm:
    """Large sparse problems at ``rtol=1e-4``; outcomes computed once per run in ``setup_cache``.

    ``randomized`` gets 20 passes: on these non-decaying spectra it cannot certify ``1e-4`` sooner than
    its Krylov space is exhausted (docs/performance.md), and the budget keeps the suite's run time bounded.
    """

    params = (["power", "lanczos", "randomized"], BACKENDS, list(SPARSE))
    param_names = ["method", "backend", "problem"]
    timeout = 1800

    @staticmethod
    def _call(A, method, backend):
        maxiter = 20 if method == "randomized" else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", spectra.ConvergenceWarning)
            return spectra.norm(A, method=method, backend=backend, rtol=1e-4, seed=0, maxiter=maxiter)

    def setup_cache(self):
        outcomes = {}
        for problem in self.params[2]:
            A, truth = sparse_problem(problem)
            for method, backend in itertools.product(self.params[0], self.params[1]):
                r = self._call(A, method, backend)
                outcomes[(method, backend, problem)] = dict(
                    rel_error=rel_error(r.value, truth), width=(r.upper - r.lower) / r.lower, matvecs=r.matvecs
                )
        return outcomes

    def setup(self, outcomes, method, backend, problem):
        self.outcome = outcomes[(method, backend, problem)]
        self.A, _ = sparse_problem(problem)

    def time_norm(self, outcomes, method, backend, problem):
        self._call(self.A, method, backend)

    def peakmem_norm(self, outcomes, method, backend, problem):
        self._call(self.A, method, backend)

    def track_rel_error(self, outcomes, method, backend, problem):
        return self.outcome["rel_error"]

    track_rel_error.unit = "relative error"

    def track_certified_width(self, outcomes, method, backend, problem):
        return self.outcome["width"]

    track_certified_width.unit = "(upper - lower) / lower"

    def track_matvecs(self, outcomes, method, backend, problem):
        return self.outcome["matvecs"]

    track_matvecs.unit = "products with A or A^H"


class Coverage:
    """Bound coverage on a small seed sweep at confidence 0.9, a tiny budget and an isolated top value.

    The rate must stay <= 0.1 (within sampling error); ~0.1 shows the bound carries no hidden slack.
    """

    params = (["power", "lanczos", "randomized"], ["outlier", "repeated"])
    param_names = ["method", "spectrum"]

    def setup(self, method, name):
        from scipy.sparse import diags_array
        from scipy.sparse.linalg import aslinearoperator

        from spectra._testing import spectrum

        self.op = aslinearoperator(diags_array(spectrum(name, 200)))

    def track_violation_rate(self, method, name):
        bad = 0
        seeds = 100
        for seed in range(seeds):
            r = spectra.norm(self.op, method=method, maxiter=2, confidence=0.9, seed=seed)
            bad += not (r.lower <= 1.0 <= r.upper)
        return bad / seeds

    track_violation_rate.unit = "fraction of seeds with ||A|| outside [lower, upper]"


class Stacks:
    """Many small matrices at once (one batched iteration, not a Python loop)."""

    params = (["svd", "power", "lanczos"], [(1000, 32, 32)])
    param_names = ["method", "shape"]

    def setup(self, method, shape):
        rng = np.random.default_rng(0)
        self.A = rng.standard_normal(shape)
        self.truth = np.linalg.svd(self.A, compute_uv=False)[..., 0]

    def time_norm(self, method, shape):
        _run(self.A, method, "numpy", rtol=1e-6)

    def track_max_rel_error(self, method, shape):
        r = _run(self.A, method, "numpy", rtol=1e-6)
        return float(np.max(np.abs(r.value - self.truth) / self.truth))

    track_max_rel_error.unit = "relative error"


class StoredLayouts:
    """The same matrix stored big-endian or in long double: computed as the native float64 one (one conversion),
    so its time stays that of ``native`` (big-endian stacks were 50-63x slower, missing the certificate kernel)."""

    params = (["stack", "dense"], ["native", "big-endian", "long double"])
    param_names = ["kind", "layout"]

    def setup(self, kind, layout):
        rng = np.random.default_rng(0)
        shape = (
            {"stack": (200, 16, 16), "dense": (300, 200)} if SMALL else {"stack": (2000, 16, 16), "dense": (1500, 1400)}
        )
        A = rng.standard_normal(shape[kind])
        self.truth = np.linalg.svd(A, compute_uv=False)[..., 0]
        self.A = {"native": A, "big-endian": A.astype(">f8"), "long double": A.astype(np.longdouble)}[layout]
        self.method = "auto" if kind == "stack" else "lanczos"

    def time_norm(self, kind, layout):
        _run(self.A, self.method, "auto")

    def track_max_rel_error(self, kind, layout):
        r = _run(self.A, self.method, "auto")
        return float(np.max(np.abs(np.asarray(r.value) - self.truth) / self.truth))

    track_max_rel_error.unit = "relative error"
