"""One backend fixture drives every parametrisation; helpers shared by the tests."""

from __future__ import annotations

import numpy as np
import pytest

#: input flavours: NumPy inputs on every backend that takes them; array-api-strict, PyTorch (CPU) and JAX (CPU,
#: with float64 enabled for the duration of the test) arrays through the array-API path; Dask arrays (on a
#: 2-worker LocalCluster, see ``dask_client``); and CuPy inputs (marked ``gpu``: deselected by default, run with
#: ``-m gpu`` where a GPU exists).
#: Every backend is tested; a missing optional dependency fails here instead of being skipped.
#: JAX's default 32-bit mode has its own tests (tests/test_interop.py).
FLAVOURS = [
    "numpy",
    "numba",
    "array_api",
    "array_api_strict",
    "torch",
    "jax",
    "dask",
    pytest.param("cupy", marks=pytest.mark.gpu),
]

#: flavours dispatched by type (``backend="auto"``) from a foreign namespace; the results come back in it
FOREIGN = ("array_api_strict", "torch", "jax", "cupy")


#: JAX compiles every new operation and shape in eager mode (about 70 compilations, 0.1-0.2 s each, for one
#: small Lanczos run; the same call then takes 14 ms), so the full contract matrix would take many minutes.
#: The jax flavour runs a representative subset in the default suite: every method on one tall shape in
#: float32 and complex128, and the stacks. The rest is marked slow (run it with -m slow), not skipped.
JAX_SUBSET = {"shape": [(40, 25)], "dtype": [np.float32, np.complex128]}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("flavour") != "jax":
            continue
        if any(key in params and params[key] not in allowed for key, allowed in JAX_SUBSET.items()):
            item.add_marker(pytest.mark.slow)


def as_flavour(A: np.ndarray, flavour: str):
    if flavour == "array_api_strict":
        import array_api_strict as xs

        return xs.asarray(A)
    if flavour == "dask":
        import dask.array as da

        # about three blocks per axis, the last one ragged: the backend has to rechunk into panels
        return da.from_array(A, chunks=tuple(max(1, -(-d // 3)) for d in A.shape))
    if flavour == "torch":
        import torch

        return torch.asarray(A)
    if flavour == "jax":
        import jax.numpy as jnp

        return jnp.asarray(A)
    if flavour == "cupy":
        import cupy

        return cupy.asarray(A)
    return A


def backend_for(flavour: str) -> str:
    return "auto" if flavour in FOREIGN else flavour  # auto: dispatch by type


def to_numpy(x):
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):  # device arrays never convert implicitly
        return x.get()
    return np.asarray(x)


def random_matrix(shape, dtype, seed=0) -> np.ndarray:
    """Standard (complex) Gaussian entries of ``dtype``."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        A = A + 1j * rng.standard_normal(shape)
    return A.astype(dtype)


def oracle(A) -> np.ndarray:
    """float64/complex128 LAPACK spectral norm of the stored matrix (per matrix of a stack)."""
    A = np.asarray(A)
    wide = np.complex128 if np.iscomplexobj(A) else np.float64
    A = A.astype(wide)
    if A.shape[-1] == 0 or A.shape[-2] == 0:
        return np.zeros(A.shape[:-2])
    return np.linalg.svd(A, compute_uv=False)[..., 0]


def oracle_slack(A) -> float:
    """Relative uncertainty of the oracle itself (LAPACK backward error, docs/bounds.md §6a)."""
    return 8.0 * max(A.shape[-2:]) * 2.0**-53


@pytest.fixture(scope="session")
def dask_client():
    """A ``distributed.LocalCluster`` of 2 worker processes (1 thread each) for the whole test session.

    While it is open it is Dask's default scheduler; tests that want another one say so
    (``dask.config.set(scheduler="threads")``).
    """
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(params=FLAVOURS)
def flavour(request):
    if request.param == "dask":
        request.getfixturevalue("dask_client")
        # panels of a few rows, so that even the small test matrices are summed over several workers
        request.getfixturevalue("monkeypatch").setattr("spectra.backends._dask_layout.MAX_PANEL_BYTES", 2048)
    if request.param == "jax":
        import jax

        with jax.enable_x64(True):  # float64 inputs stay float64, as in the other flavours
            yield request.param
        return
    yield request.param


def assert_interval(r, truth, slack: float) -> None:
    lower, upper, value = (np.asarray(to_numpy(x), dtype=np.float64) for x in (r.lower, r.upper, r.value))
    truth = np.asarray(truth, dtype=np.float64)
    assert np.all(lower <= upper), (lower, upper)
    assert np.all(lower <= value) and np.all(value <= upper), (lower, value, upper)
    assert np.all(lower <= truth * (1 + slack)), f"lower {lower} above the true norm {truth}"
    assert np.all(truth <= upper * (1 + slack)), f"upper {upper} below the true norm {truth}"


@pytest.fixture
def two_numba_threads(monkeypatch):
    """The numba backend sees (at least) two Numba threads, whatever ``NUMBA_NUM_THREADS`` says.

    With one thread every pass runs on the calling thread and nothing is scheduled, so the tests of the pass
    schedule and of the parallel kernels' dispatch failed under ``NUMBA_NUM_THREADS=1``. With fewer than two
    threads the thread count the backend reads (and sets, for a pass on one thread) is simulated; the kernels
    then run their blocks on the one thread there is. With two or more nothing changes.
    """
    import numba

    if numba.config.NUMBA_NUM_THREADS >= 2:
        return
    threads = [2]
    monkeypatch.setattr(numba, "get_num_threads", lambda: threads[0])
    monkeypatch.setattr(numba, "set_num_threads", lambda n: threads.__setitem__(0, n))
