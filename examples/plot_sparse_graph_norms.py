"""
Norms of sparse graph matrices
==============================

Adjacency and Laplacian matrices of graphs are large, sparse and symmetric, and their largest eigenvalues (their
spectral norms) control random walks, diffusion time steps and graph neural network layers. This tutorial computes
them for random graphs built with SciPy, with a certified interval, and compares them with the classical bounds
from the degrees.
"""

# %%
# Random graphs
# -------------
# An Erdős–Rényi-type graph on ``n`` vertices with mean degree ``c``: ``n c / 2`` random vertex pairs, symmetrised,
# without loops or repeated edges. ``scipy.sparse.csgraph.laplacian`` gives ``L = D - A``.

import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import laplacian

import spectra


def random_graph(n, c, seed):
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, n, size=(int(n * c / 2), 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    A = sp.coo_array((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    A = A + A.T
    A.data[:] = 1.0  # repeated pairs are one edge
    return A


n = 20_000
A = random_graph(n, 8.0, seed=0)
L = laplacian(A)
print(f"{n} vertices, {A.nnz // 2} edges, {A.nnz} nonzeros in A")

r = spectra.norm(A, seed=0)
print(r)

# %%
# spectra never densifies a sparse matrix: ``method="auto"`` is Lanczos, and the interval is certified (the lower
# bound deterministically, the upper bound with probability 0.999 over the random start, for every matrix).
#
# Degree bounds
# -------------
# For an adjacency matrix, the Rayleigh quotient of the all-ones vector gives ``||A||_2 >= mean degree``, and the
# row sums give ``||A||_2 <= max degree``. For the Laplacian, ``||L||_2 >= max degree + 1`` (for a graph with an
# edge) and ``||L||_2 <= max over edges (u, v) of d_u + d_v`` (Anderson and Morley, 1985). spectra's interval
# sits inside both and is far narrower:

deg = np.asarray(A.sum(axis=1)).ravel()
rows, cols = A.nonzero()
rl = spectra.norm(L, seed=0)
print(f"adjacency: {deg.mean():.3f} <= [{r.lower:.6f}, {r.upper:.6f}] <= {deg.max():.0f}")
print(f"Laplacian: {deg.max() + 1:.0f} <= [{rl.lower:.6f}, {rl.upper:.6f}] <= {(deg[rows] + deg[cols]).max():.0f}")
assert deg.mean() <= r.upper and r.lower <= deg.max()
assert deg.max() + 1 <= rl.upper and rl.lower <= (deg[rows] + deg[cols]).max()

# %%
# Growing the mean degree
# -----------------------
# As the graph gets denser the adjacency norm approaches the mean degree (plus one), while for sparse graphs it is
# pulled up by the highest-degree vertices (towards ``sqrt(max degree)``). The Laplacian's norm follows the maximum
# degree.

degrees = [1, 2, 4, 8, 16, 32]
rows_out = []
for c in degrees:
    G = random_graph(n, c, seed=1)
    d = np.asarray(G.sum(axis=1)).ravel()
    t0 = time.perf_counter()
    ra = spectra.norm(G, seed=0)
    rlap = spectra.norm(laplacian(G), seed=0)
    seconds = time.perf_counter() - t0
    rows_out.append((c, d.mean(), d.max(), ra.lower, ra.upper, rlap.lower, rlap.upper, ra.matvecs + rlap.matvecs))
    print(
        f"c={c:2d}: ||A|| in [{ra.lower:.6f}, {ra.upper:.6f}], ||L|| in [{rlap.lower:.6f}, {rlap.upper:.6f}], "
        f"{ra.matvecs + rlap.matvecs} products, {seconds:.2f} s"
    )
c, dmean, dmax, alo, aup, llo, lup, prods = np.array(rows_out).T

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax1.fill_between(c, dmean, dmax, color="0.9", label="degree bounds [mean, max]")
ax1.plot(c, aup, "o-", color="tab:blue", label="spectra interval (width < 1e-6)")
ax1.plot(c, dmean + 1, ":", color="k", label="mean degree + 1")
ax1.plot(c, np.sqrt(dmax), "--", color="tab:orange", label="sqrt(max degree)")
ax1.set_xscale("log")
ax1.set_yscale("log")
ax1.set_xlabel("mean degree c")
ax1.set_title("adjacency A")
ax1.legend(fontsize=8)
ax2.fill_between(c, dmax + 1, 2 * dmax, color="0.9", label="[max degree + 1, 2 max degree]")
ax2.plot(c, lup, "o-", color="tab:green", label="spectra interval (width < 1e-6)")
ax2.set_xscale("log")
ax2.set_yscale("log")
ax2.set_xlabel("mean degree c")
ax2.set_title("Laplacian L = D − A")
ax2.legend(fontsize=8)
plt.show()

# %%
# The relative width of every interval above is below the default ``rtol = 1e-6``; the curves show ``upper``, and
# ``lower`` is indistinguishable from it at this scale.

width = np.maximum((aup - alo) / alo, (lup - llo) / llo)
print(f"largest relative width: {width.max():.1e}")
assert width.max() <= 1e-6
