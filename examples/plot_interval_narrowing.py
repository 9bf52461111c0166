"""
How the interval narrows, product by product
=============================================

Every method returns an honest interval ``[lower, upper]`` whatever its budget; the methods differ in how fast the
interval narrows. This tutorial runs ``power``, ``lanczos`` and ``randomized`` with increasing budgets
(``maxiter``) on two matrices whose norm is known exactly, and plots the relative width of the certified interval
against the number of products with ``A`` or ``Aᴴ`` (``matvecs``).

A fixed ``seed`` fixes the random start, so the run with budget ``k`` is the first ``k`` steps of the run with a
larger budget: each curve is the narrowing of one run.
"""

# %%
# Two matrices with a known norm
# ------------------------------
# :func:`spectra.testing.matrix_with_singular_values` builds ``U diag(s) Vᴴ`` with Haar-random ``U`` and ``V``, so
# ``||A||_2 = max(s) = 1`` exactly. A *decaying* spectrum (``s_i = 1/i²``) is easy: the top singular value stands
# out. A *flat* spectrum (``s_i²`` uniform on ``[0, 1]``) has no gap anywhere and is the hard case for every Krylov
# method.

import matplotlib.pyplot as plt
import numpy as np

import spectra
from spectra.testing import matrix_with_singular_values, spectrum

m, n = 600, 400
problems = {name: matrix_with_singular_values(spectrum(name, n), m, n, seed=1) for name in ("decaying", "flat")}

# %%
# Budgets per method
# ------------------
# ``maxiter`` counts power steps and Lanczos steps (two products each) and randomized passes (a block of 4
# vectors each way). An explicit ``maxiter`` is a deliberate budget, so a run that stops before ``rtol`` is met
# returns ``converged=False`` without a warning. ``certify=True`` makes power iteration, too, run until its
# certified interval meets ``rtol`` (by default it stops on the residual test and reports a wider interval).

budgets = {
    "power": np.unique(np.geomspace(1, 300, 14).astype(int)),
    "lanczos": np.unique(np.geomspace(1, 180, 14).astype(int)),
    "randomized": np.arange(1, 9),
}


def narrowing(A, method):
    """(products, lower, upper) for each budget of ``method``."""
    rows = []
    for k in budgets[method]:
        r = spectra.norm(A, method=method, maxiter=int(k), rtol=1e-12, certify=True, seed=0)
        assert r.lower <= 1.0 <= r.upper  # the truth is inside at every budget
        rows.append((r.matvecs, r.lower, r.upper))
    return np.array(rows)


results = {(p, meth): narrowing(A, meth) for p, A in problems.items() for meth in budgets}

# %%
# The relative width against the products
# ----------------------------------------
# The relative width ``(upper - lower) / ||A||_2`` is what ``rtol`` asks for. Lanczos narrows fastest on both
# matrices. Randomized pays for a block of 4 vectors per pass (8 products) and reaches ``1e-6`` on the decaying
# spectrum within a few passes, but narrows slowly on the flat one. Power iteration's certified width shrinks only
# like ``t^(-1/i)`` (:doc:`/bounds` §2), which is why it stops on the residual test by default.

colors = {"power": "tab:red", "lanczos": "tab:blue", "randomized": "tab:green"}
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
for ax, name in zip(axes, problems, strict=True):
    for meth in budgets:
        prods, lo, up = results[(name, meth)].T
        ax.loglog(prods, np.maximum(up - lo, 1e-16), "o-", ms=3, color=colors[meth], label=meth)
    ax.axhline(1e-6, color="0.5", ls=":", lw=1)
    ax.text(0.98, 1.4e-6, "rtol = 1e-6", color="0.4", fontsize=8, ha="right", transform=ax.get_yaxis_transform())
    ax.set_title(f"{name} spectrum, {m} × {n}")
    ax.set_xlabel("products with A or Aᴴ (matvecs)")
axes[0].set_ylabel("certified relative width (upper − lower)")
axes[0].legend()
plt.show()

# %%
# The interval itself
# -------------------
# The same runs on the flat spectrum, as intervals around the truth: ``lower`` (solid) rises towards 1 and
# ``upper`` (dashed) falls towards it. The lower bound is guaranteed; the upper bound holds with probability
# 0.999 over the random start, for every matrix.

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
for meth in budgets:
    prods, lo, up = results[("flat", meth)].T
    ax.semilogx(prods, lo, "-", color=colors[meth], label=f"{meth} lower")
    ax.semilogx(prods, up, "--", color=colors[meth], label=f"{meth} upper")
ax.axhline(1.0, color="k", lw=0.8)
ax.set_ylim(0.9, 1.6)
ax.set_xlabel("products with A or Aᴴ (matvecs)")
ax.set_ylabel("bound on ||A||₂ (truth = 1)")
ax.legend(ncol=3, fontsize=8)
plt.show()
