"""Command line: ``spectra demo``, ``spectra norm FILE`` and ``spectra compile`` (also ``python -m spectra ...``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
import zipfile

import numpy as np

from . import _api, _cli_progress, _compile_notice, _loaders, _precompile, backends
from ._errors import ConvergenceWarning, SpectraError
from ._install import DISTRIBUTION
from ._operand import NONFINITE
from ._testing import matrix_with_singular_values, spectrum
from ._validate import METHODS

__all__ = ["main"]

DEMO_METHODS = ("svd", "lanczos", "randomized", "power")
DEMO_SHAPE = (2000, 1000)
#: a row whose call spent this many seconds compiling Numba's kernels (or loading them) says so under the table
COMPILE_NOTE_SECONDS = 1.0

LEGEND = """\
How to read the table:
  value       the estimate of ||A||_2 (the largest singular value)
  lower       guaranteed: ||A||_2 >= lower
  upper       ||A||_2 <= upper with probability >= conf. over spectra's random start (never over A)
  width       relative width (upper - lower) / lower of the interval
  conf.       1 when both bounds are deterministic (svd, or a Krylov space that exhausted the matrix)
  conv.       yes: the width reached the requested rtol (raised to what the precision can certify);
              no: the iteration budget (maxiter) ran out first. The interval is still valid, only wider
              than asked; pass a larger --maxiter or --rtol, or use lanczos.
  matvecs     products with A or A^H (a block of k vectors counts k); svd uses none
  time        wall-clock time of the call
  rel. error  |value - ||A||_2| / ||A||_2, where the true norm is known (the demo's matrix)"""


def _prog() -> str:
    """The name the user typed: ``spectra`` for the installed script, else ``python -m spectra``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    stem = name[:-4] if name.lower().endswith(".exe") else name
    return "spectra" if stem in ("spectra", "spectra-script.py") else "python -m spectra"


def _describe(A) -> dict:
    """Shape, dtype and storage of the matrix as the command line reports them."""
    import scipy.sparse as sp

    if sp.issparse(A):
        storage = f"sparse {A.format.upper()}, {A.nnz} stored entries"
    elif hasattr(A, "dask"):
        storage = f"dense, Dask array in {A.npartitions} chunks"
    else:
        storage = "dense" + (", memory-mapped" if isinstance(A, np.memmap) else "")
    return dict(shape=[int(d) for d in A.shape], dtype=str(A.dtype), storage=storage)


def _row(name: str, r, seconds: float, compile_seconds: float = 0.0) -> dict:
    return dict(
        method=r.method,
        backend=r.backend,
        value=r.value,
        lower=r.lower,
        upper=r.upper,
        relative_width=r.relative_width,
        confidence=r.confidence,
        converged=r.converged,
        rtol_effective=r.rtol_effective,
        matvecs=r.matvecs,
        seconds=seconds,
        compile_seconds=compile_seconds,
        name=name,
        plan=str(r.plan),
        why_backend=r.plan.why_backend,
    )


#: width of the value, lower and upper columns: a non-negative float in ``.15g`` takes at most 21 characters
#: (``1.79769313486232e+308``), so each keeps a separating space
_NUMBER = 22


def _table_head(truth: float | None) -> str:
    head = (
        f"{'method':<11}{'backend':<10}{'value':>{_NUMBER}}{'lower':>{_NUMBER}}{'upper':>{_NUMBER}}{'width':>9}"
        f"{'conf.':>7}{'conv.':>6}{'matvecs':>8}{'time':>10}"
    )
    return head + (f"{'rel. error':>12}" if truth is not None else "")


def _duration(seconds: float) -> str:
    """``12.3ms`` below ten seconds, ``121.8s`` from there: at most nine characters, so the ``time`` column
    (ten wide) keeps its separating space (a first call that compiled Numba's kernels took 121 767 ms)."""
    return f"{seconds * 1e3:.1f}ms" if seconds < 10.0 else f"{seconds:.1f}s"


def _table_row(r: dict, truth: float | None) -> str:
    line = (
        f"{r['method']:<11}{r['backend']:<10}{r['value']:>{_NUMBER}.15g}{r['lower']:>{_NUMBER}.15g}"
        f"{r['upper']:>{_NUMBER}.15g}{r['relative_width']:>9.1e}{r['confidence']:>7.4g}"
        f"{'yes' if r['converged'] else 'no':>6}{r['matvecs']:>8d}{_duration(r['seconds']):>10}"
    )
    if truth is not None:
        line += f"{abs(r['value'] - truth) / truth:>12.1e}"
    return line


def _progress_for(args, label: str, recorder, *, always: bool = False) -> object:
    """The ``progress=`` argument of one run: the bar on a terminal, text lines, and the ``--plot`` recorder.

    ``always``: off a terminal, still print a text line every two seconds of a long run (the demo).
    """
    shown = None
    if args.progress:
        shown = _cli_progress.TextLines()
    elif _cli_progress.terminal():
        shown = _cli_progress.ProgressBar(label) if _cli_progress.ProgressBar.available() else None
        shown = shown or _cli_progress.TextLines(delay=0.5, every=1.0)
    elif always:
        shown = _cli_progress.TextLines(delay=1.0, every=2.0)
    return _cli_progress.fanout([shown, recorder])


def _run(A, args, method: str, label: str, recorder=None, always: bool = False, **kw):
    """One ``spectra.norm`` call with the command line's options; returns (result, seconds, seconds of them spent
    compiling Numba kernels or loading them from the cache)."""
    progress = _progress_for(args, label, recorder, always=always)
    t0 = time.perf_counter()
    with _compile_notice.notices_to(progress):  # the call's compile seconds add up here, where they can be read
        r = _api.norm(
            A,
            method=method,
            backend=args.backend,
            rtol=args.rtol,
            confidence=args.confidence,
            seed=args.seed,
            progress=progress,
            **kw,
        )
        compiled = _compile_notice.compile_seconds()
    return r, time.perf_counter() - t0, compiled


def _compile_line(row: dict) -> str | None:
    """A line under a table row whose time was mostly the first call's compilation (once per machine)."""
    if row["compile_seconds"] < COMPILE_NOTE_SECONDS:
        return None
    return (
        f"  ({row['method']} on {row['backend']}: {row['compile_seconds']:.1f} s of that time compiled Numba's kernels "
        f"or loaded them from the cache, once per machine; {_compile_notice.AHEAD} does it ahead)"
    )


def _demo(args) -> int:
    m, n = DEMO_SHAPE
    s = 3.0 * spectrum("clustered", n)
    A = matrix_with_singular_values(s, m, n, seed=0)
    truth = float(s.max())
    if args.plot:
        _cli_progress.require_matplotlib(args.plot)
    if not args.json:
        print(f"spectra demo: a {m} x {n} float64 dense matrix with prescribed singular values, ||A||_2 = {truth!r}")
        print("(its top singular values are clustered within 1e-4: a hard case for power iteration)")
        print(f"rtol={args.rtol:g}, confidence={args.confidence:g}, seed={args.seed}\n")
        print(_table_head(truth), flush=True)
    rows, runs = [], {}
    for method in DEMO_METHODS:
        runs[method] = _cli_progress.Recorder()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            budget = {} if method == "svd" or args.maxiter is None else {"maxiter": args.maxiter}  # svd: direct
            r, seconds, compiled = _run(A, args, method, method, runs[method], always=not args.json, **budget)
        rows.append(_row(method, r, seconds, compiled))
        if not args.json:
            print(_table_row(rows[-1], truth), flush=True)
            if _compile_line(rows[-1]):
                print(_compile_line(rows[-1]), flush=True)
    if args.json:
        print(json.dumps(dict(truth=truth, shape=[m, n], dtype="float64", results=rows), indent=2))
    else:
        print(f"\nEvery interval [lower, upper] contains ||A||_2 = {truth!r}.")
        unconverged = [r["method"] for r in rows if not r["converged"]]
        if unconverged:
            budget = "the iteration budget (--maxiter)" if args.maxiter else "the default iteration budget"
            print(
                f"{', '.join(unconverged)}: conv. no - {budget} ran out before the width reached "
                f"rtol={args.rtol:g}; the interval is still valid, only wider than asked."
            )
        print("\nWhy each backend (backend=auto):")
        for row in rows:
            print(f"  {row['method']:<11}{row['backend']:<7}{row['why_backend']}")
        print()
        print(LEGEND)
    if args.plot:
        title = f"spectra demo: {m} x {n}, clustered top singular values"
        _cli_progress.plot_convergence(args.plot, runs, title, truth)
    return 0


def _sparse_svd_message(path: str, info: dict) -> str:
    return (
        f"--method svd needs a dense matrix, and {path} holds a sparse matrix ({info['storage']}); spectra never "
        "densifies sparse input. Leave --method at auto (or use --method lanczos): it certifies the same "
        "kind of interval from products with the sparse matrix. For svd, store the matrix densely (.npy) first."
    )


def _norm(args) -> int:
    if args.plot:
        _cli_progress.require_matplotlib(args.plot)
    A, fmt = _loaders.load(args.file, args.key, args.backend)
    info = _describe(A)
    if len(info["shape"]) != 2:
        hint = (
            "; for one norm per matrix of a stack call spectra.norm(A) in Python"
            if len(info["shape"]) > 2
            else "; a vector's 2-norm is numpy.linalg.norm"
        )
        raise ValueError(
            f"{args.file} holds an array of shape {tuple(info['shape'])}; the command line takes one matrix (2-D){hint}"
        )
    if args.method == "svd" and "sparse" in info["storage"]:
        raise ValueError(_sparse_svd_message(args.file, info))
    recorder = _cli_progress.Recorder() if args.plot else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            r, seconds, compiled = _run(
                A, args, args.method, os.path.basename(args.file), recorder, maxiter=args.maxiter
            )
        except ValueError as exc:  # the library's advice (check_finite=False) is no option of the command line
            if str(exc).startswith(NONFINITE):
                raise ValueError(f"{args.file} contains NaN or Inf entries: its spectral norm is undefined") from exc
            raise
    row = dict(_row(args.file, r, seconds, compiled), **info, format=fmt.name)
    if args.json:
        print(json.dumps(row))
    else:
        m, n = info["shape"]
        print(f"{args.file}: {m} x {n} {info['dtype']}, {info['storage']} ({fmt.description})")
        print(_table_head(None))
        print(_table_row(row, None))
        if _compile_line(row):
            print(_compile_line(row))
        if not r.converged:
            print("conv. no: the iteration budget ran out first; the interval is valid but wider than --rtol.")
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.plot:
        title = f"{os.path.basename(args.file)}: {info['shape'][0]} x {info['shape'][1]} {info['dtype']}, {r.method}"
        _cli_progress.plot_convergence(args.plot, {r.method: recorder}, title)
    return 0


def _listed(choices: tuple[str, ...]):
    """An argparse type: one or more of ``choices``, comma-separated (with ``nargs="+"`` spaces work too)."""

    def parse(text: str) -> list[str]:
        items = [k.strip() for k in text.split(",") if k.strip()]
        bad = [k for k in items if k not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"choose among {', '.join(choices)}, not {text!r}")
        return items

    return parse


class _ExtendFlat(argparse.Action):
    """``nargs="+"`` values parsed by :func:`_listed` (lists), appended flat to what earlier options gave."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or []), *(v for group in values for v in group)])


def _compile(args) -> int:
    """Build the numba backend's kernels into Numba's cache; one line per kernel signature, then the total."""
    backends._load("numba")  # BackendUnavailableError naming the extra when numba is missing
    import numba

    args.dtype = list(dict.fromkeys(args.dtype or _precompile.DTYPES))
    args.kinds = list(dict.fromkeys(args.kinds or _precompile.KINDS))

    t0 = time.perf_counter()
    print(
        f"compiling the numba backend's kernels for {', '.join(args.dtype)} ({', '.join(args.kinds)}) "
        f"into {numba.config.CACHE_DIR or 'the __pycache__ folders beside spectra/backends'}",
        flush=True,
    )
    counts = {"compiled": 0, "cache": 0, "memory": 0}
    shown = set()
    for k in _precompile_iter(args):
        if (k.name, k.key) in shown:  # a kernel of several kinds, made ready by an earlier line
            continue
        shown.add((k.name, k.key))
        counts[k.source] += 1
        where = {"compiled": "compiled", "cache": "loaded from the cache", "memory": "ready"}[k.source]
        print(f"  {k.name:<28}{' '.join(k.key):<18}{where:<24}{k.seconds:8.2f} s", flush=True)
    print(f"{counts['compiled']} compiled, {counts['cache']} loaded from the cache in {time.perf_counter() - t0:.1f} s")
    return 0


def _precompile_iter(args):
    """The kernels one (dtype, kind) at a time, so each line is printed as soon as it is done."""
    for dtype in args.dtype:
        for kind in args.kinds:
            yield from _precompile.compile_numba_kernels([dtype], [kind])


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Spectral norm ||A||_2 with certified bounds.",
        epilog=f"Formats: {', '.join(f.description for f in _loaders.FORMATS)}.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} ({DISTRIBUTION})")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rtol", type=float, default=1e-6, help="target relative width (default 1e-6)")
    common.add_argument(
        "--confidence", type=float, default=0.999, help="probability of the upper bound (default 0.999)"
    )
    common.add_argument("--seed", type=int, default=0, help="seed of the random start (default 0)")
    common.add_argument(
        "--backend",
        default="auto",
        choices=("auto", *backends.BACKENDS),
        help="backend (default auto; with norm, dask reads the file as a Dask array)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument(
        "--progress",
        action="store_true",
        help="print the narrowing interval to stderr as text lines (a terminal gets a progress bar by default)",
    )
    common.add_argument("--plot", metavar="FILE", help="save a figure of the interval's convergence (needs matplotlib)")
    d = sub.add_parser(
        "demo", parents=[common], help="run svd, lanczos, randomized and power on a built-in matrix with known norm"
    )
    d.add_argument(
        "--maxiter",
        type=int,
        default=None,
        help="iteration budget of power, lanczos and randomized (default: their own)",
    )
    p = sub.add_parser("norm", parents=[common], help="spectral norm of a matrix stored in FILE")
    p.add_argument("file", help=", ".join(s for f in _loaders.FORMATS for s in f.suffixes))
    p.add_argument(
        "--method",
        default="auto",
        choices=METHODS,
        help="default auto: svd for small dense matrices, lanczos otherwise (gram: a deterministic upper bound)",
    )
    p.add_argument("--maxiter", type=int, default=None, help="iteration budget (default: the method's own)")
    p.add_argument(
        "--key", default=None, help="array name inside a container with several (.npz, .mat, ...; zarr: layers/w)"
    )
    c = sub.add_parser(
        "compile",
        help="compile the numba backend's kernels now, into Numba's cache (for Docker images and CI)",
        description="Compile the numba backend's kernels ahead of time into Numba's on-disk cache "
        "(NUMBA_CACHE_DIR, else __pycache__), so that no later call pays the first-call compile.",
    )
    c.add_argument(
        "--dtype",
        action=_ExtendFlat,
        nargs="+",
        type=_listed(_precompile.DTYPES),
        help=f"from {', '.join(_precompile.DTYPES)}, separated by spaces or commas (default: all)",
    )
    c.add_argument(
        "--kinds",
        action=_ExtendFlat,
        nargs="+",
        type=_listed(_precompile.KINDS),
        help=f"from {', '.join(_precompile.KINDS)}, separated by spaces or commas (default: all)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``spectra`` and ``python -m spectra``; returns the exit code (2 on bad input)."""
    args = _parser().parse_args(argv)
    try:
        return {"demo": _demo, "norm": _norm, "compile": _compile}[args.command](args)
    except (OSError, ValueError, TypeError, SpectraError, zipfile.BadZipFile, EOFError) as exc:
        print(f"spectra: error: {exc}", file=sys.stderr)
        return 2
