"""The numba backend compiles only what a call needs, when it needs it; says so; and can build its cache ahead.

The subprocess tests compile for real in an empty ``NUMBA_CACHE_DIR``: they use inputs that need only the serial
kernels (a few tenths of a second each to compile).
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import spectra
from spectra import _cli, _cli_progress, _compile_notice
from spectra.backends import _numba_jit
from spectra.backends.numba import NumbaBackend

ROOT = Path(__file__).resolve().parents[1]

#: a float64 dense call whose kernels are the serial twins and the projection (no stack certificate: 300 > 128)
_DENSE_CALL = """
    import json, sys, numpy as np, spectra
    from spectra.backends import _numba_jit
    A = np.random.default_rng(0).standard_normal((400, 300))
    r = spectra.norm(A, method="lanczos", backend="numba", seed=0, progress=True)
    assert r.lower <= np.linalg.norm(A, 2) <= r.upper
    print(json.dumps({
        "modules": sorted(m for m in sys.modules if m.startswith("spectra.backends._numba")),
        "kernels": {
            k.__qualname__: [[str(getattr(a, "dtype", a)) for a in sig] for sig in k.signatures]
            for k in _numba_jit.REGISTRY
        },
        "stats": {
            k.__qualname__: [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())]
            for k in _numba_jit.REGISTRY if k.signatures
        },
        "bits": [float(x).hex() for x in (r.value, r.lower, r.upper)] + [int(r.matvecs)],
    }))
"""


def _run(code: str, cache: Path) -> tuple[dict, str]:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    env.pop("NUMBA_DISABLE_JIT", None)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_a_float64_dense_call_compiles_only_float64_dense_kernels_and_a_second_process_loads_them(tmp_path):
    """Regression: the first ``backend="numba"`` call on a 1000 x 800 float64 matrix took 124 s with an empty
    cache, because importing the backend compiled every kernel for all four dtypes (and both index types), and
    the first stack call 109 s more. A float64 dense call now compiles only float64 signatures of the kernels it
    runs: the float32/complex/sparse/stack signatures stay uncompiled and the stack module is not imported. It
    says so once (``progress=True``). A second process with the same cache loads every signature (Numba's cache
    hits, no miss) and says nothing, and its result is bitwise that of the process that compiled the kernels.

    Regression: the compiled projection (``project_vector_rows``) gave other last bits in the process that
    compiled it than in later processes that loaded it from the cache, so the interval of the same call
    differed between the two. Its helpers were separate Numba functions: the compiling process ran their own
    compilations, a later one the copies inside the kernel's cached code (docs/design.md, "Kernels compiled or
    loaded from the cache")."""
    first, err = _run(_DENSE_CALL, tmp_path)
    assert "spectra.backends._numba_stack" not in first["modules"]
    compiled = {name: sigs for name, sigs in first["kernels"].items() if sigs}
    assert {"dense_gram_serial", "abs_stats_rows_serial", "project_vector_rows"} <= set(compiled), compiled
    assert "max_abs_bits_rows_serial" not in compiled  # max |a_ij| is read with the statistics
    for name, sigs in compiled.items():
        assert len(sigs) == 1 and sigs[0][0] in ("float64", "uint64"), (name, sigs)  # one signature: float64
    for name in ("dense_gram", "csr_gram", "csr_gram_serial", "csr_abs_stats", "dense_gram_batched"):
        assert first["kernels"][name] == [], name  # the parallel, sparse and stack kernels: nothing compiled
    assert err.count("compiling Numba kernels") == 1 and "for float64 dense (first use; cached in" in err, err
    assert str(tmp_path) in err
    second, err2 = _run(_DENSE_CALL, tmp_path)
    assert second["kernels"] == first["kernels"]
    assert second["bits"] == first["bits"]
    assert all(hits >= 1 and misses == 0 for hits, misses in second["stats"].values()), second["stats"]
    assert "compiling" not in err2, err2


def test_compile_ahead_fills_the_cache_for_a_later_process(tmp_path):
    """``python -m spectra compile`` for float64 sparse compiles both index types in one process and prints a
    line per signature; a later process's float64 CSR call loads them (no compile notice, no cache miss), and
    the entry statistics loaded from the cache are bitwise those of their serial twin. (Regression: with
    reassociation allowed, the parallel ``csr_abs_stats`` loaded from Numba's cache summed a row in another
    order than when freshly compiled, so its Gershgorin sums differed from the twin's in the last bit on the
    matrix below, and a warm cache made results depend on the pass schedule.)"""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "spectra", "compile", "--dtype", "float64", "--kinds", "sparse"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert str(tmp_path) in lines[0]
    for name in ("csr_gram ", "csr_gram_serial ", "csr_abs_stats ", "csr_abs_stats_serial "):
        rows = [line for line in lines if line.strip().startswith(name)]
        assert len(rows) == 2 and all("compiled" in r for r in rows), lines  # uint32 and uint64 indices
    assert any("project_vector_rows" in line and "float64" in line for line in lines)
    assert lines[-1].startswith("9 compiled, 0 loaded from the cache in "), lines[-1]
    code = """
        import json, numpy as np, scipy.sparse as sp, spectra
        from spectra.backends import _numba_jit, _numba_sparse, numba as nb
        A = sp.random_array((400, 300), density=0.05, format="csr", rng=0, dtype=np.float64)
        spectra.norm(A, method="lanczos", backend="numba", seed=0, progress=True)
        B = sp.random_array((301, 173), density=0.05, format="csr", rng=12, dtype=np.float64)
        bounds = np.array([0, 100, 100, 301], dtype=np.int64)
        stats = []
        for kernel in (_numba_sparse.csr_abs_stats, _numba_sparse.csr_abs_stats_serial):
            out = (np.empty((3, 173)), np.empty((3, 173)), np.empty((3, 173), dtype=np.int64), np.empty((3, 2)))
            kernel(*nb._unsigned(B), B.data, 0.5, *out, bounds)
            stats.append([x.tobytes().hex() for x in out])
        used = [k for k in _numba_jit.REGISTRY if k.signatures]
        print(json.dumps({
            "kernels": {k.__qualname__: [[str(getattr(a, "dtype", a)) for a in s] for s in k.signatures] for k in used},
            "stats": {k.__qualname__: [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())]
                      for k in used},
            "twins_agree": stats[0] == stats[1],
        }))
    """
    out, err = _run(code, tmp_path)
    assert [sig[:4] for sig in out["kernels"]["csr_gram_serial"]] == [["uint32", "uint32", "float64", "float64"]]
    assert all(misses == 0 for _, misses in out["stats"].values()), out["stats"]
    assert "compiling" not in err, err
    assert out["twins_agree"]


def test_dense_entry_statistics_loaded_from_the_cache_equal_their_serial_twin(tmp_path):
    """Regression: with reassociation allowed, the parallel ``abs_stats_rows`` loaded from Numba's cache summed
    complex rows in another order than its serial twin (equal in the process that compiled them), so with a warm
    cache the entry statistics, and a result's last bits, depended on the pass schedule. Compiled in source order
    now: the two agree bitwise in the compiling process and in a later one that loads both from the cache."""
    code = """
        import json, numpy as np
        from spectra.backends import _numba_kernels as K, _numba_serial as S
        rng = np.random.default_rng(12)
        B = (rng.standard_normal((301, 173)) + 1j * rng.standard_normal((301, 173))).astype(np.complex64)
        bounds = np.array([0, 100, 100, 301], dtype=np.int64)
        runs = []
        for kernel in (K.abs_stats_rows, S.abs_stats_rows):
            out = (np.empty((3, 173)), np.empty((3, 173)), np.empty((3, 3)))
            kernel(B, 0.5, *out, bounds)
            runs.append([x.tobytes().hex() for x in out])
        print(json.dumps({"agree": runs[0] == runs[1],
                          "hits": sum(K.abs_stats_rows.stats.cache_hits.values())}))
    """
    first, _ = _run(code, tmp_path)
    later, _ = _run(code, tmp_path)
    assert first["agree"] and later["agree"] and later["hits"] >= 1


def test_compile_numba_kernels_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown dtype 'int64'; choose among float32"):
        spectra.compile_numba_kernels(["int64"])
    with pytest.raises(ValueError, match="unknown kind 'csr'"):
        spectra.compile_numba_kernels(kinds=["csr"])


def test_compile_numba_kernels_takes_one_name_as_a_string(monkeypatch):
    seen = []
    monkeypatch.setattr(_numba_jit, "compile_registered", lambda dtypes, kinds: seen.append((dtypes, kinds)) or [])
    assert spectra.compile_numba_kernels("float64", kinds="sparse") == []
    assert seen == [(("float64",), ("sparse",))]


def test_compile_command_rejects_unknown_kinds(capsys):
    with pytest.raises(SystemExit) as exc:
        _cli.main(["compile", "--kinds", "dense,csr"])
    assert exc.value.code == 2 and "choose among dense, sparse, stack, not 'dense,csr'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        _cli.main(["compile", "--dtype", "float64", "int64"])
    assert exc.value.code == 2 and "choose among float32, float64, complex64, complex128" in capsys.readouterr().err


@pytest.mark.parametrize(
    "words",
    [
        ["--dtype", "float32", "complex128", "--kinds", "dense", "stack"],
        ["--dtype", "float32,complex128", "--kinds", "dense,stack"],
        ["--dtype", "float32", "--dtype", "complex128", "--kinds", "dense,", "stack"],
    ],
)
def test_compile_command_takes_spaces_or_commas_for_both_lists(words):
    """``--dtype`` and ``--kinds`` read the same way: values separated by spaces, commas, or given again."""
    args = _cli._parser().parse_args(["compile", *words])
    assert args.dtype == ["float32", "complex128"] and args.kinds == ["dense", "stack"]
    assert _cli._parser().parse_args(["compile"]).dtype is None  # all four: filled in by the command


def test_every_kernel_declares_its_signatures_by_dtype():
    """Each typed kernel serves the dtypes it is called with, keyed by the arguments that select them (the sparse
    kernels: values and indices; the bit-pattern kernel: the unsigned integer of the float's width)."""
    from spectra.backends import _numba_stack  # noqa: F401 - registers the stack kernels

    kernels = {k.__qualname__: k for k in _numba_jit.REGISTRY}
    f, c = ("float32", "float64"), ("complex64", "complex128")
    for name in ("dense_gram", "abs_stats_rows", "small_gram_certify", "stack_abs_stats", "project_vector_rows"):
        assert sorted(str(d) for d, _ in kernels[name].declared.values()) == sorted(f + c), name
    assert sorted(str(d) for d, _ in kernels["wide_product_rows_serial"].declared.values()) == ["complex64", "float32"]
    assert sorted(kernels["max_abs_bits_rows"].declared) == [(np.dtype("uint32"),), (np.dtype("uint64"),)]
    assert len(kernels["csr_gram"].declared) == 8 and kernels["csr_gram"].key_args == (2, 0)
    assert {k.kinds for k in _numba_jit.REGISTRY} >= {("dense",), ("sparse",), ("stack",), ("dense", "stack")}


def test_a_dtype_without_a_signature_fails_in_numba_without_compiling():
    """An argument dtype the kernel does not declare compiles nothing: Numba's own ``TypeError``."""
    from spectra.backends import _numba_kernels

    kernel = _numba_kernels.abs_stats_rows
    before = len(kernel.signatures)
    with pytest.raises(TypeError):
        kernel(np.ones((3, 2), dtype=np.int64), 1.0, np.empty((1, 2)), np.empty((1, 2)), np.empty((1, 2)), np.zeros(2))
    assert len(kernel.signatures) == before


@pytest.mark.parametrize(
    ("A", "label"),
    [
        (np.ones((3, 2), dtype=np.float32), "float32 dense"),
        (np.ones((4, 3, 2)), "float64 stack"),
        (sp.csc_array(np.eye(3, dtype=np.complex128)), "complex128 CSC"),
        (None, None),
        (type("Foreign", (), {"dtype": "not a dtype"})(), None),
    ],
)
def test_the_notice_names_the_input(A, label):
    assert _numba_jit.describe_input(A) == label


@pytest.fixture
def fresh_notices(monkeypatch):
    """Forget which inputs were announced in this process."""
    monkeypatch.setattr(_compile_notice, "_ANNOUNCED", set())


def test_notice_goes_to_progress_true_once_per_input_kind(fresh_notices, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="spectra"), _compile_notice.notices_to(True):
        _compile_notice.announce("float64 dense", "/cache")
        _compile_notice.announce("float64 dense", "/cache")
        _compile_notice.announce("float32 CSR", "/cache")
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "spectra: compiling Numba kernels for float64 dense (first use; cached in /cache; ahead of time: "
        "python -m spectra compile)",
        "spectra: compiling Numba kernels for float32 CSR (first use; cached in /cache; ahead of time: "
        "python -m spectra compile)",
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "spectra"] == err


def test_notice_without_progress_only_logs(fresh_notices, capsys, caplog):
    """A call without progress stays quiet (no warning: the suite runs with filterwarnings=error); a callback
    without a ``notice`` method gets only its Progress records."""
    seen = []
    with caplog.at_level(logging.INFO, logger="spectra"):
        _compile_notice.announce("complex64 dense", None)
        with _compile_notice.notices_to(seen.append):
            _compile_notice.announce("complex64 stack", None)
    out = capsys.readouterr()
    assert out.err == out.out == "" and seen == []
    assert [r.getMessage() for r in caplog.records if r.name == "spectra"] == [
        "spectra: compiling Numba kernels for complex64 dense (first use; cached in memory only)",
        "spectra: compiling Numba kernels for complex64 stack (first use; cached in memory only)",
    ]


def test_the_command_lines_progress_shows_the_notice(fresh_notices):
    """The command line's progress (text lines, or the bar on a terminal) prints the notice on its own line."""
    lines, bar = io.StringIO(), io.StringIO()
    recorder = _cli_progress.Recorder()
    progress = _cli_progress.fanout([_cli_progress.TextLines(file=lines), recorder])
    with _compile_notice.notices_to(progress):
        _compile_notice.announce("float64 dense", "/c")
    assert (
        lines.getvalue()
        == "spectra: compiling Numba kernels for float64 dense (first use; cached in /c; ahead of time: "
        "python -m spectra compile)\n"
    )
    assert recorder == []
    _cli_progress.ProgressBar("x", file=bar).notice("before the bar")
    assert bar.getvalue() == "before the bar\n"


def test_a_call_that_compiles_nothing_says_nothing(capsys):
    """Kernels already compiled (or loaded) in this process: no notice, even with ``progress=True``."""
    A = np.random.default_rng(1).standard_normal((400, 300))
    spectra.norm(A, method="lanczos", backend="numba", seed=0)
    capsys.readouterr()
    spectra.norm(A, method="lanczos", backend="numba", seed=1, progress=True)
    assert "compiling" not in capsys.readouterr().err


def test_backend_context_names_the_input_for_the_notice():
    be = NumbaBackend()
    with be.context(np.ones((5, 4), dtype=np.complex64)):
        assert _numba_jit._INPUT.get() == "complex64 dense"
    assert _numba_jit._INPUT.get() is None


def test_preparing_a_kernel_adds_its_seconds_to_the_running_computation(monkeypatch):
    """The compile hook: :meth:`LazyKernel.prepare` adds the seconds it measured to the computation that asked
    (inside :func:`spectra._compile_notice.notices_to`), and to nothing outside one."""
    spectra.norm(np.random.default_rng(2).standard_normal((40, 30)), method="lanczos", backend="numba", seed=0)
    kernel = next(k for k in _numba_jit.REGISTRY if k._ready)
    key = next(iter(kernel._ready))
    monkeypatch.setattr(kernel, "_ready", set())  # as before its first use (the signature stays in Numba's dispatcher)
    assert _compile_notice.compile_seconds() == 0.0
    with _compile_notice.notices_to(False):
        seconds = kernel.prepare(key)[3]
        assert _compile_notice.compile_seconds() == seconds
    kernel._ready.clear()
    kernel.prepare(key)
    assert _compile_notice.compile_seconds() == 0.0


def test_progress_reports_the_compile_time_apart(monkeypatch, fresh_notices):
    """Regression: the first report of a call that compiles kernels counted the compilation in ``elapsed`` and
    said nothing of it. ``Progress.compile_seconds`` now says how much of ``elapsed`` went to preparing kernels;
    the text line names it. Every kernel is made to look unprepared, and each preparation to take 100 s more
    (no clock is read by the test): the reports of the first call carry whole hundreds of seconds, those of a
    second call (kernels ready) none."""
    original = _numba_jit.LazyKernel.prepare

    def slow_prepare(self, key):
        out = original(self, key)
        _compile_notice.record(100.0)
        return out

    for kernel in _numba_jit.REGISTRY:
        monkeypatch.setattr(kernel, "_ready", set())
    monkeypatch.setattr(_numba_jit.LazyKernel, "prepare", slow_prepare)
    A = np.random.default_rng(3).standard_normal((60, 40))
    first, second = [], []
    spectra.norm(A, method="lanczos", backend="numba", seed=0, progress=first.append)
    spectra.norm(A, method="lanczos", backend="numba", seed=0, progress=second.append)
    assert first[0].compile_seconds >= 100.0  # the Gram kernel, prepared in the first step
    seen = [p.compile_seconds for p in first]
    assert seen == sorted(seen)  # since the method started: it only grows
    assert " compile=" in str(first[0]) and str(first[0]).endswith("s")
    assert [p.compile_seconds for p in second] == [0.0] * len(second)
    assert " compile=" not in str(second[0])


_NO_CACHE_DIR = """
    import json, numpy as np
    from numba.core import caching
    caching.CacheImpl._locator_classes = []  # as in a read-only install run without a writable cache directory
    import spectra
    from spectra.backends import _numba_jit
    A = np.random.default_rng(0).standard_normal((1500, 1400))  # auto -> numba where its kernels are cached
    r = spectra.norm(A, method="lanczos", seed=0, maxiter=5)
    s = spectra.norm(np.random.default_rng(0).standard_normal((300, 8, 8)), seed=0)  # the stack kernel's count
    small = np.random.default_rng(1).standard_normal((150, 140))
    e = spectra.norm(small, backend="numba", seed=0)
    print(json.dumps({
        "auto": [r.backend, r.plan.why_backend], "stack": [s.plan.stack, s.plan.why_stack],
        "numba": [e.backend, bool(e.lower <= np.linalg.norm(small, 2) <= e.upper)],
        "caches": sorted({type(k.dispatcher._cache).__name__ for k in _numba_jit.REGISTRY}),
    }))
"""


def test_no_writable_cache_directory(tmp_path):
    """Regression: with no writable place for Numba's cache (a read-only install, no writable home), the kernel
    modules raised "cannot cache function '_reduce_blocks': no locator available" at import, so every problem
    that ``auto`` sends to numba failed. Now the kernels compile in memory; ``auto`` stays on NumPy (it would
    compile them again in every process) and says why; ``backend="numba"`` works."""
    out, _ = _run(_NO_CACHE_DIR, tmp_path)
    assert out["auto"][0] == "numpy" and "NUMBA_CACHE_DIR" in out["auto"][1]
    assert out["stack"][0] == "batched SVD" and "cannot be cached" in out["stack"][1]
    assert out["numba"] == ["numba", True] and out["caches"] == ["NullCache"]
