"""How a stack ``(..., m, n)`` is computed, and why: the stack part of :class:`spectra._plan.Plan`.

A stack runs one of three routes, which the plan names in ``Plan.stack`` (``why_stack`` gives the reason,
with the measured threshold behind it, docs/performance.md "Crossover: stack kernel against the batched SVD"):

- ``"certificate kernel"``: the backend's ``small_gram_certify`` (numba, CuPy), one Gram matrix per matrix in
  cache, certified by a Cholesky factorisation (confidence 1, docs/bounds.md §7). Matrices it does not settle
  are finished by the batched Lanczos iteration; the plan after the run says how many.
- ``"batched SVD"``: LAPACK's singular values of every matrix in one batched call.
- ``"batched <method> iteration"``: one iteration for the whole stack (batched products, per-matrix bounds
  and stopping).

A single matrix gets a route only when the certificate kernel runs on it (``backend="numba"`` with
``method="lanczos"`` and ``min(m, n) <= 128``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from . import backends
from .methods import _small_stack

__all__ = ["KERNEL", "SVD", "after_run", "no_products", "stack_route"]

KERNEL = "certificate kernel"
_DOC = backends.PERF_DOC
SVD = "batched SVD"


def _counts(A: Any) -> tuple[int, int, int]:
    """``(matrices, Gram order q = min(m, n), long side p)`` of a dense ``A``."""
    m, n = (int(d) for d in A.shape[-2:])
    return math.prod(int(d) for d in A.shape[:-2]), min(m, n), max(m, n)


def _threads(A: Any, be: Any) -> str:
    """Numba's thread choice for a stack (a parallel region costs more than a small stack's work)."""
    if be.name != "numba" or A.ndim < 3:
        return ""
    from .backends import numba as nb  # loaded: the plan runs on it

    B, q, p = _counts(A)
    work = B * p * q * q
    if nb._small_stack_work(A):
        return f"; one Numba thread: matrices·rows·order² = {work:.1e}, below {nb.STACK_PARALLEL_MIN_WORK:.0e}"
    return f"; all Numba threads: matrices·rows·order² = {work:.1e}, from {nb.STACK_PARALLEL_MIN_WORK:.0e} on"


def _why_not_kernel(A: Any, be: Any, *, by_rule: bool, requested: bool = False) -> str:
    """Why the certificate kernel does not run on the stack ``A`` (``by_rule``: the crossover rule decided;
    ``requested``: the method was, so the rule is the backend's, not a crossover against the batched SVD)."""
    if by_rule and isinstance(A, np.ndarray):
        B, q, _ = _counts(A)
        least = backends.stack_kernel_least(q)
        if requested and q <= backends.STACK_KERNEL_MAX_ORDER and 0 < B < least:
            missing = backends.numba_missing()
            return (
                f"backend auto runs the certificate kernel (numba) on stacks of at least {least} matrices of Gram "
                f"order {q} (here {B}); backend 'numba' runs it on any count" + (f" ({missing})" if missing else "")
            )
        return backends.stack_kernel_declined(A) or "the kernel does not take this stack"
    if not hasattr(be, "small_gram_certify"):
        if by_rule:
            return f"the certificate kernel takes NumPy (numba) and CuPy stacks, not {type(A).__module__.split('.')[0]}"
        return f"backend {be.name!r} requested: the certificate kernel runs on numba and cupy"
    if by_rule:  # CuPy under method="auto"
        return "auto takes the certificate kernel for NumPy stacks only; method 'lanczos' runs it here"
    q = min(A.shape[-2:])
    if q > _small_stack.SMALL_GRAM_MAX:
        return f"Gram order {q}, above the kernel's largest, {_small_stack.SMALL_GRAM_MAX}"
    if not A.flags.c_contiguous:
        return "the stack is not C-contiguous (np.ascontiguousarray(A) makes it so)"
    return "the kernel does not take this stack (dtype or size)"


def stack_route(A: Any, kind: str, be: Any, method: str, *, auto_method: bool, auto_backend: bool) -> tuple[str, str]:
    """``(route, why)`` for the standardised input ``A`` on backend ``be`` under ``method`` ("" for a matrix).

    ``auto_method``/``auto_backend``: whether ``method``/``backend`` were resolved from ``"auto"``. The texts
    avoid ``name=value`` pairs, which the result's repr uses for its own fields.
    """
    if kind != "dense":
        return "", ""
    B, q, _ = _counts(A)
    if method == "lanczos" and _small_stack.kernel_takes(A, kind, be):
        if isinstance(A, np.ndarray) and (auto_backend or auto_method) and backends.stack_kernel_applies(A):
            least = backends.stack_kernel_least(q)
            why = f"{B} matrices of Gram order {q}, at least {least}, where the kernel overtakes the batched SVD"
            why += f" ({_DOC})"
        else:
            why = f"lanczos on {be.name} requested: the kernel takes any count of Gram order {q}"
        return KERNEL, why + _threads(A, be)
    if A.ndim < 3:
        return "", ""
    route = SVD if method == "svd" else f"batched {method} iteration"
    if method == "lanczos" or (auto_method and method == "svd"):
        by_rule = auto_backend or (auto_method and be.name == "numba")
        why = _why_not_kernel(A, be, by_rule=by_rule, requested=not auto_method)
    else:
        why = "the certificate kernel runs under method 'lanczos' or 'auto'"
    return route, why if auto_method else f"{method} requested; {why}"


def after_run(plan: Any, kernel_rest: int | None, B: int) -> Any:
    """The plan as it ran: how many matrices the certificate kernel left to the batched Lanczos iteration
    (``kernel_rest``, None where the kernel did not run)."""
    if plan.stack != KERNEL:
        return plan
    if kernel_rest is None:  # planned, but the kernel did not take the operand (never expected)
        why = f"the kernel did not take the operand; planned: {plan.why_stack}"
        return dataclasses.replace(plan, stack="batched lanczos iteration", why_stack=why)
    if kernel_rest == 0:
        return plan
    return dataclasses.replace(
        plan,
        why_stack=f"{plan.why_stack}; {kernel_rest} of {B} not settled by the certificate, finished by the "
        "batched lanczos iteration",
    )


def no_products(plan: Any) -> Any:
    """The plan of an empty or all-zero input: nothing ran."""
    if not plan.stack:
        return plan
    return dataclasses.replace(plan, stack="none", why_stack="every matrix is empty or zero: the norm is 0 exactly")
