"""``randomized`` beside ``lanczos`` on every spectrum of the suite: time, peak memory, width, products, passes.

The issue it tracks: ``randomized`` must certify ``rtol = 1e-6`` within twice lanczos's time and memory, or
``auto`` must never pick it (docs/bounds.md §4d, docs/performance.md). Compare the two ``method`` values of
one problem inside one run; the ratio is the number that matters, not the absolute times.
"""

from __future__ import annotations

import warnings

import numpy as np

import spectra

from .common import dense_problem, sparse_problem

#: problem -> loader; dense families at the suite's sizes, the Gaussian one in float32 as well
PROBLEMS = {
    "gaussian": lambda: dense_problem("gaussian"),
    "gaussian-float32": lambda: dense_problem("gaussian", "float32"),
    "flat": lambda: dense_problem("flat"),
    "clustered": lambda: dense_problem("clustered"),
    "decaying": lambda: dense_problem("decaying"),
    "lowrank_noise": lambda: dense_problem("lowrank_noise"),
    "graph": lambda: sparse_problem("graph"),
}


def _call(A, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spectra.ConvergenceWarning)
        return spectra.norm(A, method=method, rtol=1e-6, seed=0)


class RandomizedVsLanczos:
    params = (list(PROBLEMS), ["lanczos", "randomized"])
    param_names = ["problem", "method"]
    timeout = 1800

    def setup_cache(self):
        outcomes = {}
        for problem, load in PROBLEMS.items():
            A, truth = load()
            for method in self.params[1]:
                r = _call(A, method)
                outcomes[(problem, method)] = dict(
                    width=float((r.upper - r.lower) / r.lower),
                    matvecs=int(r.matvecs),
                    passes=int(r.iterations),
                    holds=int(r.lower <= truth * (1 + 1e-12) and truth <= r.upper * (1 + 1e-12)),
                    converged=int(np.all(r.converged)),
                )
        return outcomes

    def setup(self, outcomes, problem, method):
        self.outcome = outcomes[(problem, method)]
        self.A, _ = PROBLEMS[problem]()

    def time_norm(self, outcomes, problem, method):
        _call(self.A, method)

    def peakmem_norm(self, outcomes, problem, method):
        _call(self.A, method)

    def track_certified_width(self, outcomes, problem, method):
        return self.outcome["width"]

    track_certified_width.unit = "(upper - lower) / lower"

    def track_matvecs(self, outcomes, problem, method):
        return self.outcome["matvecs"]

    track_matvecs.unit = "products with A or A^H"

    def track_passes(self, outcomes, problem, method):
        return self.outcome["passes"]

    track_passes.unit = "passes over A (Lanczos steps, block passes)"

    def track_converged(self, outcomes, problem, method):
        return self.outcome["converged"]

    track_converged.unit = "1 if the width reached rtol"

    def track_interval_holds(self, outcomes, problem, method):
        return self.outcome["holds"]

    track_interval_holds.unit = "1 if lower <= ||A|| <= upper"
