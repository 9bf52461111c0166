"""``spectra.norm`` and ``spectra.normalize``: validate, pick backend and method, run, report."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from . import _compress, backends, methods
from ._errors import ConvergenceWarning
from ._operand import Operand, make_operand
from ._progress import Progress
from ._result import NormEstimate
from ._validate import standardize_matrix, validate_options, validate_v0
from .methods._common import MethodResult, Options, default_maxiter

__all__ = ["norm", "normalize"]

#: dense matrices with m * n * min(m, n) up to this use the full SVD under method="auto"
#: (crossover measured against certified Lanczos at rtol=1e-6, docs/performance.md)
AUTO_SVD_MAX_WORK = 1e8


def _choose_method(kind: str, m: int, n: int, block_size, A=None) -> str:
    if block_size is not None:
        return "randomized"
    if kind == "dense" and backends.stack_kernel_applies(A):  # certified in cache, faster than batched SVD
        return "lanczos"
    if kind == "dense" and m * n * min(m, n) <= AUTO_SVD_MAX_WORK:
        return "svd"
    return "lanczos"


def norm(
    A: Any,
    /,
    method: str = "auto",
    *,
    backend: str = "auto",
    rtol: float = 1e-6,
    certify: bool | None = None,
    confidence: float = 0.999,
    maxiter: int | None = None,
    block_size: int | None = None,
    v0: Any = None,
    seed: Any = None,
    return_vectors: bool = False,
    check_finite: bool = True,
    progress: bool | Callable[[Progress], Any] = False,
) -> NormEstimate:
    """Spectral norm ``||A||_2`` (largest singular value) with a certified error interval.

    Parameters
    ----------
    A : array_like, sparse matrix or LinearOperator
        A matrix ``(m, n)`` or a stack ``(..., m, n)`` (one norm per matrix) of any array-API
        namespace, a nested list, a ``scipy.sparse`` array/matrix, or a
        ``scipy.sparse.linalg.LinearOperator`` with ``matvec`` and ``rmatvec``. Never modified.
    method : {"auto", "svd", "power", "lanczos", "randomized"}
        ``"auto"`` takes ``"svd"`` for dense matrices with ``m n min(m, n) <= 1e8`` (where it is faster)
        and ``"lanczos"`` otherwise
        (``"randomized"`` when ``block_size`` is given).
    backend : str
        ``"auto"`` (from the input's type: ``"numpy"`` for NumPy/SciPy inputs, moved to ``"numba"`` when it
        is installed and the problem is large enough to gain, ``"cupy"`` for CuPy arrays, sparse matrices and
        LinearOperators, ``"array_api"`` for other namespaces), ``"numpy"``, ``"numba"``, ``"cupy"`` (also takes
        PyTorch CUDA tensors and JAX GPU arrays, through DLPack) or ``"array_api"``.
    rtol : float
        Target relative accuracy. Raised to the floor the working precision can certify.
    certify : bool or None
        ``True``: stop only when ``upper <= (1 + rtol) * lower``. ``False``: stop when the residual
        estimate is ``<= rtol`` (faster, not a guarantee). ``None``: ``False`` for ``"power"``, else ``True``.
        The returned bounds are valid either way.
    confidence : float
        Probability, in (0, 1), with which ``lower <= ||A||_2 <= upper`` holds.
    maxiter : int, optional
        Iteration budget (power/Lanczos steps, randomized passes). When the default budget runs out a
        :class:`ConvergenceWarning` is emitted; an explicit ``maxiter`` is a deliberate budget and is silent.
    block_size : int, optional
        Block size of ``"randomized"`` (default 16, measured in docs/performance.md).
    v0 : array_like, optional
        Warm start on the right side of ``A`` (e.g. a previous result's ``v``), shape ``(n,)`` or
        ``(..., n)``. A random component is mixed in so the upper bound keeps its confidence.
    seed : None, int, SeedSequence or Generator
        Seed of the random start; start vectors are drawn on the host, so a seed gives the same
        estimate on every backend.
    return_vectors : bool
        Fill ``u`` and ``v`` (top singular vectors) in the result.
    check_finite : bool
        Raise ``ValueError`` on NaN/Inf entries (or products).
    progress : bool or callable
        ``True``: print the narrowing interval to stderr while iterating (at most five lines a second).
        A callable: called with a :class:`Progress` (products so far, current interval, target width)
        after every step and once more at the end (``final=True``); the command line drives its progress
        bar and ``--plot`` this way.

    Returns
    -------
    NormEstimate
        ``value``, ``lower``, ``upper`` (also as ``interval``), ``confidence``, ``converged``, ``method``,
        ``backend``, ``iterations``, ``matvecs``, ``rtol_effective`` and optionally ``u``, ``v``.

    Raises
    ------
    ValueError
        Bad shapes or values (the message names the parameter), NaN/Inf entries.
    TypeError
        Non-numeric input or wrongly typed options.
    BackendUnavailableError
        The requested backend's optional dependency is missing (names the pip extra), or ``"cupy"`` finds
        no usable GPU.

    Examples
    --------
    >>> import numpy as np, spectra
    >>> A = np.diag([3.0, 2.0, 1.0])
    >>> r = spectra.norm(A, method="lanczos", seed=0)
    >>> round(r.value, 12), r.lower <= 3.0 <= r.upper, r.confidence
    (3.0, True, 1.0)
    """
    opts_in = validate_options(
        method=method,
        backend=backend,
        rtol=rtol,
        certify=certify,
        confidence=confidence,
        maxiter=maxiter,
        block_size=block_size,
        seed=seed,
        return_vectors=return_vectors,
        check_finite=check_finite,
        progress=progress,
        backend_names=tuple(backends.BACKENDS),
    )
    A, kind = standardize_matrix(A)
    be = backends.resolve(A, opts_in["backend"])
    A = be.prepare_input(A)
    m0, n0 = int(A.shape[-2]), int(A.shape[-1])
    batch = tuple(int(d) for d in A.shape[:-2]) if kind == "dense" else ()
    method = opts_in["method"]
    if method == "auto":
        method = _choose_method(kind, m0, n0, opts_in["block_size"], A if opts_in["backend"] == "auto" else None)
    if opts_in["backend"] == "auto" and be.name == "numpy":
        faster = backends.accelerated(A, kind, method)
        if faster is not None:
            be = backends.resolve(A, faster)
    if opts_in["block_size"] is not None and method != "randomized":
        raise ValueError(f"block_size applies to method='randomized' only (method is {method!r})")
    if method == "svd":
        for name in ("maxiter", "v0"):
            if (opts_in.get(name) if name != "v0" else v0) is not None:
                raise ValueError(f"{name} does not apply to method='svd' (a direct method); remove it")
    if kind != "dense" and method == "svd":
        raise ValueError(
            "method='svd' needs a dense array; sparse matrices are never densified and LinearOperators "
            "have no entries. Use method='lanczos' (or A.toarray() for a small sparse matrix)"
        )
    certify_eff = opts_in["certify"] if opts_in["certify"] is not None else method != "power"
    maxiter_eff, given = default_maxiter(method, opts_in["maxiter"])
    v0_host = None
    if v0 is not None:
        v0_host = validate_v0(v0, batch, n0, be.to_host)

    if m0 == 0 or n0 == 0:
        return _exact_zero(A, kind, be, method, batch, m0, n0, opts_in["return_vectors"], opts_in["rtol"])
    compressed = _compress.drop_empty(A) if kind == "sparse" else None  # memory follows the nonzeros
    if compressed is not None:
        A = compressed.A
    with be.context(A):  # the operand's statistics (and an operator's scale probe) are products too
        op = make_operand(
            A, kind, be, check_finite=opts_in["check_finite"], uses_gram=method in ("power", "lanczos", "randomized")
        )
    if op.stats is not None and np.all(op.stats.fro == 0):
        return _exact_zero(A, kind, be, method, batch, m0, n0, opts_in["return_vectors"], opts_in["rtol"])
    if op.nonfinite:  # check_finite=False and NaN/Inf present: undefined, reported as NaN without iterating
        nan = np.full(op.B, np.nan)
        res = MethodResult(nan, nan, nan, np.zeros(op.B, bool), np.zeros(op.B, bool), 0)
        return _assemble(
            op,
            res,
            method,
            Options(opts_in["rtol"], True, opts_in["confidence"], 0, True, None, None, opts_in["rng"], False, False),
        )
    opts = Options(
        rtol=opts_in["rtol"],
        certify=certify_eff,
        confidence=opts_in["confidence"],
        maxiter=maxiter_eff,
        maxiter_given=given,
        block_size=opts_in["block_size"],
        v0=v0_host,
        rng=opts_in["rng"],
        return_vectors=opts_in["return_vectors"],
        progress=opts_in["progress"],
    )
    with be.context(op.data):
        res = methods.get(method)(op, opts)
    if not given and not np.all(res.converged):
        warnings.warn(
            f"spectra.norm(method={method!r}) used its default budget of {maxiter_eff} iterations before the "
            f"interval reached rtol={opts.rtol:g}; the bounds are valid but wider. Pass a larger maxiter or a "
            f"larger rtol{'' if method == 'lanczos' else ', or use method=' + repr('lanczos')}.",
            ConvergenceWarning,
            stacklevel=2,
        )
    est = _assemble(op, res, method, opts)
    return est if compressed is None else compressed.expand(est)


def _assemble(op: Operand, res: MethodResult, method: str, opts: Options) -> NormEstimate:
    value = op.unscale(res.value)
    lower, upper = op.unscale(res.lower, outward=-1), op.unscale(res.upper, outward=+1)
    lower = np.maximum(lower, 0.0)
    conf = np.where(res.deterministic, 1.0, opts.confidence)
    if method == "svd":
        conf = np.ones(op.B)
    u, v = (res.v, res.u) if op.transposed else (res.u, res.v)
    if u is not None:
        u, v = u[..., 0], v[..., 0]
    matvecs = op.matvecs
    iterations = res.iterations
    converged = res.converged
    rtol_eff = np.full(op.B, opts.rtol) if res.rtol_effective is None else np.array(res.rtol_effective, dtype=float)
    if not op.batch_shape:
        return NormEstimate(
            value=float(value[0]),
            lower=float(lower[0]),
            upper=float(upper[0]),
            confidence=float(conf[0]),
            converged=bool(converged[0]),
            method=method,
            backend=op.backend.name,
            iterations=int(iterations),
            matvecs=int(matvecs),
            u=u,
            v=v,
            rtol_effective=float(rtol_eff[0]),
        )

    def wrap(x, dtype=None):
        arr = np.asarray(x, dtype=dtype).reshape(op.batch_shape)
        return op.backend.from_host(arr, op.data)

    shape = op.batch_shape
    return NormEstimate(
        value=wrap(value),
        lower=wrap(lower),
        upper=wrap(upper),
        confidence=wrap(conf),
        converged=wrap(converged, bool),
        method=method,
        backend=op.backend.name,
        iterations=wrap(np.full(shape, iterations), np.int64),
        matvecs=wrap(np.full(shape, matvecs), np.int64),
        u=u,
        v=v,
        rtol_effective=wrap(rtol_eff),
    )


def _exact_zero(A, kind, be, method, batch, m0, n0, return_vectors, rtol) -> NormEstimate:
    """Empty or all-zero input: the norm is exactly 0, with no products needed."""
    u = v = None
    if return_vectors:
        if kind == "dense":
            xp = array_api_compat.array_namespace(A)
            dev = array_api_compat.device(A)
            u = xp.zeros((*batch, m0), dtype=A.dtype, device=dev)
            v = xp.zeros((*batch, n0), dtype=A.dtype, device=dev)
        else:
            u, v = np.zeros(m0, dtype=A.dtype), np.zeros(n0, dtype=A.dtype)
    if not batch:
        return NormEstimate(0.0, 0.0, 0.0, 1.0, True, method, be.name, 0, 0, u, v, rtol_effective=rtol)
    z = be.from_host(np.zeros(batch), A)
    return NormEstimate(
        z,
        z,
        z,
        be.from_host(np.ones(batch), A),
        be.from_host(np.ones(batch, dtype=bool), A),
        method,
        be.name,
        be.from_host(np.zeros(batch, dtype=np.int64), A),
        be.from_host(np.zeros(batch, dtype=np.int64), A),
        u,
        v,
        rtol_effective=be.from_host(np.full(batch, rtol), A),
    )


def normalize(A: Any, /, **kwargs: Any) -> Any:
    """``A`` divided by a certified upper bound of its spectral norm, so that ``||result||_2 <= 1``.

    This is spectral normalisation as used for Lipschitz-constrained networks: dividing by ``upper``
    (not by the estimate) keeps ``||A / upper||_2 <= 1`` with probability ``confidence``.

    Parameters
    ----------
    A : array_like, sparse matrix or LinearOperator
        As for :func:`norm`; stacks are normalised matrix by matrix.
    **kwargs
        Passed to :func:`norm`.

    Returns
    -------
    array, sparse matrix or LinearOperator
        ``A / upper`` in the input's type; a zero matrix is returned unchanged (as a new object).

    Examples
    --------
    >>> import numpy as np, spectra
    >>> W = spectra.normalize(np.array([[3.0, 0.0], [0.0, 1.0]]), method="svd")
    >>> bool(np.linalg.norm(W, 2) <= 1.0)
    True
    """
    est = norm(A, **kwargs)
    up = est.upper
    if isinstance(up, float):
        factor = 1.0 / up if up > 0 else 1.0
        if isinstance(A, (list, tuple)):
            A = np.asarray(A, dtype=np.float64)
        if sp.issparse(A) or isinstance(A, LinearOperator):
            return A * factor
        return A * factor
    xp = array_api_compat.array_namespace(up)
    factor = xp.where(up > 0, 1.0 / xp.where(up > 0, up, 1.0), 1.0)
    if isinstance(A, (list, tuple)):
        A = np.asarray(A, dtype=np.float64)
    return A * xp.astype(factor, A.dtype if xp.isdtype(A.dtype, "real floating") else factor.dtype)[..., None, None]
