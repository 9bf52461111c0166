"""Numba kernels against the NumPy oracle, the backend's dispatch rules, and the pure-Python fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import spectra
from spectra._testing import matrix_with_singular_values, spectrum
from spectra.backends import NUMBA_MIN_ENTRIES
from spectra.backends._pass_schedule import PassSchedule
from spectra.backends.numba import NumbaBackend

from .conftest import random_matrix as _rand

ROOT = Path(__file__).resolve().parents[1]
DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
# (1003, 33): several rows per prefetch stream in every row block (the sweeps take rows h apart) and a tail
SHAPES = [(7, 5), (5, 7), (6, 6), (1, 9), (9, 1), (1, 1), (203, 61), (61, 611), (1003, 33)]


def _tol(dtype):
    return 2e-5 if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64)) else 1e-13


def _check(Y, Z, A, X, c, adjoint, dtype):
    Ah = A.conj().swapaxes(-1, -2)
    Yo = (Ah if adjoint else A) @ X
    Zo = (A if adjoint else Ah) @ (c * Yo)
    scale_y = max(np.abs(Yo).max(), 1.0)
    scale_z = max(np.abs(Zo).max(), 1.0)
    np.testing.assert_allclose(Y, Yo, atol=_tol(dtype) * scale_y * 10)
    np.testing.assert_allclose(Z, Zo, atol=_tol(dtype) * scale_z * 10)
    assert Y.dtype == A.dtype and Z.dtype == A.dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("k", [1, 3, 16])
@pytest.mark.parametrize("serial_below", [0, 1 << 62])
def test_dense_gram_matches_numpy(dtype, shape, order, k, serial_below, monkeypatch):
    import spectra.backends.numba as nb_backend

    monkeypatch.setattr(nb_backend, "DENSE_SERIAL_BELOW", serial_below)  # the parallel kernel and its serial twin
    be = NumbaBackend()
    A = np.asarray(_rand(shape, dtype), order=order)
    adjoint = be.fused_gram_adjoint(A)
    assert adjoint is (order == "F") or (shape[0] == 1 or shape[1] == 1)  # vectors are both C and F
    X = _rand((shape[1] if not adjoint else shape[0], k), dtype, seed=1)
    for inner in (None, 0.5):  # the fused kernels; a scaled operand's two products in order
        Y, Z = be.gram(A, X, inner=inner, adjoint=adjoint)
        _check(Y, Z, A, X, 1.0 if inner is None else inner, adjoint, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("adjoint", [False, True])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("serial_below", [0, 1 << 62])
def test_wide_product_reads_single_precision_in_place(monkeypatch, dtype, order, adjoint, k, serial_below):
    """The certificate's double-precision product of a float32/complex64 matrix: as accurate as a float64
    product of the widened matrix, computed without widened row blocks (the generic path)."""
    import spectra.backends.numba as nb_backend
    from spectra.backends import _base

    monkeypatch.setattr(nb_backend, "DENSE_SERIAL_BELOW", serial_below)

    def no_chunks(A):
        raise AssertionError("the widened row blocks of the generic path were used")

    monkeypatch.setattr(_base, "_row_chunks", no_chunks)
    be = NumbaBackend()
    A = np.asarray(_rand((203, 61), dtype), order=order)
    wide = np.complex128 if np.iscomplexobj(A) else np.float64
    X = _rand((A.shape[0] if adjoint else A.shape[1], k), wide, seed=1)
    Y = be.wide_product(A, X, adjoint)
    Ad = A.astype(wide)
    oracle = (Ad.conj().T if adjoint else Ad) @ X
    assert Y.dtype == wide and Y.shape == oracle.shape
    np.testing.assert_allclose(Y, oracle, rtol=0, atol=1e-13 * np.abs(oracle).max())


def test_float32_certificate_uses_the_wide_kernel(monkeypatch):
    """One double-precision product per call, through the one-read kernel (its serial twin for this small
    matrix); the interval holds."""
    from spectra.backends import _numba_kernels, _numba_serial

    calls = []
    for module in (_numba_kernels, _numba_serial):
        kernel = module.wide_product_rows
        monkeypatch.setattr(module, "wide_product_rows", lambda *a, k=kernel: calls.append(1) or k(*a))
    from spectra.methods._small_stack import SMALL_GRAM_MAX

    n = SMALL_GRAM_MAX + 36  # above the small-matrix certificate's Gram order: the Krylov path and its product
    A = matrix_with_singular_values(spectrum("outlier", n), n + 50, n, dtype=np.float32, seed=3)
    truth = np.linalg.norm(A.astype(np.float64), 2)
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    assert len(calls) == 1
    assert r.lower <= truth <= r.upper


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("index", ["int32", "int64", "mixed"])
@pytest.mark.parametrize("serial_below", [0, 1 << 62])
def test_sparse_gram_matches_numpy(dtype, fmt, k, index, serial_below, monkeypatch):
    import spectra.backends.numba as nb_backend

    monkeypatch.setattr(nb_backend, "SERIAL_BELOW", serial_below)  # the parallel kernel and the serial one
    be = NumbaBackend()
    S = sp.random_array((40, 30), density=0.2, format=fmt, rng=2).astype(dtype)
    S = S.tolil()
    S[5, :] = 0  # empty row
    S[:, 7] = 0  # empty column
    S[-3:, :] = 0  # trailing empty rows (the last nonzero-balanced block must still end at the last row)
    S[:, -3:] = 0
    S = S.asformat(fmt)
    S.indptr = S.indptr.astype("int32" if index == "int32" else "int64")
    S.indices = S.indices.astype("int64" if index == "int64" else "int32")
    adjoint = be.fused_gram_adjoint(S)
    assert adjoint is (fmt == "csc")
    X = _rand((S.shape[0] if adjoint else S.shape[1], k), dtype, seed=3)
    Y, Z = be.gram(S, X, inner=2.0, adjoint=adjoint)
    _check(Y, Z, S.toarray(), X, 2.0, adjoint, dtype)


def _equal_values(S, value, dtype):
    S = S.astype(dtype)
    S.data[:] = value
    return S


def _spy_value_strides(monkeypatch, nb_backend) -> list[int]:
    """Record the stride of the values array every CSR pass (parallel kernel or serial twin) is given."""
    strides: list[int] = []
    for name in ("csr_gram", "csr_gram_serial"):
        kernel = getattr(nb_backend.sparse_kernels, name)

        def spy(indptr, indices, data, *args, kernel=kernel):
            strides.append(data.strides[0])
            return kernel(indptr, indices, data, *args)

        monkeypatch.setattr(nb_backend.sparse_kernels, name, spy)
    return strides


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("serial_below", [0, 1 << 62])
def test_equal_stored_values_are_read_as_one_value(dtype, fmt, k, index, serial_below, monkeypatch):
    """A matrix whose stored values are all equal (an unweighted graph; here also a complex one, where the
    adjoint conjugates it) is read with its values as one broadcast value (stride 0) inside the backend's
    context: the same products bit for bit as the plain pass, which match the dense oracle."""
    import spectra.backends.numba as nb_backend

    monkeypatch.setattr(nb_backend, "SERIAL_BELOW", serial_below)  # the parallel kernel and the serial one
    value = 2 - 1j if np.dtype(dtype).kind == "c" else -0.75
    S = _equal_values(sp.random_array((60, 45), density=0.2, format=fmt, rng=5), value, dtype)
    S.indptr, S.indices = S.indptr.astype(index), S.indices.astype(index)
    strides = _spy_value_strides(monkeypatch, nb_backend)
    be = NumbaBackend()
    adjoint = be.fused_gram_adjoint(S)
    X = _rand((S.shape[0] if adjoint else S.shape[1], k), dtype, seed=6)
    plain = be.gram(S, X, inner=0.5, adjoint=adjoint)
    with be.context(S):
        one_value = be.gram(S, X, inner=0.5, adjoint=adjoint)
    assert strides == [S.data.itemsize, 0]
    for a, b in zip(plain, one_value, strict=True):
        assert np.array_equal(a, b)
    _check(*one_value, S.toarray(), X, 0.5, adjoint, dtype)


@pytest.mark.parametrize("busy", [False, True])
def test_unequal_or_other_values_are_read_in_full(monkeypatch, busy):
    """The one-value read applies only to the very values array found equal in the context: a matrix with
    one different value, or another matrix multiplied inside that context, is read in full (whether the
    pass schedule starts parallel or, on a busy machine, serial)."""
    import spectra.backends.numba as nb_backend

    monkeypatch.setattr(nb_backend, "SERIAL_BELOW", 0)
    monkeypatch.setattr(nb_backend, "start_schedule", lambda threads: PassSchedule(busy))
    # inside a context a pass may run the parallel kernel or its serial twin (chosen by time and load)
    strides = _spy_value_strides(monkeypatch, nb_backend)
    be = NumbaBackend()
    S = _equal_values(sp.random_array((50, 40), density=0.3, format="csr", rng=7), 1.0, np.float64)
    T = S.copy()
    T.data[-1] = 1.5  # after the prefix the check reads first
    X = _rand((40, 1), np.float64, seed=8)
    with be.context(T):
        _, Z = be.gram(T, X)
    np.testing.assert_allclose(Z, T.toarray().T @ (T.toarray() @ X), rtol=1e-13)
    with be.context(S):
        be.gram(S.copy(), X)  # equal values, but not the array the context checked
    assert strides == [8, 8]


def test_unweighted_graph_norm_is_that_of_the_plain_pass(monkeypatch):
    """``lanczos`` on a preferential-attachment graph (all stored values 1): the one-value read leaves every
    field of the result bitwise unchanged, and the interval holds the dense SVD's norm."""
    import spectra.backends.numba as nb_backend
    from spectra._testing import preferential_attachment_graph

    monkeypatch.setattr(nb_backend, "SERIAL_BELOW", 0)
    A = preferential_attachment_graph(3000, 3, seed=1)
    assert np.all(A.data == 1)
    fast = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    monkeypatch.setattr(nb_backend, "_stored_values", lambda data: data)
    plain = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    assert (fast.value, fast.lower, fast.upper, fast.matvecs) == (plain.value, plain.lower, plain.upper, plain.matvecs)
    exact = np.linalg.norm(A.toarray(), 2)
    assert fast.lower <= exact * (1 + 1e-13) and exact <= fast.upper * (1 + 1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_gram(dtype):
    be = NumbaBackend()
    A = _rand((3, 2, 8, 5), dtype)
    X = _rand((3, 2, 5, 2), dtype, seed=4)
    c = np.arange(1.0, 7.0).reshape(3, 2, 1, 1)
    Y, Z = be.gram(A, X, inner=c, adjoint=False)
    Yo = A @ X
    Zo = A.conj().swapaxes(-1, -2) @ (Yo * c)
    np.testing.assert_allclose(Y, Yo, atol=_tol(dtype) * 50)
    np.testing.assert_allclose(Z, Zo, atol=_tol(dtype) * 500)


def test_unfused_layouts_fall_back():
    be = NumbaBackend()
    A = _rand((6, 4), np.float64)
    assert be.fused_gram_adjoint(np.asfortranarray(np.stack([A, A]))) is None  # F-ordered stack
    assert be.fused_gram_adjoint(sp.bsr_array(A)) is None
    assert be.fused_gram_adjoint(A.astype(np.int64)) is None
    X = _rand((4, 1), np.float64)
    _, Z = be.gram(sp.bsr_array(A), X)
    np.testing.assert_allclose(Z, A.T @ (A @ X))


@pytest.mark.parametrize("serial_below", [0, 1 << 62])
def test_sparse_indices_are_never_narrowed(monkeypatch, serial_below):
    """Regression: int64 index arrays used to be cast to int32, which wraps for more than 2**31 nonzeros."""
    import spectra.backends.numba as nb_backend

    monkeypatch.setattr(nb_backend, "SERIAL_BELOW", serial_below)
    seen = []
    for name in ("csr_gram", "csr_gram_serial"):
        kernel = getattr(nb_backend.sparse_kernels, name)

        def spy(indptr, indices, *args, kernel=kernel):
            seen.append((indptr.dtype, indices.dtype, np.shares_memory(indices, S.indices)))
            return kernel(indptr, indices, *args)

        monkeypatch.setattr(nb_backend.sparse_kernels, name, spy)
    S = sp.random_array((30, 20), density=0.3, format="csr", rng=4)
    S.indptr, S.indices = S.indptr.astype(np.int64), S.indices.astype(np.int64)
    NumbaBackend().gram(S, np.ones((20, 1)))
    assert seen == [(np.dtype(np.uint64), np.dtype(np.uint64), True)]  # same bytes, no copy per call


def _dispatchers():
    """Every Numba dispatcher of the backend's kernels (and of the helpers they call), by name."""
    import numba

    from spectra.backends import _numba_kernels, _numba_serial, _numba_sparse
    from spectra.backends._numba_jit import LazyKernel

    found = {
        f"{mod.__name__}.{name}": f.dispatcher if isinstance(f, LazyKernel) else f
        for mod in (_numba_kernels, _numba_serial, _numba_sparse)
        for name, f in vars(mod).items()
        if isinstance(f, numba.core.registry.CPUDispatcher | LazyKernel)
    }
    assert len(found) >= 14 and any(isinstance(f, LazyKernel) for f in vars(_numba_kernels).values())
    return found


def _only_declared_signatures():
    """Every typed kernel compiled only signatures it declares (read-only C-ordered inputs), and cannot compile
    any other: no layout or mutability specialisation is ever built for a call."""
    from spectra.backends._numba_jit import REGISTRY

    for kernel in REGISTRY:
        declared = {tuple(sig.args) for _, sig in kernel.declared.values()}
        assert set(kernel.overloads) <= declared, kernel
        assert not kernel.dispatcher._can_compile, kernel


def test_small_sparse_products_start_no_parallel_region_and_compile_nothing(monkeypatch):
    """Regression: ``power`` on a tiny sparse matrix took 20-40 ms per product on the numba backend. Every
    product started the parallel kernel, whose sleeping worker threads take that long to wake on a loaded
    machine. Small passes now run the serial kernel; and a call compiles nothing beyond the declared signature
    of its dtype (compiled, or loaded from the cache, by the first call)."""
    import spectra.backends.numba as nb_backend

    A = sp.random_array((50, 40), density=0.1, format="csr", rng=np.random.default_rng(0))
    spectra.norm(A, method="power", backend="numba", seed=0, maxiter=200)  # the first call of this kind
    kernels = _dispatchers()
    compiled = {name: len(f.overloads) for name, f in kernels.items()}
    calls = {"csr_gram": 0, "csr_gram_serial": 0}
    for name in calls:
        kernel = getattr(nb_backend.sparse_kernels, name)

        def count(*args, name=name, kernel=kernel):
            calls[name] += 1
            return kernel(*args)

        monkeypatch.setattr(nb_backend.sparse_kernels, name, count)
    r = spectra.norm(A, method="power", backend="numba", seed=0, maxiter=200)
    exact = np.linalg.norm(A.toarray(), 2)
    assert r.lower <= exact * (1 + 1e-12) and exact <= r.upper * (1 + 1e-12)
    assert calls["csr_gram"] == 0 and calls["csr_gram_serial"] == r.iterations > 1
    assert {name: len(f.overloads) for name, f in kernels.items()} == compiled
    _only_declared_signatures()


_DENSE_KERNELS = ("dense_gram", "max_abs_rows", "max_abs_bits_rows", "abs_stats_rows", "wide_product_rows")


def _count_dense_kernels(monkeypatch):
    """Calls of each dense kernel, ``{("parallel" | "serial", name): count}``, counted from now on."""
    import spectra.backends.numba as nb_backend

    calls = {}
    for variant, module in (("parallel", nb_backend.kernels), ("serial", nb_backend.serial_kernels)):
        for name in _DENSE_KERNELS:
            calls[variant, name] = 0
            kernel = getattr(module, name)

            def count(*args, key=(variant, name), kernel=kernel):
                calls[key] += 1
                return kernel(*args)

            monkeypatch.setattr(module, name, count)
    return calls


@pytest.mark.parametrize("method", ["power", "lanczos"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_dense_products_start_no_parallel_region_and_compile_nothing(monkeypatch, method, dtype):
    """Regression: an explicit ``backend="numba"`` on a 400 x 400 float32 matrix took 4.3 s under load, against
    0.17 s on numpy: every Gram pass (and the entry statistics and the certificate's product) started a parallel
    region, whose sleeping worker threads take tens of milliseconds to wake on a busy machine. Small dense passes
    now run the serial twins of the same kernels; no parallel kernel is called, a call after the first compiles
    nothing (the first compiles only declared signatures), and the interval holds the LAPACK norm."""
    A = matrix_with_singular_values(spectrum("outlier", 400), 400, 400, dtype=dtype, seed=3)
    spectra.norm(A, method=method, backend="numba", seed=0, maxiter=300)  # the first call of this kind
    kernels = _dispatchers()
    compiled = {name: len(f.overloads) for name, f in kernels.items()}
    calls = _count_dense_kernels(monkeypatch)
    r = spectra.norm(A, method=method, backend="numba", seed=0, maxiter=300)
    exact = np.linalg.norm(A.astype(np.float64), 2)
    assert r.lower <= exact <= r.upper
    assert not any(calls["parallel", name] for name in _DENSE_KERNELS), calls
    assert calls["serial", "dense_gram"] >= r.iterations > 1
    assert calls["serial", "max_abs_rows"] + calls["serial", "max_abs_bits_rows"] == 0  # read with the statistics
    assert calls["serial", "abs_stats_rows"] == 1
    assert calls["serial", "wide_product_rows"] == (1 if dtype == np.float32 else 0)  # the certificate's product
    assert {name: len(f.overloads) for name, f in kernels.items()} == compiled
    _only_declared_signatures()


def test_large_dense_products_keep_the_parallel_kernels(monkeypatch):
    """Above ``DENSE_SERIAL_BELOW`` entries x columns every dense pass stays parallel.

    Regression (CI, stop 20): on a busy machine the pass schedule ran some passes in its one-thread mode (the
    parallel kernel on one thread, through a wrapper this count cannot see), and the count fell one short of the
    iterations. The schedule has its own tests (tests/test_pass_schedule.py); here it is off, so that the test
    measures the size threshold alone."""
    import spectra.backends.numba as nb_backend

    monkeypatch.setattr(nb_backend, "DENSE_SERIAL_BELOW", 400 * 300)
    monkeypatch.setattr(nb_backend, "SCHEDULE_DENSE_PASSES", False)
    monkeypatch.setattr(nb_backend.numba, "get_num_threads", lambda: 2)  # as on a machine with two threads
    calls = _count_dense_kernels(monkeypatch)
    A = matrix_with_singular_values(spectrum("outlier", 300), 400, 300, dtype=np.float32, seed=3)
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    assert r.lower <= np.linalg.norm(A.astype(np.float64), 2) <= r.upper
    assert not any(calls["serial", name] for name in _DENSE_KERNELS), calls
    assert calls["parallel", "dense_gram"] >= r.iterations > 1 and calls["parallel", "wide_product_rows"] == 1


@pytest.mark.parametrize("method", ["power", "lanczos"])
@pytest.mark.parametrize("exponent", [1020, -1020])
@pytest.mark.parametrize("layout", ["C", "F", "stack"])
@pytest.mark.parametrize("serial_below", [0, 1 << 62])
def test_scaled_operands_near_the_ends_of_the_range(monkeypatch, method, exponent, layout, serial_below):
    """Regression: a 200 x 9 matrix with entries near 1e307 raised "the products with A produced non-finite
    values" on the numba backend. Its products carry a power-of-two scale ``c`` (``A^H (c (A x))``), and the fused
    kernel's reassociation of its eight-row sweep applied ``c`` after the products ``b (A x)``, which overflow.
    Scaled dense operands now take the two products in order (stacks and sparse matrices, whose kernels sum no
    rows, stay fused); the interval holds the LAPACK norm (scaled exactly by a power of two)."""
    import spectra.backends.numba as nb_backend

    monkeypatch.setattr(nb_backend, "DENSE_SERIAL_BELOW", serial_below)
    G = np.random.default_rng(0).standard_normal((200, 9))
    G /= np.max(np.abs(G))
    A = np.ldexp(G, exponent)
    if layout == "F":
        A = np.asfortranarray(A.T)
    elif layout == "stack":
        A = np.stack([A, A[::-1]])
    truth = np.ldexp(np.linalg.norm(G, 2), exponent)
    r = spectra.norm(A, method=method, backend="numba", seed=1)
    assert np.all(r.lower <= truth) and np.all(truth <= r.upper)
    if method == "lanczos":
        assert np.all(r.converged) and np.all(r.upper <= truth * (1 + 1e-6))


def test_serial_twins_have_their_own_cache_files():
    """The twins are compiled from the kernels' own functions with ``parallel=False``. Numba's cache index does
    not tell a parallel build from a serial one of the same code, so each twin needs a cache file of its own,
    or one variant would load the other's machine code."""
    from spectra.backends import _numba_kernels, _numba_serial

    for name in _DENSE_KERNELS:
        twin, kernel = getattr(_numba_serial, name), getattr(_numba_kernels, name)
        assert twin.py_func.__code__ is kernel.py_func.__code__  # one source
        assert twin.targetoptions["parallel"] is False and kernel.targetoptions["parallel"] is True
        assert twin.declared == kernel.declared and not twin.dispatcher._can_compile
        index = twin.dispatcher._cache._cache_file._index_name
        assert index != kernel.dispatcher._cache._cache_file._index_name and f"{name}_serial" in index


def test_sparse_gram_without_nonzeros():
    be = NumbaBackend()
    S = sp.csr_array((5, 4))
    Y, Z = be.gram(S, np.ones((4, 2)))
    assert not Y.any() and not Z.any() and Z.shape == (4, 2)


def test_deterministic_for_fixed_threads():
    be = NumbaBackend()
    A = _rand((500, 300), np.float64)
    X = _rand((300, 1), np.float64, seed=1)
    Z1 = be.gram(A, X)[1]
    Z2 = be.gram(A, X)[1]
    assert np.array_equal(Z1, Z2)


@pytest.mark.parametrize("method", ["power", "lanczos"])
def test_stack_of_many_small_matrices(method):
    A = np.stack(
        [matrix_with_singular_values(spectrum("outlier", 16) * (1 + i % 5), 16, 16, seed=i) for i in range(200)]
    )
    r = spectra.norm(A, method=method, backend="numba", seed=0)
    np.testing.assert_allclose(r.value, 1 + np.arange(200) % 5, rtol=1e-5)


def test_readonly_and_strided_inputs():
    base = matrix_with_singular_values(spectrum("outlier", 40), 80, 60, seed=1)
    ro = base.copy()
    ro.setflags(write=False)
    for A in (ro, base[::2, ::2]):
        r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
        assert abs(r.value - np.linalg.norm(A, 2)) < 1e-12


def test_auto_moves_large_problems_to_numba():
    small = np.ones((10, 10))
    assert spectra.norm(small, method="lanczos").backend == "numpy"
    n = int(np.ceil(np.sqrt(NUMBA_MIN_ENTRIES)))
    big = matrix_with_singular_values(spectrum("outlier", 50), n, n, seed=0)
    r = spectra.norm(big, method="lanczos", seed=0)
    assert r.backend == "numba" and abs(r.value - 1.0) < 1e-12
    assert spectra.norm(big, method="randomized", seed=0, maxiter=2).backend == "numpy"  # no Gram kernel use
    assert spectra.norm(big, method="lanczos", backend="numpy", seed=0).backend == "numpy"


def test_numba_backend_refuses_foreign_arrays():
    import array_api_strict as xs

    with pytest.raises(ValueError, match="backend='numba' takes NumPy arrays"):
        spectra.norm(xs.asarray(np.eye(3)), backend="numba")


def _run(code: str, env_extra: dict):
    env = dict(os.environ, **env_extra)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, cwd=ROOT
    )


def test_kernels_under_disable_jit():
    """The kernels' logic, run as plain Python (NUMBA_DISABLE_JIT=1) on tiny inputs."""
    code = """
        import numpy as np, scipy.sparse as sp
        from spectra.backends.numba import NumbaBackend
        be = NumbaBackend()
        rng = np.random.default_rng(0)
        for dt in (np.float64, np.complex128):
            for order in "CF":
                A = np.asarray(rng.standard_normal((7, 5)).astype(dt), order=order)
                adj = be.fused_gram_adjoint(A)
                X = rng.standard_normal((A.shape[1] if not adj else A.shape[0], 2)).astype(dt)
                Y, Z = be.gram(A, X, inner=0.5, adjoint=adj)
                Ah = A.conj().T
                Yo = (Ah if adj else A) @ X
                assert np.allclose(Y, Yo) and np.allclose(Z, (A if adj else Ah) @ (0.5 * Yo))
            S = sp.random_array((9, 6), density=0.4, format="csr", rng=1).astype(dt)
            X = rng.standard_normal((6, 1)).astype(dt)
            Y, Z = be.gram(S, X)
            assert np.allclose(Z, S.toarray().conj().T @ (S.toarray() @ X))
            A3 = rng.standard_normal((2, 4, 3)).astype(dt)
            X3 = rng.standard_normal((2, 3, 1)).astype(dt)
            Y, Z = be.gram(A3, X3)
            assert np.allclose(Z, A3.conj().swapaxes(-1, -2) @ (A3 @ X3))
            for order in "CF":  # one-read entry statistics
                A = np.asarray(rng.standard_normal((7, 5)).astype(dt), order=order)
                a = np.abs(A)
                assert np.isclose(be.max_abs(A)[0], a.max())
                st = be.abs_stats(A, np.array([2.0]), np.array([0.5]))
                assert np.isclose(st.fro[0], np.sqrt((a**2).sum()))
                assert np.isclose(st.maxcol[0], np.sqrt((a**2).sum(axis=0).max()))
                assert np.isclose(st.maxrow[0], np.sqrt((a**2).sum(axis=1).max()))
                G = a.T @ a if order == "C" else a @ a.T
                assert np.isclose(st.gersh[0], np.sqrt(G.sum(axis=1).max()))
                A[2, 3] = np.nan
                assert np.isnan(be.max_abs(A)[0])
            Q = np.linalg.qr(rng.standard_normal((9, 3)).astype(dt))[0].T.copy().T  # basis as C-ordered rows
            W = rng.standard_normal((9, 1)).astype(dt)
            w, C = be.project_out(W, Q)
            assert np.allclose(Q @ C + w, W) and np.abs(Q.conj().T @ w).max() < 1e-12
        for dt, wide in ((np.float32, np.float64), (np.complex64, np.complex128)):  # the certificate's product
            for order in "CF":
                A = np.asarray((rng.standard_normal((7, 5)) + 0.5j * (dt == np.complex64)).astype(dt), order=order)
                for adj in (False, True):
                    X = rng.standard_normal((A.shape[0] if adj else A.shape[1], 2)).astype(wide)
                    Ad = A.astype(wide)
                    assert np.allclose(be.wide_product(A, X, adj), (Ad.conj().T if adj else Ad) @ X, rtol=1e-14)
        import numba
        assert numba.config.DISABLE_JIT
        print("ok")
    """
    proc = _run(code, {"NUMBA_DISABLE_JIT": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_missing_numba_names_the_extra():
    code = """
        import sys
        sys.modules["numba"] = None  # as if numba were not installed
        import numpy as np, spectra
        r = spectra.norm(np.ones((3000, 1000)), method="lanczos", seed=0)  # auto stays on numpy
        assert r.backend == "numpy", r.backend
        try:
            spectra.norm(np.eye(3), backend="numba")
        except spectra.BackendUnavailableError as exc:
            assert isinstance(exc, ImportError)
            print(exc)
    """
    proc = _run(code, {})
    assert proc.returncode == 0, proc.stderr
    assert 'pip install "spectra-linalg[numba]"' in proc.stdout


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", [(37, 23), (23, 37), (1, 9), (9, 1), (203, 61)])  # rows in groups of 4 and left over
@pytest.mark.parametrize("serial_below", [0, 1 << 62])
def test_entry_statistics_match_numpy(dtype, order, shape, serial_below, monkeypatch):
    """One-read max |a| and entry statistics against the generic NumPy reductions (float64 oracle)."""
    import spectra.backends.numba as nb_backend

    monkeypatch.setattr(nb_backend, "DENSE_SERIAL_BELOW", serial_below)
    A = np.asarray(_rand(shape, dtype) * 1e-3, order=order)
    be, ref = NumbaBackend(), spectra.backends.numpy.NumPyBackend()
    exact = np.abs(A.astype(np.complex128)).max()  # complex64 moduli are formed in float64
    np.testing.assert_allclose(be.max_abs(A), [exact], rtol=1e-15)
    np.testing.assert_allclose(ref.max_abs(A), [exact], rtol=1e-7)
    c1, c2 = np.array([2.0**10]), np.array([2.0**-3])
    got, want = be.abs_stats(A, c1, c2), ref.abs_stats(A, c1, c2)
    a = np.abs(A.astype(np.complex128)) * 2.0**7
    np.testing.assert_allclose(got.fro, [np.sqrt((a**2).sum())], rtol=1e-13)
    np.testing.assert_allclose(got.maxcol, want.maxcol, rtol=1e-13)
    np.testing.assert_allclose(got.maxrow, want.maxrow, rtol=1e-13)
    assert (got.p_row, got.p_col) == (want.p_row, want.p_col)
    # Gershgorin of |A|^T|A| (C order) or of |A||A|^T (F order): both bound ||A||^2
    G = a.T @ a if order == "C" or 1 in shape else a @ a.T
    np.testing.assert_allclose(got.gersh, [np.sqrt(G.sum(axis=1).max())], rtol=1e-13)
    assert got.gersh[0] >= np.linalg.norm(a, 2) * (1 - 1e-13)
    # one read for both: max |a_ij| exactly, and the statistics of the unscaled matrix bit for bit
    top, unit = be.entry_stats(A)
    np.testing.assert_allclose(top, [exact], rtol=1e-15)  # exact for real entries; a complex modulus to 1 ulp
    one = be.abs_stats(A, np.array([1.0]), np.array([1.0]))
    for field in ("fro", "gersh", "maxcol", "maxrow"):
        assert getattr(unit, field).tolist() == getattr(one, field).tolist(), field


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("special", [np.nan, np.inf, 1e200, 1e-200])
def test_entry_statistics_in_one_read_fall_back_where_a_sum_is_not_finite(dtype, special):
    """``entry_stats`` reads max |a_ij| with the unscaled statistics; where an entry is not finite, or its square
    overflows float64, max |a_ij| comes from the exact maximum instead, and a scaled matrix gets its statistics
    at its scale (1e-200: finite sums, but the norm then computes with a scale)."""
    A = _rand((37, 23), dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        A[5, 7] = np.asarray(special).astype(A.dtype)  # 1e200 is inf in single precision, 1e-200 zero
        finite_sum = np.isfinite((np.abs(A.astype(np.complex128)) ** 2).sum())
    be = NumbaBackend()
    top, unit = be.entry_stats(A)
    exact = np.abs(A.astype(np.complex128)).max()
    np.testing.assert_allclose(top, [exact], rtol=1e-15)  # NaN where an entry is NaN
    assert (unit is None) == (not finite_sum)
    if np.isfinite(exact):
        r = spectra.norm(A, backend="numba", method="lanczos", seed=0)
        truth = np.linalg.norm(A.astype(np.complex128), 2)
        assert r.lower <= truth <= r.upper


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("index", ["int32", "int64"])
def test_sparse_entry_statistics_match_numpy(dtype, fmt, index, monkeypatch):
    """One-read entry statistics of a CSR/CSC matrix (the numba kernel, forced on a small matrix) against
    SciPy's reductions in float64."""
    import spectra.backends.numba as nb_backend

    monkeypatch.setattr(nb_backend, "SERIAL_BELOW", 0)
    called = []
    kernel = nb_backend.sparse_kernels.csr_abs_stats
    monkeypatch.setattr(nb_backend.sparse_kernels, "csr_abs_stats", lambda *a: called.append(1) or kernel(*a))
    S = sp.random_array((60, 45), density=0.15, format=fmt, rng=7, dtype=np.float64).tolil()
    S[3, :] = 0
    S[:, 5] = 0
    S[10, :40] = 1.5  # a dense row
    S = sp.csr_array(S).astype(dtype)
    if np.iscomplexobj(S):
        S = S + 1j * S.multiply(S)
    S = S.asformat(fmt)
    S.indptr, S.indices = S.indptr.astype(index), S.indices.astype(index)
    c1, c2 = np.array([2.0**10]), np.array([2.0**-3])
    got = NumbaBackend().abs_stats(S, c1, c2)
    assert called == [1]
    a = np.abs(S.toarray().astype(np.complex128)) * 2.0**7
    np.testing.assert_allclose(got.fro, [np.sqrt((a**2).sum())], rtol=1e-13)
    np.testing.assert_allclose(got.maxcol, [np.sqrt((a**2).sum(axis=0).max())], rtol=1e-13)
    np.testing.assert_allclose(got.maxrow, [np.sqrt((a**2).sum(axis=1).max())], rtol=1e-13)
    assert (got.p_row, got.p_col) == ((a > 0).sum(axis=1).max(), (a > 0).sum(axis=0).max())
    G = a.T @ a if fmt == "csr" else a @ a.T  # Gershgorin of |A|^T|A| (rows read) or |A||A|^T (CSC)
    np.testing.assert_allclose(got.gersh, [np.sqrt(G.sum(axis=1).max())], rtol=1e-13)
    assert got.gersh[0] >= np.linalg.norm(a, 2) * (1 - 1e-13)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_max_abs_non_finite_entries(bad):
    A = _rand((50, 40), np.float64)
    A[17, 3] = bad
    got = NumbaBackend().max_abs(A)
    assert np.isnan(got[0]) if np.isnan(bad) else got[0] == np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_abs_over_the_bits_is_exact(dtype):
    """The integer maximum over the sign-masked bits equals ``max |a_ij|`` exactly: negative largest entries,
    subnormal and zero matrices, huge entries, C, F and stacks; a non-finite entry is reported as NumPy does."""
    rng = np.random.default_rng(3)
    fi = np.finfo(dtype)
    be = NumbaBackend()
    cases = [
        rng.standard_normal((37, 23)).astype(dtype) * np.asarray(10.0 ** rng.uniform(-30, 30, (37, 23)), dtype),
        -np.abs(rng.standard_normal((20, 9))).astype(dtype),  # the largest modulus is a negative entry
        np.zeros((5, 6), dtype),
        np.full((4, 3), -fi.smallest_subnormal, dtype),
        np.full((3, 4), fi.max, dtype) * np.asarray([1, -1, 1, -1], dtype),
    ]
    for A in cases:
        for X in (A, np.asfortranarray(A), np.stack([A, 2 * A if np.all(np.abs(A) < fi.max / 2) else A])):
            want = np.abs(X.astype(np.float64)).max(axis=(-2, -1)).reshape(-1)
            got = be.max_abs(X)
            assert got.dtype == np.float64 and np.array_equal(got, want), (got, want)
    A = cases[0].copy()
    for bad in (np.nan, np.inf, -np.inf):
        A[11, 7] = bad
        got = be.max_abs(A)[0]
        assert np.isnan(got) if np.isnan(bad) else got == np.inf


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [2, 3, 6, 41])
@pytest.mark.parametrize("near_span", [False, True])
def test_compiled_projection_matches_numpy(dtype, k, near_span):
    """The compiled one-vector Gram-Schmidt against the NumPy reference (:func:`project_vector`) and the exact
    properties: ``W = Q C + w`` and ``w`` orthogonal to the basis to working precision. ``near_span``: ``W`` lies
    in the span of the basis up to 1e-9 of its norm, which takes the second full pass."""
    from spectra.backends._gram_schmidt import project_vector
    from spectra.methods._krylov import ColumnStore

    n = 500
    Qd, _ = np.linalg.qr(_rand((n, k), np.complex128 if np.dtype(dtype).kind == "c" else np.float64))
    store = ColumnStore(Qd[:, :1].astype(dtype), 64, np)  # the Krylov engines' layout: rows of a buffer
    store.append(Qd[:, 1:].astype(dtype))
    Q = store.array
    W = Qd @ _rand((k, 1), dtype, seed=2) * 100 + _rand((n, 1), dtype, seed=3) * (1e-9 if near_span else 1.0)
    W = W.astype(dtype)
    be = NumbaBackend()
    w, C = be.project_out(W, Q)
    w_ref, C_ref = project_vector(W, Q)
    assert w.dtype == W.dtype and w.shape == (n, 1) and C.shape == (k, 1)
    u = np.finfo(dtype).eps / 2
    wide = np.complex128
    Qw = Q.astype(wide)
    assert np.linalg.norm(Qw.conj().T @ w.astype(wide)) <= 50 * u * np.linalg.norm(W)
    np.testing.assert_allclose(Qw @ C.astype(wide) + w.astype(wide), W.astype(wide), atol=50 * u * np.linalg.norm(W))
    np.testing.assert_allclose(C, C_ref, atol=50 * u * np.linalg.norm(W))
    np.testing.assert_allclose(w, w_ref, atol=50 * u * np.linalg.norm(W))
    unit, C1, norm = be.project_out_unit(W, Q)  # the same projection, normalised in the same call
    assert unit.dtype == W.dtype and norm.dtype == np.float64 and np.array_equal(C1, C)
    np.testing.assert_allclose(norm[0], np.linalg.norm(w.astype(wide)), rtol=10 * u)
    np.testing.assert_allclose(unit, w / norm[0], rtol=10 * u, atol=10 * u)
    assert abs(np.linalg.norm(unit.astype(wide)) - 1.0) <= 10 * u
    zero, C0, norm0 = be.project_out_unit(np.zeros_like(W), Q)  # a zero vector stays zero, no division
    assert norm0[0] == 0 and not zero.any() and not C0.any()


def test_projection_outside_the_kernel_falls_back():
    """A basis in another layout, or a block of vectors, takes the NumPy backend's path."""
    be = NumbaBackend()
    Q = np.ascontiguousarray(np.linalg.qr(_rand((60, 5), np.float64))[0])  # C-ordered columns: not rows
    W = _rand((60, 2), np.float64, seed=1)
    for X in (W[:, :1], W):
        w, C = be.project_out(X, Q)
        np.testing.assert_allclose(Q @ C + w, X, atol=1e-13)
        assert np.abs(Q.T @ w).max() <= 1e-13
        assert be.project_out_unit(X, Q) is None  # the engine then normalises itself
    rows = np.asfortranarray(Q)  # the kernel's layout, but a strided vector: the NumPy path as well
    w, C = be.project_out(W[:, 1:], rows)
    np.testing.assert_allclose(rows @ C + w, W[:, 1:], atol=1e-13)
    assert be.project_out_unit(W[:, 1:], rows) is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_certified_lanczos_sweep_on_the_kernels(dtype):
    """Certified Lanczos on the numba kernels (rows h apart in the pass, compiled projection, integer max) on
    prescribed spectra, both layouts, against float64 LAPACK: the interval holds the norm (probabilistic misses
    within delta) and meets the width the precision can certify."""
    families = ["outlier", "clustered", "decaying"]
    runs = misses = 0
    failures = []
    for shape in [(420, 150), (150, 420)]:
        for name in families:
            for order in "CF" if shape[0] > shape[1] else "F":
                sv = 3.0 * spectrum(name, min(shape))
                A = np.asarray(matrix_with_singular_values(sv, *shape, dtype=dtype, seed=runs), order=order)
                r = spectra.norm(A, method="lanczos", backend="numba", rtol=1e-6, seed=runs)
                truth = float(np.linalg.svd(A.astype(np.complex128), compute_uv=False)[0])
                slack = 8.0 * max(shape) * 2.0**-53
                runs += 1
                if not (r.lower <= truth * (1 + slack) and truth <= r.upper * (1 + slack)):
                    misses += 1
                    failures.append((shape, name, order, r))
                assert r.converged and r.upper <= (1 + max(1e-6, float(r.rtol_effective))) * r.lower * (1 + 1e-12)
    assert misses <= 1e-3 * runs + 3 * np.sqrt(1e-3 * runs) + 1, failures


def test_entry_statistics_with_split_scale_fall_back():
    """A scale 2**1100 only exists split in two factors: the one-read kernel is skipped, the result kept."""
    A = np.full((4, 3), 2.0**-1070)
    c = np.array([2.0**550])
    got = NumbaBackend().abs_stats(A, c, c)
    np.testing.assert_allclose(got.fro, [np.sqrt(12) * 2.0**30])


@pytest.mark.parametrize(
    ("kind", "kernel"),
    [
        ("C", "dense_gram"),
        ("F", "dense_gram"),
        ("csr", "csr_gram_serial"),
        ("csc", "csr_gram_serial"),
        ("stack", "dense_gram_batched"),
    ],
)
def test_randomized_uses_the_block_kernels(monkeypatch, kind, kernel):
    """``randomized`` on the numba backend multiplies its whole block in one fused pass (one kernel call with
    ``block_size`` columns per step), for every layout the kernels read, and its interval holds."""
    from spectra.backends import _numba_kernels, _numba_serial, _numba_sparse

    s = spectrum("decaying", 60)
    A = matrix_with_singular_values(s, 90, 60, seed=3)
    if kind == "F":
        A = np.asfortranarray(A)
    elif kind in ("csr", "csc"):
        A = sp.csr_array(A) if kind == "csr" else sp.csc_array(A)
    elif kind == "stack":
        A = np.stack([A, 2 * A, 3 * A])
    widths = []
    # 90 x 60: the serial CSR pass and the dense kernel's serial twin
    module = {"csr": _numba_sparse, "csc": _numba_sparse, "stack": _numba_kernels}.get(kind, _numba_serial)
    original = getattr(module, kernel)

    def counting(*args):
        widths.append(args[3].shape[-1] if module is _numba_sparse else args[1].shape[-1])
        return original(*args)

    monkeypatch.setattr(module, kernel, counting)
    r = spectra.norm(A, method="randomized", backend="numba", block_size=6, seed=0, rtol=1e-8)
    assert widths and all(w == 6 for w in widths), widths
    truth = np.array([1.0, 2.0, 3.0]) if kind == "stack" else 1.0
    assert np.all(r.lower <= truth * (1 + 1e-14)) and np.all(truth <= r.upper * (1 + 1e-14))
    assert np.all(r.converged)


def test_block_algebra_restores_blas_threads_inside_the_context():
    """Inside the backend's context BLAS runs on one thread; ``block_algebra`` gives back BLAS's own count
    and the one-thread limit returns after it."""
    from threadpoolctl import threadpool_info

    from spectra.backends import _threads

    def blas_threads():
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    before = blas_threads()
    backend = NumbaBackend()
    with backend.context():
        assert blas_threads() == {1}
        with backend.block_algebra():
            assert blas_threads() == {_threads.blas_threads()} and _threads.blas_threads() == max(before)
        assert blas_threads() == {1}
    assert blas_threads() == before


@pytest.mark.parametrize("large", [0, None])
def test_block_projections_lift_the_blas_limit_only_for_large_bases(monkeypatch, large):
    from spectra.methods import _gram_lanczos

    if large is not None:
        monkeypatch.setattr(_gram_lanczos, "_LARGE_BASIS", large)
    calls = []
    original = NumbaBackend.block_algebra
    monkeypatch.setattr(NumbaBackend, "block_algebra", lambda self: calls.append(1) or original(self))
    A = matrix_with_singular_values(spectrum("decaying", 60), 90, 60, seed=3)
    r = spectra.norm(A, method="randomized", backend="numba", block_size=6, seed=0)
    assert r.lower <= 1.0 <= r.upper
    assert bool(calls) == (large == 0)  # a 90 x 60 basis is far below the default 32 MiB


def test_christoffel_value_is_the_reference_bitwise():
    """The compiled Christoffel sum (the per-step Lanczos stopping test, docs/bounds.md §3b) returns exactly the
    float of the NumPy backend's reference, :func:`spectra._bounds._christoffel_value`, on random tridiagonals,
    Lanczos tridiagonals of prescribed spectra, and points far above the root (``inf``)."""
    from spectra._bounds import _christoffel_value
    from spectra.backends.numpy import NumPyBackend

    compiled, reference = NumbaBackend(), NumPyBackend()
    rng = np.random.default_rng(5)
    cases = []
    for _ in range(300):
        k = int(rng.integers(1, 120))
        a = rng.standard_normal(k) * 10.0 ** rng.uniform(-3, 3)
        b = np.abs(rng.standard_normal(k)) * 10.0 ** rng.uniform(-6, 2) + 1e-300
        cases.append((a, b, float(np.abs(a).max() * rng.uniform(0.5, 4.0))))
    A = matrix_with_singular_values(spectrum("clustered", 200), 240, 200, seed=3)
    v = rng.standard_normal(200)
    V, a, b = [v / np.linalg.norm(v)], [], []
    for _ in range(60):  # Lanczos on A^T A with full reorthogonalisation
        w = A.T @ (A @ V[-1])
        a.append(float(V[-1] @ w))
        Q = np.array(V).T
        w = w - Q @ (Q.T @ w)
        w = w - Q @ (Q.T @ w)
        b.append(float(np.linalg.norm(w)))
        V.append(w / b[-1])
        lam0 = float(np.linalg.eigvalsh(np.diag(a) + np.diag(b[:-1], 1) + np.diag(b[:-1], -1))[-1])
        for f in (1.0, 1.0 + 1e-9, 1.0 + 1e-6, 1.01, 2.0, 1e30):
            cases.append((np.array(a), np.array(b), lam0 * f))
    hits = 0
    for a, b, lam in cases:
        got = compiled.christoffel_value(a, b, lam)
        want = reference.christoffel_value(a, b, lam)
        assert want == _christoffel_value(lam, a.tolist(), b.tolist())
        assert got == want or (np.isnan(got) and np.isnan(want)), (a, b, lam)
        hits += np.isinf(want)
    assert 0 < hits < len(cases)  # both branches of the overflow stop were exercised


def _twin_cases(dtype):
    """``(kernel name, arguments, output positions)`` for every kernel whose serial twin stands in for it while
    another thread holds Numba's workqueue layer, on several blocks of one matrix of ``dtype``."""
    from spectra.backends.numba import _unsigned

    real = np.finfo(dtype).dtype
    B = _rand((203, 61), dtype, seed=7)
    bounds = np.array([0, 50, 51, 140, 203], dtype=np.int64)
    nb, n = len(bounds) - 1, B.shape[1]
    S = sp.random_array((203, 61), density=0.2, format="csr", rng=8, dtype=dtype)
    S.data[:] = _rand((S.nnz,), dtype, seed=9)
    ip, ix = _unsigned(S)
    X = _rand((61, 3), dtype, seed=10)
    stats = (np.empty((nb, n)), np.empty((nb, n)))
    cases = [
        ("max_abs_rows", (B, np.empty((nb, 2)), bounds), (1,)),
        ("abs_stats_rows", (B, 0.5, np.empty((nb, n)), np.empty((nb, n)), np.empty((nb, 3)), bounds), (2, 3, 4)),
        (
            "csr_gram",
            (ip, ix, S.data, X, real.type(0.5), np.empty((203, 3), dtype), np.empty((61, 3), dtype), bounds),
            (5, 6),
        ),
        (
            "csr_abs_stats",
            (ip, ix, S.data, 0.5, *stats, np.empty((nb, n), np.int64), np.empty((nb, 2)), bounds),
            (4, 5, 6, 7),
        ),
    ]
    if np.dtype(dtype).kind == "f":
        bits, mask = {4: (np.uint32, 0x7FFFFFFF), 8: (np.uint64, 0x7FFFFFFFFFFFFFFF)}[np.dtype(dtype).itemsize]
        cases.append(("max_abs_bits_rows", (B.view(bits), bits(mask), np.empty(nb, bits), bounds), (2,)))
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
def test_workqueue_fallback_twins_compute_the_kernels_bits(dtype):
    """A parallel kernel's ``fallback`` (its serial twin, run while another thread holds Numba's workqueue layer)
    gives the kernel's bits from the same arguments; every kernel with a fallback is checked here."""
    from spectra.backends import _numba_kernels, _numba_sparse
    from spectra.backends._numba_jit import REGISTRY

    with_fallback = {k.__qualname__ for k in REGISTRY if k.fallback is not None}
    assert with_fallback == {"max_abs_rows", "max_abs_bits_rows", "abs_stats_rows", "csr_gram", "csr_abs_stats"}
    for name, args, outputs in _twin_cases(dtype):
        kernel = getattr(_numba_kernels, name, None) or getattr(_numba_sparse, name)
        runs = []
        for run in (kernel, kernel.fallback):
            copy = [a.copy() if i in outputs else a for i, a in enumerate(args)]
            run(*copy)
            runs.append([copy[i].tobytes() for i in outputs])
        assert runs[0] == runs[1], name
