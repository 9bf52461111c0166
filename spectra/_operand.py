"""The matrix as the methods see it: products with a scaled, possibly adjoint, operator.

An :class:`Operand` wraps the validated input and a backend. It
- works on ``A^H`` when ``A`` is wide, so every method starts on the smaller side (``n <= m``);
- applies a per-matrix power-of-two scale through the vectors (never by copying ``A``), so that
  entries near 1e+-300 or subnormal entries neither overflow nor underflow;
- counts products (a block of ``k`` vectors counts ``k``);
- carries the entry statistics used for deterministic bounds and rounding analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _bounds
from ._linop import NonFiniteProduct
from .backends._base import AbsStats, namespace_dtype_name

__all__ = ["NONFINITE", "Operand", "gram_side", "make_operand"]

#: the start of the error for NaN/Inf entries (the command line words the rest for its users)
NONFINITE = "A contains NaN or Inf"
_UNDEFINED = "(the result is then undefined)"

#: a fused Gram pass may put the methods on the long side only if this many vectors there fit in A's memory
LONG_SIDE_VECTORS = 300
_SAFE_EXPONENT = {4: 20, 8: 100}  # |a_ij| in [2^-E, 2^E] needs no scaling (by itemsize of the real type)


@dataclass
class Operand:
    backend: Any
    data: Any
    kind: str  # "dense" | "sparse" | "operator"
    m: int  # rows of the effective operator (>= n unless a fused Gram pass prefers the larger side)
    n: int
    batch_shape: tuple
    transposed: bool
    dtype: Any  # working dtype in the namespace of the data
    np_dtype: np.dtype  # the same as a NumPy dtype, for host-side arithmetic
    xp: Any
    scale_exp: np.ndarray  # (B,) host ints: the effective operator is 2**scale_exp * A
    stats: AbsStats | None
    check_finite: bool
    #: ``(B,)`` host ``max |a_ij|`` of the input (``None`` for an operator): zero exactly for a zero matrix
    max_abs: np.ndarray | None = None
    _c1: Any = None
    _c2: Any = None
    matvecs: int = 0
    #: NaN/Inf found while check_finite=False: the result is undefined and reported as NaN
    nonfinite: bool = False
    #: a LinearOperator's adjoint test still to run: the scale probe's host ``(x, Â x)`` before scaling, used
    #: with the first Gram step's products (:meth:`gram`), so the test costs no product of its own
    adjoint_probe: Any = None
    #: host values derived from the entry statistics, computed once per operand (see methods._common)
    memo: dict = field(default_factory=dict)

    # -------------------------------------------------------------- shape facts
    @property
    def B(self) -> int:
        return int(np.prod(self.batch_shape)) if self.batch_shape else 1

    @property
    def is_complex(self) -> bool:
        return self.np_dtype.kind == "c"

    @property
    def split_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """Two host factors ``c1 * c2 = 2**scale_exp``, each representable in the working precision."""
        e = self.scale_exp
        return np.ldexp(1.0, e // 2), np.ldexp(1.0, e - e // 2)

    def unscale(self, x: np.ndarray, outward: int = 0) -> np.ndarray:
        """Values of the effective operator back to the scale of ``A``.

        Multiplying by a power of two is exact unless the result leaves float64's normal range. There,
        ``outward=-1`` (a lower bound) rounds down, to the largest finite float64 on overflow, and
        ``outward=+1`` (an upper bound) rounds up (docs/bounds.md §6f).
        """
        x = np.asarray(x, dtype=np.float64)
        if not self.scale_exp.any():  # no scaling (the common case): nothing to undo
            return x.copy()
        return _bounds.scale_by_power_of_two(x, -self.scale_exp, outward)

    @property
    def u(self) -> float:
        if "u" not in self.memo:  # asked many times per iteration
            # an operator whose products come back in a narrower precision (float16) was rounded to it
            self.memo["u"] = max(_bounds.unit_roundoff(self.np_dtype), getattr(self.data, "product_u", 0.0))
        return self.memo["u"]

    @property
    def u_vectors(self) -> float:
        """Unit roundoff of the working precision, in which spectra holds its vectors (the start is rounded to
        it); :attr:`u` is larger for an operator whose products come back in a narrower precision."""
        return _bounds.unit_roundoff(self.np_dtype)

    def stats_pad(self) -> float:
        """Relative pad ``2 gamma`` for the square roots of the entry statistics' sums (:class:`AbsStats`)."""
        s = self.stats
        count = (max(self.m, 1) * max(self.n, 1) + 2) if s.count is None else s.count
        return 2.0 * _bounds.gamma(count, s.u)

    def fro_bound(self) -> np.ndarray:
        """``||Â||_F`` rounded up for the rounding of its computation."""
        if "fro_bound" not in self.memo:  # asked at every step
            self.memo["fro_bound"] = self.stats.fro * (1.0 + self.stats_pad())
        return self.memo["fro_bound"]

    @property
    def u_certificate(self) -> float:
        """Unit roundoff of the certifying product (§6c): double precision where the namespace has it."""
        if self.kind == "operator" or self.u < 1e-10 or not self._has_double():
            return self.u
        return _bounds.unit_roundoff(np.float64)

    def _has_double(self) -> bool:
        if self.kind != "dense":
            return True
        return namespace_dtype_name(self.backend.wide_dtype(self.data, False)) == "float64"

    # -------------------------------------------------------------- products with the effective operator
    def _scaled(self, f, X):
        if self._c1 is None:
            return f(self.data, X)
        return f(self.data, X * self._c1) * self._c2

    def matmat(self, X):
        """``Â X`` for ``X`` of shape ``batch + (n, k)``."""
        self.matvecs += X.shape[-1]
        f = self.backend.rmatmat if self.transposed else self.backend.matmat
        return self._scaled(f, X)

    def gram(self, X, *, with_image: bool = False):
        """``Â^H (Â X)`` (and ``Â X`` with ``with_image=True``), in one read of ``A`` where the backend fuses it."""
        if self._c1 is None:
            self.matvecs += 2 * X.shape[-1]
            Y, Z = self.backend.gram(self.data, X, None, adjoint=self.transposed)
        elif np.all(np.abs(self.scale_exp) < np.finfo(self.np_dtype).maxexp - 2):
            # Â^H Â X = c2 A^H (c1 c2 A (c1 X)): every intermediate stays in range
            self.matvecs += 2 * X.shape[-1]
            Y, Z = self.backend.gram(self.data, X * self._c1, self._c1 * self._c2, adjoint=self.transposed)
            Y, Z = Y * self._c2, Z * self._c2
        else:  # the factor c1 c2 itself is not representable (subnormal A): two separately scaled products
            Y = self.matmat(X)
            Z = self.rmatmat(Y)
        if self.adjoint_probe is not None:
            Yh = self.host_batch(Y)[0]
            self._check_adjoint(self.host_batch(X)[0], Yh, Yh, self.host_batch(Z)[0])
        return (Y, Z) if with_image else Z

    def _check_adjoint(self, P, AP, Q, AQ) -> None:
        """A LinearOperator's adjoint test (:meth:`spectra._linop.WorkingOperator.check_adjoint`) on products
        already taken: the ``Â``-pairs ``(P, Â P)``, with the scale probe's ``(x, Â x)`` added, against the
        ``Â^H``-pairs ``(Q, Â^H Q)`` (host arrays of one matrix)."""
        x, ax = self.adjoint_probe
        self.adjoint_probe = None
        ax = ax * np.ldexp(1.0, int(self.scale_exp[0]))  # the probe ran before the scale was chosen: exact
        P, AP = np.concatenate([x, P], axis=1), np.concatenate([ax, AP], axis=1)
        # Â = 2^e A, or 2^e A^H when transposed: then the Â^H-pairs are the A-pairs
        self.data.check_adjoint(*((Q, AQ, P, AP) if self.transposed else (P, AP, Q, AQ)))

    def settle_adjoint_check(self) -> None:
        """Run a pending adjoint test with one product of its own (for a caller that took no Gram step)."""
        if self.adjoint_probe is not None:
            w = np.random.default_rng(0x5EC8).standard_normal((1, self.m, 1)).astype(self.np_dtype)
            aw = self.host_batch(self.rmatmat(self.from_host(w)))[0]
            self._check_adjoint(np.zeros((self.n, 0), self.np_dtype), np.zeros((self.m, 0), self.np_dtype), w[0], aw)

    def rmatmat(self, Y):
        """``Â^H Y`` for ``Y`` of shape ``batch + (m, k)``."""
        self.matvecs += Y.shape[-1]
        f = self.backend.matmat if self.transposed else self.backend.rmatmat
        return self._scaled(f, Y)

    # -------------------------------------------------------------- host/device helpers
    def to_host(self, x) -> np.ndarray:
        return self.backend.to_host(x)

    def from_host(self, x: np.ndarray):
        """Host array with a leading flattened batch axis ``(B, ...)`` -> device ``batch + (...)``."""
        x = np.asarray(x, dtype=self.np_dtype)
        arr = x.reshape(self.batch_shape + x.shape[1:])
        return self.backend.from_host(arr, self.data)

    def host_batch(self, x) -> np.ndarray:
        """Device ``batch + (...)`` -> host ``(B, ...)``."""
        h = np.asarray(self.to_host(x))
        return h.reshape((self.B, *h.shape[len(self.batch_shape) :]))

    def col_norms(self, X) -> np.ndarray:
        """2-norms of the columns of ``X`` (``batch + (l, k)``) as a host ``(B, k)`` float64 array."""
        return self.host_norms(self.xp.linalg.vector_norm(X, axis=-2, keepdims=True))[0]

    def host_norms(self, *norms) -> list[np.ndarray]:
        """Device norms, each ``batch + (1, k_i)`` in one real dtype, as host float64 ``(B, k_i)`` arrays.

        All of them travel in ONE device-to-host transfer (the methods' one synchronisation per iteration).
        """
        xp = self.xp
        widths = [int(x.shape[-1]) for x in norms]
        both = norms[0] if len(norms) == 1 else xp.concat(list(norms), axis=-1)
        out = self.host_batch(both).astype(np.float64).reshape(self.B, sum(widths))
        self.check_norms(out)
        return np.split(out, np.cumsum(widths)[:-1], axis=1)

    def check_norms(self, out: np.ndarray) -> None:
        """Raise on non-finite norms of products (``check_finite=True``)."""
        if not self.check_finite:
            return
        if out.size == 1 and out.dtype == np.float64:  # one norm (a Lanczos step): no array reduction
            finite = math.isfinite(out.flat[0])
        else:
            finite = bool(np.all(np.isfinite(out)))
        if not finite:
            raise ValueError(
                "the products with A produced non-finite values (an entry or the LinearOperator returned "
                "NaN or Inf); check A, or pass check_finite=False to skip this check"
            )

    def inverse(self, nrm):
        """``1 / nrm`` on the device, ``0`` where ``nrm`` is 0 (no host round trip)."""
        xp = self.xp
        pos = nrm > 0
        return xp.where(pos, 1.0 / xp.where(pos, nrm, xp.ones_like(nrm)), xp.zeros_like(nrm))

    def random(self, rng: np.random.Generator, k: int, side: str = "right") -> np.ndarray:
        """Standard (complex) Gaussian block on the host, shape ``(B, n or m, k)``, ``E|w|^2 = 1``."""
        rows = self.n if side == "right" else self.m
        g = rng.standard_normal((self.B, rows, k))
        if self.is_complex:
            g = (g + 1j * rng.standard_normal((self.B, rows, k))) / math.sqrt(2.0)
        return g

    # -------------------------------------------------------------- certification (docs/bounds.md §6c)
    def certified_lower(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Rounding-safe lower bound and plain estimate of ``||Â x|| / ||x||`` for ``X`` (``batch + (n, 1)``).

        Single-precision dense and sparse inputs are multiplied in float64 here, so the certificate is
        not limited by float32 rounding. For a LinearOperator the bound holds up to the rounding
        error of its own matvec.
        """
        u_prod = self.u_certificate
        if u_prod == self.u:  # already double precision, or no double precision in the namespace
            Y = self.matmat(X)
            Xd = X
        else:  # single precision: one product in double precision
            self.matvecs += 1
            Xd, Y = self._double_product(X)
        ny = self.col_norms(Y)[:, 0]
        nx = self.col_norms(Xd)[:, 0]
        err = 0.0
        if self.stats is not None:
            p = self.stats.p_col if self.transposed else self.stats.p_row
            err = _bounds.gamma(max(p, 1), u_prod) * self.fro_bound() * nx
        with np.errstate(divide="ignore", invalid="ignore"):
            estimate = np.where(nx > 0, ny / np.where(nx > 0, nx, 1.0), 0.0)
        return _bounds.certified_product_lower(ny, nx, err, self.m, self.n, u_prod), estimate

    def _double_product(self, X):
        xp = self.xp
        wide = xp.complex128 if self.is_complex else xp.float64
        Xd = xp.astype(X, wide)
        c1, c2 = self.split_scale
        if self.kind == "dense":
            c1 = self.backend.from_host(c1.reshape((*self.batch_shape, 1, 1)), Xd)
            c2 = self.backend.from_host(c2.reshape((*self.batch_shape, 1, 1)), Xd)
        else:
            c1, c2 = float(c1[0]), float(c2[0])
        if self.kind == "sparse":
            A = self.data.astype(np.complex128 if self.is_complex else np.float64)
            f = self.backend.rmatmat if self.transposed else self.backend.matmat
            return Xd, f(A, Xd * c1) * c2
        Xd = Xd * c1
        Y = self.backend.wide_product(self.data, Xd, self.transposed)
        return Xd / c1, Y * c2


def _scale_exponent(maxabs: np.ndarray, real_itemsize: int) -> np.ndarray:
    """Per-matrix exponent ``-e`` so that ``2^-e max|a_ij|`` lies in [1/2, 1), or 0 when no scaling is needed."""
    safe = _SAFE_EXPONENT.get(real_itemsize, 20)
    ok = np.isfinite(maxabs) & (maxabs > 0)
    _, e = np.frexp(np.where(ok, maxabs, 1.0))
    need = ok & ((maxabs > 2.0**safe) | (maxabs < 2.0**-safe))
    return np.where(need, -e, 0).astype(np.int64)


def _operator_scale_exponent(op: Operand, check_adjoint: bool) -> np.ndarray:
    """Scale of a matrix-free operator from one product with a fixed vector (counted in ``matvecs``).

    Entries are unknown, so ``||A x|| / ||x||`` for a fixed pseudo-random ``x`` (independent of the
    caller's seed and of every random draw behind the bounds) sets the power of two. The pair ``(x, A x)``
    is kept for the test that ``rmatvec`` is the adjoint of ``matvec`` (:mod:`spectra._linop`), which runs
    with the method's first Gram step (:meth:`Operand.gram`) and costs no product of its own.
    """
    rng = np.random.default_rng(0x5EC7)
    x = rng.standard_normal((op.n, 1)).astype(op.np_dtype)
    try:
        Ax = op.host_batch(op.matmat(op.from_host(x[None])))
    except NonFiniteProduct:  # raised by every product of an operator (backends.numpy.operator_product)
        if op.check_finite:
            raise
        return None
    if check_adjoint and hasattr(op.data, "check_adjoint"):
        op.adjoint_probe = (x, Ax[0])
    y = np.abs(Ax.astype(np.complex128 if op.is_complex else np.float64))
    if not np.all(np.isfinite(y)):  # a product of another kind of operand, or a complex modulus past float64
        if op.check_finite:
            raise NonFiniteProduct()
        return None
    top = float(np.max(y)) if y.size else 0.0
    if top == 0.0:
        return np.zeros(1, dtype=np.int64)
    nu = top * float(np.linalg.norm(y / top)) / float(np.linalg.norm(x))
    real_itemsize = op.np_dtype.itemsize // (2 if op.is_complex else 1)
    return _scale_exponent(np.array([nu]), real_itemsize)


def stored_bytes(A) -> int:
    """Bytes of the entries (and index arrays) of a NumPy array or SciPy sparse matrix."""
    if hasattr(A, "indptr"):
        return int(A.data.nbytes + A.indices.nbytes + A.indptr.nbytes)
    return int(A.nbytes)


def _long_side_affordable(A, long_side: int, short_side: int) -> bool:
    """Whether a basis on the long side costs at most ``A``'s own memory more than one on the short side.

    A fused Gram pass reads ``A`` once instead of twice, but puts the basis (up to
    :data:`LONG_SIDE_VECTORS` vectors, and every vector operation) on its side. On the long side that
    pays only when ``A`` is large against the extra basis: square-ish or dense matrices with a short side
    of at least ``LONG_SIDE_VECTORS``, never hypersparse ones.
    """
    itemsize = np.dtype(A.dtype).itemsize
    k_long, k_short = min(long_side, LONG_SIDE_VECTORS), min(short_side, LONG_SIDE_VECTORS)
    return (long_side * k_long - short_side * k_short) * itemsize <= stored_bytes(A)


#: the plan's reasons for the Gram side (:func:`gram_side`), the same words whichever backend runs: the smaller
#: side (whether or not the backend fuses its Gram pass), the backend's one-read side where it is the other
#: one, or the smaller side where a basis on that other side would cost more memory than ``A``
SMALLER_SIDE = "smaller side"
FUSED_SIDE = "one read of A per step"
LONG_SIDE_TOO_LARGE = "smaller side: a basis on the long side would outweigh A"


def gram_side(A, kind: str, backend, *, uses_gram: bool) -> tuple[bool, str]:
    """The side the methods work on: ``(transposed, reason)`` (``transposed``: on ``A^H``, Gram ``A A^H``).

    The smaller side, unless the backend reads ``A`` once for the Gram product of the other side and a
    basis on that side costs no more memory than ``A`` itself (docs/design.md, "Memory"). The reason is
    :data:`SMALLER_SIDE`, :data:`FUSED_SIDE` or :data:`LONG_SIDE_TOO_LARGE`: the same decision reads the same
    on every backend.
    """
    m0, n0 = int(A.shape[-2]), int(A.shape[-1])
    smaller = m0 < n0
    fused = backend.fused_gram_adjoint(A) if kind != "operator" and uses_gram else None
    if fused is None or fused == smaller:  # the smaller side, read once or twice per step
        return smaller, SMALLER_SIDE
    if not _long_side_affordable(A, max(m0, n0), min(m0, n0)):
        return smaller, LONG_SIDE_TOO_LARGE
    return fused, FUSED_SIDE


def make_operand(
    A,
    kind: str,
    backend,
    *,
    check_finite: bool,
    uses_gram: bool = True,
    transposed: bool | None = None,
    check_adjoint: bool = True,
    entry_statistics: bool = True,
) -> Operand:
    """Wrap a validated input (see :mod:`spectra._validate`) for the methods.

    ``entry_statistics=False``: only ``max |a_ij|`` is read (scale, finiteness, zero matrices), not the
    :class:`AbsStats` of the deterministic caps, which the SVD does not use (on a 10⁷ × 2 matrix they took
    1.78 s of a 2.24 s call; ``stats`` is then ``None``).
    ``uses_gram``: the method iterates with the Gram product, so a backend's fused side is preferred.
    ``transposed``: the side chosen by the plan (:mod:`spectra._plan`); ``None`` chooses it here the same way.
    ``check_adjoint``: test a LinearOperator's ``rmatvec`` against its ``matvec`` (see :meth:`Operand.gram`).
    """
    if kind == "dense":
        xp = backend.dense_namespace(A)
        dtype = A.dtype
        np_dtype = np.dtype(namespace_dtype_name(dtype))
        batch = tuple(A.shape[:-2])
    else:
        xp = backend.vector_namespace(A)
        dtype = np.dtype(A.dtype)
        np_dtype = dtype
        batch = ()
    m0, n0 = int(A.shape[-2]), int(A.shape[-1])
    if transposed is None:
        transposed, _ = gram_side(A, kind, backend, uses_gram=uses_gram)
    m, n = (n0, m0) if transposed else (m0, n0)
    B = int(np.prod(batch)) if batch else 1
    stats = None
    scale_exp = np.zeros(B, dtype=np.int64)
    if kind != "operator" and m0 * n0 > 0:
        maxabs, unit_stats = backend.entry_stats(A)
        if check_finite and not np.all(np.isfinite(maxabs)):
            raise ValueError(
                f"{NONFINITE}; clean the input, or pass check_finite=False to skip this check " + _UNDEFINED
            )
        if np.all(np.isfinite(maxabs)):
            real_itemsize = np_dtype.itemsize // (2 if np_dtype.kind == "c" else 1)
            scale_exp = _scale_exponent(maxabs, real_itemsize)
            e = scale_exp
            if unit_stats is not None and not np.any(e):  # read with max_abs, at the scale 1 needed here
                stats = unit_stats
            elif entry_statistics:
                stats = backend.abs_stats(A, np.ldexp(1.0, e // 2), np.ldexp(1.0, e - e // 2))
    op = Operand(backend, A, kind, m, n, batch, transposed, dtype, np_dtype, xp, scale_exp, stats, check_finite)
    if kind != "operator" and m0 * n0 > 0:
        op.max_abs = np.asarray(maxabs, dtype=np.float64).reshape(-1)
        op.nonfinite = not np.all(np.isfinite(op.max_abs))
    if kind == "operator" and m * n > 0:
        op.scale_exp = scale_exp = _operator_scale_exponent(op, check_adjoint)
        op.nonfinite = scale_exp is None
        if op.nonfinite:
            op.scale_exp = scale_exp = np.zeros(1, dtype=np.int64)
    if np.any(scale_exp != 0):
        c1, c2 = op.split_scale
        if kind == "dense":
            shape = (*batch, 1, 1)
            op._c1 = xp.astype(backend.from_host(c1.reshape(shape), A), dtype)
            op._c2 = xp.astype(backend.from_host(c2.reshape(shape), A), dtype)
        else:
            op._c1, op._c2 = float(c1[0]), float(c2[0])
    return op
