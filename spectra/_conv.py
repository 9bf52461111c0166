"""``spectra.conv_norm``: the operator norm of a convolution layer, with a certified interval.

- Circular padding, stride 1, output shape = input shape: the layer is a block circulant, unitarily
  block-diagonalised by the DFT (Sedghi, Gupta & Long, ICLR 2019): ``||conv||_2 = max_f ||K̂(f)||_2`` with one
  ``c_out × c_in`` matrix ``K̂(f) = Σ_j w_j exp(-2πi f·p_j / N)`` per frequency (per group). The stack of
  ``K̂(f)`` goes through :func:`spectra.norm`'s stack path; the interval adds the rounding of the DFT sums
  (docs/bounds.md §11). Confidence 1.
- Every other layer (zero/reflect/replicate padding, stride > 1, circular with another output shape): an
  interval from :func:`spectra.norm` (``lanczos`` by default) on the layer as a matrix-free operator (the
  convolution and its adjoint, the transposed convolution, are the two products), capped by the deterministic
  **circular-embedding bound**: the valid convolution on the padded input (length ``n + lo + hi`` per axis) is a
  set of rows of the circulant on that grid, so ``||conv|| <= ||P||_2 · max_f ||K̂(f)||_2`` with ``||P||_2`` the
  norm of the padding (1 for zeros). For circular padding the layer is a set of rows of the circulant on the
  input grid, each repeated at most ``r`` times: ``||conv|| <= sqrt(r) · max_f ||K̂(f)||``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal, TypeAlias

import numpy as np

from . import _bounds
from ._conv_geometry import ConvGeometry, conv_geometry, transposed_input_shape, transposed_padding
from ._conv_ops import conv_operator, is_torch
from ._conv_plan import DFT, EMBEDDING, ConvPlan, embedding_text, frequency_text, not_circulant_text, work_text
from ._host_view import tensor_to_numpy
from ._plan import AUTO_SVD_MAX_WORK  # method="auto" materialises layers up to this work and takes the SVD
from ._result import NormEstimate, zero_matrix_vectors
from ._validate import validate_solver_options, validate_v0
from .methods._common import relative_widths, width_rtol

__all__ = ["CONV_METHODS", "FREQUENCY_METHOD", "circulant_norm", "conv_norm"]

#: how the per-frequency ``c_out × c_in`` matrices are normed (any method of ``spectra.norm`` that takes a stack)
FREQUENCY_METHOD = "svd"
CONV_METHODS = ("auto", "fft", "svd", "lanczos", "power", "randomized")
#: the ``method`` values :func:`conv_norm` takes (the tuple above, for type checkers)
ConvMethod: TypeAlias = Literal["auto", "fft", "svd", "lanczos", "power", "randomized"]
#: one value for every spatial axis, or one per axis (PyTorch's convention for stride, dilation, ...)
PerAxis: TypeAlias = int | Sequence[int]
#: Lanczos steps (at most) behind the lower bound that goes with the deterministic (DFT) upper bound
LOWER_STEPS = 30
#: bytes of complex per-frequency matrices handled at once
_CHUNK_BYTES = 64 << 20


def _dft_rounding(kernel) -> float:
    """Relative error ``eta`` of one computed entry of ``K̂(f)``: ``|fl(K̂) - K̂| <= eta · Σ_j |w_j|`` (§11).

    Each phase ``exp(-2πi r/N)`` (``r = f·p mod N`` exact in integers) is within ``32 u`` of its value (``2π r/N``
    carries three roundings, ``cos``/``sin`` one ulp each); each of the ``d`` successive sums over ``k_a`` taps
    adds ``γ_{2 k_a + 4}`` (complex products and sums, Higham §3.6). The constant is generous on purpose.
    """
    u = _bounds.unit_roundoff(np.float64)
    return float(_bounds.gamma(4 * sum(kernel) + 32 * len(kernel) + 8, u))


def _phases(n: int, k: int, dilation: int, half: bool) -> np.ndarray:
    f = np.arange(n // 2 + 1 if half else n)
    pos = (dilation * np.arange(k)) % n
    r = (f[:, None] * pos[None, :]) % n  # exact integers: the angle has only the roundings of 2π r / n
    return np.exp(-2j * np.pi * r / n)


def circulant_norm(weight: np.ndarray, grid: tuple[int, ...], dilation, groups: int) -> tuple[float, float, float]:
    """``(lower, value, upper)`` of the norm of the block circulant of ``weight`` on ``grid`` (confidence 1).

    ``weight`` is a host float64 array ``(c_out, c_in / groups, *kernel)``; taps sit at ``dilation · j mod N``.
    """
    return _circulant_top(weight, grid, dilation, groups)[:3]


def _circulant_top(weight, grid, dilation, groups: int) -> tuple[float, float, float, tuple[int, ...]]:
    """:func:`circulant_norm` and where its largest value sits: ``(lower, value, upper, (g, f_1, ..., f_d))``,
    the group and the frequency (the last axis on its half spectrum ``0 .. N_d // 2``)."""
    from ._api import norm

    w = np.asarray(weight, dtype=np.float64)
    # the layer's norm is homogeneous: work with the largest tap in [1/2, 1), so that the rounding term's sums of
    # squares neither overflow (taps from ~1e154 on made the upper bound inf) nor underflow; taps that the
    # scaling takes below float64's range are off by at most 2^-1075 each, covered by ``w.size * 2^-1074``
    big = float(np.max(np.abs(w))) if w.size else 0.0
    shift = math.frexp(big)[1] if big > 0 else 0
    w = np.ldexp(w, -shift)
    G = groups
    c_out, ci = w.shape[:2]
    co = c_out // G
    kernel = w.shape[2:]
    d = len(kernel)
    E = [_phases(n, k, dl, half=(a == d - 1)) for a, (n, k, dl) in enumerate(zip(grid, kernel, dilation, strict=True))]
    S = np.abs(w).reshape(c_out, ci, -1).sum(axis=2).reshape(G, co, ci)
    fro_S = float(np.max(np.sqrt(np.sum(S * S, axis=(1, 2)))))
    err = _dft_rounding(kernel) * fro_S * (1.0 + 1e-12) + (w.size * 2.0**-1074 if shift > 0 else 0.0)
    per_row = max(1, math.prod(e.shape[0] for e in E[1:]) * c_out * ci * 16)
    rows = max(1, _CHUNK_BYTES // per_row)
    lower = value = upper = 0.0
    top: tuple[int, ...] = (0,) * (d + 1)
    for r0 in range(0, E[0].shape[0], rows):
        K = np.tensordot(w, E[0][r0 : r0 + rows], axes=([2], [1]))
        for e in E[1:]:
            K = np.tensordot(K, e, axes=([2], [1]))
        # (c_out, ci, F1, ..., Fd) -> (G * F, co, ci)
        freqs = K.shape[2:]
        K = K.reshape(G, co, ci, -1)
        K = np.ascontiguousarray(np.moveaxis(K, 3, 1)).reshape(-1, co, ci)
        r = norm(K, method=FREQUENCY_METHOD)
        lower = max(lower, float(np.max(r.lower)))
        if float(np.max(r.value)) > value or r0 == 0:
            value = float(np.max(r.value))
            g, *f = np.unravel_index(int(np.argmax(r.value)), (G, *freqs))
            top = (int(g), int(f[0]) + r0, *map(int, f[1:]))
        upper = max(upper, float(np.max(r.upper)))
    lower, value, upper = (
        float(_bounds.scale_by_power_of_two(x, shift, outward))
        for x, outward in ((max(lower - err, 0.0), -1), (value, 0), (upper + err, 1))
    )
    return lower, value, upper, top


def circulant_vectors(weight: np.ndarray, geom: ConvGeometry, top: tuple[int, ...], A) -> tuple[np.ndarray, ...]:
    """Real top singular vectors ``(u, v)`` of a circulant layer (:attr:`ConvGeometry.circular_exact`) from the top
    singular vectors of ``K̂(f)`` at its largest frequency ``top = (g, f_1, ..., f_d)`` (:func:`_circulant_top`).

    With ``K̂(f) b = σ a``, the input ``x[c, q] = b_c exp(-2πi f·q / N)`` on the channels of group ``g`` has the
    image ``exp(-2πi f·(p - shift) / N) σ a``: ``||A x|| = σ ||x||``. ``A`` is real, so the real and imaginary
    parts of ``x`` lie in the same invariant subspace of ``AᵀA``; ``v`` is the larger of the two, normalised,
    and ``u = A v / ||A v||`` (``A``: the layer as a linear operator).
    """
    w = np.asarray(weight, dtype=np.float64)
    g, f = top[0], top[1:]
    co, ci = w.shape[0] // geom.groups, w.shape[1]
    K = w[g * co : (g + 1) * co]
    for n, k, dl, fa in zip(geom.spatial, w.shape[2:], geom.dilation, f, strict=True):
        K = np.tensordot(K, _phases(n, k, dl, half=False)[fa], axes=([2], [0]))
    b = np.linalg.svd(K)[2][0].conj()
    x = np.zeros((geom.c_in, *geom.spatial), dtype=complex)
    wave = np.ones((), dtype=complex)
    for n, fa in zip(geom.spatial, f, strict=True):
        wave = np.multiply.outer(wave, np.exp(-2j * np.pi * ((fa * np.arange(n)) % n) / n))
    x[g * ci : (g + 1) * ci] = np.multiply.outer(b, wave)
    x = x.reshape(-1)
    v = x.real if np.linalg.norm(x.real) >= np.linalg.norm(x.imag) else x.imag
    v = v / np.linalg.norm(v)
    u = np.asarray(A.matvec(v), dtype=np.float64).reshape(-1)
    return u / np.linalg.norm(u), v


def _exact_floor(rtol: float, lower: float, upper: float) -> float:
    """``rtol_effective`` of an interval nothing can narrow (the DFT's or LAPACK's rounding interval): ``rtol``,
    raised to the interval's width (padded so that ``converged`` means ``upper <= (1 + it) lower`` as computed)."""
    return max(rtol, width_rtol(float(relative_widths(lower, upper))))


def _host_weight(weight) -> np.ndarray:
    if is_torch(weight):
        return weight.detach().cpu().to(dtype=__import__("torch").float64).numpy()
    w = np.asarray(weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"weight must be a real array, got dtype {w.dtype}")
    return w.astype(np.float64)


def deterministic_upper(weight64: np.ndarray, geom: ConvGeometry) -> tuple[float, float, float, bool]:
    """``(lower, value, upper, exact)`` from the circulant: exact for :attr:`ConvGeometry.circular_exact`,
    else ``upper`` is the circular-embedding bound and ``lower``/``value`` are not bounds of the layer."""
    return _deterministic(weight64, geom)[:4]


def _deterministic(weight64: np.ndarray, geom: ConvGeometry) -> tuple[float, float, float, bool, tuple[int, ...]]:
    """:func:`deterministic_upper` and the circulant's top frequency (:func:`_circulant_top`)."""
    if geom.mode == "circular":
        lo, val, up, top = _circulant_top(weight64, geom.spatial, geom.dilation, geom.groups)
        exact = geom.circular_exact
        mult = 1 if exact else geom.circular_row_multiplicity()
        return lo, val, up * math.sqrt(mult) * (1.0 + 4e-16), exact, top
    lo, val, up, top = _circulant_top(weight64, geom.padded, geom.dilation, geom.groups)
    return lo, val, up * geom.pad_norm() * (1.0 + 4e-16), False, top


def conv_norm(
    weight: Any,
    input_shape: Sequence[int],
    *,
    stride: PerAxis = 1,
    padding: PerAxis | str = 0,
    padding_mode: str = "zeros",
    dilation: PerAxis = 1,
    groups: int = 1,
    method: ConvMethod = "auto",
    rtol: float = 1e-6,
    confidence: float = 0.999,
    maxiter: int | None = None,
    seed: Any = None,
    v0: Any = None,
    return_vectors: bool = False,
    transposed: bool = False,
    output_padding: PerAxis = 0,
    certify: bool | None = None,
) -> NormEstimate:
    """Operator norm ``||conv||_2`` of a convolution layer on inputs of a given shape, with a certified interval.

    The layer is PyTorch's ``torch.nn.Conv1d``/``Conv2d``/``Conv3d`` (a cross-correlation) with the same
    arguments: it maps ``x`` of shape ``(c_in, *spatial)`` to ``(c_out, *out)``. Its operator norm is the
    Lipschitz constant of the layer in the l2 norm, which differs from the norm of the reshaped
    ``c_out × (c_in k_1 k_2)`` kernel that PyTorch's ``spectral_norm`` uses (either way round).

    Parameters
    ----------
    weight : numpy.ndarray or torch.Tensor
        Real kernel of shape ``(c_out, c_in / groups, *kernel)`` with 1 to 3 spatial axes. Never modified.
        A torch kernel is applied with ``torch.nn.functional`` on its device (in float64); a NumPy kernel with
        NumPy (float64).
    input_shape : tuple of int
        Spatial shape of the input, or ``(c_in, *spatial)`` or ``(batch, c_in, *spatial)``.
    stride : int or tuple of int
        As in ``torch.nn.Conv2d``: an int or one int per spatial axis.
    padding : int, tuple or str
        As in ``torch.nn.Conv2d``: an int, one int per spatial axis, ``"valid"``, ``"same"``, or one
        ``(before, after)`` pair per axis.
    padding_mode : {"zeros", "circular", "reflect", "replicate"}
        As in ``torch.nn.Conv2d``.
    dilation : int or tuple of int
        As in ``torch.nn.Conv2d``.
    groups : int
        As in ``torch.nn.Conv2d``.
    method : {"auto", "fft", "svd", "lanczos", "power", "randomized"}
        ``"auto"``: the exact DFT block-diagonalisation when the layer is a circulant (circular padding,
        stride 1, output shape = input shape); else, for small layers (``n_out n_in min(n_out, n_in) <= 1e8``,
        ``n = c · prod(spatial)``), ``"svd"``: the layer materialised by one batched product with the unit
        vectors, and LAPACK (confidence 1); else the circular-embedding upper bound when it lies within
        ``rtol`` of the lower bound of a short Lanczos run (at most 30 steps, stopped on its residual;
        confidence 1), else ``"lanczos"`` on the layer as an operator, capped by the circular-embedding bound.
        ``"fft"``: deterministic only: the DFT result (exact) or the circular-embedding upper bound, with the
        lower bound of that short Lanczos run (confidence 1).
        Others: that method of :func:`spectra.norm` on the operator, capped by the embedding bound.
    rtol : float
        As in :func:`spectra.norm`: a positive finite float, checked on every route.
    confidence : float
        As in :func:`spectra.norm`: in ``(0, 1)``, checked on every route; used by the iterative methods.
    maxiter : int or None
        As in :func:`spectra.norm` for the iterative methods; refused with ``method="svd"``.
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        As in :func:`spectra.norm` for the iterative methods.
    v0 : array_like or None
        Warm start of the iterative methods: a flat vector of the input (``c_in · prod(spatial)`` entries,
        channel-major); refused with ``method="svd"``.
    return_vectors : bool
        Fill ``u`` (output, ``c_out · prod(out)`` entries) and ``v`` (input), flat channel-major float64 NumPy
        vectors, on every route, with the contract of :class:`NormEstimate` (unit vectors, ``u = A v / ||A v||``
        or ``v = Aᵀu / ||Aᵀu||``): from LAPACK for ``"svd"``; for the DFT result the real part (or imaginary
        part, the larger) of ``b ⊗ exp(-2πi f·q / N)`` with ``b`` the top right singular vector of ``K̂(f)`` at
        the largest frequency, and ``u = A v / ||A v||`` (one product); for the circular-embedding route the
        Ritz vectors of its short Lanczos run; else the iterative method's. The first standard basis vectors
        for a zero kernel (as :func:`spectra.norm` for a zero matrix).
    transposed : bool
        ``True`` for ``torch.nn.ConvTranspose1d/2d/3d`` (weight ``(c_in, c_out / groups, *kernel)``, zero
        padding, ``output_padding`` below the stride or the dilation): the layer is the adjoint of the
        convolution with the same weight and arguments on its output shape (restricted to its first outputs
        where ``output_padding >= stride``), so it has the same norm, computed on that convolution (``v0``,
        ``u``, ``v`` then refer to it: ``v`` lives in the transposed layer's output).
    output_padding : int or tuple of int
        As in ``torch.nn.ConvTranspose2d`` (only with ``transposed=True``).
    certify : bool or None
        As in :func:`spectra.norm`, for ``"lanczos"``, ``"power"`` and ``"randomized"`` asked for by name.

    Returns
    -------
    NormEstimate
        ``method`` names the route that gave the interval: ``"fft"`` for the DFT result and for the
        circular-embedding bound with a Lanczos lower bound, ``"svd"`` for a materialised layer (and a zero
        kernel), else the iterative method; ``confidence`` is 1.0 whenever
        the reported upper bound is a deterministic one (DFT, embedding bound). ``rtol_effective`` is ``rtol``,
        raised to the width of the interval where nothing can narrow it (the DFT's or LAPACK's rounding
        interval) or to what the iterative method could certify. ``plan`` names what gave each bound and why
        that route was taken: its public part is ``str(plan)`` (the type itself is private).

    Raises
    ------
    ValueError
        Shapes, padding or arguments that ``torch.nn.Conv2d`` would refuse (the message names the parameter);
        a weight that contains NaN or Inf ("weight contains NaN or Inf"); an unknown ``method``; solver options
        out of range, as :func:`spectra.norm` (``rtol``, ``confidence``, ``maxiter``, a ``v0`` of the wrong
        shape; ``maxiter`` or ``v0`` with ``method="svd"``), checked on every route.
    TypeError
        A complex or non-numeric weight; solver options of the wrong type, as :func:`spectra.norm` (``seed``,
        ``certify``, ``return_vectors``, a non-numeric ``v0``).

    Warns
    -----
    ConvergenceWarning
        As :func:`spectra.norm`, on the routes that run an iterative method.

    Notes
    -----
    The formulas and their rounding analysis are in docs/bounds.md §11. Sources: H. Sedghi, V. Gupta,
    P. M. Long, *The singular values of convolutional layers*, ICLR 2019 (circulant case); the embedding of a
    zero-padded layer in the circulant on the padded grid is the argument of B. Delattre, Q. Barthélemy,
    A. Allauzen, *Spectral norm of convolutional layers with circular and zero paddings*, arXiv 2402.00240.

    Examples
    --------
    >>> import numpy as np, spectra
    >>> w = np.random.default_rng(0).standard_normal((4, 3, 3, 3))
    >>> r = spectra.conv_norm(w, (16, 16), padding=1, padding_mode="circular")
    >>> r.method, r.confidence, r.upper / r.lower < 1 + 1e-12
    ('fft', 1.0, True)
    >>> z = spectra.conv_norm(w, (16, 16), padding=1, seed=0)   # zero padding: lanczos, capped by the embedding
    >>> bool(z.upper <= r.upper * 1.0000001)  # the circulant on the 18 x 18 grid bounds it; here 16 x 16 ~ same
    True
    >>> r = spectra.conv_norm(w, (16, 16), padding=1, padding_mode="circular", return_vectors=True)
    >>> r.u.shape, r.v.shape   # (c_out · 16 · 16,), (c_in · 16 · 16,): the top singular pair of the DFT route
    ((1024,), (768,))
    """

    if not (hasattr(weight, "shape") and hasattr(weight, "dtype")):
        weight = np.asarray(weight)
    if is_torch(weight) and (weight.is_complex() or not weight.is_floating_point()):
        raise TypeError(f"weight must be a real floating tensor, got dtype {weight.dtype}")
    if transposed:
        if padding_mode != "zeros":
            raise ValueError(f"a transposed convolution pads with zeros only, got padding_mode={padding_mode!r}")
        input_shape = transposed_input_shape(
            weight.shape,
            input_shape,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            output_padding=output_padding,
        )
        padding = transposed_padding(len(weight.shape) - 2, padding, stride, output_padding)
    elif np.any(np.asarray(output_padding) != 0):
        raise ValueError("output_padding applies to transposed convolutions only (transposed=True)")
    geom = conv_geometry(
        weight.shape,
        input_shape,
        stride=stride,
        padding=padding,
        padding_mode=padding_mode,
        dilation=dilation,
        groups=groups,
        crop=bool(transposed),
    )
    return conv_norm_on(
        weight,
        geom,
        method=method,
        rtol=rtol,
        confidence=confidence,
        maxiter=maxiter,
        seed=seed,
        v0=v0,
        return_vectors=return_vectors,
        certify=certify,
    )


def check_options(
    method: str,
    *,
    rtol: Any,
    confidence: Any,
    maxiter: Any,
    seed: Any,
    v0: Any = None,
    n_in: int | None = None,
    return_vectors: Any = False,
    certify: Any = None,
) -> None:
    """Check :func:`conv_norm`'s options with :func:`spectra.norm`'s own checks, on every route (the DFT and SVD
    routes never call :func:`spectra.norm` with them); ``v0`` is checked only when ``n_in`` is known."""
    if not isinstance(method, str) or method not in CONV_METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, CONV_METHODS))}; got {method!r}")
    validate_solver_options(
        rtol=rtol, confidence=confidence, seed=seed, maxiter=maxiter, certify=certify, return_vectors=return_vectors
    )
    if method == "svd":
        for name, x in (("maxiter", maxiter), ("v0", v0)):
            if x is not None:
                raise ValueError(f"{name} does not apply to method='svd' (a direct method); remove it")
    if v0 is not None and n_in is not None:
        validate_v0(v0, (), n_in, _host_vector, complex_ok=False)


def _host_vector(x: Any) -> np.ndarray:
    return tensor_to_numpy(x) if is_torch(x) else np.asarray(x)


#: taps outside this range are scaled by a power of two first (:func:`_rescaled`)
_SAFE_TAPS = (2.0**-500, 2.0**500)


def _rescaled(weight, w64: np.ndarray, big: float, geom: ConvGeometry, options: dict) -> NormEstimate:
    """:func:`conv_norm_on` of a layer whose largest tap ``big`` lies outside :data:`_SAFE_TAPS`: run on the weight
    times ``2^-e`` (largest tap in ``[1/2, 1)``), then scale the interval back. The norm is homogeneous and a
    power of two is exact, except for taps the scaling takes below float64's range: each moves by at most
    ``2^-1075``, and the interval is widened by ``w.size * 2^-1074`` for them (a bound on the norm of that
    perturbation) before it is scaled back, outward (docs/bounds.md §6f). Without it the layer's products
    overflowed (taps near 1e307: "the LinearOperator returned NaN or Inf") or lost their digits below 1e-308.
    """
    shift = math.frexp(big)[1]
    scaled = np.ldexp(w64, -shift)
    if is_torch(weight):
        import torch

        scaled = torch.from_numpy(scaled)
    r = conv_norm_on(scaled, geom, **options)
    slack = w64.size * 2.0**-1074 if shift > 0 else 0.0
    lower, value, upper = (
        float(_bounds.scale_by_power_of_two(x, shift, outward))
        for x, outward in ((max(r.lower - slack, 0.0), -1), (r.value, 0), (r.upper + slack, 1))
    )
    return dataclasses.replace(r, value=min(max(value, lower), upper), lower=lower, upper=upper)


def conv_norm_on(
    weight: Any,
    geom: ConvGeometry,
    *,
    method: str = "auto",
    rtol: float = 1e-6,
    confidence: float = 0.999,
    maxiter: int | None = None,
    seed: Any = None,
    v0: Any = None,
    return_vectors: bool = False,
    certify: bool | None = None,
) -> NormEstimate:
    """:func:`conv_norm` on a validated :class:`ConvGeometry` (``spectra.torch.spectral_norm`` keeps one per layer,
    which for a ``ConvTransposeNd`` may crop its input, :func:`spectra._conv_geometry.transposed_padding`)."""
    from ._api import norm

    check_options(
        method,
        rtol=rtol,
        confidence=confidence,
        maxiter=maxiter,
        seed=seed,
        v0=v0,
        n_in=geom.n_in,
        return_vectors=return_vectors,
        certify=certify,
    )
    w64 = _host_weight(weight)
    if not np.all(np.isfinite(w64)):
        raise ValueError("weight contains NaN or Inf")
    big = float(np.max(np.abs(w64))) if w64.size else 0.0
    if big > 0.0 and not _SAFE_TAPS[0] <= big <= _SAFE_TAPS[1]:
        options = dict(method=method, rtol=rtol, confidence=confidence, maxiter=maxiter, seed=seed, v0=v0)
        return _rescaled(weight, w64, big, geom, dict(options, return_vectors=return_vectors, certify=certify))
    backend = "torch" if is_torch(weight) else "numpy"
    asked = "" if method == "auto" else f"{method} requested; "
    d_lo, d_val, d_up, exact, top = _deterministic(w64, geom)
    op = conv_operator(weight if backend == "torch" else w64, geom, float64=True)
    zero = w64.size == 0 or d_up == 0.0
    u = v = None
    if return_vectors and zero:  # as spectra.norm for a zero matrix
        u, v = zero_matrix_vectors((), geom.n_out, geom.n_in)
    if exact and method in ("auto", "fft"):
        plan = ConvPlan("fft", backend, DFT, DFT, asked + frequency_text(geom))
        floor = _exact_floor(rtol, d_lo, d_up)
        if return_vectors and not zero:
            u, v = circulant_vectors(w64, geom, top, op.as_linear_operator())
        matvecs = int(return_vectors and not zero)  # u = A v
        return NormEstimate(
            d_val, d_lo, d_up, 1.0, True, "fft", backend, 1, matvecs, u, v, rtol_effective=floor, plan=plan
        )
    if zero:
        shown = "fft" if method == "auto" else method  # the frequency bound that is 0 decides; "auto" is no method
        plan = ConvPlan(shown, backend, "exact", "exact", asked + "an empty or zero kernel: the norm is 0 exactly")
        return NormEstimate(0.0, 0.0, 0.0, 1.0, True, shown, backend, 0, 0, u, v, rtol_effective=rtol, plan=plan)
    A = op.as_linear_operator()
    small, size = work_text(geom, AUTO_SVD_MAX_WORK)
    not_circulant = not_circulant_text(geom)
    if method == "svd" or (method == "auto" and small):
        M = A.matmat(np.eye(geom.n_in))  # the layer as a dense matrix: one batched product with the unit vectors
        r = norm(M, method="svd", return_vectors=return_vectors)
        upper = min(r.upper, d_up)
        how = "materialised (one product with the unit vectors) for LAPACK"
        if method == "svd":  # asked for: the size test of "auto" decides nothing
            why = f"svd requested: the {geom.n_out}×{geom.n_in} layer {how}"
        else:
            why = f"{not_circulant}; {size}: {how}"
        plan = ConvPlan("svd", backend, "SVD" if r.upper <= d_up else EMBEDDING, "SVD", why, r.plan)
        floor = _exact_floor(rtol, r.lower, upper)
        n_in = geom.n_in
        return NormEstimate(
            r.value, r.lower, upper, 1.0, True, "svd", backend, 1, n_in, r.u, r.v, rtol_effective=floor, plan=plan
        )
    embedding = embedding_text(geom)
    if method in ("auto", "fft"):
        # the lower bound of Lanczos stopped on its residual (no random event is behind a lower bound): when
        # the deterministic upper bound is already within rtol of it, nothing probabilistic is needed
        pre = norm(
            A,
            method="lanczos",
            rtol=max(rtol, 1e-3),
            certify=False,
            maxiter=LOWER_STEPS,
            seed=seed,
            v0=v0,
            return_vectors=return_vectors,
        )
        lower = min(pre.lower, d_up)
        converged = d_up <= (1.0 + rtol) * lower
        if method == "fft" or converged:
            bound, lanczos = f"the {EMBEDDING} ({embedding})", f"the lower bound of {pre.iterations} Lanczos steps"
            if method == "fft":
                within = "within" if converged else "not within"
                why = f"fft requested; {not_circulant}, so the DFT gives {bound}, {within} rtol of {lanczos}"
            else:
                why = f"{not_circulant}; {size}: not materialised; {bound} is within rtol of {lanczos}"
            plan = ConvPlan("fft", backend, EMBEDDING, "lanczos", why, pre.plan)
            return NormEstimate(
                lower,
                lower,
                d_up,
                1.0,
                converged,
                "fft",
                backend,
                pre.iterations,
                pre.matvecs,
                pre.u,
                pre.v,
                rtol_effective=rtol,
                plan=plan,
            )
    iterative = "lanczos" if method == "auto" else method
    r = norm(
        A,
        method=iterative,
        rtol=rtol,
        confidence=confidence,
        maxiter=maxiter,
        seed=seed,
        v0=v0,
        return_vectors=return_vectors,
        certify=certify if method == iterative else None,
    )
    upper = min(r.upper, d_up)
    conf = 1.0 if d_up <= r.upper else r.confidence
    pre = (lower, pre.matvecs) if method == "auto" else (0.0, 0)
    lower = min(max(r.lower, pre[0]), upper)
    converged = r.converged or upper <= (1.0 + rtol) * lower
    value = min(max(r.value, lower), upper)
    matvecs = r.matvecs + pre[1]
    if method == "auto":
        why = (
            f"{not_circulant}; {size}: not materialised; the {EMBEDDING} ({embedding}) is not within rtol of a short "
            f"Lanczos run: {iterative} on the layer as an operator"
        )
    else:
        why = f"{asked}on the layer as an operator, capped by the {EMBEDDING} ({embedding})"
    plan = ConvPlan(iterative, backend, EMBEDDING if d_up <= r.upper else iterative, iterative, why, r.plan)
    floor = rtol if r.rtol_effective is None else max(rtol, r.rtol_effective)
    return NormEstimate(
        value,
        lower,
        upper,
        conf,
        converged,
        iterative,
        backend,
        r.iterations,
        matvecs,
        r.u,
        r.v,
        rtol_effective=floor,
        plan=plan,
    )
