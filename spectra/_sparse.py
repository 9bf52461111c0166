"""SciPy sparse input as spectra reads it: a valid, canonical matrix that is never the caller's object.

SciPy canonicalises compressed matrices *in place* (``abs(A)``, ``sum_duplicates``, ``sort_indices``, and
every operation that calls them), and fails with "WRITEBACKIFCOPY base is read-only" when the arrays are
read-only. spectra therefore never calls a SciPy method on the caller's object. A CSR, CSC or BSR matrix
whose structure is already canonical (indices sorted and unique within every row/column) is read through
a new object that shares its arrays (no copy; only reads happen, so read-only and memory-mapped arrays
work); any other one is copied once and canonicalised in the copy. The remaining formats (COO, DIA, DOK,
LIL) become coordinates, a new COO object of their ``nnz`` entries, from which
:func:`spectra._compress.from_coordinates` builds the CSR matrix without its empty rows and columns, so that no
array as long as a side is allocated for a hypersparse matrix (a CSR ``indptr`` has an entry per row, empty or
not); a DIA or LIL matrix whose own storage is as long as its rows goes to CSR directly (SciPy's conversion).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["canonical_csr", "private_sparse"]

# Sparse formats read in place; the others become coordinates once (a copy of the nonzeros).
NATIVE_SPARSE = ("csr", "csc", "bsr")

_CHUNK = 1 << 20  # entries of the index array examined at a time (bounded temporaries)


def private_sparse(A: Any, working_dtype: np.dtype) -> Any:
    """A sparse array equal to ``A`` in ``working_dtype``, sharing ``A``'s arrays where it can.

    Parameters
    ----------
    A : scipy.sparse array or matrix
        The caller's matrix (2-D); only read.
    working_dtype : numpy.dtype
        The dtype of the result.

    Returns
    -------
    scipy.sparse array
        A canonical CSR, CSC or BSR array for those formats; for COO, DIA, DOK and LIL a canonical CSR array
        where its ``indptr`` costs no more than the input's own storage, else coordinates: a new COO array of the
        stored entries (duplicates not yet summed; DIA's zeros dropped, as SciPy drops them), ``O(nnz)``, which
        :func:`canonical_csr` or :func:`spectra._compress.from_coordinates` turn into CSR.

    Raises
    ------
    ValueError
        A CSR/CSC/BSR structure is invalid (``indptr`` not non-decreasing from 0, indices outside the matrix,
        arrays shorter than ``indptr[-1]``): SciPy checks this only on request (``check_format(full_check=True)``),
        and the kernels would read outside the arrays.
    """
    if not A.dtype.isnative:  # values read from a big-endian file: SciPy's constructors refuse them (a copy)
        A = A.astype(A.dtype.newbyteorder("="))
    if A.format in NATIVE_SPARSE:
        major, minor = _compressed_dims(A)
        _check_structure(A, major, minor)
        nnz = int(A.indptr[-1])
        if _is_canonical(A.indptr, A.indices):
            B = _compressed(A.format, A.data, A.indices, A.indptr, A, copy=False)
            B.has_canonical_format = True  # verified above; keeps SciPy from re-checking (and caching) later
        else:
            B = _compressed(A.format, A.data[:nnz], A.indices[:nnz], A.indptr, A, copy=True)
            B.sum_duplicates()  # sorts and sums in the copy
    else:
        B = _other_format(A)  # COO/LIL/DOK/DIA are left as they are
    if B.format == "bsr" and B.blocksize == (1, 1):  # a CSR matrix in BSR's arrays: SciPy's CSR products are
        B = _compressed("csr", B.data.reshape(-1), B.indices, B.indptr, B, copy=False)  # 2.5x faster, numba's too
        B.has_canonical_format = True
    if B.dtype != working_dtype:
        B = B.astype(working_dtype)
    return B


def canonical_csr(A) -> sp.csr_array:
    """A canonical CSR array (sorted indices, duplicates summed) of a sparse matrix ``A`` that spectra owns.

    Its ``indptr`` has ``m + 1`` entries: coordinates of a matrix with many empty rows go through
    :func:`spectra._compress.from_coordinates` instead, which leaves those rows out.
    """
    B = sp.csr_array(A.tocsr())
    if not _is_canonical(B.indptr, B.indices):
        B.sum_duplicates()
    B.has_canonical_format = True
    return B


def _other_format(A):
    """A COO, DIA, DOK or LIL matrix as a new canonical CSR array, or as coordinates (a new COO array).

    SciPy converts to CSR through an ``indptr`` of ``m + 1`` entries, one per row, empty or not (DIA, LIL, and
    COO and DOK through ``tocsr``). spectra takes that route for DIA and LIL only where those entries cost no
    more than the entries stored (at least ``m + 1`` diagonal slots, or list entries); otherwise it reads the
    coordinates, ``O(nnz)``, and
    :func:`spectra._compress.from_coordinates` builds the CSR matrix without the empty lines. A COO matrix's
    arrays are shared (they are only read).
    """
    m, n = A.shape
    if A.format == "dia" and m + 1 > A.data.size:
        width = min(A.data.shape[1], n)
        rows, cols, vals = [], [], []
        for k, offset in enumerate(A.offsets.tolist()):  # entry j of diagonal k is A[j - offset, j]
            lo, hi = max(0, offset), min(width, m + offset)
            if lo < hi:  # DIA pads its diagonals with zeros: SciPy drops every zero, and so does this
                j = lo + np.flatnonzero(A.data[k, lo:hi])
                rows.append(j - offset)
                cols.append(j)
                vals.append(A.data[k, j])
        return _coo(A, rows, cols, vals)
    if A.format == "lil":
        C = _lil_coordinates(A)
        return canonical_csr(A) if C is None else C
    if A.format == "dia":
        return canonical_csr(A)
    C = A.tocoo()  # COO: A itself; DOK: new arrays
    # the class of C (array or matrix: SciPy narrows a matrix's indices where they fit), its indices' range checked
    B = type(C)((C.data, (C.row, C.col)), shape=A.shape, copy=False)
    # sorted without duplicates, says the flag: canonical_csr then skips the sort, and checks the order itself
    B.has_canonical_format = bool(C.has_canonical_format)
    return B


def _lil_coordinates(A) -> sp.coo_array | None:
    """The entries of a LIL matrix that stores at most ``m`` of them, else ``None`` (SciPy's CSR conversion then
    costs no more than its entries, and is faster).

    The row lengths are read a piece of rows at a time (bounded temporaries), and only the nonempty rows' lists
    are flattened, once their count is known to stay at most ``m``.
    """
    m = A.shape[0]
    step, total, full, lengths = _lines_at_a_time(), 0, [], []
    for r0 in range(0, m, step):
        piece = np.fromiter(map(len, A.rows[r0 : r0 + step]), dtype=np.intp, count=min(step, m - r0))
        total += int(piece.sum())
        if total > m:
            return None
        nonempty = np.flatnonzero(piece)
        full.append(nonempty + r0)
        lengths.append(piece[nonempty])
    full = np.concatenate(full) if full else np.zeros(0, dtype=np.intp)
    rows = np.repeat(full, np.concatenate(lengths) if lengths else full)
    cols = np.fromiter(itertools.chain.from_iterable(A.rows[full]), dtype=np.intp, count=total)
    vals = np.fromiter(itertools.chain.from_iterable(A.data[full]), dtype=A.dtype, count=total)
    return _coo(A, [rows], [cols], [vals])


def _coo(A, rows: list, cols: list, vals: list) -> sp.coo_array:
    """The COO array of ``A``'s shape and dtype from pieces of coordinates, with the index dtype SciPy's own
    conversions of DIA and LIL give (int32 where every index and the entry count fit)."""
    if not cols:
        return sp.coo_array(A.shape, dtype=A.dtype)
    data = np.concatenate(vals)
    fits = max(*A.shape, data.shape[0]) <= np.iinfo(np.int32).max
    index = np.int32 if fits else np.int64
    coords = (np.concatenate(rows).astype(index, copy=False), np.concatenate(cols).astype(index, copy=False))
    return sp.coo_array((data, coords), shape=A.shape)


def _compressed_dims(A) -> tuple[int, int]:
    """Number of compressed (major) and indexed (minor) lines, in blocks for BSR."""
    m, n = A.shape
    if A.format == "bsr":
        r, c = A.blocksize
        m, n = m // r, n // c
    return (n, m) if A.format == "csc" else (m, n)


def _compressed(fmt: str, data, indices, indptr, like, copy: bool):
    cls = {"csr": sp.csr_array, "csc": sp.csc_array, "bsr": sp.bsr_array}[fmt]
    kwargs = {"blocksize": like.blocksize} if fmt == "bsr" else {}
    return cls((data, indices, indptr), shape=like.shape, copy=copy, **kwargs)


def _check_structure(A, major: int, minor: int) -> None:
    indptr, indices = A.indptr, A.indices
    name = A.format.upper()
    if indptr.shape != (major + 1,) or int(indptr[0]) != 0 or _decreases(indptr):
        raise ValueError(
            f"A is not a valid {name} matrix: indptr must have {major + 1} entries, start at 0 and never "
            "decrease; build it with scipy.sparse from valid (data, indices, indptr) or from coordinates"
        )
    nnz = int(indptr[-1])
    if indices.shape[0] < nnz or A.data.shape[0] < nnz:
        raise ValueError(f"A is not a valid {name} matrix: indptr[-1] = {nnz} exceeds the stored entries")
    for p0 in range(0, nnz, _CHUNK):
        chunk = indices[p0 : min(nnz, p0 + _CHUNK)]
        if int(chunk.min()) < 0 or int(chunk.max()) >= minor:
            raise ValueError(
                f"A is not a valid {name} matrix: an index lies outside [0, {minor}) (the matrix has shape {A.shape})"
            )


def _is_canonical(indptr, indices) -> bool:
    """Indices strictly increasing within every compressed line (sorted, no duplicates), in bounded chunks."""
    nnz = int(indptr[-1])
    for p0 in range(0, nnz, _CHUNK):
        p1 = min(nnz, p0 + _CHUNK + 1)  # one entry of overlap: steps across chunk borders are tested too
        chunk = indices[p0:p1]
        # the step into entry p0 + i + 1; compared in the index dtype (no widened copy, no differences: 3x faster)
        flat = chunk[1:] <= chunk[:-1]
        # a new line starts at every indptr value inside (p0, p1): its first step may go down
        lo, hi = np.searchsorted(indptr, p0, side="right"), np.searchsorted(indptr, p1, side="left")
        # as many starts as lines, empty or not (a tall hypersparse CSR has millions in one chunk of entries):
        # read in bounded pieces, in indptr's dtype (p0 < start < p1 keeps the difference in range)
        step = _lines_at_a_time()
        for q0 in range(lo, hi, step):
            flat[indptr[q0 : min(hi, q0 + step)] - (p0 + 1)] = False
        if flat.any():
            return False
    return True


def _lines_at_a_time() -> int:
    """Lines (of a LIL matrix, or line starts of a compressed one) read at a time: 512 KiB of 8-byte integers."""
    return max(1, _CHUNK >> 4)


def _decreases(indptr) -> bool:
    """Whether ``indptr`` ever decreases, read in chunks (bounded temporaries for any number of lines)."""
    for q0 in range(0, indptr.shape[0] - 1, _CHUNK):
        piece = indptr[q0 : q0 + _CHUNK + 1]  # one entry of overlap
        if np.any(piece[1:] < piece[:-1]):
            return True
    return False
