"""What runs, on what, and why: the one place where backend, method and Gram side are chosen.

:func:`make_plan` turns a validated input and the caller's ``method``/``backend`` into a :class:`Plan`
(and the backend object that carries it out). :func:`spectra.norm`, :func:`spectra.normalize` (through
``norm``) and the command line all go through it, and the plan is shown on the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import _compress, backends
from ._compress import Compressed
from ._operand import gram_side
from ._plan_stack import stack_route

__all__ = ["AUTO_SVD_MAX_WORK", "GRAM_METHODS", "Plan", "make_plan", "shape_of"]

#: dense matrices with m * n * min(m, n) up to this use the full SVD under method="auto"
#: (crossover measured against certified Lanczos at rtol=1e-6, docs/performance.md)
AUTO_SVD_MAX_WORK = 1e8

#: why ``auto`` never picks ``randomized`` unasked; shown in the plan of a randomized result
RANDOMIZED_COST = (
    "fewer passes than lanczos but block_size products each: 1-10x lanczos's time, 2-2.5x its memory "
    "(docs/performance.md)"
)

#: methods that iterate with the Gram product ``Âᴴ(Â X)`` (a backend's fused side is preferred for them)
GRAM_METHODS = ("power", "lanczos", "randomized")


@dataclass(frozen=True)
class Plan:
    """The decisions behind one call of :func:`spectra.norm`.

    Attributes
    ----------
    backend : str
        Backend that runs (after resolving ``"auto"``).
    method : str
        Method that runs (after resolving ``"auto"``).
    transposed : bool
        ``True``: the method works on ``Aᴴ`` (Gram operator ``A Aᴴ``); ``False``: on ``A`` (``AᴴA``).
    why_backend, why_method : str
        Short reasons for the two choices.
    why_side : str
        Why the Gram side was chosen ("" for the SVD).
    stack, why_stack : str
        For a stack ``(..., m, n)``: how it ran (``"certificate kernel"``, ``"batched SVD"`` or
        ``"batched <method> iteration"``) and why, with the measured threshold against the matrix count and
        Gram order (docs/performance.md); after the run, how many matrices the kernel left to the
        iteration. ``""`` for one matrix (unless the certificate kernel ran on it). See
        :mod:`spectra._plan_stack`.

    Examples
    --------
    >>> import numpy as np, spectra
    >>> p = spectra.norm(np.ones((4, 3)), method="lanczos", seed=0).plan
    >>> p.backend, p.method, p.transposed
    ('numpy', 'lanczos', False)
    >>> str(p)
    'lanczos on numpy, AᴴA (smaller side)'
    >>> p = spectra.norm(np.ones((100, 4, 3)), seed=0).plan  # a stack: which route ran, and why
    >>> p.stack
    'batched SVD'
    """

    backend: str
    method: str
    transposed: bool
    why_backend: str
    why_method: str
    why_side: str = ""
    stack: str = ""
    why_stack: str = ""

    def __str__(self) -> str:
        if self.method == "svd":
            text = f"{self.method} on {self.backend}"
        else:
            side = "AAᴴ" if self.transposed else "AᴴA"
            text = f"{self.method} on {self.backend}, {side} ({self.why_side})"
        return f"{text}; {self.stack} ({self.why_stack})" if self.stack else text


def shape_of(A: Any) -> tuple[int, ...]:
    """``A.shape`` as Python ints; a clear error for unknown dimensions (a Dask array after a filter)."""
    shape = tuple(A.shape)
    if any(d is None or (isinstance(d, float) and math.isnan(d)) for d in shape):
        raise ValueError(
            f"A has unknown dimensions (shape {shape}), e.g. a Dask array after boolean indexing; "
            "call A.compute_chunk_sizes() first (or build it with known chunks)"
        )
    return tuple(int(d) for d in shape)


def _method(
    A, kind: str, shape: tuple[int, ...], block_size, backend, auto_backend: bool, iterative: str = ""
) -> tuple[str, str]:
    m, n = shape[-2], shape[-1]
    if block_size is not None:
        return "randomized", f"block_size given; {RANDOMIZED_COST}"
    if iterative:  # an option of the iterative methods (v0, maxiter): the direct SVD would refuse it
        return "lanczos", f"{iterative} given: an iterative method"
    if kind != "dense":
        return "lanczos", f"{kind} input"
    if (auto_backend or backend.name == "numba") and backends.stack_kernel_applies(A):  # faster than a batched SVD
        return "lanczos", "a stack of small matrices: numba's in-cache kernel"
    work = m * n * min(m, n)
    if work > AUTO_SVD_MAX_WORK:
        return "lanczos", f"m·n·min(m,n) = {work:.1e} > {AUTO_SVD_MAX_WORK:.0e}"
    reason = backend.avoid_svd(shape)
    if reason:
        return "lanczos", reason
    return "svd", f"m·n·min(m,n) = {work:.1e} <= {AUTO_SVD_MAX_WORK:.0e}"


def _input_label(A) -> str:
    """Where the input comes from, for the plan's reasons: ``"numpy input"``, ``"scipy input"``, ...; a
    LinearOperator (which spectra wraps for its working precision) is named as such, whoever defined it."""
    from scipy.sparse.linalg import LinearOperator

    if isinstance(A, LinearOperator):
        return "LinearOperator input"
    return f"{type(A).__module__.split('.')[0]} input"


def make_plan(
    A: Any, kind: str, *, method: str, backend: str, block_size: int | None, iterative: str = ""
) -> tuple[Plan, Any, Any, Compressed | None]:
    """The :class:`Plan` for a standardised input (see :func:`spectra._validate.standardize_matrix`).

    Parameters
    ----------
    A : array, sparse matrix or LinearOperator
        The standardised input (``kind`` from the validation).
    kind : {"dense", "sparse", "operator"}
    method, backend : str
        As validated; ``"auto"`` is resolved here.
    block_size : int or None
    iterative : str
        The options given that only the iterative methods take (``"v0"``, ``"maxiter"``): ``"auto"`` then
        picks one of them ("" when none).

    Returns
    -------
    (Plan, backend object, A as the backend runs it, Compressed or None)
        ``A`` after the backend's ``prepare_input`` and, for a sparse matrix with many empty rows or
        columns, without them (:mod:`spectra._compress`; the last item maps ``u``/``v`` back).

    Raises
    ------
    ValueError
        Unknown dimensions, or a backend that does not take this input.
    BackendUnavailableError
        The backend's optional dependency is missing.
    """
    shape = shape_of(A)
    compressed, coordinates = None, kind == "sparse" and getattr(A, "format", None) == "coo"
    if coordinates:  # COO/DIA/DOK/LIL (spectra._sparse): CSR without the empty lines, no indptr longer than O(nnz)
        A, compressed = _compress.from_coordinates(A)
    be = backends.resolve(A, backend)
    A = be.prepare_input(A)
    why_backend = "requested" if backend != "auto" else _input_label(A)
    auto_method = method == "auto"
    if method == "auto":
        method, why_method = _method(A, kind, shape, block_size, be, backend == "auto", iterative)
    elif method == "randomized":  # the result carries why auto avoids it (docs/design.md)
        why_method = f"requested; {RANDOMIZED_COST}"
    else:
        why_method = "requested"
    if backend == "auto" and be.name == "numpy":
        faster, why = backends.acceleration(A, kind, method)
        if faster is not None:
            be = backends.resolve(A, faster)
            why_backend = why
        else:
            why_backend = f"{why_backend}; {why}"
    if kind == "sparse" and not coordinates:  # memory follows the nonzeros (coordinates were compressed above)
        compressed = _compress.drop_empty(A)
        if compressed is not None:
            A = compressed.A
    transposed, why_side = gram_side(A, kind, be, uses_gram=method in GRAM_METHODS)
    stack, why_stack = stack_route(A, kind, be, method, auto_method=auto_method, auto_backend=backend == "auto")
    plan = Plan(be.name, method, transposed, why_backend, why_method, why_side, stack, why_stack)
    return plan, be, A, compressed
