"""Dask backend: ``A`` is a ``dask.array`` on a cluster; only the Gram pass is distributed.

Everything the methods build (vectors, bases, the projected problem, all bounds) lives on the client as
NumPy: the vectors are ``n × k``, small next to ``A``. What runs on the workers:

- one pass for the entry statistics (max ``|a|``, Frobenius, row/column norms, Gershgorin), reused for
  the whole run;
- one Gram pass per step: each panel ``A_p`` (whole rows, or whole columns of a wide matrix) gives
  ``A_pᴴ(A_p X)`` on its worker (the numba fused kernel when the workers have numba, NumPy otherwise),
  the partials are summed by a tree of tasks, and ``X`` is the only data sent: one graph per step with
  about ``1.15 ×`` as many tasks as panels;
- the few plain products (the final certificate, a left vector) as Dask ``matmul`` graphs.

It uses whatever scheduler is active: a ``distributed.Client`` if one exists, else Dask's default. ``A``
is laid out in panels and persisted once (:mod:`._dask_layout`). The method code is the same as on NumPy
and the random draws are made on the client, so a seed gives the NumPy backend's result to rounding.
"""

from __future__ import annotations

import time
import uuid
import warnings

import array_api_compat
import array_api_compat.numpy
import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from . import _dask_tasks as tasks
from ._base import AbsStats
from ._dask_layout import Panels, block_slices, lay_out
from .numpy import NumPyBackend

__all__ = ["DaskBackend"]

#: partials added per node of the tree sum
SPLIT_EVERY = 8
#: ``method="auto"`` may take the SVD (by TSQR, without gathering A) only for tall-and-skinny matrices:
#: the longer side at least this many times the shorter
TALL_RATIO = 4


def _array(A):
    return A.array if isinstance(A, Panels) else A


def _panels(A, adjoint: bool = False) -> Panels:
    """``A`` as :class:`Panels`: a plain Dask array as it is chunked along the panel axis (row panels, or column
    panels for ``adjoint``), with whole rows (columns), or whole matrices for a stack, in each block."""
    if isinstance(A, Panels):
        return A
    if A.ndim > 2:  # a stack: blocks of whole matrices (the per-matrix statistics and products need them)
        if any(len(c) > 1 for c in A.chunks[-2:]):
            A = A.rechunk({A.ndim - 2: -1, A.ndim - 1: -1})
        return Panels(A, None, False)
    other = 1 - int(adjoint)
    if len(A.chunks[other]) > 1:  # panels of whole rows (columns): a panel's statistics cover every column
        A = A.rechunk({other: -1})
    return Panels(A, int(adjoint), False)


def _compute_keys(layer: dict, keys: list, deps) -> list:
    name = keys[0][0]
    graph = HighLevelGraph.from_collections(name, layer, dependencies=deps)
    return list(dask.compute(*[Delayed(k, graph, layer=name) for k in keys]))


def _tree(layer: dict, name: str, keys: list, combine) -> tuple:
    """Add a tree sum of ``keys`` to ``layer`` (``SPLIT_EVERY`` inputs per node); return the root key."""
    level = 0
    while len(keys) > 1:
        nxt = []
        for j in range(0, len(keys), SPLIT_EVERY):
            key = (name, "sum", level, j)
            layer[key] = (combine, *keys[j : j + SPLIT_EVERY])
            nxt.append(key)
        keys, level = nxt, level + 1
    return keys[0]


class DaskBackend(NumPyBackend):
    """Primitives for ``dask.array`` inputs; vectors are NumPy arrays on the client."""

    name = "dask"

    # ------------------------------------------------------------------ layout and plan
    def prepare(self, A, plan):
        """Panels of ``A`` for the plan's Gram side, persisted on the workers when they fit."""
        return lay_out(A, plan.transposed)

    def dense_namespace(self, A):
        return array_api_compat.numpy

    def fused_gram_adjoint(self, A) -> bool | None:
        """Panels run along the longer side: ``AᴴA`` on row panels, ``AAᴴ`` (wide ``A``) on column panels."""
        return bool(A.shape[-2] < A.shape[-1])

    def avoid_svd(self, shape: tuple[int, ...]) -> str:
        m, n = shape[-2], shape[-1]
        if len(shape) > 2 or max(m, n) >= TALL_RATIO * min(m, n):
            return ""  # a stack's blocks hold whole small matrices; tall-and-skinny goes through TSQR
        return "a dask array that is not tall-and-skinny: the SVD would gather A"

    def block(self, A, axis: int, start: int, stop: int):
        """The block gathered to the client (one block at a time: ``method="gram"`` sums ``blkᴴ blk``)."""
        return np.asarray(super().block(_array(A), axis, start, stop).compute())

    # ------------------------------------------------------------------ host transfer
    def to_host(self, x) -> np.ndarray:
        if array_api_compat.is_dask_array(x):
            return np.asarray(x.compute())
        return super().to_host(x)

    def from_host(self, x, like):
        return np.asarray(x)

    # ------------------------------------------------------------------ products
    def matmat(self, A, X):
        if not array_api_compat.is_dask_array(_array(A)):
            return super().matmat(A, X)
        return da.matmul(_array(A), X).compute()

    def rmatmat(self, A, Y):
        A = _array(A)
        if not array_api_compat.is_dask_array(A):
            return super().rmatmat(A, Y)
        At = da.swapaxes(A, -1, -2)
        return da.matmul(At.conj() if np.iscomplexobj(A) else At, Y).compute()

    def wide_product(self, A, X, adjoint: bool):
        """``A X`` (``adjoint``: ``Aᴴ X``) in double precision. A matrix: per block on its worker, read in place or
        in widened row chunks (:func:`._dask_tasks.wide_blocks`), so no block is widened whole; a stack: its
        blocks of whole matrices widened on the workers."""
        A = _array(A)
        if not array_api_compat.is_dask_array(A):
            return super().wide_product(A, X, adjoint)
        if A.ndim > 2:
            A = A.astype(X.dtype)
            return self.rmatmat(A, X) if adjoint else self.matmat(A, X)
        Xd = da.from_array(np.asarray(X), chunks=(A.chunks[0] if adjoint else A.chunks[1], X.shape[-1]))
        out, x_index = ("jk", "ik") if adjoint else ("ik", "jk")
        Y = da.blockwise(
            tasks.wide_blocks, out, A, "ij", Xd, x_index, adjoint=adjoint, dtype=X.dtype, concatenate=False
        )
        return Y.compute()

    def gram(self, A, X, inner=None, adjoint: bool = False):
        """``(A X, Aᴴ(c A X))`` (``adjoint``: ``(Aᴴ X, A(c Aᴴ X))``) in one distributed pass over the panels."""
        A = _panels(A, adjoint)
        if A.axis is None:
            return self._stack_gram(A, X, inner, adjoint)
        if (A.axis == 1) != adjoint:  # panels along the other side: two plain products
            return super().gram(A, X, inner, adjoint)
        arr = A.array
        name = "spectra-gram-" + uuid.uuid4().hex
        t0 = time.perf_counter()
        xkey = (name, "x")
        layer = {xkey: X}
        keys = []
        for idx, sl, key in _blocks(arr):
            rows = sl[A.axis]
            pkey = (name, "part", idx[A.axis])
            layer[pkey] = (tasks.panel_gram, key, xkey, inner, adjoint, rows.start, rows.stop - rows.start)
            keys.append(pkey)
        root = _tree(layer, name, keys, tasks.combine_gram)
        (pieces, Z, seconds) = _compute_keys(layer, [root], [arr])[0]
        Y = np.empty((arr.shape[A.axis], X.shape[-1]), dtype=Z.dtype)
        for offset, rows, y in pieces:
            Y[offset : offset + rows] = y
        A.step_seconds.append(time.perf_counter() - t0)
        A.task_seconds.append(seconds)
        return Y, Z

    def _stack_gram(self, A: Panels, X, inner, adjoint):
        """A stack: each block of whole matrices multiplies its slice of ``X`` (no sum across blocks)."""
        arr = A.array
        name = "spectra-gram-" + uuid.uuid4().hex
        t0 = time.perf_counter()
        layer, keys, where = {}, [], []
        per_matrix = isinstance(inner, np.ndarray) and inner.ndim > 2
        for idx, sl, key in _blocks(arr):
            bs = sl[:-2]
            pkey = (name, "part", *idx)
            c = inner[bs] if per_matrix else inner
            layer[pkey] = (tasks.panel_gram, key, X[bs], c, adjoint, 0, 0)
            keys.append(pkey)
            where.append(bs)
        results = _compute_keys(layer, keys, [arr])
        first = results[0][0][0][2]
        Y = np.empty((*arr.shape[:-2], first.shape[-2], X.shape[-1]), dtype=first.dtype)
        Z = np.empty(X.shape, dtype=first.dtype)
        seconds = 0.0
        for bs, (pieces, z, s) in zip(where, results, strict=True):
            Y[bs], Z[bs] = pieces[0][2], z
            seconds += s
        A.step_seconds.append(time.perf_counter() - t0)
        A.task_seconds.append(seconds)
        return Y, Z

    def scaled_copy(self, A, c1, c2):
        """Lazy, on the workers: the input's Dask array scaled (not its :class:`Panels` layout)."""
        return (_array(A) * c1) * c2

    def svd(self, A, compute_uv: bool):
        """Stacks: per block of whole matrices. Tall-and-skinny (or short-and-wide): TSQR, no gathering.
        Otherwise (only when ``method="svd"`` is asked for) ``A`` is gathered to the client."""
        A = _array(A)
        m, n = A.shape[-2], A.shape[-1]
        if A.ndim > 2:
            A = A.rechunk({A.ndim - 2: -1, A.ndim - 1: -1})
            if not compute_uv:
                chunks = (*A.chunks[:-2], (min(m, n),))
                s = A.map_blocks(np.linalg.svd, compute_uv=False, drop_axis=A.ndim - 1, chunks=chunks)
                return s.compute()
            return np.linalg.svd(A.compute(), full_matrices=False)
        if max(m, n) >= TALL_RATIO * min(m, n):
            B = A.rechunk({1: -1}) if m >= n else A.rechunk({0: -1})
            with warnings.catch_warnings():  # dask's TSQR casts a complex meta array to real (metadata only)
                warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
                U, s, Vh = da.linalg.svd(B)
            return dask.compute(U, s, Vh) if compute_uv else s.compute()
        return super().svd(A.compute(), compute_uv)

    # ------------------------------------------------------------------ entry statistics in one pass
    def max_abs(self, A) -> np.ndarray:
        return self._stats(A)[0]

    def abs_stats(self, A, c1: np.ndarray, c2: np.ndarray) -> AbsStats:
        A = _panels(A)
        _, e, raw = self._stats(A)
        # the panels' statistics are of 2^-e A; scaled A = c1 c2 A (c1 c2 alone may overflow: 2^1029 for
        # subnormal entries)
        f = np.ldexp(c1, e) * c2
        m, n = A.shape[-2], A.shape[-1]
        if isinstance(raw, AbsStats):  # a stack: per-matrix statistics of 2^-e A_i
            return AbsStats(raw.fro * f, raw.gersh * f, raw.maxcol * f, raw.maxrow * f, n, m)
        fro2, colsq, gers, rowmax = raw
        maxcol, maxrow = np.sqrt(np.max(colsq, initial=0.0)), np.sqrt(rowmax)
        if A.axis == 1:  # column panels: the statistics are of Aᵀ
            maxcol, maxrow = maxrow, maxcol
        return AbsStats(
            fro=np.array([np.sqrt(fro2)]) * f,
            gersh=np.array([np.sqrt(np.max(gers, initial=0.0))]) * f,
            maxcol=np.array([maxcol]) * f,
            maxrow=np.array([maxrow]) * f,
            p_row=n,
            p_col=m,
        )

    def _stats(self, A):
        """``(maxabs (B,), e (B,), statistics of 2^-e A)`` computed once per :class:`Panels` in one pass."""
        A = _panels(A)
        if A.stats is not None:
            return A.stats
        arr = A.array
        name = "spectra-stats-" + uuid.uuid4().hex
        layer, keys = {}, []
        for idx, _, key in _blocks(arr):
            pkey = (name, "part", *idx)
            layer[pkey] = (tasks.stack_stats, key) if A.axis is None else (tasks.panel_stats, key, A.axis == 1)
            keys.append(pkey)
        if A.axis is None:
            A.stats = _stack_stats(_compute_keys(layer, keys, [arr]), arr)
            return A.stats
        root = _tree(layer, name, keys, tasks.combine_stats)
        mx, e, fro2, colsq, gers, rowmax = _compute_keys(layer, [root], [arr])[0]
        A.stats = (np.array([mx]), np.array([e]), None if fro2 is None else (fro2, colsq, gers, rowmax))
        return A.stats


def _blocks(arr) -> list:
    """``(block index, slices, key)`` of every block of ``arr``, in C order of the chunk grid."""
    keys = arr.__dask_keys__()
    for _ in range(arr.ndim - 1):
        keys = [k for sub in keys for k in sub]
    return [(idx, sl, key) for (idx, sl), key in zip(block_slices(arr.chunks), keys, strict=True)]


def _stack_stats(results: list, arr):
    """Per-matrix statistics of a stack from its blocks (C order of the blocks and of the matrices)."""
    batch = arr.shape[:-2]
    B = int(np.prod(batch))
    grid = np.arange(B).reshape(batch)
    mx, e = np.empty(B), np.zeros(B, dtype=np.int64)
    fields = {k: np.empty(B) for k in ("fro", "gersh", "maxcol", "maxrow")}
    finite = True
    for (_, sl, _), (bmx, be, st) in zip(_blocks(arr), results, strict=True):
        where = grid[sl[:-2]].reshape(-1)
        mx[where], e[where] = bmx, be
        if st is None:
            finite = False
            continue
        for k in fields:
            fields[k][where] = getattr(st, k)
    if not finite:
        return mx, e, None
    return mx, e, AbsStats(**fields, p_row=arr.shape[-1], p_col=arr.shape[-2])
