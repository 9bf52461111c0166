"""The scans every sparse call makes before its first product: the canonical-order check (spectra._sparse), the
empty-line scan (spectra._compress) and the numba backend's check for equal stored values.

Each was made cheaper without changing what it decides; these tests hold each against a plain reference over
structures that reach every chunk border, and check that the whole computation is bitwise unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import spectra
import spectra.backends.numba as nb_backend
from spectra import _compress, _sparse
from spectra._testing import preferential_attachment_graph


def _canonical_reference(indptr, indices) -> bool:
    """Indices strictly increasing within every line, line by line."""
    return all(np.all(np.diff(indices[indptr[i] : indptr[i + 1]].astype(np.int64)) > 0) for i in range(len(indptr) - 1))


def _structures(rng, count: int):
    """``(indptr, indices)`` of small compressed structures: empty lines, sorted and unsorted lines, duplicates."""
    for _ in range(count):
        lines, width = int(rng.integers(1, 9)), int(rng.integers(1, 7))
        lengths = rng.integers(0, width + 2, size=lines)
        parts = []
        for length in lengths:
            line = np.sort(rng.choice(width, size=min(int(length), width), replace=False))
            roll = rng.random()
            if roll < 0.15 and line.size >= 2:  # one swapped pair
                i = int(rng.integers(0, line.size - 1))
                line[i], line[i + 1] = line[i + 1], line[i]
            elif roll < 0.3 and line.size >= 1:  # one duplicate
                line = np.sort(np.append(line, line[int(rng.integers(0, line.size))]))
            parts.append(line)
        indptr = np.concatenate([[0], np.cumsum([p.size for p in parts])]).astype(np.int32)
        indices = np.concatenate(parts).astype(rng.choice([np.int32, np.int64])) if parts else np.zeros(0, np.int32)
        yield indptr, indices


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 20])
def test_canonical_check_decides_as_the_line_by_line_reference(monkeypatch, chunk):
    """Chunks of 1 to 5 entries put a chunk border at every position: a line starting there, a step down
    across it and a duplicate across it are all decided as the line-by-line reference decides them."""
    monkeypatch.setattr(_sparse, "_CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    seen = set()
    for indptr, indices in _structures(rng, 400):
        expected = _canonical_reference(indptr, indices)
        seen.add(expected)
        assert _sparse._is_canonical(indptr, indices) == expected, (indptr, indices)
    assert seen == {True, False}


def test_canonical_check_regression_line_start_after_a_larger_index():
    """A new line may start below the last index of the one before; a step down inside a line may not."""
    indptr = np.array([0, 3, 3, 5], dtype=np.int32)
    assert _sparse._is_canonical(indptr, np.array([2, 5, 9, 0, 1], dtype=np.int32))
    assert not _sparse._is_canonical(indptr, np.array([2, 5, 9, 1, 0], dtype=np.int32))
    assert not _sparse._is_canonical(indptr, np.array([2, 5, 5, 0, 1], dtype=np.int32))


def _drop_empty_reference(A):
    """The empty-line scan with the whole index array marked (the implementation before the early stop)."""
    m, n = A.shape
    outer_len, inner_len = (m, n) if A.format == "csr" else (n, m)
    indptr, indices = A.indptr, A.indices
    outer_kept = np.flatnonzero(indptr[1:] > indptr[:-1])
    inner_mask = np.zeros(inner_len, dtype=bool)
    inner_mask[indices[indptr[0] : indptr[-1]]] = True
    inner_kept = np.flatnonzero(inner_mask)
    if outer_kept.size > _compress.KEEP_FRACTION * outer_len and inner_kept.size > _compress.KEEP_FRACTION * inner_len:
        return None
    return outer_kept, inner_kept


@pytest.mark.parametrize("first_count, chunk", [(1, 1), (1, 3), (2, 5), (1 << 18, 1 << 20)])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_empty_line_scan_decides_as_the_full_scan(monkeypatch, first_count, chunk, fmt):
    """Densities around the 75 % threshold, on both sides: the early stop returns ``None`` exactly where marking
    every entry would, and a compressed matrix is the same matrix with the same kept rows and columns."""
    monkeypatch.setattr(_compress, "_FIRST_COUNT", first_count)
    monkeypatch.setattr(_compress, "_CHUNK", chunk)
    rng = np.random.default_rng(first_count + chunk)
    outcomes = set()
    for _ in range(150):
        m, n = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        A = sp.random_array((m, n), density=float(rng.uniform(0.005, 0.2)), format=fmt, rng=rng)
        if A.nnz == 0:
            continue
        expected, got = _drop_empty_reference(A), _compress.drop_empty(A)
        outcomes.add(expected is None)
        if expected is None:
            assert got is None
            continue
        rows, cols = expected if fmt == "csr" else expected[::-1]
        assert np.array_equal(got.rows, rows) and np.array_equal(got.cols, cols)
        assert got.shape == (m, n)
        assert np.array_equal(got.A.toarray(), A.toarray()[np.ix_(rows, cols)])
    assert outcomes == {True, False}


def test_empty_line_scan_regression_stops_early_on_a_uniform_matrix(monkeypatch):
    """200 000² with 2·10⁶ uniformly placed entries: the scan stops after 2¹⁹ of them (it marked all before)."""
    A = sp.random_array((200_000, 200_000), density=1e-5, format="csr", rng=np.random.default_rng(5))
    marked = []
    real_zeros = np.zeros

    def counting_zeros(shape, dtype=float):
        out = real_zeros(shape, dtype)
        if dtype is bool:
            marked.append(out)
        return out

    monkeypatch.setattr(_compress.np, "zeros", counting_zeros)
    assert _compress.drop_empty(A) is None
    assert len(marked) == 1 and 0.75 * A.shape[1] < np.count_nonzero(marked[0]) < A.shape[1] * 0.9


def _other_format_variants(rng, m: int, n: int, nnz: int):
    """A random ``m x n`` matrix with about ``nnz`` entries as COO (with duplicates, some summing to an explicit
    zero), DOK, LIL and DIA (which also stores padding zeros), array and matrix classes."""
    rows, cols = rng.integers(0, m, nnz), rng.integers(0, n, nnz)
    vals = rng.standard_normal(nnz)
    if nnz >= 2:  # a duplicate pair summing to an explicit zero: its row and column stay
        rows[1], cols[1], vals[1] = rows[0], cols[0], -vals[0]
    coo = sp.coo_array((vals, (rows, cols)), shape=(m, n))
    yield coo
    yield sp.coo_matrix(coo)
    csr = coo.tocsr()
    for fmt in ("dok", "lil", "dia"):
        yield csr.asformat(fmt)
        yield getattr(sp, f"{fmt}_matrix")(csr)


def _csr_route_reference(A):
    """What spectra ran on before coordinates (SciPy's CSR, canonical, then the empty-line scan, which leaves a
    matrix without stored entries as it is)."""
    B = sp.csr_array(A.tocsr())
    B.sum_duplicates()
    return B, (_drop_empty_reference(B) if B.nnz else None)


@pytest.mark.parametrize("chunk", [1, 3, 16, 1 << 20])
def test_coordinates_build_the_matrix_of_the_csr_route(monkeypatch, chunk):
    """COO, DOK, LIL and DIA inputs are read as coordinates (LIL and DIA by spectra, in pieces of rows when long)
    and compressed from them when hypersparse: the matrix the methods run on, its index dtype and the kept
    rows and columns are those of SciPy's CSR conversion followed by the empty-line scan, for every piece size,
    for dense and hypersparse matrices, tall and wide."""
    monkeypatch.setattr(_sparse, "_CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    routes = set()
    for _ in range(40):
        m, n = int(rng.integers(1, 60)), int(rng.integers(1, 60))
        nnz = int(rng.integers(1, 2 * max(m, n)))
        for A in _other_format_variants(rng, m, n, nnz):
            P = _sparse.private_sparse(A, np.dtype(np.float64))
            routes.add(P.format)
            B, compressed = _compress.from_coordinates(P) if P.format == "coo" else (P, _compress.drop_empty(P))
            if compressed is not None:
                B = compressed.A
            ref, kept = _csr_route_reference(A)
            if ref.nnz == 0:  # no entries (DIA drops stored zeros): exactly zero, CSC when tall from coordinates
                assert compressed is None and B.shape == (m, n) and B.nnz == 0
                assert B.format == ("csc" if P.format == "coo" and m > n else "csr")
                continue
            assert B.format == "csr" and B.has_canonical_format and _sparse._is_canonical(B.indptr, B.indices)
            assert B.indices.dtype == ref.indices.dtype, (A.format, B.indices.dtype, ref.indices.dtype)
            if kept is None:
                assert compressed is None
                expected = ref
            else:
                rows, cols = kept
                assert np.array_equal(compressed.rows, rows) and np.array_equal(compressed.cols, cols)
                assert compressed.shape == (m, n)
                expected = ref[rows][:, cols]
            assert B.shape == expected.shape
            for name in ("indptr", "indices", "data"):
                assert np.array_equal(getattr(B, name), getattr(expected, name)), (A.format, name)
    assert routes == {"coo", "csr"}


# ---------------------------------------------------------------------------------------------- numba: equal values
def test_equal_values_are_checked_once_per_call(monkeypatch):
    """``norm`` enters the backend's context twice with the same private matrix: one full check per call."""
    calls = []
    real = nb_backend._all_equal
    monkeypatch.setattr(nb_backend, "_all_equal", lambda data: calls.append(data.size) or real(data))
    G = preferential_attachment_graph(3000, 3, seed=2)
    for _ in range(3):
        spectra.norm(G, method="lanczos", backend="numba", seed=0)
    assert calls == [G.nnz] * 3


def test_equal_values_changed_in_place_between_calls_are_noticed():
    """The caller's values array is shared, not copied: a value changed between two calls must be read (the
    answer of the first call's check belongs to that call's private matrix)."""
    G = preferential_attachment_graph(3000, 3, seed=2).astype(np.float64)
    first = spectra.norm(G, method="lanczos", backend="numba", seed=0)
    G.data[7] = 40.0  # one heavy edge
    second = spectra.norm(G, method="lanczos", backend="numba", seed=0)
    reference = spectra.norm(G, method="lanczos", backend="numpy", seed=0)
    assert second.upper > first.upper
    assert abs(second.value - reference.value) <= 1e-9 * reference.value
    assert second.lower <= reference.upper and reference.lower <= second.upper


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_results_are_bitwise_those_of_a_check_per_context(monkeypatch, dtype, fmt):
    """The answer reused by the second context is the answer the check gives: every field is bitwise that of a
    run that checks in both contexts (equal values, then plain values)."""
    G = preferential_attachment_graph(20_000, 4, seed=1).asformat(fmt).astype(dtype)
    W = G.copy()
    W.data = W.data * np.random.default_rng(0).uniform(0.5, 1.5, W.nnz).astype(W.data.dtype)
    for A in (G, W):
        for seed in range(3):
            once = spectra.norm(A, method="lanczos", backend="numba", seed=seed)
            with monkeypatch.context() as m:
                m.setattr(nb_backend, "_LAST_VALUES_CHECK", _Forgetful())
                twice = spectra.norm(A, method="lanczos", backend="numba", seed=seed)
            for field in ("value", "lower", "upper", "iterations", "matvecs"):
                assert getattr(once, field) == getattr(twice, field), field


class _Forgetful(list):
    """A memo that never remembers (every context checks the values again)."""

    def __init__(self):
        super().__init__([None])

    def __setitem__(self, i, value):
        pass


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("canonical", [True, False])
def test_bsr_with_one_by_one_blocks_is_read_as_csr(backend, canonical):
    """A BSR matrix of 1 x 1 blocks is a CSR matrix in other arrays; SciPy's BSR products on it were 2.5x
    (numba: 4x) slower than on the same CSR (200 000², 2e6 nonzeros: 3.0 s against 0.63 s, docs/performance.md).
    It is now read as CSR, sharing the caller's arrays, and gives the CSR input's result bit for bit."""
    if canonical:
        S = sp.random_array((300, 200), density=0.05, format="csr", rng=np.random.default_rng(3))
        B = sp.bsr_array(S, blocksize=(1, 1))
    else:  # row 0 holds column 2 twice and column 0 after it: summed and sorted in a copy, as CSR's are
        B = sp.bsr_array(
            (np.array([1.0, 2.0, 3.0, 5.0]).reshape(4, 1, 1), np.array([2, 0, 2, 1]), np.array([0, 3, 3, 4])),
            shape=(3, 3),
            blocksize=(1, 1),
        )
        S = sp.csr_array(np.array([[2.0, 0.0, 4.0], [0.0, 0.0, 0.0], [0.0, 5.0, 0.0]]))
    P = _sparse.private_sparse(B, np.dtype(np.float64))
    assert P.format == "csr"
    if canonical:
        assert np.shares_memory(P.data, B.data) and np.shares_memory(P.indices, B.indices)
    np.testing.assert_array_equal(P.toarray(), S.toarray())
    r_bsr = spectra.norm(B, method="lanczos", backend=backend, seed=0)
    r_csr = spectra.norm(S, method="lanczos", backend=backend, seed=0)
    assert r_bsr.interval == r_csr.interval and r_bsr.matvecs == r_csr.matvecs
