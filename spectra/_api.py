"""``spectra.norm`` and ``spectra.normalize``: validate, pick backend and method, run, report."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

import array_api_compat
import numpy as np

from . import _extended, backends, methods
from ._compile_notice import notices_to
from ._errors import ConvergenceWarning
from ._host_view import from_numpy_view, host_start, numpy_view
from ._linop import NonFiniteProduct
from ._operand import Operand, make_operand
from ._plan import GRAM_METHODS, Plan, make_plan, shape_of
from ._plan_stack import after_run, no_products
from ._progress import Progress
from ._result import NormEstimate, zero_matrix_vectors
from ._validate import standardize_matrix, validate_options, validate_v0
from .backends._base import namespace_dtype_name
from .methods._common import MethodResult, Options, default_maxiter, report_progress, require_dense

__all__ = ["norm"]

#: the ``method`` values :func:`norm` takes (for type checkers: a misspelt name is an error there too)
Method: TypeAlias = Literal["auto", "svd", "power", "lanczos", "randomized", "gram"]


def norm(
    A: Any,
    /,
    method: Method = "auto",
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
    check_adjoint: bool = True,
) -> NormEstimate:
    """Spectral norm ``||A||_2`` (largest singular value) with a certified error interval.

    Parameters
    ----------
    A : array_like, sparse matrix or LinearOperator
        A matrix ``(m, n)`` or a stack ``(..., m, n)`` (one norm per matrix) of any array-API
        namespace, a nested list, a ``scipy.sparse`` array/matrix, or a
        ``scipy.sparse.linalg.LinearOperator`` with ``matvec`` and ``rmatvec``. Never modified.
    method : {"auto", "svd", "power", "lanczos", "randomized", "gram"}
        ``"auto"`` takes ``"svd"`` for dense matrices with ``m n min(m, n) <= 1e8`` (where it is faster)
        and ``"lanczos"`` otherwise (``"randomized"`` when ``block_size`` is given, ``"lanczos"`` when ``v0``
        or ``maxiter`` is). ``"gram"`` (Gram iteration, dense arrays only) gives a deterministic upper bound
        (confidence 1, docs/bounds.md §13); ``"auto"`` never picks it.
    backend : str
        ``"auto"`` (from the input's type: ``"numpy"`` for NumPy/SciPy inputs, moved to ``"numba"`` when it
        is installed and the problem is large enough to gain, ``"dask"`` for ``dask.array`` arrays, ``"cupy"`` for
        CuPy arrays, sparse matrices and LinearOperators, ``"array_api"`` for other namespaces), ``"numpy"``,
        ``"numba"``, ``"dask"``, ``"cupy"`` (also takes PyTorch CUDA tensors and JAX GPU arrays, through DLPack)
        or ``"array_api"``. The choice (and the method's, and the Gram side's) is recorded in the result's ``plan``.
    rtol : float
        Target relative accuracy. Raised to the floor the working precision can certify.
    certify : bool or None
        ``True``: stop only when ``upper <= (1 + rtol) * lower``. ``False``: stop when the residual
        estimate is ``<= rtol`` (faster, not a guarantee). ``None``: ``False`` for ``"power"``, else ``True``.
        The returned bounds are valid either way.
    confidence : float
        Probability, in (0, 1), with which ``lower <= ||A||_2 <= upper`` holds.
    maxiter : int, optional
        Iteration budget (power/Lanczos steps, randomized passes, Gram squarings). When the default budget runs out a
        :class:`ConvergenceWarning` is emitted; an explicit ``maxiter`` is a deliberate budget and is silent.
    block_size : int, optional
        Block size of ``"randomized"`` (default 4, measured in docs/performance.md). ``"randomized"``
        certifies every spectrum (the block Christoffel bound, docs/bounds.md §4d) in fewer passes than
        ``"lanczos"``, but each pass multiplies ``block_size`` vectors: it takes 1-10 times lanczos's time and
        2-2.5 times its memory (measured), which is why ``"auto"`` picks it only when ``block_size`` is given.
    v0 : array_like, optional
        Warm start on the right side of ``A`` (e.g. a previous result's ``v``), shape ``(n,)`` or
        ``(..., n)``, for ``lanczos`` and ``power`` (``svd``, ``gram`` and ``randomized``, whose block start
        must be Gaussian for its bound, raise ``ValueError``). A random component is mixed in so the upper
        bound keeps its confidence for any ``v0`` that does not depend on the same seed's draws. With
        ``certify=True`` it saves few products (the certificate needs the Krylov space to resolve the top of
        the spectrum whatever the start; docs/performance.md); with ``certify=False`` the residual test is met
        sooner. Complex only for a complex ``A`` (a complex ``v0`` with a nonzero imaginary part for a real
        ``A`` raises ``ValueError``).
    seed : None, int, SeedSequence, BitGenerator or Generator
        Seed of the random start (anything :func:`numpy.random.default_rng` takes); start vectors are drawn on
        the host, so a seed gives the same start on every backend. Estimates then agree up to the rounding of
        each backend's products (their summation order, which also depends on the BLAS and Numba thread
        counts); the bounds cover it. A ``Generator`` passed in is advanced by the methods that draw a start
        (``lanczos``, ``power``, ``randomized``), as NumPy's own functions advance it; ``svd``, ``gram`` and
        an exactly zero input draw nothing.
    return_vectors : bool
        Fill ``u`` and ``v`` (top singular vectors) in the result; the stopping test is then also asked
        of the vectors' own value ``u^H A v`` (see :class:`NormEstimate`).
    check_finite : bool
        Raise ``ValueError`` on NaN/Inf entries, or on a ``LinearOperator`` product with NaN/Inf (at any
        product). ``False``: the norm is then undefined and reported as NaN (``value``, ``lower``, ``upper``),
        ``converged=False``, ``confidence=1``.
    progress : bool, None or callable
        ``True``: print the narrowing interval to stderr while iterating (at most five lines a second);
        ``False`` or ``None``: nothing.
        A callable: called with a :class:`Progress` (products so far, current interval, target width)
        after every step and once more at the end (``final=True``); the command line drives its progress
        bar and ``--plot`` this way. To show the interval at every step, ``lanczos`` and ``randomized`` then
        also evaluate the Christoffel bound at every step, for the reports only: the result is bitwise the same
        with and without ``progress``.
    check_adjoint : bool
        For a ``LinearOperator``: raise ``ValueError`` when its ``rmatvec`` is visibly not the adjoint of its
        ``matvec`` (a wrong adjoint makes every bound meaningless). The test reuses the scale probe and the
        first iteration's products, so it costs no product; it misses a wrong adjoint with a small
        probability (docs/design.md, "Hostile inputs"). It reports a relative mismatch above 5%, or above
        the products' rounding where that is larger (float32 from ``m + n`` of about 10⁶, float16 products),
        never above 25%. ``False`` skips it (e.g. for an adjoint that is only accurate to more than that).

    Returns
    -------
    NormEstimate
        ``value``, ``lower``, ``upper`` (also as ``interval``), ``confidence``, ``converged``, ``method``,
        ``backend``, ``iterations``, ``matvecs``, ``rtol_effective``, optionally ``u``, ``v``, and the ``plan``
        that ran.

    Raises
    ------
    ValueError
        Bad shapes or values (the message names the parameter), NaN/Inf entries or products; a
        ``LinearOperator`` whose ``rmatvec`` is visibly not the adjoint of its ``matvec`` (``check_adjoint``);
        incompatible options: ``"svd"`` or ``"gram"`` on a sparse matrix or a ``LinearOperator``,
        ``backend="dask"`` with a NumPy array (or another backend that does not take the input), ``block_size``
        without ``"randomized"``, ``maxiter`` or ``v0`` with ``"svd"``, ``v0`` with ``"gram"`` or
        ``"randomized"``. An error raised by a ``LinearOperator``'s own ``matvec``/``rmatvec`` propagates
        unchanged.
    TypeError
        Non-numeric input or wrongly typed options; a ``LinearOperator`` without ``rmatvec`` (the adjoint
        products the bounds need); an object that is not an array (a pandas ``DataFrame`` or an xarray
        ``DataArray``: the message says to pass ``A.to_numpy()``).
    BackendUnavailableError
        The requested backend's optional dependency is missing (names the pip extra), or ``"cupy"`` finds
        no usable GPU, or ``"numba"`` cannot run in this process (e.g. a child forked after Numba's threads
        started).

    Warns
    -----
    ConvergenceWarning
        In three cases: the default ``maxiter`` ran out before ``rtol`` (not emitted for an explicit
        ``maxiter``); a Krylov restart (the basis filled its memory budget) froze the probabilistic upper bound
        before ``rtol`` was met (emitted whatever ``maxiter`` was, docs/bounds.md §8); or a probabilistic upper
        bound fell below the certified lower bound, which proves that its random event failed (probability at
        most ``1 - confidence``): that matrix then reports the deterministic bounds, at confidence 1.

    Notes
    -----
    The bounds and their sources are in docs/bounds.md: the probabilistic upper bound from a random start
    (§1, J. Kuczyński and H. Woźniakowski, *Estimating the largest eigenvalue by the power and Lanczos
    algorithms with a random start*, SIAM J. Matrix Anal. Appl. 13(4), 1992), the power method (§2), Lanczos
    and its a posteriori Christoffel bound (§3, §3b), randomized block Krylov (§4), the SVD interval (§6b) and
    the rounding of every bound in floating point (§6).

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
        check_adjoint=check_adjoint,
    )
    # the same call on another array (a NumPy view of a tensor, a float64 copy of extended precision)
    kwargs = dict(method=method, rtol=rtol, certify=certify, confidence=confidence, maxiter=maxiter, v0=v0)
    kwargs.update(block_size=block_size, seed=opts_in["rng"], return_vectors=return_vectors)
    kwargs.update(check_finite=check_finite, progress=progress, check_adjoint=check_adjoint)
    if opts_in["backend"] == "auto" and (viewed := numpy_view(A)) is not None:
        view, conjugated = viewed
        kwargs["v0"] = host_start(v0, conjugated)
        library = "torch" if array_api_compat.is_torch_array(A) else "JAX"
        with caller_frames(1):  # a warning of the inner call points at this call's caller
            r = norm(view, **kwargs)
        how = "a NumPy view of its stored entries, the conjugate (no copy)" if conjugated else "a NumPy view (no copy)"
        return from_numpy_view(r, A, f"{library} input on the CPU, read as {how}", conjugated)
    if _extended.is_extended(A):  # scaled by a power of two into float64's range, its rounding in the bounds
        A64, exponents, slack = _extended.to_float64(A)
        with caller_frames(1):
            r = norm(A64, backend=backend, **kwargs)
        return _extended.widen(r, exponents, slack)
    A, kind = standardize_matrix(A)
    m0, n0 = shape_of(A)[-2:]  # the caller's shape (a sparse matrix may run without its empty rows/columns)
    iterative = " and ".join(name for name, x in (("v0", v0), ("maxiter", opts_in["maxiter"])) if x is not None)
    plan, be, A, compressed = make_plan(
        A,
        kind,
        method=opts_in["method"],
        backend=opts_in["backend"],
        block_size=opts_in["block_size"],
        iterative=iterative,
    )
    batch = tuple(int(d) for d in A.shape[:-2]) if kind == "dense" else ()
    method = plan.method
    if opts_in["block_size"] is not None and method != "randomized":
        raise ValueError(f"block_size applies to method='randomized' only (method is {method!r})")
    if method == "svd":
        for name in ("maxiter", "v0"):
            if (opts_in.get(name) if name != "v0" else v0) is not None:
                raise ValueError(f"{name} does not apply to method='svd' (a direct method); remove it")
    if method == "svd":
        require_dense(kind, "svd")  # before an operator's scale probe
    certify_eff = opts_in["certify"] if opts_in["certify"] is not None else method != "power"
    maxiter_eff, given = default_maxiter(method, opts_in["maxiter"])
    v0_host = None
    if v0 is not None:
        v0_host = validate_v0(v0, batch, n0, be.to_host, namespace_dtype_name(A.dtype).startswith("complex"))

    if m0 == 0 or n0 == 0 or 0 in batch:  # no entries, or an empty stack: nothing to compute
        return _exact_zero(A, kind, be, plan, batch, m0, n0, opts_in)
    # the operand's statistics (and an operator's scale probe) are products too; a first call may compile kernels
    with be.context(A), notices_to(opts_in["progress"]):
        op = make_operand(
            be.prepare(A, plan),
            kind,
            be,
            check_finite=opts_in["check_finite"],
            uses_gram=method in GRAM_METHODS,
            transposed=plan.transposed,
            check_adjoint=opts_in["check_adjoint"],
            entry_statistics=method != "svd",
        )
    if op.max_abs is not None and np.all(op.max_abs == 0):
        return _exact_zero(A, kind, be, plan, batch, m0, n0, opts_in)
    if op.nonfinite:  # check_finite=False and NaN/Inf present: undefined, reported as NaN without iterating
        bad = ~np.isfinite(op.max_abs) if op.max_abs is not None else None
        if batch and bad is not None and not np.all(bad):
            # the finite members' own run makes the final progress report
            return _finite_members(
                A, bad, dict(kwargs, backend=backend), _undefined(op, plan, method, opts_in, None), be
            )
        return _undefined(op, plan, method, opts_in, batch)
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
    try:
        with be.context(op.data), notices_to(opts.progress):
            res = methods.get(method)(op, opts)
            op.settle_adjoint_check()  # a no-op: every iterative method's first step ran the test
    except NonFiniteProduct:  # a LinearOperator's product turned NaN/Inf after the first one
        if op.check_finite:
            raise
        return _undefined(op, plan, method, opts_in, batch)
    if res.event_failed is not None:
        warnings.warn(
            f"spectra.norm(method={method!r}): the random start was unlucky for {int(res.event_failed.sum())} of "
            f"{op.B} matrices (an event of probability at most {1.0 - opts.confidence:g}): their probabilistic upper "
            "bound fell below the certified lower bound, so they report the deterministic bounds (confidence 1, "
            "wider); call again with another seed for a tighter interval.",
            ConvergenceWarning,
            stacklevel=2 + _EXTRA_FRAMES.get(),
        )
    elif res.restart is not None and not np.all(res.converged):
        steps, basis = res.restart
        warnings.warn(
            f"spectra.norm(method={method!r}) stopped before the interval reached rtol={opts.rtol:g}: its Krylov "
            f"basis filled its memory budget ({basis} vectors) after {steps} steps and was restarted, and the "
            "probabilistic upper bound cannot tighten after a restart (docs/bounds.md §8); only the lower bound "
            "and the deterministic caps can. The bounds are valid but wider; more iterations would not narrow the "
            "upper bound. Pass a larger rtol for a certified interval.",
            ConvergenceWarning,
            stacklevel=2 + _EXTRA_FRAMES.get(),
        )
    elif not given and not np.all(res.converged):
        warnings.warn(
            f"spectra.norm(method={method!r}) used its default budget of {maxiter_eff} iterations before the "
            f"interval reached rtol={opts.rtol:g}; the bounds are valid but wider. Pass a larger maxiter or a "
            f"larger rtol{'' if method == 'lanczos' else ', or use method=' + repr('lanczos')}.",
            ConvergenceWarning,
            stacklevel=2 + _EXTRA_FRAMES.get(),
        )
    est = _assemble(op, after_run(plan, res.kernel_rest, op.B), res, method, opts)
    return est if compressed is None else compressed.expand(est)


#: frames of spectra between :func:`norm` and the code that called spectra (warnings point past them)
_EXTRA_FRAMES: contextvars.ContextVar[int] = contextvars.ContextVar("spectra_extra_frames", default=0)


@contextlib.contextmanager
def caller_frames(k: int):
    """Within it, :func:`norm`'s warnings point ``k`` more frames up: at the caller of the spectra function that
    called ``norm`` (:func:`spectra.normalize`, or ``norm`` itself on a torch/JAX array's NumPy view)."""
    token = _EXTRA_FRAMES.set(_EXTRA_FRAMES.get() + k)
    try:
        yield
    finally:
        _EXTRA_FRAMES.reset(token)


def _undefined(op: Operand, plan: Plan, method: str, opts_in: dict, batch: tuple | None) -> NormEstimate:
    """The result where the norm is undefined (NaN/Inf under ``check_finite=False``): NaN ``value``, ``lower`` and
    ``upper``, ``converged`` False, confidence 1 (nothing random decides it); ``matvecs`` counts the products
    taken (none for arrays; for a LinearOperator, up to the first one that returned NaN/Inf). With a ``batch``
    shape it also makes the one final progress report every run makes (NaN interval, nothing done)."""
    if batch is not None and opts_in["progress"]:
        total = int(np.prod(batch)) if batch else 1
        first = tuple(0 for _ in batch) if batch else None
        info = Progress(
            plan.method, op.matvecs, math.nan, math.nan, float(opts_in["rtol"]), 0, total, 0.0, final=True, matrix=first
        )
        report_progress(opts_in["progress"], info)
    nan = np.full(op.B, np.nan)
    res = MethodResult(nan, nan, nan, np.ones(op.B, bool), np.zeros(op.B, bool), 0)  # nothing random was used
    opts = Options(opts_in["rtol"], True, opts_in["confidence"], 0, True, None, None, opts_in["rng"], False, False)
    return _assemble(op, plan, res, method, opts)


def _assemble(op: Operand, plan: Plan, res: MethodResult, method: str, opts: Options) -> NormEstimate:
    value = op.unscale(res.value)
    lower, upper = op.unscale(res.lower, outward=-1), op.unscale(res.upper, outward=+1)
    lower = np.maximum(lower, 0.0)
    conf = np.where(res.deterministic, 1.0, opts.confidence)
    if method == "svd":
        conf = np.ones(op.B)
    u, v = (res.v, res.u) if op.transposed else (res.u, res.v)
    if u is not None:
        u, v = _zero_vectors_get_e1(op, u[..., 0], v[..., 0])
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
            plan=plan,
        )

    def wrap(x, dtype=None, toward=0.0):
        arr = np.asarray(x, dtype=dtype).reshape(op.batch_shape)
        out = op.backend.from_host(arr, op.data)
        if toward and namespace_dtype_name(out.dtype) == "float32":  # no float64 (JAX's 32-bit mode)
            return op.backend.from_host(_round_float32(arr, toward), op.data)
        return out

    shape = op.batch_shape
    return NormEstimate(
        value=wrap(value),
        lower=wrap(lower, toward=-np.inf),
        upper=wrap(upper, toward=np.inf),
        confidence=wrap(conf),
        converged=wrap(converged, bool),
        method=method,
        backend=op.backend.name,
        iterations=wrap(np.full(shape, iterations), np.int64),
        matvecs=wrap(np.full(shape, matvecs), np.int64),
        u=u,
        v=v,
        rtol_effective=wrap(rtol_eff),
        plan=plan,
    )


def _zero_vectors_get_e1(op: Operand, u, v):
    """The vectors ``u`` (``batch + (m,)``) and ``v`` (``batch + (n,)``) with those of all-zero matrices, and
    every vector a method left zero, set to ``e_1`` (:func:`zero_matrix_vectors`).

    Parameters
    ----------
    op : Operand
        The operand the method ran on; ``op.max_abs == 0`` tells the all-zero matrices of a stack exactly.
    u, v : array
        The method's unit vectors in the caller's orientation, on the backend's device. A method leaves a zero
        matrix's vectors zero (the image of any start vanishes) or arbitrary, and a ``LinearOperator`` whose
        products vanish (no entries prove it zero) gets ``u = 0``; every method and backend ends here.

    Returns
    -------
    tuple
        ``(u, v)``, unchanged where no vector is zero and no matrix of the stack is (a single matrix that is
        zero never runs a method: it is answered before, by the same rule). A zero ``u`` with ``v`` nonzero
        (``A v = 0``) becomes ``e_1`` alone: ``A v = 0 = 0 e_1`` and ``Aᴴ e_1 = 0`` hold there exactly when the
        norm is zero, and nowhere else can a method return a zero vector.
    """
    xp, be = op.xp, op.backend
    batch = op.batch_shape
    whole = None
    if op.max_abs is not None and batch and bool((op.max_abs == 0).any()):
        whole = be.from_host((op.max_abs == 0).reshape((*batch, 1)), u)
    e_u, e_v = zero_matrix_vectors((), int(u.shape[-1]), int(v.shape[-1]))
    dtype = namespace_dtype_name(u.dtype)
    out = []
    for e, x in ((e_u, u), (e_v, v)):
        if x.shape[-1] == 0:
            out.append(x)
            continue
        zero = xp.all(x == 0, axis=-1, keepdims=True)
        mask = zero if whole is None else xp.logical_or(zero, whole)
        if not bool(xp.any(mask)):
            out.append(x)
            continue
        out.append(xp.where(mask, be.from_host(e.astype(dtype), x), x))
    return tuple(out)


def _round_float32(x: np.ndarray, toward: float) -> np.ndarray:
    """``x`` in float32, rounded toward ``toward`` (+-inf) so a bound stays a bound."""
    y = x.astype(np.float32)
    wrong = (y.astype(np.float64) - x) * toward < 0
    return np.where(wrong, np.nextafter(y, np.float32(toward)), y)


def _members(x, keep: np.ndarray, tail: tuple):
    """The matrices (or vectors) ``keep`` of a stack ``x`` flattened to ``(-1, *tail)``, in ``x``'s own namespace."""
    if isinstance(x, np.ndarray) or array_api_compat.is_dask_array(x):
        return x.reshape(-1, *tail)[keep]
    xp = array_api_compat.array_namespace(x)
    index = xp.asarray(keep, device=array_api_compat.device(x))
    return xp.take(xp.reshape(x, (-1, *tail)), index, axis=0)


def _finite_members(A, bad: np.ndarray, kwargs: dict, undefined: NormEstimate, be) -> NormEstimate:
    """A stack with NaN/Inf in some matrices under ``check_finite=False``: the others computed as a stack of their
    own (in the input's namespace, on its backend), the ones with NaN/Inf left as ``undefined`` reports them
    (NaN, not iterated, confidence 1). Fields are merged on the host and returned in the namespace of
    ``undefined``'s fields."""
    keep = np.flatnonzero(~bad)
    m, n = A.shape[-2:]
    kw = dict(kwargs)
    if kw.get("v0") is not None:
        kw["v0"] = _members(kw["v0"], keep, (n,))
    with caller_frames(1):
        r = norm(_members(A, keep, (m, n)), **kw)
    like = undefined.value

    def merged(full, part):
        if part is None:
            return full
        part = be.to_host(part)
        if full is None:  # the vectors: NaN where the matrix is undefined
            full = np.full((*undefined.shape, *part.shape[1:]), np.nan, dtype=part.dtype)
        out = np.array(be.to_host(full), copy=True)
        flat = out.reshape(-1, *out.shape[len(undefined.shape) :])
        flat[keep] = part
        return be.from_host(flat.reshape(out.shape), like)

    fields = ("value", "lower", "upper", "confidence", "converged", "iterations", "matvecs", "rtol_effective", "u", "v")
    merge = {f: merged(getattr(undefined, f), getattr(r, f)) for f in fields}
    return dataclasses.replace(undefined, **merge, method=r.method, backend=r.backend, plan=r.plan)


def _exact_zero(A, kind, be, plan, batch, m0, n0, opts_in: dict) -> NormEstimate:
    """Empty or all-zero input: the norm is exactly 0, with no products needed (and one final progress report,
    as every other run makes)."""
    plan = no_products(plan)
    return_vectors, rtol = opts_in["return_vectors"], opts_in["rtol"]
    if opts_in["progress"]:
        total = int(np.prod(batch)) if batch else 1
        first = tuple(0 for _ in batch) if batch and total else None  # every interval is [0, 0]: the first
        info = Progress(plan.method, 0, 0.0, 0.0, float(rtol), total, total, 0.0, final=True, matrix=first)
        report_progress(opts_in["progress"], info)
    u = v = None
    if return_vectors:
        u, v = zero_matrix_vectors(batch, m0, n0)
        if kind == "dense":
            xp = array_api_compat.array_namespace(A)
            u, v = (xp.astype(be.from_host(x, A), A.dtype) for x in (u, v))
        else:
            u, v = u.astype(A.dtype), v.astype(A.dtype)
    if not batch:
        return NormEstimate(0.0, 0.0, 0.0, 1.0, True, plan.method, be.name, 0, 0, u, v, rtol_effective=rtol, plan=plan)
    # value, lower and upper are three arrays: an in-place edit of one must not move the others
    value, lower, upper = (be.from_host(np.zeros(batch), A) for _ in range(3))
    return NormEstimate(
        value,
        lower,
        upper,
        be.from_host(np.ones(batch), A),
        be.from_host(np.ones(batch, dtype=bool), A),
        plan.method,
        be.name,
        be.from_host(np.zeros(batch, dtype=np.int64), A),
        be.from_host(np.zeros(batch, dtype=np.int64), A),
        u,
        v,
        rtol_effective=be.from_host(np.full(batch, rtol), A),
        plan=plan,
    )
