"""DESIGN.md §5: every bad input gives the documented exception with a message naming the parameter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

import spectra

from .conftest import as_flavour, backend_for, to_numpy

A = np.arange(12.0).reshape(4, 3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized"])
def test_non_finite_entries(bad, method):
    B = A.copy()
    B[1, 2] = bad
    with pytest.raises(ValueError, match="NaN or Inf.*check_finite"):
        spectra.norm(B, method=method)


def test_non_finite_sparse():
    S = sp.csr_array(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="check_finite"):
        spectra.norm(S)


@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized", "gram"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_check_finite_false_gives_nan(method, bad):
    """No exception: the norm of a matrix with NaN/Inf is undefined and reported as NaN, at once, at confidence
    1 (nothing random was used; docs/design.md "NaN and Inf"). Regression: the iterative methods, gram's
    deterministic bound included, reported the requested confidence, 0.999."""
    B = A.copy()
    B[0, 0] = bad
    r = spectra.norm(B, method=method, check_finite=False, seed=0)
    assert np.isnan(r.value) and np.isnan(r.lower) and np.isnan(r.upper) and not r.converged
    assert r.iterations == 0 and r.matvecs == 0
    assert r.confidence == 1.0


@pytest.mark.parametrize("stack", [False, True])
def test_check_finite_false_nan_makes_the_one_final_progress_report(stack):
    """Regression: a NaN input with ``check_finite=False`` never called ``progress``, though every run reports
    once at the end (``final=True``); the report shows the NaN interval, nothing done."""
    B = A.copy()
    B[1, 2] = np.nan
    X = np.stack([B, B]) if stack else B
    seen = []
    r = spectra.norm(X, method="lanczos", check_finite=False, seed=0, progress=seen.append)
    assert len(seen) == 1 and seen[0].final and seen[0].done == 0 and seen[0].total == (2 if stack else 1)
    assert math.isnan(seen[0].lower) and math.isnan(seen[0].upper) and seen[0].products == 0
    assert seen[0].matrix == ((0,) if stack else None) and np.all(np.isnan(r.value))


def _turns_non_finite(M, bad, first_bad):
    """An operator for ``M`` whose products are ``bad`` (NaN or Inf) from its ``first_bad``-th ``matvec`` on."""
    from scipy.sparse.linalg import LinearOperator

    count = [0]

    def matvec(x):
        count[0] += 1
        return M @ x * (bad if count[0] >= first_bad else 1.0)

    return LinearOperator(M.shape, matvec=matvec, rmatvec=lambda y: M.T @ y, dtype=float)


@pytest.mark.parametrize("method", ["power", "lanczos", "randomized"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("first_bad", [1, 2, 5])
def test_operator_turning_non_finite_is_undefined_or_raises(method, bad, first_bad):
    """A LinearOperator whose products become NaN/Inf at any product: ``check_finite=False`` reports the norm as
    undefined exactly as for an array with NaN (NaN value/lower/upper, converged False, confidence 1), and the
    default raises the documented ValueError. Regression: from the 2nd product on, power returned
    ``lower=0, upper=nan, converged=True``, and lanczos/randomized crashed in LAPACK ("array must not contain
    infs or NaNs"). Oracle for the same operator without the NaN: ``numpy.linalg.norm(M, 2)``."""
    M = np.random.default_rng(0).standard_normal((60, 40))
    seen = []
    r = spectra.norm(
        _turns_non_finite(M, bad, first_bad),
        method=method,
        seed=0,
        check_finite=False,
        maxiter=50,
        progress=seen.append,
    )
    assert np.isnan(r.value) and np.isnan(r.lower) and np.isnan(r.upper) and not r.converged
    assert r.confidence == 1.0 and r.iterations == 0 and r.matvecs >= first_bad
    assert (
        seen[-1].final
        and math.isnan(seen[-1].upper)
        and seen[-1].done == 0
        and [p.final for p in seen].count(True) == 1
    )
    with pytest.raises(ValueError, match="LinearOperator returned NaN or Inf.*check_finite=False"):
        spectra.norm(_turns_non_finite(M, bad, first_bad), method=method, seed=0, maxiter=50)
    r = spectra.norm(_turns_non_finite(M, bad, 10**9), method=method, seed=0, maxiter=50)
    assert r.lower <= np.linalg.norm(M, 2) <= r.upper


@pytest.mark.parametrize(
    "bad",
    [
        np.array([["a", "b"], ["c", "d"]]),
        np.array([[object(), 1]], dtype=object),
        np.zeros((2, 2), dtype="datetime64[s]"),
    ],
)
def test_non_numeric_dtype(bad):
    with pytest.raises(TypeError, match="numeric dtype"):
        spectra.norm(bad)


def test_not_an_array():
    with pytest.raises(TypeError, match="must be an array") as info:
        spectra.norm({"a": 1})
    assert "to_numpy" not in str(info.value)


def test_a_table_with_to_numpy_is_told_to_call_it():
    """A pandas DataFrame or an xarray DataArray (neither an array-API array) is refused with the call that
    gives its entries as a NumPy array (a stand-in with their ``to_numpy``: neither library is a dependency)."""

    class Table:
        def __init__(self, data):
            self.data = data

        def to_numpy(self):
            return np.asarray(self.data)

    T = Table([[3.0, 0.0], [0.0, 1.0]])
    with pytest.raises(TypeError, match=r"got Table; pass A\.to_numpy\(\) for its entries as a NumPy array"):
        spectra.norm(T)
    assert spectra.norm(T.to_numpy(), method="svd").lower <= 3.0


@pytest.mark.parametrize("shape", [(), (5,)])
def test_too_few_dimensions(shape):
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        spectra.norm(np.ones(shape))


def test_too_few_dimensions_same_advice_for_every_namespace():
    """Regression: a 1-D torch tensor got the bare message, without the advice NumPy input gets."""
    import torch

    with pytest.raises(ValueError) as numpy_error:
        spectra.norm(np.ones(5))
    with pytest.raises(ValueError) as torch_error:
        spectra.norm(torch.ones(5))
    assert str(torch_error.value) == str(numpy_error.value)
    assert "got shape (5,); for a vector use A.reshape(1, -1)" in str(torch_error.value)


def test_ragged_list():
    with pytest.raises(ValueError, match="rectangular"):
        spectra.norm([[1.0, 2.0], [3.0]])


def test_unknown_method_lists_valid_names():
    with pytest.raises(ValueError, match="method must be one of 'auto', 'svd', 'power', 'lanczos', 'randomized'"):
        spectra.norm(A, method="arpack")


def test_unknown_backend_lists_valid_names():
    with pytest.raises(ValueError, match="backend must be one of 'auto', 'numpy'"):
        spectra.norm(A, backend="gpu")


def test_numpy_backend_refuses_foreign_arrays():
    import array_api_strict as xs

    with pytest.raises(ValueError, match="backend='numpy'.*no silent device transfers"):
        spectra.norm(xs.asarray(A), backend="numpy")


def test_array_api_backend_refuses_sparse():
    with pytest.raises(ValueError, match="backend='array_api' needs a dense array"):
        spectra.norm(sp.csr_array(A), backend="array_api")


@pytest.mark.parametrize(
    ("kw", "exc", "pattern"),
    [
        (dict(rtol=0.0), ValueError, "rtol must be a positive"),
        (dict(rtol=-1e-3), ValueError, "rtol must be a positive"),
        (dict(rtol=np.nan), ValueError, "rtol must be a positive"),
        (dict(rtol="1e-6"), TypeError, "rtol must be a positive float"),
        (dict(confidence=1.0), ValueError, "confidence must lie strictly between 0 and 1"),
        (dict(confidence=0.0), ValueError, "confidence must lie strictly between 0 and 1"),
        (dict(confidence=1.5), ValueError, "confidence must lie strictly between 0 and 1"),
        (dict(confidence=True), TypeError, "confidence must be a float"),
        (dict(maxiter=0), ValueError, "maxiter must be a positive integer"),
        (dict(maxiter=-3), ValueError, "maxiter must be a positive integer"),
        (dict(maxiter=2.5), TypeError, "maxiter must be a positive integer"),
        (dict(maxiter=True), TypeError, "maxiter must be a positive integer"),
        (dict(block_size=0), ValueError, "block_size must be a positive integer"),
        (dict(certify="yes"), TypeError, "certify must be True or False"),
        (dict(return_vectors=1), TypeError, "return_vectors must be True or False"),
        (dict(check_finite=None), TypeError, "check_finite must be True or False"),
        (dict(progress="no"), TypeError, r"progress must be True, False \(or None\) or a callable"),
        (dict(seed="abc"), TypeError, "seed must be"),
        (dict(seed=-1), ValueError, "seed must be a non-negative int"),  # regression: was a TypeError
        (dict(seed=True), TypeError, "got the bool True"),  # regression: was taken as the seed 1
    ],
)
def test_bad_options(kw, exc, pattern):
    with pytest.raises(exc, match=pattern):
        spectra.norm(A, method="lanczos", **kw)


def test_block_size_only_for_randomized():
    with pytest.raises(ValueError, match="block_size applies to method='randomized'"):
        spectra.norm(A, method="lanczos", block_size=4)


@pytest.mark.parametrize("kw", [dict(maxiter=3), dict(v0=np.ones(3))])
def test_iteration_options_do_not_apply_to_svd(kw):
    with pytest.raises(ValueError, match="does not apply to method='svd'"):
        spectra.norm(A, method="svd", **kw)


@pytest.mark.parametrize(("kw", "why"), [(dict(maxiter=3), "maxiter"), (dict(v0=np.ones(3)), "v0")])
def test_auto_takes_an_iterative_method_for_the_iteration_options(kw, why):
    """Regression: ``method="auto"`` resolved to the SVD on small inputs and then refused ``v0`` and ``maxiter``
    ("does not apply to method='svd'"), which the caller could not foresee; it now picks lanczos and says why."""
    r = spectra.norm(A, seed=0, **kw)
    assert r.method == "lanczos" and r.plan.why_method == f"{why} given: an iterative method"
    assert r.lower <= np.linalg.norm(A, 2) <= r.upper
    both = spectra.norm(A, v0=np.ones(3), maxiter=3)
    assert both.plan.why_method == "v0 and maxiter given: an iterative method"


@pytest.mark.parametrize("operand", [sp.csr_array(A), aslinearoperator(A)])
def test_svd_needs_dense(operand):
    with pytest.raises(ValueError, match="method='svd' needs a dense array"):
        spectra.norm(operand, method="svd")


@pytest.mark.parametrize(
    ("v0", "exc", "pattern"),
    [
        (np.ones(4), ValueError, r"v0 must have shape \(3,\)"),
        (np.zeros(3), ValueError, "v0 must not be the zero vector"),
        (np.array([1.0, np.nan, 0.0]), ValueError, "v0 contains NaN"),
        (np.array(["a", "b", "c"]), TypeError, "v0 must be numeric"),
        (np.ones(4), ValueError, r"v0 must have shape \(3,\) \(a vector"),  # one shape, said once
        (1j * np.ones(3), ValueError, r"v0 is complex but A is real.*v0\.real"),
        (np.array([1.0, 1.0, 1e-300j]), ValueError, "v0 is complex but A is real"),
    ],
)
def test_bad_v0(v0, exc, pattern):
    with pytest.raises(exc, match=pattern):
        spectra.norm(A, method="power", v0=v0)


def test_v0_shapes_of_a_stack_and_complex_starts():
    S = np.stack([A, 2 * A])
    with pytest.raises(ValueError, match=r"v0 must have shape \(3,\) or \(2, 3\)"):
        spectra.norm(S, method="lanczos", v0=np.ones(4))
    real = spectra.norm(A, method="lanczos", v0=np.ones(3), seed=0)
    zero_imag = spectra.norm(A, method="lanczos", v0=np.ones(3, dtype=complex), seed=0)  # taken as real
    assert (zero_imag.lower, zero_imag.upper) == (real.lower, real.upper)
    C = spectra.norm(A.astype(complex), method="lanczos", v0=1j * np.ones(3), seed=0)  # complex A: accepted
    assert C.lower <= np.linalg.norm(A, 2) * (1 + 1e-12) and C.upper >= np.linalg.norm(A, 2) * (1 - 1e-12)


def test_errors_are_spectra_or_builtin():
    assert issubclass(spectra.BackendUnavailableError, spectra.SpectraError)
    assert issubclass(spectra.BackendUnavailableError, ImportError)
    assert issubclass(spectra.ConvergenceWarning, UserWarning)


def test_masked_entries_are_refused():
    """Regression: a masked array's mask was ignored (``norm`` of [[1, masked 100], [0, 1]] gave 100.01, the norm
    of the stored values, where the masked entry as zero gives 1). Masked entries now raise, naming both readings;
    a masked array without a masked entry is its data."""
    data = np.array([[1.0, 100.0], [0.0, 1.0]])
    M = np.ma.masked_array(data, mask=[[False, True], [False, False]])
    for call in (spectra.norm, spectra.normalize):
        with pytest.raises(TypeError, match=r"masked entries.*A\.filled\(0\).*A\.data"):
            call(M, method="svd")
    assert spectra.norm(M.filled(0), method="svd").value == pytest.approx(1.0, rel=1e-15)
    unmasked = np.ma.masked_array(data)
    assert spectra.norm(unmasked, method="svd").value == spectra.norm(data, method="svd").value


@pytest.mark.parametrize("method", ["svd", "power", "lanczos", "randomized", "gram", "auto"])
def test_check_finite_false_stack_reports_nan_only_where_the_matrix_has_one(method):
    """A NumPy stack with NaN in one matrix: that matrix is NaN (confidence 1, not iterated), the others as if
    alone. Regression: every matrix of the stack was NaN, and ``normalize`` left the finite ones unscaled."""
    rng = np.random.default_rng(4)
    S = rng.standard_normal((3, 2, 9, 6))
    S[1, 0, 2, 3] = np.nan
    S[2, 1] = 0.0
    vectors = method != "gram"
    r = spectra.norm(S, method=method, check_finite=False, seed=0, return_vectors=vectors)
    alone = spectra.norm(np.delete(S.reshape(6, 9, 6), 2, axis=0), method=method, seed=0, return_vectors=vectors)
    assert np.isnan(r.value[1, 0]) and np.isnan(r.lower[1, 0]) and r.confidence[1, 0] == 1.0
    assert not r.converged[1, 0] and r.iterations[1, 0] == 0
    for field in ("value", "lower", "upper", "confidence", "converged"):
        got = np.delete(np.asarray(getattr(r, field)).reshape(6), 2)
        assert np.array_equal(got, np.asarray(getattr(alone, field))), field
    if vectors:
        assert np.isnan(r.u[1, 0]).all() and np.array_equal(np.delete(r.u.reshape(6, 9), 2, axis=0), alone.u)
    W = spectra.normalize(S, check_finite=False, seed=0)
    assert np.linalg.norm(W[0, 0], 2) <= 1 and np.linalg.norm(W[0, 0], 2) > 0.99


@pytest.mark.parametrize("method", ["svd", "lanczos"])
def test_check_finite_false_stack_reports_nan_per_matrix_in_every_namespace(flavour, method):
    """The same per-matrix NaN in every namespace and on the backend asked for. Regression: only NumPy stacks
    were split; a Dask, array-API or torch (``backend="array_api"``) stack with NaN in one matrix gave NaN for
    every matrix, and a NumPy stack's finite matrices ran under ``backend="auto"`` whatever ``backend`` said
    (``backend="numba"`` gave ``r.backend == "numpy"``)."""
    rng = np.random.default_rng(7)
    S = rng.standard_normal((2, 3, 7, 5))
    S[0, 1, 4, 2] = np.nan
    S[1, 2, 0, 0] = -np.inf
    v0 = rng.standard_normal((2, 3, 5))
    backend = backend_for(flavour) if flavour not in ("torch", "jax") else "array_api"
    kw = dict(method=method, backend=backend, seed=0, return_vectors=True)
    if method == "lanczos":
        kw["v0"] = as_flavour(v0, flavour)
    r = spectra.norm(as_flavour(S, flavour), check_finite=False, **kw)
    keep = [0, 2, 3, 4]
    if method == "lanczos":
        kw["v0"] = as_flavour(v0.reshape(6, 5)[keep], flavour)
    alone = spectra.norm(as_flavour(S.reshape(6, 7, 5)[keep], flavour), **kw)
    expected = backend if backend != "auto" else {"dask": "dask", "array_api_strict": "array_api"}[flavour]
    assert r.backend == alone.backend == expected
    assert type(r.value) is type(alone.value) and type(r.u) is type(alone.u)
    for field in ("value", "lower", "upper", "confidence", "converged", "iterations", "u", "v"):
        got = to_numpy(getattr(r, field)).reshape(6, -1)
        assert np.array_equal(got[keep], to_numpy(getattr(alone, field)).reshape(4, -1)), field
        if field in ("value", "lower", "upper", "u", "v"):
            assert np.isnan(got[[1, 5]]).all(), field
    assert not to_numpy(r.converged).reshape(6)[[1, 5]].any()
    assert (to_numpy(r.confidence).reshape(6)[[1, 5]] == 1.0).all()


def test_progress_none_is_off_and_the_seed_message_names_what_numpy_takes(capsys):
    """``progress=None`` (the usual "off") ran into a ``TypeError``; the seed error listed four kinds of
    seed, though anything ``numpy.random.default_rng`` takes is accepted (lists, BitGenerators)."""
    A = np.diag([3.0, 2.0, 1.0])
    assert spectra.norm(A, method="lanczos", seed=0, progress=None) == spectra.norm(A, method="lanczos", seed=0)
    assert capsys.readouterr().err == ""
    for seed in ([1, 2], np.random.PCG64(5), np.random.SeedSequence(3)):
        assert spectra.norm(A, method="lanczos", seed=seed).lower <= 3.0
    with pytest.raises(TypeError, match=r"numpy.random.default_rng takes .*a BitGenerator, a Generator\); got 'abc'"):
        spectra.norm(A, seed="abc")
