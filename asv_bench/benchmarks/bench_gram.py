"""Gram iteration (deterministic bound) against Lanczos (probabilistic bound): certified width and time.

Problems: Gaussian 512 x 512 and 2048 x 2048, and a stack of 10 000 Gaussian 32 x 32 matrices (the shape of
per-layer or per-frequency weight blocks). Each outcome is computed once per run in ``setup_cache`` (width
= worst ``(upper - lower) / lower`` over the stack, the smallest confidence, whether every interval holds);
``time_norm`` times the call again.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

import spectra

from .common import SMALL

#: name -> shape; SPECTRA_BENCH_SMALL=1 shrinks them for the smoke test
PROBLEMS = {"gaussian512": (512, 512), "gaussian2048": (2048, 2048), "stack10000x32": (10_000, 32, 32)}
if SMALL:
    PROBLEMS = {"gaussian512": (64, 64), "gaussian2048": (128, 128), "stack10000x32": (100, 8, 8)}


def gram_problem(name: str) -> np.ndarray:
    """Gaussian entries (seeded): the truth is computed by float64 LAPACK where needed."""
    return np.random.default_rng(7).standard_normal(PROBLEMS[name])


def _run(A, method, rtol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spectra.ConvergenceWarning)
        return spectra.norm(A, method=method, rtol=rtol, seed=0)


class GramVsLanczos:
    params = (["gram", "lanczos"], list(PROBLEMS), [1e-3, 1e-6])
    param_names = ["method", "problem", "rtol"]
    timeout = 1200

    def setup_cache(self):
        outcomes = {}
        for problem in self.params[1]:
            A = gram_problem(problem)
            truth = np.linalg.svd(A, compute_uv=False)[..., 0]
            for method, rtol in itertools.product(self.params[0], self.params[2]):
                r = _run(A, method, rtol)
                lo, up = np.asarray(r.lower), np.asarray(r.upper)
                slack = 8 * max(A.shape[-2:]) * np.finfo(np.float64).eps
                outcomes[(method, problem, rtol)] = dict(
                    width=float(np.max((up - lo) / lo)),
                    confidence=float(np.min(np.asarray(r.confidence))),
                    misses=int(np.sum((lo > truth * (1 + slack)) | (truth > up * (1 + slack)))),
                    iterations=int(np.max(np.asarray(r.iterations))),
                )
        return outcomes

    def setup(self, outcomes, method, problem, rtol):
        self.outcome = outcomes[(method, problem, rtol)]
        self.A = gram_problem(problem)

    def time_norm(self, outcomes, method, problem, rtol):
        _run(self.A, method, rtol)

    def track_certified_width(self, outcomes, method, problem, rtol):
        return self.outcome["width"]

    track_certified_width.unit = "max (upper - lower) / lower"

    def track_confidence(self, outcomes, method, problem, rtol):
        return self.outcome["confidence"]

    track_confidence.unit = "min confidence (1 = deterministic)"

    def track_misses(self, outcomes, method, problem, rtol):
        return self.outcome["misses"]

    track_misses.unit = "matrices whose interval misses ||A||"

    def track_iterations(self, outcomes, method, problem, rtol):
        return self.outcome["iterations"]

    track_iterations.unit = "squarings (gram) or Lanczos steps"
