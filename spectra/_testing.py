"""Matrices with prescribed singular values, for tests, benchmarks and documentation.

Their spectral norm is known exactly (``max(s)``), so accuracy can be measured without trusting
any solver.
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, DTypeLike

__all__ = [
    "SPECTRA",
    "conv_layer_matrix",
    "matrix_with_singular_values",
    "preferential_attachment_graph",
    "sparse_with_singular_values",
    "spectrum",
]


def _spectrum_flat(k: int, rng) -> np.ndarray:
    # sigma^2 uniform on [0, 1]: no gap anywhere, the hardest case for Krylov methods
    s = np.sqrt(np.sort(rng.uniform(0.0, 1.0, k))[::-1])
    return s / s[0] if k else s


#: Named singular-value profiles; each maps ``(k, rng)`` to ``k`` non-negative values, largest first.
SPECTRA = {
    "outlier": lambda k, rng: np.r_[1.0, 0.5 * np.linspace(1.0, 0.0, k)[: k - 1]][:k],
    "repeated": lambda k, rng: np.r_[1.0, 1.0, 0.5 * np.linspace(1.0, 0.0, k)[: max(k - 2, 0)]][:k],
    "clustered": lambda k, rng: np.r_[1.0 - 1e-4 * np.arange(min(k, 5)), 0.5 * np.linspace(1, 0, k)[5:]][:k],
    "flat": _spectrum_flat,
    "decaying": lambda k, rng: 1.0 / np.arange(1, k + 1) ** 2,
    "geometric": lambda k, rng: 0.9 ** np.arange(k),
    "rank_one": lambda k, rng: np.r_[1.0, np.zeros(max(k - 1, 0))][:k],
    "lowrank_noise": lambda k, rng: np.r_[np.linspace(1.0, 0.5, min(k, 10)), 1e-3 * np.ones(max(k - 10, 0))],
}


def spectrum(name: str, k: int, seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """The ``k`` singular values of profile ``name`` (see :data:`SPECTRA`), largest equal to 1.

    Parameters
    ----------
    name : str
        A key of :data:`SPECTRA`: ``"outlier"``, ``"repeated"``, ``"clustered"``, ``"flat"``, ``"decaying"``,
        ``"geometric"``, ``"rank_one"`` or ``"lowrank_noise"``.
    k : int
        How many values, ``>= 0``.
    seed : int, numpy.random.Generator or None
        Seed of the random profiles (``"flat"``); the others ignore it.

    Returns
    -------
    numpy.ndarray
        ``(k,)`` float64, non-increasing, non-negative, the largest equal to 1 (empty for ``k = 0``).

    Raises
    ------
    ValueError
        An unknown ``name``; ``k`` negative.

    Examples
    --------
    >>> spectrum("repeated", 4)
    array([1.        , 1.        , 0.5       , 0.33333333])
    """
    if name not in SPECTRA:
        raise ValueError(f"spectrum name must be one of {sorted(SPECTRA)}, got {name!r}")
    _check_size("k", k)
    s = np.asarray(SPECTRA[name](k, np.random.default_rng(seed)), dtype=np.float64)
    return s


def _check_size(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


def _haar(n: int, k: int, rng, complex_: bool) -> np.ndarray:
    """``k`` Haar-distributed orthonormal columns of length ``n``: the QR factor of a Gaussian matrix with the
    signs (phases) of ``diag(R)`` moved into ``Q`` (F. Mezzadri, Notices of the AMS 54(5), 2007)."""
    g = rng.standard_normal((n, k))
    if complex_:
        g = g + 1j * rng.standard_normal((n, k))
    q, r = np.linalg.qr(g)
    d = np.diagonal(r)
    return q * (d / np.where(np.abs(d) > 0, np.abs(d), 1.0))


def matrix_with_singular_values(
    s: ArrayLike,
    m: int,
    n: int,
    *,
    dtype: DTypeLike = np.float64,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Dense ``m x n`` matrix ``U diag(s) V^H`` with Haar-random orthonormal ``U``, ``V``.

    ``U`` and ``V`` are the QR factors of Gaussian matrices with the signs (phases) of ``diag(R)`` moved into
    them, which makes them Haar-distributed (F. Mezzadri, *How to generate random matrices from the classical
    compact groups*, Notices of the AMS 54(5), 592-604, 2007).

    Parameters
    ----------
    s : array_like
        Singular values; ``len(s) <= min(m, n)`` (missing ones are zero).
    m : int
        Rows, ``>= 0``.
    n : int
        Columns, ``>= 0``.
    dtype : dtype
        Output dtype; complex dtypes give complex factors.
    seed : int, numpy.random.Generator or None
        Seed for the factors.

    Returns
    -------
    numpy.ndarray
        ``(m, n)`` of ``dtype``, with singular values ``s`` (and zeros), up to the rounding of the product.

    Raises
    ------
    ValueError
        ``m`` or ``n`` negative (or not an int); ``len(s) > min(m, n)``.

    Examples
    --------
    >>> A = matrix_with_singular_values([2.0, 1.0], 5, 3, seed=1)
    >>> bool(np.allclose(np.linalg.svd(A, compute_uv=False), [2.0, 1.0, 0.0]))
    True
    """
    _check_size("m", m)
    _check_size("n", n)
    s = np.asarray(s, dtype=np.float64)
    k = s.size
    if k > min(m, n):
        raise ValueError(f"len(s)={k} exceeds min(m, n)={min(m, n)}")
    rng = np.random.default_rng(seed)
    complex_ = np.dtype(dtype).kind == "c"
    if k == 0:
        return np.zeros((m, n), dtype=dtype)
    u = _haar(m, k, rng, complex_)
    v = _haar(n, k, rng, complex_)
    return ((u * s) @ v.conj().T).astype(dtype)


def sparse_with_singular_values(
    s: ArrayLike,
    m: int,
    n: int,
    *,
    density_extra: float = 0.0,
    fmt: str = "csr",
    dtype: DTypeLike = np.float64,
    seed: int | np.random.Generator | None = 0,
) -> sp.sparray:
    """Sparse ``m x n`` matrix whose singular values are exactly ``|s|`` (a permuted, signed diagonal).

    Parameters
    ----------
    s : array_like
        The diagonal's values, signs drawn at random: the singular values are their moduli. At most
        ``min(m, n)`` of them; the other singular values are zero.
    m : int
        Rows.
    n : int
        Columns.
    density_extra : float
        A switch: any value ``> 0`` left-multiplies by 2 x 2 rotation blocks, which couples pairs of rows
        (still exact singular values, up to the rounding of the rotations' products); its size is not used.
        ``0`` (default): the signed, permuted diagonal alone.
    fmt : str
        SciPy sparse format of the result (``"csr"``, ``"csc"``, ``"coo"``, ...).
    dtype : dtype
        Output dtype.
    seed : int, numpy.random.Generator or None
        Seed of the permutations, signs and rotations.

    Returns
    -------
    scipy.sparse.sparray
        ``(m, n)`` sparse array of ``dtype`` in format ``fmt``, with singular values ``|s|`` (and zeros).

    Raises
    ------
    ValueError
        ``len(s) > min(m, n)``.

    Examples
    --------
    >>> A = sparse_with_singular_values([3.0, 2.0, 1.0], 4, 3)
    >>> float(np.linalg.norm(A.toarray(), 2))
    3.0
    """
    s = np.asarray(s, dtype=np.float64)
    k = s.size
    if k > min(m, n):
        raise ValueError(f"len(s)={k} exceeds min(m, n)={min(m, n)}")
    rng = np.random.default_rng(seed)
    rows = rng.permutation(m)[:k]
    cols = rng.permutation(n)[:k]
    signs = rng.choice([-1.0, 1.0], size=k)
    D = sp.coo_array((s * signs, (rows, cols)), shape=(m, n)).astype(dtype)
    if density_extra > 0.0:
        # Left-multiply by a block-diagonal orthogonal matrix of 2x2 rotations: exact spectrum kept.
        angles = rng.uniform(0, 2 * np.pi, m // 2)
        c, s_ = np.cos(angles), np.sin(angles)
        i = np.arange(m // 2) * 2
        r = np.r_[i, i, i + 1, i + 1]
        cc = np.r_[i, i + 1, i, i + 1]
        vals = np.r_[c, -s_, s_, c]
        if m % 2:
            r, cc, vals = np.r_[r, m - 1], np.r_[cc, m - 1], np.r_[vals, 1.0]
        Q = sp.coo_array((vals, (r, cc)), shape=(m, m))
        D = (Q @ D.tocsr()).astype(dtype)
    return D.asformat(fmt)


def preferential_attachment_graph(
    n: int, m: int = 5, *, seed: int | np.random.Generator | None = 0, fmt: str = "csr"
) -> sp.sparray:
    """Adjacency matrix of a Barabási–Albert preferential-attachment graph (symmetric, 0/1, float64).

    Node ``v >= m + 1`` joins with ``m`` edges whose other ends are drawn with probability proportional to
    degree; the first ``m + 1`` nodes form a path. Generated without a Python loop by the copy model of
    Batagelj and Brandes (Phys. Rev. E 71, 036113, 2005, algorithm "preferential attachment"): the far end
    of edge ``i`` copies the entry at a uniformly drawn earlier position of the edge list (a position holds
    each node once per edge it has, so the draw is degree-proportional); the copies are resolved by pointer
    jumping. Multiple edges and self-loops that the copying produces are dropped, so a node may have a few
    fewer than ``m`` new edges. Degrees follow a power law (exponent about 3), the largest a few hundred for
    ``n = 200 000``: a sparse matrix with the structure of a real network. Its norm is not known in closed
    form (use a float64 eigensolver as the reference).

    Parameters
    ----------
    n : int
        Nodes (``n > m + 1``); the matrix is ``n x n`` with about ``2 m n`` nonzeros.
    m : int
        Edges each new node brings.
    seed : int, numpy.random.Generator or None
        Deterministic for a fixed seed.
    fmt : str
        SciPy sparse format of the result.

    Returns
    -------
    scipy.sparse.sparray
        ``(n, n)`` symmetric float64 adjacency matrix (entries 0 and 1, zero diagonal) in format ``fmt``.

    Raises
    ------
    ValueError
        ``m < 1`` or ``n <= m + 1``.

    Examples
    --------
    >>> A = preferential_attachment_graph(1000, 3, seed=0)
    >>> A.shape, bool((A != A.T).nnz == 0), float(A.max())
    ((1000, 1000), True, 1.0)
    """
    if n <= m + 1 or m < 1:
        raise ValueError(f"need n > m + 1 >= 2, got n={n}, m={m}")
    rng = np.random.default_rng(seed)
    first = m + 1
    new = (n - first) * m  # edges brought by the nodes that join
    start = np.arange(first - 1)
    total = start.size + new
    ends = np.empty(2 * total, dtype=np.int64)  # edge i is (ends[2i], ends[2i + 1])
    ends[0 : 2 * start.size : 2], ends[1 : 2 * start.size : 2] = start, start + 1
    i = np.arange(start.size, total)
    ends[2 * i] = first + (i - start.size) // m
    ref = np.arange(2 * total)
    ref[2 * i + 1] = (rng.random(new) * (2 * i)).astype(np.int64)  # a uniform earlier position
    while True:  # pointer jumping: a position copies one that is already resolved (even, or copied)
        nxt = ref[ref]
        if np.array_equal(nxt, ref):
            break
        ref = nxt
    ends = ends[ref]
    u, v = ends[0::2], ends[1::2]
    keep = u != v
    u, v = u[keep], v[keep]
    ij = (np.r_[u, v].astype(np.int32), np.r_[v, u].astype(np.int32)) if n < 2**31 else (np.r_[u, v], np.r_[v, u])
    A = sp.coo_array((np.ones(2 * u.size), ij), shape=(n, n)).tocsr()
    A.data[:] = 1.0  # multiple edges count once
    return A.asformat(fmt)


def _source(i: int, n: int, mode: str) -> int | None:
    if 0 <= i < n:
        return i
    if mode == "zeros":
        return None
    if mode == "circular":
        return i % n
    if mode == "reflect":
        return -i if i < 0 else 2 * (n - 1) - i
    return min(max(i, 0), n - 1)  # replicate


def conv_layer_matrix(w, spatial, stride, pad, dilation, groups, mode) -> np.ndarray:
    """A convolution layer (PyTorch's ``ConvNd``) as a dense ``(c_out·prod(out)) × (c_in·prod(spatial))`` matrix.

    Built entry by entry from the definition (loops over output positions, taps, and the padding's source
    index), independently of :mod:`spectra._conv_ops`: the oracle of the convolution tests. ``pad`` holds one
    ``(before, after)`` pair per spatial axis; ``mode`` is a PyTorch ``padding_mode``.

    Examples
    --------
    >>> conv_layer_matrix(np.ones((1, 1, 2)), (3,), (1,), ((0, 0),), (1,), 1, "zeros").tolist()
    [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]
    """
    w = np.asarray(w, dtype=np.float64)
    c_out, ci_g = w.shape[:2]
    kernel = w.shape[2:]
    d = len(kernel)
    c_in = ci_g * groups
    co_g = c_out // groups
    out = [
        (n + lo + hi - dl * (k - 1) - 1) // s + 1
        for n, (lo, hi), dl, k, s in zip(spatial, pad, dilation, kernel, stride, strict=True)
    ]
    M = np.zeros((c_out, *out, c_in, *spatial))
    for oc in range(c_out):
        g = oc // co_g
        for opos in itertools.product(*(range(o) for o in out)):
            for icg in range(ci_g):
                ic = g * ci_g + icg
                for tap in itertools.product(*(range(k) for k in kernel)):
                    src = []
                    for a in range(d):
                        i = opos[a] * stride[a] + tap[a] * dilation[a] - pad[a][0]
                        src.append(_source(i, spatial[a], mode))
                    if None in src:
                        continue
                    M[(oc, *opos, ic, *src)] += w[(oc, icg, *tap)]
    return M.reshape(c_out * math.prod(out), c_in * math.prod(spatial))
