"""Command line: ``python -m spectra demo`` and ``python -m spectra norm FILE``."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
import zipfile

import numpy as np
import scipy.io
import scipy.sparse as sp

from . import _api
from ._errors import ConvergenceWarning, SpectraError
from ._testing import matrix_with_singular_values, spectrum
from ._validate import METHODS

__all__ = ["main"]


def _load(path: str, key: str | None, backend: str = "auto"):
    """A matrix from ``.npy`` (memory-mapped), ``.npz`` (dense or ``scipy.sparse.save_npz``), ``.mtx``, or
    ``.zarr`` (a Dask array read chunk by chunk; ``backend="dask"`` also reads a ``.npy`` that way)."""
    lower = path.lower().rstrip("/")
    if lower.endswith(".zarr") or (backend == "dask" and lower.endswith(".npy")):
        from .backends import _load as load_backend  # BackendUnavailableError names the extra

        load_backend("dask")
        import dask.array as da

        if lower.endswith(".zarr"):
            return da.from_zarr(path, component=key)
        return da.from_array(np.load(path, mmap_mode="r", allow_pickle=False))
    if lower.endswith(".npy"):
        return np.load(path, mmap_mode="r", allow_pickle=False)
    if lower.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            if {"format", "shape", "data"} <= set(names):
                return sp.load_npz(path)
            if key is not None:
                if key not in names:
                    raise ValueError(f"{path} has no array {key!r} (it has {', '.join(names)})")
                return f[key]
            if len(names) != 1:
                raise ValueError(f"{path} holds several arrays ({', '.join(names)}); choose one with --key")
            return f[names[0]]
    if lower.endswith(".mtx") or lower.endswith(".mtx.gz"):
        M = scipy.io.mmread(path)
        return sp.csr_array(M) if sp.issparse(M) else np.asarray(M)
    raise ValueError(f"{path}: unknown file type; use .npy, .npz or .mtx")


def _row(name: str, r, seconds: float) -> dict:
    return dict(
        method=r.method,
        backend=r.backend,
        value=r.value,
        lower=r.lower,
        upper=r.upper,
        confidence=r.confidence,
        converged=r.converged,
        matvecs=r.matvecs,
        seconds=seconds,
        name=name,
        plan=str(r.plan),
    )


def _print_table(rows: list[dict], truth: float | None) -> None:
    head = f"{'method':<11}{'value':>22}{'lower':>22}{'upper':>22}{'conf.':>7}{'conv.':>6}{'matvecs':>9}{'time':>10}"
    if truth is not None:
        head += f"{'rel. error':>12}"
    print(head)
    for r in rows:
        line = (
            f"{r['method']:<11}{r['value']:>22.16g}{r['lower']:>22.16g}{r['upper']:>22.16g}"
            f"{r['confidence']:>7.4g}{'yes' if r['converged'] else 'no':>6}{r['matvecs']:>9d}"
            f"{r['seconds'] * 1e3:>8.1f}ms"
        )
        if truth is not None:
            line += f"{abs(r['value'] - truth) / truth:>12.1e}"
        print(line)


def _demo(args) -> int:
    m, n = 2000, 1000
    s = 3.0 * spectrum("clustered", n)
    A = matrix_with_singular_values(s, m, n, seed=0)
    truth = float(s.max())
    if not args.json:
        print(f"spectra demo: {m} x {n} float64 matrix with prescribed singular values, ||A||_2 = {truth!r}")
        print("(top singular values clustered within 1e-4: a hard case for power iteration)\n")
    rows = []
    for method in ("svd", "lanczos", "randomized", "power"):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            r = _api.norm(A, method=method, seed=args.seed, rtol=args.rtol, confidence=args.confidence)
        rows.append(_row(method, r, time.perf_counter() - t0))
    if args.json:
        print(json.dumps(dict(truth=truth, results=rows), indent=2))
    else:
        _print_table(rows, truth)
        print("\nEvery interval [lower, upper] contains ||A||_2 with probability >= conf.; lower is guaranteed.")
    return 0


def _norm(args) -> int:
    A = _load(args.file, args.key, args.backend)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        r = _api.norm(
            A,
            method=args.method,
            rtol=args.rtol,
            confidence=args.confidence,
            seed=args.seed,
            maxiter=args.maxiter,
            progress=args.progress,
            backend=args.backend,
        )
    row = _row(args.file, r, time.perf_counter() - t0)
    if np.ndim(r.value):
        raise ValueError("the file holds a stack of matrices; the command line handles one matrix")
    if args.json:
        print(json.dumps(row))
    else:
        _print_table([row], None)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m spectra``; returns the exit code (2 on bad input)."""
    parser = argparse.ArgumentParser(prog="python -m spectra", description="Spectral norm with certified bounds.")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rtol", type=float, default=1e-6, help="target relative width (default 1e-6)")
    common.add_argument("--confidence", type=float, default=0.999, help="probability of the interval")
    common.add_argument("--seed", type=int, default=0, help="seed of the random start (default 0)")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub.add_parser("demo", parents=[common], help="run every method on a built-in matrix with known norm")
    p = sub.add_parser("norm", parents=[common], help="spectral norm of a matrix stored in FILE")
    p.add_argument("file", help=".npy, .npz (dense or scipy.sparse.save_npz), .mtx or .zarr (read with Dask)")
    p.add_argument("--method", default="auto", choices=METHODS)
    p.add_argument("--maxiter", type=int, default=None)
    p.add_argument("--key", default=None, help="array name inside a .npz (or a zarr group) with several arrays")
    p.add_argument("--backend", default="auto", help="auto, numpy, numba, dask (.npy read with Dask), array_api")
    p.add_argument("--progress", action="store_true", help="print the narrowing interval to stderr")
    args = parser.parse_args(argv)
    try:
        return _demo(args) if args.command == "demo" else _norm(args)
    except (OSError, ValueError, TypeError, SpectraError, zipfile.BadZipFile, EOFError) as exc:
        print(f"spectra: error: {exc}", file=sys.stderr)
        return 2
