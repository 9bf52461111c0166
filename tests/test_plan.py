"""The plan: backend, method and Gram side chosen in one place, with reasons, recorded on the result."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

import spectra
from spectra._plan import AUTO_SVD_MAX_WORK, Plan, make_plan, shape_of
from spectra._validate import standardize_matrix


def _plan(A, method="auto", backend="auto", block_size=None) -> Plan:
    A, kind = standardize_matrix(A)
    return make_plan(A, kind, method=method, backend=backend, block_size=block_size)[0]


def test_auto_method_and_reasons():
    p = _plan(np.ones((30, 20)))
    assert (p.backend, p.method) == ("numpy", "svd") and "<=" in p.why_method
    assert p.why_backend == "numpy input; LAPACK's SVD"
    n = round(AUTO_SVD_MAX_WORK ** (1 / 3)) + 1
    p = _plan(np.ones((n, n)))
    assert p.method == "lanczos" and ">" in p.why_method
    assert _plan(sp.eye(5, format="csr")).why_method == "sparse input"
    assert _plan(np.ones((5, 4)), block_size=2).method == "randomized"
    assert _plan(np.ones((5, 4)), method="power").why_method == "requested"


def test_side_smaller_or_fused():
    assert _plan(np.ones((4, 9)), method="lanczos").transposed is True  # wide: AAᴴ, the smaller side
    assert _plan(np.ones((9, 4)), method="lanczos").transposed is False
    p = _plan(np.asfortranarray(np.ones((400, 300))), method="lanczos", backend="numba")
    assert p.transposed is True and p.why_side == "one read of A per step"  # F order: AAᴴ in one read
    assert str(p) == "lanczos on numba, AAᴴ (one read of A per step)"
    # tall and thin: a basis on the long side (9 x 9 against 4 x 4 entries) would outweigh A itself (9 x 4)
    p = _plan(np.asfortranarray(np.ones((9, 4))), method="lanczos", backend="numba")
    assert p.transposed is False and p.why_side.startswith("smaller side: a basis on the long side")


def test_moved_to_numba_with_a_reason():
    from spectra.backends import NUMBA_MIN_ENTRIES

    n = int(np.ceil(np.sqrt(NUMBA_MIN_ENTRIES)))
    p = _plan(np.ones((n, n)), method="lanczos")
    assert p.backend == "numba" and "fused" in p.why_backend


def test_why_auto_stays_on_numpy():
    """Each reason ``backend="auto"`` leaves a NumPy/SciPy problem on numpy is stated in the plan (before: only
    "numpy input", e.g. for ``method="randomized"`` in the demo, next to lanczos on numba)."""
    from spectra.backends import NUMBA_MIN_ENTRIES

    n = int(np.ceil(np.sqrt(NUMBA_MIN_ENTRIES)))
    big = np.ones((n, n))
    assert _plan(big, method="randomized").why_backend == (
        "numpy input; auto moves only power and lanczos to numba (backend='numba' reads A once per block)"
    )
    assert _plan(big, method="gram").why_backend.endswith("the Gram iteration's products are BLAS matrix products")
    assert _plan(sp.eye(5, format="csr")).why_backend == (
        "scipy input; 5 stored entries (duplicates summed) < 500000, where the fused kernel starts to pay"
    )
    from scipy.sparse.linalg import aslinearoperator

    # regression: a LinearOperator was "spectra input" (the module of spectra's working-precision wrapper)
    assert _plan(aslinearoperator(np.eye(4))).why_backend == (
        "LinearOperator input; auto keeps operator inputs on SciPy's products: no fused kernel reads them"
    )
    assert _plan(sp.eye(5, format="csr"), method="power").why_backend.endswith(
        "for lanczos only (where the gain was measured)"
    )
    assert _plan(big[::2, ::2], method="lanczos").why_backend.startswith(
        f"numpy input; {(n // 2 + n % 2) ** 2} entries <"
    )


def test_sparse_rule_says_which_entry_count_it_quotes():
    """Regression: a COO matrix with duplicates has more stored entries (``A.nnz``: 4) than the count the sparse
    rule compares with ``NUMBA_MIN_NNZ`` (3, after conversion to CSR sums the duplicates); the plan said "3 stored
    entries" without saying which count that is."""
    A = sp.coo_array(([1.0, 2.0, 3.0, 4.0], ([0, 0, 1, 2], [0, 0, 1, 2])), shape=(3, 3))
    assert A.nnz == 4
    p = spectra.norm(A, method="lanczos", seed=0).plan
    assert (
        p.why_backend
        == "scipy input; 3 stored entries (duplicates summed) < 500000, where the fused kernel starts to pay"
    )


def test_on_the_result_and_in_its_repr():
    r = spectra.norm(np.diag([3.0, 1.0]), method="lanczos", seed=0)
    why = "numpy input; 4 entries < 2000000, where the fused kernel starts to pay"
    assert r.plan == Plan("numpy", "lanczos", False, why, "requested", "smaller side")
    assert "plan='lanczos on numpy, AᴴA (smaller side)'" in repr(r)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.plan.method = "svd"
    assert spectra.norm(np.zeros((0, 3))).plan.method == "svd"  # the empty shortcut carries it too


def test_unknown_dimensions():
    class Lazy:
        shape = (float("nan"), 3)

    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        shape_of(Lazy())


@pytest.mark.parametrize(
    "A",
    [
        np.ones((9, 4)),  # C order: numba's one-read side is the smaller one
        np.asfortranarray(np.ones((4, 9))),  # F order, wide: the same on A A^H
        np.ones((6, 6)),  # square
        np.ones((300, 8, 6)),  # a stack
        sp.random_array((300, 40), density=0.1, random_state=0, format="csr"),
        sp.random_array((40, 300), density=0.1, random_state=0, format="csc"),
    ],
    ids=["tall-C", "wide-F", "square", "stack", "tall-csr", "wide-csc"],
)
@pytest.mark.parametrize("method", ["lanczos", "power", "randomized"])
def test_same_side_same_reason_on_numpy_and_numba(A, method):
    """Regression: where numba reads ``A`` once on the smaller side, its plan said "one read of A per step" and
    numpy's "smaller side" for the same decision (the smaller side is taken either way). One wording now,
    from :func:`spectra._operand.gram_side`; numba's own reasons appear only where its fused side decides."""
    from spectra._operand import SMALLER_SIDE

    on_numpy, on_numba = (_plan(A, method=method, backend=b) for b in ("numpy", "numba"))
    assert (on_numba.transposed, on_numba.why_side) == (on_numpy.transposed, on_numpy.why_side)
    assert on_numba.why_side == SMALLER_SIDE == "smaller side"


def test_stack_route_and_the_crossover_it_used():
    """A stack's plan names the route (certificate kernel, batched SVD, batched iteration) and the measured
    threshold of docs/performance.md it was held against."""
    from spectra import backends

    assert (backends.STACK_KERNEL_MIN_MATRICES, backends.STACK_KERNEL_MIN_MATRICES_LARGE) == (256, 64)
    p = _plan(np.ones((300, 8, 8)))
    assert (p.backend, p.method, p.stack) == ("numba", "lanczos", "certificate kernel")
    assert p.why_stack.startswith(
        "300 matrices of Gram order 8, at least 256, where the kernel overtakes the batched SVD (docs/"
    )
    assert "one Numba thread: matrices·rows·order² = 1.5e+05, below 3e+07" in p.why_stack
    assert str(p) == f"lanczos on numba, AᴴA (smaller side); certificate kernel ({p.why_stack})"
    p = _plan(np.ones((100, 8, 8)))
    assert (p.backend, p.method, p.stack) == ("numpy", "svd", "batched SVD")
    assert (
        p.why_stack
        == "100 matrices of Gram order 8, fewer than 256: the crossover against the batched SVD (docs/performance.md)"
    )
    assert str(p) == f"svd on numpy; batched SVD ({p.why_stack})"
    p = _plan(np.ones((100, 40, 40)))  # from Gram order 32 on, 64 matrices suffice
    assert p.stack == "certificate kernel" and "100 matrices of Gram order 40, at least 64, where" in p.why_stack
    p = _plan(np.ones((5000, 32, 32)))
    assert "all Numba threads: matrices·rows·order² = 1.6e+08, from 3e+07 on" in p.why_stack
    p = _plan(np.ones((10, 200, 200)))
    assert p.stack == "batched SVD" and p.why_stack == "Gram order 200, above the kernel's largest, 128"
    p = _plan(np.ones((100, 8, 8)), method="lanczos")
    assert (p.backend, p.stack) == ("numpy", "batched lanczos iteration")
    assert p.why_stack == (  # the method was requested: no crossover against the SVD is quoted (regression)
        "lanczos requested; backend auto runs the certificate kernel (numba) on stacks of at least 256 matrices "
        "of Gram order 8 (here 100); backend 'numba' runs it on any count"
    )
    p = _plan(np.ones((300, 8, 8)), method="gram")
    assert p.stack == "batched gram iteration" and "runs under method 'lanczos' or 'auto'" in p.why_stack
    p = _plan(np.ones((300, 8, 8)), method="svd")
    assert p.stack == "batched SVD" and p.why_stack.startswith("svd requested")
    p = _plan(np.ones((300, 8, 8)), method="lanczos", backend="numpy")
    assert p.why_stack == "lanczos requested; backend 'numpy' requested: the certificate kernel runs on numba and cupy"
    p = _plan(np.ones((4, 3, 3)), method="lanczos", backend="numba")  # asked for: any count
    assert p.stack == "certificate kernel" and p.why_stack.startswith(
        "lanczos on numba requested: the kernel takes any count of Gram order 3"
    )
    p = _plan(np.ones((300, 8, 8)), backend="numba")  # method="auto" follows the crossover on numba too
    assert (p.method, p.stack) == ("lanczos", "certificate kernel") and "at least 256" in p.why_stack
    p = _plan(np.ones((8, 8, 300)).T, method="lanczos", backend="numba")
    assert p.stack == "batched lanczos iteration" and "not C-contiguous" in p.why_stack
    assert _plan(np.ones((5, 4))).stack == "" and "; " not in str(_plan(np.ones((5, 4))))  # one matrix: no route
    p = _plan(np.ones((50, 40)), method="lanczos", backend="numba")  # ... unless the kernel runs on it
    assert p.stack == "certificate kernel" and p.why_stack.startswith("lanczos on numba requested")


def test_stack_route_without_numba(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba" else real(name, *a))
    p = _plan(np.ones((300, 8, 8)))
    assert (p.backend, p.method, p.stack) == ("numpy", "svd", "batched SVD")
    assert p.why_stack == 'the certificate kernel needs numba: pip install "spectra-linalg[numba]"'
    p = _plan(np.ones((100, 8, 8)), method="lanczos")  # the advice to ask for numba says how to install it
    assert p.why_stack == (
        "lanczos requested; backend auto runs the certificate kernel (numba) on stacks of at least 256 matrices "
        "of Gram order 8 (here 100); backend 'numba' runs it on any count (the certificate kernel needs numba: "
        'pip install "spectra-linalg[numba]")'
    )


def test_stack_route_of_other_namespaces():
    import torch  # the test extra installs it

    p = _plan(torch.ones((300, 8, 8), dtype=torch.float64))
    assert (p.backend, p.stack) == ("array_api", "batched SVD")
    assert p.why_stack == "the certificate kernel takes NumPy (numba) and CuPy stacks, not torch"


def test_stack_route_after_the_run(monkeypatch):
    """The plan on the result says how many matrices the kernel left to the batched iteration, and that nothing
    ran for an all-zero stack."""
    from spectra.backends.numba import NumbaBackend

    rng = np.random.default_rng(0)
    S = rng.standard_normal((300, 8, 8))
    r = spectra.norm(S, seed=0)
    assert r.plan.stack == "certificate kernel" and "not settled" not in r.plan.why_stack
    assert f"plan='{r.plan}'" in repr(r)
    real = NumbaBackend.small_gram_certify

    def failing(self, A, *args):
        out, steps, X = real(self, A, *args)
        out[::3, 1] = np.inf  # a third of the certificates "failed"
        return out, steps, X

    monkeypatch.setattr(NumbaBackend, "small_gram_certify", failing)
    r = spectra.norm(S, seed=0)
    assert r.plan.stack == "certificate kernel"
    assert r.plan.why_stack.endswith(
        "; 100 of 300 not settled by the certificate, finished by the batched lanczos iteration"
    )
    z = spectra.norm(np.zeros((300, 8, 8)))
    assert (z.plan.stack, z.plan.why_stack) == ("none", "every matrix is empty or zero: the norm is 0 exactly")


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_auto_moves_large_sparse_lanczos_to_numba(fmt):
    """From ``NUMBA_MIN_NNZ`` stored entries on, ``backend="auto"`` runs ``lanczos`` on a sparse matrix with the
    fused CSR kernel (whole certified calls measured 1.6-1.9x faster than on SciPy's products,
    docs/performance.md); one entry fewer stays on SciPy, and so does ``power`` (not measured end to end). The
    interval holds the norm, known exactly (a diagonal matrix)."""
    from spectra.backends import NUMBA_MIN_NNZ

    d = np.linspace(0.5, 1.0, NUMBA_MIN_NNZ)
    d[NUMBA_MIN_NNZ // 3] = 3.0  # a gap at the top: a few steps certify
    A = sp.diags_array(d, format=fmt)
    r = spectra.norm(A, method="lanczos", seed=0)
    assert (r.backend, r.plan.why_backend) == (
        "numba",
        f"fused Gram kernel, {NUMBA_MIN_NNZ} stored entries (duplicates summed) >= {NUMBA_MIN_NNZ}",
    )
    assert r.lower <= 3.0 <= r.upper
    smaller = sp.diags_array(d[1:], format=fmt)
    assert spectra.norm(smaller, method="lanczos", seed=0).backend == "numpy"
    assert spectra.norm(A, method="power", seed=0, maxiter=5).backend == "numpy"


def test_auto_names_the_sparse_format_without_a_fused_kernel():
    """A large BSR matrix stays on SciPy's BSR products; the plan names the format and the way to the kernel."""
    from spectra.backends import NUMBA_MIN_NNZ

    # 2 x 2 blocks: BSR of 1 x 1 blocks is read as CSR (docs/performance.md, "BSR with 1 × 1 blocks")
    A = sp.bsr_array(sp.diags_array(np.linspace(0.5, 1.0, NUMBA_MIN_NNZ)), blocksize=(2, 2))
    why = _plan(A, method="lanczos").why_backend
    assert why == "scipy input; no fused kernel for BSR float64 (CSR/CSC of float or complex: A.tocsr())"
