"""PyTorch and JAX arrays: results in the input's namespace, JAX's default 32-bit mode, and clear errors.

The contract tests (tests/test_oracle.py) run the torch and jax flavours with float64 available; here JAX runs
in its default 32-bit mode, where a requested float64 silently becomes float32 (with a warning, an error
under this suite's filterwarnings) and every accumulation has to be analysed in single precision.
"""

from __future__ import annotations

import warnings

import array_api_compat
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import spectra
from spectra._testing import conv_layer_matrix
from spectra.backends._base import ArrayAPIBackend

from .conftest import to_numpy
from .test_gram import _families, exact_matrix

METHODS = ["svd", "power", "lanczos", "randomized", "gram"]


@pytest.fixture
def jax32():
    """JAX in its default mode (float64 disabled), whatever another test switched on."""
    with jax.enable_x64(False):
        yield


def _exact_stack(dtype) -> tuple[np.ndarray, np.ndarray]:
    """Matrices with exactly known norms (every entry exact in float32): flat, repeated top, rank one, ..."""
    fam = _families(16)
    A = np.stack([exact_matrix(s, 64, 16) * 3.0 for s in fam.values()]).astype(dtype)
    return A, np.full(len(fam), 3.0)


@pytest.mark.parametrize("method", METHODS)
def test_jax_32bit_mode_no_warnings_and_valid_bounds(method, jax32):
    """Regression: in 32-bit mode each call warned 4-6 times (float64 requested, float32 used) and the
    certificate assumed float64 rounding for products computed in float32."""
    A, truth = _exact_stack(np.float32)
    X = jnp.asarray(A)
    assert X.dtype == jnp.float32
    r = spectra.norm(X, method=method, seed=0)  # any warning is an error in this suite
    assert array_api_compat.is_jax_array(r.upper) and r.upper.dtype == jnp.float32
    lower, upper = np.asarray(r.lower, dtype=np.float64), np.asarray(r.upper, dtype=np.float64)
    assert np.all(lower <= truth) and np.all(truth <= upper), (lower - truth, upper - truth)
    ri = spectra.norm(X[0], method=method, seed=0)  # the scalar path returns Python floats
    assert ri.lower <= truth[0] <= ri.upper


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.uint8, jnp.bool_])
def test_jax_32bit_mode_integer_input_is_computed_in_float32(dtype, jax32):
    """Regression: integer and bool input was cast to a requested float64, which JAX's 32-bit mode truncates to
    float32 with a UserWarning (an error under warnings-as-errors)."""
    A = np.arange(12).reshape(4, 3) % (2 if dtype == jnp.bool_ else 7)
    X = jnp.asarray(A, dtype=dtype)
    r = spectra.norm(X, seed=0)  # any warning is an error in this suite
    truth = np.linalg.norm(A.astype(np.float64), 2)
    assert r.lower <= truth <= r.upper
    assert r.relative_width <= 1e-4  # computed in float32: its rounding, not float16's


def test_float32_results_are_rounded_outward():
    """Stack results in a namespace without float64 are rounded down (lower) and up (upper), never to nearest."""
    from spectra._api import _round_float32

    x = np.random.default_rng(0).uniform(0.5, 2.0, 1000) * np.ldexp(1.0, np.arange(1000) % 200 - 100)
    down, up = _round_float32(x, -np.inf), _round_float32(x, np.inf)
    assert down.dtype == up.dtype == np.float32
    assert np.all(down.astype(np.float64) <= x) and np.all(up.astype(np.float64) >= x)
    assert np.all(np.nextafter(down, np.float32(np.inf)) >= up)  # at most one float32 apart


def test_jax_32bit_mode_accumulates_in_float32(jax32):
    X = jnp.ones((3, 3), dtype=jnp.float32)
    assert ArrayAPIBackend().wide_dtype(X, False) == jnp.float32
    assert ArrayAPIBackend().wide_dtype(X, True) == jnp.complex64
    with jax.enable_x64(True):
        Y = jnp.ones((3, 3))
        assert ArrayAPIBackend().wide_dtype(Y, False) == jnp.float64


def test_jax_complex_32bit(jax32):
    A = exact_matrix(_families(16)["repeated_top"], 16, 16, complex_=True).astype(np.complex64)
    for method in ("svd", "power", "gram"):  # (lanczos and randomized: above; each new shape compiles)
        r = spectra.norm(jnp.asarray(A), method=method, seed=0)
        assert r.lower <= 1.0 <= r.upper


def test_jax_jit_is_a_clear_error():
    f = jax.jit(lambda a: spectra.norm(a, method="lanczos").upper)
    with pytest.raises(TypeError, match="cannot run inside jax.jit"):
        f(jnp.eye(3))


@pytest.mark.filterwarnings("ignore:Sparse (CSR|CSC|BSR|BSC) tensor support is in beta:UserWarning")
@pytest.mark.parametrize("layout", ["coo", "csr", "csc", "bsr", "bsc"])
def test_torch_sparse_is_a_clear_error(layout):
    T = torch.as_tensor(np.random.default_rng(0).standard_normal((4, 6)))
    S = T.to_sparse() if layout == "coo" else getattr(T, f"to_sparse_{layout}")(*([(2, 2)] if "b" in layout else []))
    with pytest.raises(ValueError, match=f"sparse torch tensor \\(layout sparse_{layout}\\)") as info:
        spectra.norm(S)
    # the advice runs on this layout (regression: it named COO-only methods for CSR) and gives the same matrix
    advice = str(info.value).split("(never densified): ")[1]
    convert, prepare = advice.split(" after ")
    space = {"A": S, "scipy": __import__("scipy")}
    exec(prepare, space)
    M = eval(convert, space)
    np.testing.assert_array_equal(M.toarray(), T.numpy())
    r = spectra.norm(M, method="lanczos", seed=0)
    assert r.lower <= np.linalg.norm(T.numpy(), 2) * (1 + 1e-12) <= r.upper * (1 + 2e-12)


def test_torch_meta_is_a_clear_error():
    with pytest.raises(ValueError, match="meta tensor"):
        spectra.norm(torch.empty(3, 3, device="meta"))


@pytest.mark.parametrize("method", METHODS)
def test_torch_results_in_torch(method):
    A, truth = _exact_stack(np.float32)
    T = torch.asarray(A, requires_grad=True)  # a leaf that needs grad: read, never modified
    r = spectra.norm(T, method=method, seed=0)
    assert isinstance(r.upper, torch.Tensor) and r.upper.device == T.device and r.upper.shape == (len(truth),)
    assert np.all(to_numpy(r.lower) <= truth) and np.all(truth <= to_numpy(r.upper))
    r1 = spectra.norm(T[0], method=method, seed=0, return_vectors=True)
    assert isinstance(r1.v, torch.Tensor) and r1.v.shape == (16,)


@pytest.mark.gpu
@pytest.mark.parametrize("method", METHODS)
def test_torch_cuda_stays_on_device(method):
    A, truth = _exact_stack(np.float32)
    T = torch.asarray(A, device="cuda")
    r = spectra.norm(T, method=method, seed=0)
    assert r.upper.device == T.device
    assert np.all(to_numpy(r.lower) <= truth) and np.all(truth <= to_numpy(r.upper))


def test_krylov_breakdown_rank_one_in_a_float32_stack():
    """Regression: after an exact breakdown (rank one) the batched Lanczos kept multiplying normalised rounding
    noise for that matrix while the others iterated; in float32 the projection was corrupted and the rank-one
    member got the confidence-1 interval [2.785, 2.785] for a norm of 3 (NumPy) and [1.95, 2.58] (JAX 32-bit)."""
    A, truth = _exact_stack(np.float32)
    r = spectra.norm(A, method="lanczos", seed=0)
    assert np.all(np.asarray(r.lower) <= truth) and np.all(truth <= np.asarray(r.upper))
    pair = A[[2, 4]]  # rank one beside near-flat: the rank-one interval was [2.27, 2.44]
    r = spectra.norm(pair, method="lanczos", seed=0, backend="numpy")
    assert np.all(np.asarray(r.lower) <= 3.0) and np.all(3.0 <= np.asarray(r.upper))


def test_randomized_rank_one_float32_stack():
    """Regression guard: randomized on the same stack (1e-13 below the norm before the precision merge)."""
    A, truth = _exact_stack(np.float32)
    r = spectra.norm(A, method="randomized", seed=0)
    assert np.all(np.asarray(r.lower) <= truth) and np.all(truth <= np.asarray(r.upper))


@pytest.mark.parametrize("library", ["torch", "jax"])
@pytest.mark.parametrize("shape", [(120, 80), (300, 8, 8)])
def test_cpu_tensors_run_on_a_numpy_view(library, shape):
    """Regression (performance): PyTorch and JAX arrays on the CPU ran on the generic array_api backend,
    2.7-21x slower than the same data as a NumPy array (3000² float64: torch 1622 ms, JAX 6190 ms, NumPy 313 ms;
    stacks missed the certificate kernel). ``auto`` now reads them through a zero-copy NumPy view: the same
    result as the NumPy input, returned in the caller's namespace, with the bounds rounded outward where it
    has no float64 (JAX's default 32-bit mode)."""
    import torch

    A = np.random.default_rng(0).standard_normal(shape)
    if library == "torch":
        X = torch.from_numpy(A).requires_grad_()  # detached for the view: the norm is not differentiated
        ref = A
    else:
        X = jax.numpy.asarray(A)  # float32 unless x64 is enabled
        ref = np.asarray(X)
    r = spectra.norm(X, method="lanczos", seed=0, return_vectors=True)
    expected = spectra.norm(ref, method="lanczos", seed=0, return_vectors=True)
    assert r.backend == expected.backend != "array_api" and "read as a NumPy view" in r.plan.why_backend
    truth = np.linalg.norm(np.asarray(ref, dtype=np.float64), 2, axis=(-2, -1))
    lower, upper = np.asarray(r.lower, dtype=np.float64), np.asarray(r.upper, dtype=np.float64)
    assert np.all(lower <= truth * (1 + 1e-12)) and np.all(truth <= upper)
    assert np.all(lower <= np.asarray(expected.lower)) and np.all(np.asarray(expected.upper) <= upper)
    for field in (r.u, r.v) + ((r.value, r.lower, r.upper, r.converged) if len(shape) == 3 else ()):
        assert array_api_compat.array_namespace(field) is array_api_compat.array_namespace(X)
    assert np.array_equal(np.asarray(r.u), np.asarray(expected.u, dtype=np.asarray(r.u).dtype))


def test_tensors_numpy_cannot_view_stay_on_array_api():
    """bfloat16 (no NumPy dtype) has no zero-copy NumPy view."""
    import torch

    A = np.random.default_rng(0).standard_normal((40, 30))
    X = torch.from_numpy(A).to(torch.bfloat16)
    r = spectra.norm(X, method="lanczos", seed=0)
    assert r.backend == "array_api"
    truth = np.linalg.norm(X.double().numpy(), 2)
    assert r.lower <= truth * (1 + 1e-12) and truth <= r.upper


@pytest.mark.parametrize("backend", ["auto", "array_api"])
@pytest.mark.parametrize("matrix_dtype", ["bfloat16", "float32"])
def test_a_bfloat16_start_vector_is_widened_exactly(backend, matrix_dtype):
    """Regression: a bfloat16 tensor ``v0`` raised ``TypeError: v0 must be an array, got Tensor (Got unsupported
    ScalarType BFloat16)`` (NumPy has no bfloat16), in spectra.norm and spectra.conv_norm alike. It is widened
    exactly to float32, as a bfloat16 matrix is: the call is bitwise the one with ``v0.float()``."""
    import torch

    gen = torch.Generator().manual_seed(0)
    A = torch.randn(12, 9, generator=gen).to(getattr(torch, matrix_dtype))
    v0 = torch.randn(9, generator=gen).to(torch.bfloat16)
    truth = np.linalg.norm(A.double().numpy(), 2)  # float64 LAPACK on the stored entries
    for method in ("lanczos", "power"):
        r = spectra.norm(A, method=method, v0=v0, seed=0, backend=backend)
        same = spectra.norm(A, method=method, v0=v0.float(), seed=0, backend=backend)
        assert (float(r.lower), float(r.upper)) == (float(same.lower), float(same.upper)), method
        assert float(r.lower) <= truth * (1 + 1e-12) and truth <= float(r.upper), method
    w = torch.randn(2, 3, 3, generator=gen).to(torch.bfloat16)
    v0 = torch.randn(3 * 7, generator=gen).to(torch.bfloat16)
    r = spectra.conv_norm(w, (7,), padding=1, method="lanczos", v0=v0, seed=0)
    same = spectra.conv_norm(w, (7,), padding=1, method="lanczos", v0=v0.float(), seed=0)
    truth = np.linalg.norm(conv_layer_matrix(w.double().numpy(), (7,), (1,), ((1, 1),), (1,), 1, "zeros"), 2)
    assert (r.lower, r.upper) == (same.lower, same.upper)
    assert r.lower <= truth * (1 + 1e-12) and truth <= r.upper


@pytest.mark.parametrize("method", ["svd", "lanczos", "power"])
def test_torch_lazy_conjugate_and_negative_views_take_the_numpy_route(method):
    """PyTorch's lazy conjugate (``.conj()``, ``.mH``) is read as a view of its stored entries, a lazy negation
    is resolved; the singular vectors are those of the tensor given. Regression: both fell back to the
    ``array_api`` backend, 8-13x slower on a 1500² lanczos."""
    import torch

    rng = np.random.default_rng(1)
    A = rng.standard_normal((50, 35)) + 1j * rng.standard_normal((50, 35))
    T = torch.from_numpy(A)
    views = {"conj": T.conj(), "mH": T.mH, "neg": T.conj().imag, "neg of conj": (-T).conj()}
    for name, X in views.items():
        assert X.is_conj() or X.is_neg(), name
        dense = X.resolve_conj().resolve_neg().numpy()
        truth = np.linalg.norm(dense, 2)
        r = spectra.norm(X, method=method, seed=0, return_vectors=True)
        assert r.backend in ("numpy", "numba") and "view" in r.plan.why_backend, (name, r.plan.why_backend)
        assert r.lower <= truth * (1 + 1e-13) and truth <= r.upper * (1 + 1e-13), name
        u, v = (np.asarray(x.resolve_conj()) for x in (r.u, r.v))
        assert abs(np.vdot(u, dense @ v) - r.value) <= 1e-6 * truth, name  # u^H X v = sigma for X itself
        assert np.linalg.norm(dense @ v - r.value * u) <= 1e-6 * truth, name
    W = spectra.normalize(T.mH, seed=0)
    assert np.linalg.norm(W.resolve_conj().resolve_neg().numpy(), 2) <= 1.0


@pytest.mark.parametrize("dtype", ["int32", "int8", "uint8", "bool"])
def test_normalize_of_integer_jax_arrays_in_32_bit_mode(jax32, dtype):
    """Regression: ``normalize`` of an integer (or bool) JAX array asked for a float64 output, which JAX in its
    default 32-bit mode silently makes float32, while the safety factor was rounded for float64: ``||W||_2 > 1``
    for 46 of 100 int32 matrices (worst 1.0000000532). The output dtype is now the widest float JAX computes in
    (float32 here), and the factor is rounded for it."""
    rng = np.random.default_rng(0)
    shapes = [(2, 39), (17, 5), (31, 30)]  # a few shapes: each new one costs JAX a compile of its operations
    for i in range(25):
        m, n = shapes[i % len(shapes)]
        A = rng.integers(-1000, 1000, (m, n)) if dtype != "bool" else rng.random((m, n)) < 0.5
        W = spectra.normalize(jnp.asarray(A.astype(dtype)), seed=0)
        assert W.dtype == jnp.float32
        assert np.linalg.norm(np.asarray(W).astype(np.float64), 2) <= 1.0


@pytest.mark.parametrize("call", ["norm-numpy", "norm-torch", "norm-jax", "normalize-numpy", "normalize-torch"])
def test_warnings_point_at_the_caller(call):
    """Regression: ``norm`` runs a CPU torch/JAX array by calling itself on a NumPy view, and ``normalize`` calls
    ``norm``; their ``ConvergenceWarning`` pointed at spectra/_api.py (or _normalize.py), not at the caller's
    line, so module-based filters missed it and "once per location" merged every call site."""
    import torch

    from spectra._testing import matrix_with_singular_values, spectrum

    A = matrix_with_singular_values(spectrum("clustered", 60), 80, 60, seed=3)
    kind = call.split("-")[1]
    X = {"numpy": A, "torch": torch.from_numpy(A), "jax": None}[kind]
    if kind == "jax":
        with jax.enable_x64(True):
            X = jnp.asarray(A)
    f = spectra.norm if call.startswith("norm-") else spectra.normalize
    with pytest.warns(spectra.ConvergenceWarning, match="default budget") as record:
        f(X, method="power", rtol=1e-10, seed=0)  # a clustered top: power's default budget runs out
    assert {w.filename for w in record} == {__file__}


@pytest.mark.parametrize("transform", ["vmap", "grad", "jacrev"])
def test_torch_func_transforms_are_named(transform):
    """Regression: inside ``torch.func.vmap``/``grad``/``jacrev`` spectra.norm failed deep inside a backend with
    "Cannot access data pointer of Tensor that doesn't have storage"; it is now a ``TypeError`` that names the
    transform and says what to do, as for JAX's transforms."""
    import torch

    def f(W):
        return torch.as_tensor(spectra.norm(W, seed=0).value)

    W = torch.randn(3, 5, 4, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"cannot run inside torch\.func\.vmap, grad, jacrev"):
        if transform == "vmap":
            torch.func.vmap(f)(W)
        else:
            getattr(torch.func, transform)(f)(W[0])


_SHARDED_SCRIPT = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import numpy as np, jax, jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import spectra

mesh = Mesh(np.array(jax.devices()), ("x",))
a = np.random.default_rng(0).standard_normal((64, 40)).astype(np.float32)
truth = np.linalg.norm(a.astype(np.float64), 2)
for spec in (P("x", None), P(None, "x"), P(None, None)):
    A = jax.device_put(jnp.asarray(a), NamedSharding(mesh, spec))
    for method in ("auto", "lanczos"):
        r = spectra.norm(A, method=method, seed=0)
        assert r.lower <= truth <= r.upper, (spec, method, r)
        assert r.backend in ("numpy", "numba") and "NumPy view" in r.plan.why_backend, (spec, r.plan)
    W = spectra.normalize(A, seed=0)
    assert np.linalg.norm(np.asarray(W, dtype=np.float64), 2) <= 1.0, spec
    assert np.array_equal(np.asarray(A), a)
print("ok")
"""


def test_jax_arrays_on_several_cpu_devices():
    """Regression: a JAX array sharded over two CPU devices crashed ``norm(method="lanczos")`` and ``normalize``
    (``IndivisibleError``: a (1, 1) array placed on the input's sharding), and a replicated one left the NumPy-view
    route (DLPack takes single-device arrays only; 2000² float32 9.3x slower). A replicated array is now viewed
    through one device's copy, a split one gathered to the host, and small arrays are made on the default device.
    (A subprocess: the CPU device count is fixed when JAX starts.)"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _SHARDED_SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_torch_complex32_is_computed_in_complex64():
    """PyTorch's half-precision complex (``complex32``) is computed in complex64, as float16 in float32.
    Regression: ``TypeError: data type 'complex32' not understood``, naming no parameter or fix."""
    import torch

    rng = np.random.default_rng(2)
    with warnings.catch_warnings():  # PyTorch: "ComplexHalf support is experimental"
        warnings.simplefilter("ignore", UserWarning)
        T = torch.from_numpy(rng.standard_normal((30, 20)) + 1j * rng.standard_normal((30, 20))).to(torch.complex32)
        dense = T.to(torch.complex128).numpy()
        truth = np.linalg.norm(dense, 2)
        for method in ("svd", "lanczos"):
            r = spectra.norm(T, method=method, seed=0)
            assert r.lower <= truth <= r.upper and r.relative_width < 1e-4, method
        W = spectra.normalize(T, seed=0)
        assert W.dtype == torch.complex32
        assert np.linalg.norm(W.to(torch.complex128).numpy(), 2) <= 1.0


def test_torch_start_vectors_with_lazy_views_or_autograd():
    """``v0`` as a PyTorch tensor that is a lazy conjugate or negation, or requires grad, beside a plain or a
    conjugated matrix. Regression: "v0 must be an array, got Tensor" or PyTorch's own RuntimeError."""
    rng = np.random.default_rng(3)
    A = torch.from_numpy(rng.standard_normal((7, 5)) + 1j * rng.standard_normal((7, 5)))
    w = torch.from_numpy(rng.standard_normal(5) + 1j * rng.standard_normal(5))
    cases = [(A, w.conj()), (A.conj(), w.clone().requires_grad_(True)), (A, (w * 1j).conj().imag.to(w.dtype))]
    for X, v0 in cases:
        truth = np.linalg.norm(X.resolve_conj().numpy(), 2)
        r = spectra.norm(X, method="lanczos", v0=v0, seed=0)
        assert r.lower <= truth * (1 + 1e-13) and truth <= r.upper
