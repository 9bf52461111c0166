"""Sparse passes on the parallel kernel or its serial twin, chosen by their times (spectra.backends._pass_schedule).

The choice must never change a result: the twin computes the same row blocks and sums them in the same order,
so its products are bitwise those of the parallel kernel, and a whole computation whose passes switch between
the two returns bitwise the fields of one that ran every pass in parallel.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp

import spectra
import spectra.backends.numba as nb_backend
from spectra._testing import preferential_attachment_graph
from spectra.backends import _numba_sparse as sparse_kernels
from spectra.backends import _pass_schedule
from spectra.backends._pass_schedule import PassSchedule, Prior

from .conftest import random_matrix as _rand

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]

#: the schedule chooses between modes only where there are two threads (regression: under NUMBA_NUM_THREADS=1 every
#: pass ran on the calling thread unscheduled, and the tests of scheduled computations failed)
pytestmark = pytest.mark.usefixtures("two_numba_threads")


@pytest.fixture(autouse=True)
def _no_prior(monkeypatch):
    """Each test starts without the state an earlier computation in this process handed on."""
    monkeypatch.setattr(_pass_schedule, "_LAST", {})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("k", [1, 3])
def test_serial_twin_is_bitwise_the_parallel_pass(dtype, fmt, index, k):
    """Same bounds (three row blocks, one empty), same products bit for bit, and both match the dense oracle."""
    S = sp.random_array((301, 173), density=0.05, format=fmt, rng=11).astype(dtype)
    S.indptr, S.indices = S.indptr.astype(index), S.indices.astype(index)
    B = nb_backend._transpose_view(S) if fmt == "csc" else S  # the rows the kernel reads
    rows = B.shape[0]
    bounds = np.array([0, rows // 3, rows // 3, rows], dtype=np.int64)
    X = _rand((B.shape[1], k), dtype, seed=4)
    indptr, indices = nb_backend._unsigned(B)
    out = []
    for kernel in (sparse_kernels.csr_gram, sparse_kernels.csr_gram_serial):
        Y = np.empty((rows, k), dtype=dtype)
        Z = np.empty((B.shape[1], k), dtype=dtype)
        kernel(indptr, indices, B.data, X, np.float32(0.5).astype(np.real(X).dtype).item(), Y, Z, bounds)
        out.append((Y, Z))
    (Yp, Zp), (Ys, Zs) = out
    assert np.array_equal(Yp, Ys) and np.array_equal(Zp, Zs)
    dense = S.toarray().T if fmt == "csc" else S.toarray()
    tol = 2e-5 if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64)) else 1e-13
    np.testing.assert_allclose(Ys, dense @ X, atol=tol * 10 * max(1.0, np.abs(dense @ X).max()))
    Zo = dense.conj().T @ (0.5 * (dense @ X))
    np.testing.assert_allclose(Zs, Zo, atol=tol * 10 * max(1.0, np.abs(Zo).max()))


def _modes(schedule: PassSchedule, seconds: dict, passes: int) -> str:
    """The modes ``schedule`` picks for ``passes`` passes when each takes ``seconds[mode]`` per unit of work."""
    out = []
    for _ in range(passes):
        parallel = schedule.parallel_next()
        out.append("P" if parallel else "s")
        schedule.record(parallel, seconds[parallel], 1)
    return "".join(out)


def test_schedule_keeps_the_faster_mode_and_probes_the_other_ever_less_often():
    """Warm-up alternates (parallel first), then the faster mode runs; the slower one is probed after
    FIRST_PROBE passes (the FIRST_PROBE-th pass after the warm-up), then after twice as many each time it
    loses again."""
    assert _pass_schedule.WARMUP == 2 and _pass_schedule.FIRST_PROBE == 8
    stalled = _modes(PassSchedule(busy=False), {True: 0.030, False: 0.010}, 40)
    assert stalled[:4] == "PsPs"
    assert [i for i, m in enumerate(stalled) if m == "P"] == [0, 2, 11, 27]
    free = _modes(PassSchedule(), {True: 0.005, False: 0.010}, 40)
    assert [i for i, m in enumerate(free) if m == "s"] == [1, 3, 11, 27]


def test_schedule_follows_a_change_of_load():
    """When the serial pass becomes the slower one, the first probe of the parallel kernel wins, and from then
    on the parallel kernel runs (its probes of the serial pass restart at FIRST_PROBE)."""
    s = PassSchedule()
    assert _modes(s, {True: 0.030, False: 0.010}, 6)[4:] == "ss"  # the other core busy: serial
    later = _modes(s, {True: 0.004, False: 0.010}, 30)  # the core is free again
    first_parallel = later.index("P")
    assert first_parallel <= _pass_schedule.FIRST_PROBE
    assert later[first_parallel : first_parallel + 4] == "PPPP"  # its median is now below the serial one


def test_a_busy_start_runs_serial_until_a_probe_finds_the_parallel_kernel_faster():
    """busy=True (the load average was at least the core count): no warm-up; the first parallel pass is the
    FIRST_PROBE-th, and it takes over only if it is faster."""
    stalled = _modes(PassSchedule(busy=True), {True: 0.030, False: 0.010}, 30)
    assert [i for i, m in enumerate(stalled) if m == "P"] == [7, 23]
    free = _modes(PassSchedule(busy=True), {True: 0.004, False: 0.010}, 30)
    assert [i for i, m in enumerate(free) if m == "s"] == [0, 1, 2, 3, 4, 5, 6, 15]  # then probes of the serial


def test_a_prior_continues_the_last_computation_without_warm_up():
    """With a prior its faster mode runs from the first pass, and its probes continue where they stood."""
    free = _modes(PassSchedule(prior=Prior(True, 16, 10)), {True: 0.005, False: 0.010}, 60)
    assert [i for i, m in enumerate(free) if m == "s"] == [5, 37]  # 16 - 10 passes, then 32
    stalled = _modes(PassSchedule(prior=Prior(False, 8, 0)), {True: 0.030, False: 0.010}, 30)
    assert [i for i, m in enumerate(stalled) if m == "P"] == [7, 23]
    # the prior was wrong (the load changed): the first probe finds it out and switches
    changed = _modes(PassSchedule(prior=Prior(False, 8, 7)), {True: 0.004, False: 0.010}, 10)
    assert changed == "PPPPPPPPsP"  # and probes of the serial twin restart at FIRST_PROBE


def test_probes_grow_to_at_most_max_probe_passes_apart():
    """A probe that keeps losing doubles the interval up to MAX_PROBE, so a change of load is noticed within
    MAX_PROBE passes however long the machine stayed quiet."""
    assert _pass_schedule.MAX_PROBE == 64
    free = _modes(PassSchedule(), {True: 0.005, False: 0.010}, 400)
    probes = [i for i, m in enumerate(free) if m == "s"][2:]  # after the warm-up
    assert np.diff(probes).tolist() == [16, 32, 64, 64, 64, 64, 64]


def _computations(seconds: dict, calls: int, passes: int, threads: int = 2) -> list[str]:
    """The modes of ``calls`` computations in a row, each of ``passes`` passes, as the backend starts them."""
    out = []
    for _ in range(calls):
        schedule = _pass_schedule.start_schedule(threads)
        out.append(_modes(schedule, seconds, passes))
        _pass_schedule.remember(threads, schedule)
    return out


@pytest.mark.parametrize("busy", [False, True])
def test_a_quiet_machine_pays_the_warm_up_once_per_run_of_computations(monkeypatch, busy):
    """Regression (asv, quiet machine: every pass on the parallel kernel was 7-12 % faster than the schedule):
    each computation warmed up anew (two serial passes) or, with a load average at the core count that our own
    threads had raised, ran serial for its first FIRST_PROBE passes. Now only the first computation of a run
    does; the later ones continue its state, so a run of computations probes the serial twin exactly where one
    long computation would: 16, 32, then MAX_PROBE passes apart."""
    monkeypatch.setattr(_pass_schedule, "cores_busy", lambda: busy)
    runs = _computations({True: 0.004, False: 0.010}, calls=20, passes=20)
    serial = [i for i, m in enumerate("".join(runs)) if m == "s"]
    start = [1, 3, 11] if not busy else [0, 1, 2, 3, 4, 5, 6, 15]  # within the first computation
    probes = [27, 59, 123, 187, 251, 315, 379] if not busy else [31, 63, 127, 191, 255, 319, 383]
    assert serial == start + probes
    one_long = _modes(PassSchedule(busy), {True: 0.004, False: 0.010}, 400)
    assert "".join(runs) == one_long


def test_a_busy_machine_keeps_the_serial_twin_across_computations(monkeypatch):
    """The busy-machine gain is kept: once the serial twin is the faster, later computations start with it and
    probe the parallel kernel ever less often (16, 32, then MAX_PROBE passes apart)."""
    monkeypatch.setattr(_pass_schedule, "cores_busy", lambda: False)
    runs = _computations({True: 0.030, False: 0.010}, calls=10, passes=20)
    assert [i for i, m in enumerate("".join(runs)) if m == "P"] == [0, 2, 11, 27, 59, 123, 187]


def test_an_old_prior_or_another_thread_count_starts_afresh(monkeypatch):
    """A prior older than PRIOR_SECONDS, or from a computation on another number of threads, is not used:
    the schedule warms up again (or starts serial if the cores are busy)."""
    monkeypatch.setattr(_pass_schedule, "cores_busy", lambda: False)
    clock = [1000.0]
    monkeypatch.setattr(_pass_schedule.time, "monotonic", lambda: clock[0])
    _computations({True: 0.004, False: 0.010}, calls=1, passes=20)
    assert _pass_schedule.start_schedule(2)._recorded == 2 * _pass_schedule.WARMUP  # continued
    assert _pass_schedule.start_schedule(4)._recorded == 0  # another thread count: warm-up
    clock[0] += _pass_schedule.PRIOR_SECONDS + 1
    assert _pass_schedule.start_schedule(2)._recorded == 0


def test_a_computation_that_ended_in_its_warm_up_hands_nothing_on(monkeypatch):
    monkeypatch.setattr(_pass_schedule, "cores_busy", lambda: False)
    schedule = _pass_schedule.start_schedule(2)
    schedule.record(schedule.parallel_next(), 0.004, 1)
    _pass_schedule.remember(2, schedule)
    assert _pass_schedule._LAST == {}


@pytest.mark.parametrize(("load", "busy"), [(0.5, False), (1.99, False), (2.0, True), (7.3, True)])
def test_cores_busy_compares_the_load_average_with_the_cores(monkeypatch, load, busy):
    monkeypatch.setattr(_pass_schedule.os, "getloadavg", lambda: (load, 0.0, 0.0))
    monkeypatch.setattr(_pass_schedule.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert _pass_schedule.cores_busy() is busy


def test_cores_busy_without_a_load_average(monkeypatch):
    def unavailable():
        raise OSError("no load average")

    monkeypatch.setattr(_pass_schedule.os, "getloadavg", unavailable)
    assert _pass_schedule.cores_busy() is False


class _Alternating(PassSchedule):
    """Parallel and serial in turn, whatever the times: every pass kind is exercised."""

    def __init__(self, busy: bool = False) -> None:
        super().__init__(busy)
        self.modes = []

    def parallel_next(self) -> bool:
        self.modes.append(len(self.modes) % 2 == 0)
        return self.modes[-1]


def _switched_and_parallel(monkeypatch, A, flag: str):
    """Certified lanczos on ``A`` with its passes alternating between the two modes, then with the schedule
    switched off by ``flag`` (every pass parallel); both modes must have run."""
    schedules = []

    def alternating(key):
        schedules.append(_Alternating())
        return schedules[-1]

    monkeypatch.setattr(nb_backend, "start_schedule", alternating)
    switched = spectra.norm(A, method="lanczos", backend="numba", seed=0, return_vectors=True)
    monkeypatch.setattr(nb_backend, flag, False)
    parallel = spectra.norm(A, method="lanczos", backend="numba", seed=0, return_vectors=True)
    modes = [m for schedule in schedules for m in schedule.modes]  # one schedule per context the call opens
    assert True in modes and False in modes
    return switched, parallel


@pytest.mark.parametrize(
    ("fmt", "index", "shape"),
    [("csr", "int32", (900, 500)), ("csc", "int64", (500, 900)), ("csr", "int64", (700, 700))],
)
def test_switching_modes_leaves_the_result_bitwise_unchanged(monkeypatch, fmt, index, shape):
    """A certified lanczos call whose passes alternate between the parallel kernel and its serial twin returns
    bitwise the interval (and vectors) of a call that ran every pass in parallel, and LAPACK's norm lies in it."""
    monkeypatch.setattr(nb_backend, "SERIAL_BELOW", 0)  # a small matrix, scheduled like a large one
    A = sp.random_array(shape, density=0.02, format=fmt, rng=3)
    A.indptr, A.indices = A.indptr.astype(index), A.indices.astype(index)
    switched, parallel = _switched_and_parallel(monkeypatch, A, "SCHEDULE_SPARSE_PASSES")
    for field in ("value", "lower", "upper"):
        assert getattr(switched, field) == getattr(parallel, field)
    assert np.array_equal(switched.u, parallel.u) and np.array_equal(switched.v, parallel.v)
    truth = np.linalg.norm(A.toarray(), 2)
    assert switched.lower <= truth * (1 + 1e-12) and truth <= switched.upper * (1 + 1e-12)


def test_a_graph_computation_records_every_large_pass(monkeypatch):
    """Inside a computation every pass above SERIAL_BELOW is timed into the schedule of that matrix; a pass over
    another matrix (not the one the context holds) runs in parallel and is not recorded."""
    monkeypatch.setattr(nb_backend, "SERIAL_BELOW", 0)
    recorded = []

    class Counting(PassSchedule):
        def record(self, parallel, seconds, work):
            recorded.append((parallel, work))
            super().record(parallel, seconds, work)

    monkeypatch.setattr(nb_backend, "start_schedule", lambda threads: Counting())
    A = preferential_attachment_graph(2000, 3, seed=1)
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    assert len(recorded) == r.matvecs // 2 and {w for _, w in recorded} == {A.nnz}
    be = nb_backend.NumbaBackend()
    recorded.clear()
    with be.context(A):
        be.gram(A.copy(), np.ones((A.shape[1], 1)))
    assert recorded == []


@pytest.mark.parametrize("fmt", ["coo", "dia", "bsr"])
def test_other_sparse_formats_get_no_schedule(fmt):
    """Formats the kernels do not read (COO and DIA have no ``indptr``) open the context without a schedule."""
    A = sp.random_array((40, 30), density=0.2, format="csr", rng=1).asformat(fmt)
    with nb_backend.NumbaBackend().context(A):
        assert nb_backend._SCHEDULE.get() is None
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    truth = np.linalg.norm(A.toarray(), 2)
    assert r.lower <= truth * (1 + 1e-12) and truth <= r.upper * (1 + 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_entry_statistics_twin_is_bitwise_the_parallel_kernel(dtype, fmt):
    """csr_abs_stats_serial computes the same blocks as csr_abs_stats, bit for bit, and both match NumPy's
    statistics of the dense matrix (column sums of squares, Gershgorin sums, counts, row sums of squares)."""
    S = sp.random_array((301, 173), density=0.05, format=fmt, rng=12).astype(dtype)
    B = nb_backend._transpose_view(S) if fmt == "csc" else S
    n = B.shape[1]
    bounds = np.array([0, B.shape[0] // 3, B.shape[0] // 3, B.shape[0]], dtype=np.int64)
    out = []
    for kernel in (sparse_kernels.csr_abs_stats, sparse_kernels.csr_abs_stats_serial):
        res = (np.empty((3, n)), np.empty((3, n)), np.empty((3, n), dtype=np.int64), np.empty((3, 2)))
        kernel(*nb_backend._unsigned(B), B.data, 0.5, *res, bounds)
        out.append(res)
    for a, b in zip(*out, strict=True):
        assert np.array_equal(a, b)
    dense = np.abs(S.toarray().T if fmt == "csc" else S.toarray()).astype(np.float64) * 0.5
    colsq, gers, count, rows = (x.sum(axis=0) for x in out[1])
    np.testing.assert_allclose(colsq, (dense**2).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(gers, dense.T @ dense.sum(axis=1), rtol=1e-12)
    assert np.array_equal(count, (dense != 0).sum(axis=0))
    np.testing.assert_allclose(rows[0], (dense**2).sum(), rtol=1e-12)


@functools.cache
def _graph_and_norm() -> tuple[sp.csr_array, float]:
    """The 3000-node graph of the next test and its LAPACK norm (one dense SVD for both parametrizations)."""
    A = preferential_attachment_graph(3000, 3, seed=2)
    return A, float(np.linalg.norm(A.toarray(), 2))


@pytest.mark.parametrize("serial_faster", [False, True])
def test_entry_statistics_follow_the_schedule(monkeypatch, serial_faster):
    """Inside a computation whose passes run on the serial twin (a busy machine), the entry statistics run on
    their serial twin too (no parallel region to stall); otherwise on the parallel kernel. The statistics,
    and so the whole result, are bitwise the same either way."""
    monkeypatch.setattr(nb_backend, "SERIAL_BELOW", 0)
    calls = []
    for name in ("csr_abs_stats", "csr_abs_stats_serial"):
        kernel = getattr(sparse_kernels, name)

        def spy(*args, kernel=kernel, name=name):
            calls.append(name)
            return kernel(*args)

        monkeypatch.setattr(sparse_kernels, name, spy)
    prior = Prior(parallel=not serial_faster, probe_after=64, since_probe=0)
    monkeypatch.setattr(nb_backend, "start_schedule", lambda threads: PassSchedule(prior=prior))
    A, truth = _graph_and_norm()
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    assert calls == ["csr_abs_stats_serial" if serial_faster else "csr_abs_stats"]
    monkeypatch.setattr(nb_backend, "SCHEDULE_SPARSE_PASSES", False)
    plain = spectra.norm(A, method="lanczos", backend="numba", seed=0)
    assert calls[-1] == "csr_abs_stats"
    assert (r.value, r.lower, r.upper) == (plain.value, plain.lower, plain.upper)
    assert r.lower <= truth * (1 + 1e-12) and truth <= r.upper * (1 + 1e-12)


def test_a_stalled_parallel_pass_brings_the_next_probe_forward():
    """A quiet run has pushed the probes MAX_PROBE passes apart; when the other core is taken meanwhile, the first
    parallel pass that takes STALL times its recent median makes the next pass a probe of the serial twin; one
    stall alone is outvoted by the quiet passes before it (an outlier costs one serial pass), the third takes
    the median over and the serial twin runs (instead of up to MAX_PROBE stalled passes)."""
    s = PassSchedule(prior=Prior(parallel=True, probe_after=_pass_schedule.MAX_PROBE, since_probe=0))
    assert _modes(s, {True: 0.004, False: 0.010}, 10) == "P" * 10
    busy = _modes(s, {True: 0.030, False: 0.010}, 6)
    assert busy == "PsPPss"
    # jitter below STALL changes nothing
    s = PassSchedule(prior=Prior(parallel=True, probe_after=_pass_schedule.MAX_PROBE, since_probe=0))
    assert _modes(s, {True: 0.004, False: 0.010}, 5) + _modes(s, {True: 0.011, False: 0.010}, 1) == "P" * 6
    assert _modes(s, {True: 0.004, False: 0.010}, 1) == "P"


# -- dense passes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("m", "n", "k", "nb"), [(240, 130, 1, 8), (301, 173, 3, 8), (35, 19, 1, 3)])
def test_dense_pass_on_one_thread_is_bitwise_the_parallel_pass(dtype, m, n, k, nb):
    """A dense pass's serial mode is the parallel kernel with Numba's thread count at 1 and the same blocks: the
    same machine code, so the same products bit for bit (odd row counts, the float32 sixteen-row sweeps and their
    remainder included). The separately compiled serial twin is not: LLVM vectorised its complex128 sums
    differently (240 x 130 differed), so it is used only where it is the only mode (below DENSE_SERIAL_BELOW)."""
    from spectra.backends import _numba_kernels as kernels

    B = _rand((m, n), dtype, seed=7)
    X = _rand((n, k), dtype, seed=1)
    out = []
    for kernel in (kernels.dense_gram, nb_backend._on_one_thread(kernels.dense_gram)):
        Y, Z = np.empty((m, k), dtype=dtype), np.empty((n, k), dtype=dtype)
        kernel(B, X, 1.0, Y, Z, nb)
        out.append((Y, Z))
    (Yp, Zp), (Ys, Zs) = out
    assert np.array_equal(Yp, Ys) and np.array_equal(Zp, Zs)
    tol = 2e-5 if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.complex64)) else 1e-13
    Zo = B.conj().T @ (B @ X)
    np.testing.assert_allclose(Zs, Zo, atol=tol * 10 * np.abs(Zo).max())


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_dense_switching_modes_leaves_the_result_bitwise_unchanged(monkeypatch, order, dtype):
    """Regression for busy machines: dense passes always ran the parallel kernel, and with the other core taken
    each pass waited for a descheduled worker (200 power steps on 2000 x 1000: 1.1-2.1 s against 0.27-0.37 s on
    one thread, load 5-6). Now they are scheduled like sparse passes. A certified call whose passes alternate
    returns bitwise the interval and vectors of one that ran every pass in parallel (C order: AᴴA; F order: the
    adjoint route AAᴴ through the transposed view, the same data address)."""
    monkeypatch.setattr(nb_backend, "DENSE_SERIAL_BELOW", 0)  # a small matrix, scheduled like a large one
    shape = (240, 130) if order == "C" else (130, 240)  # the smaller side is the one the kernel reads in one pass
    A = np.asarray(_rand(shape, dtype, seed=7), order=order)
    switched, parallel = _switched_and_parallel(monkeypatch, A, "SCHEDULE_DENSE_PASSES")
    for field in ("value", "lower", "upper", "matvecs"):
        assert getattr(switched, field) == getattr(parallel, field)
    assert np.array_equal(switched.u, parallel.u) and np.array_equal(switched.v, parallel.v)
    truth = np.linalg.norm(A, 2)
    assert switched.lower <= truth * (1 + 1e-6) and truth <= switched.upper * (1 + 1e-6)


def test_dense_passes_over_another_matrix_are_not_scheduled(monkeypatch):
    """Only passes over the matrix the context was opened for are timed into its schedule."""
    monkeypatch.setattr(nb_backend, "DENSE_SERIAL_BELOW", 0)
    recorded = []

    class Counting(PassSchedule):
        def record(self, parallel, seconds, work):
            recorded.append(work)
            super().record(parallel, seconds, work)

    monkeypatch.setattr(nb_backend, "start_schedule", lambda key: Counting())
    A = _rand((60, 40), np.float64, seed=1)
    be = nb_backend.NumbaBackend()
    with be.context(A):
        be.gram(A, np.ones((40, 1)))
        be.gram(A.copy(), np.ones((40, 1)))
    assert recorded == [60 * 40]
    with be.context(np.ones((5, 8, 8))):  # a stack of small matrices: no schedule
        assert nb_backend._SCHEDULE.get() is None
