"""``spectra.torch.spectral_norm``: spectral normalisation that divides by a certified upper bound.

The parametrization keeps, in buffers, the weight ``W_ref`` of the last full certificate and its certified upper
bound. Each training forward costs what PyTorch's costs (``n_power_iterations`` power steps with the persistent
``u``, ``v``) plus one pass over ``W`` for the drift bound (:mod:`spectra.torch._tracking`); the full certificate
is refreshed, warm-started from ``v``, only when the tracked bound exceeds ``(1 + tol)`` times the best lower
estimate. The design is in docs/design.md ("Convolution layers and the PyTorch integration").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .. import _bounds
from .._api import norm
from .._conv import CONV_METHODS, conv_norm_on, deterministic_upper
from .._conv_geometry import (
    ConvGeometry,
    _padding,
    conv_geometry,
    transposed_input_shape,
    transposed_output_padding,
    transposed_padding,
)
from .._conv_ops import TorchConv
from .._plan import AUTO_SVD_MAX_WORK
from .._validate import METHODS
from ._autocast import autocast_off, autocast_state, roundoff
from ._modules import CONV_TYPES, TRANSPOSED_TYPES, conv_arguments
from ._power import ldexp, times_pow2, unit, weight_exponent
from ._tracking import ConvDriftGeometry, drift_upper, reshaped_drift_upper, round_up_to, underflow_upper

__all__ = ["CertifiedSpectralNorm", "spectral_norm"]

#: Lanczos steps allowed for one refresh (an explicit budget: the bound is valid whatever it reaches)
REFRESH_MAXITER = 300
#: extra power steps tried before a full certificate, when the tracked bound has drifted from the lower estimate
CATCH_UP_STEPS = 4
#: power steps allowed to bring the estimate within tol/4 of the circular-embedding bound at a conv refresh
EMBEDDING_POWER_STEPS = 20
#: the buffers of the certificate's bookkeeping, kept in float64 whatever the module is cast to
_FLOAT64_STATE = ("_upper_ref", "_lower_ref", "_frob_ref", "_sigma", "_delta_spent")


class CertifiedSpectralNorm(nn.Module):
    """The parametrization registered by :func:`spectral_norm` (see there for the arguments).

    Usually built by :func:`spectral_norm`; the arguments are those of :func:`spectral_norm`, except ``conv``
    and ``dim`` (below).

    Parameters
    ----------
    weight : torch.Tensor
        The weight to normalise (real floating); its shape and device set the buffers.
    n_power_iterations : int
        Power steps per training forward (``>= 1``).
    dim : int
        Output dimension of the reshaped-matrix view (no ``None`` here: :func:`spectral_norm` resolves it).
    eps : float
        Floor of ``sigma`` (``> 0``), and of the norms of the power vectors once scaled by a power of two (their
        largest entry in ``[1/2, 1)``), so that only a zero vector meets it.
    conv : dict or None
        ``None``: the weight is normed as a reshaped matrix. Else the convolution's arguments, normed as an
        operator: ``stride``, ``padding``, ``padding_mode``, ``dilation``, ``groups`` (as ``torch.nn.Conv2d``
        holds them), plus ``transposed=True`` and ``output_padding`` for a ``ConvTransposeNd``.
    input_shape : sequence of int, optional
        ``(c_in, *spatial)`` of a convolution's input; else set by :meth:`set_input_shape` (the forward
        pre-hook that :func:`spectral_norm` registers calls it).
    tol : float
        Relative slack before a refresh, in ``(0, 1)``.
    method : str
        Method of the full certificates (see :func:`spectral_norm`).
    confidence : float
        Joint probability that every certificate holds, in ``(0, 1)``.

    Attributes
    ----------
    sigma : float
        The value the weight was last divided by: a certified upper bound of its operator norm. ``nan`` until
        the first forward call for a convolution registered without ``input_shape`` (its shape is not known
        before).
    confidence : float
        Probability that every certificate computed so far holds (union bound over the refreshes,
        ``1.0`` when all were deterministic).
    refreshes : int
        Full certificates computed so far.

    Raises
    ------
    TypeError
        A complex or non-floating weight.
    IndexError
        ``dim`` outside ``[-weight.ndim, weight.ndim - 1]``.
    ValueError
        ``n_power_iterations < 1``; ``eps`` not positive; ``tol`` or ``confidence`` outside ``(0, 1)``; a
        ``method`` that does not apply to this weight (see :func:`spectral_norm`).

    Examples
    --------
    >>> import torch, spectra.torch as st
    >>> _ = torch.manual_seed(0)
    >>> conv = st.spectral_norm(torch.nn.Conv2d(2, 3, 3, padding=1))  # no input_shape: shaped lazily
    >>> p = conv.parametrizations.weight[0]
    >>> p.sigma   # nothing certified before the first forward call
    nan
    >>> _ = conv(torch.randn(1, 2, 8, 8))
    >>> p.sigma > 0, p.refreshes, p.conv_input_shape((2, 8, 8))
    (True, 1, (2, 8, 8))
    """

    def __init__(
        self,
        weight: torch.Tensor,
        *,
        n_power_iterations: int = 1,
        dim: int = 0,
        eps: float = 1e-12,
        conv: dict | None = None,
        input_shape: Sequence[int] | None = None,
        tol: float = 0.02,
        method: str = "auto",
        confidence: float = 0.999,
    ) -> None:
        super().__init__()
        if weight.is_complex():
            raise TypeError(
                f"the certified spectral_norm takes real floating weights, not {weight.dtype}: complex weights are "
                "not supported (spectra.norm certifies a complex matrix; PyTorch's uncertified "
                "torch.nn.utils.parametrizations.spectral_norm normalises one)"
            )
        if not weight.is_floating_point():
            raise TypeError(
                f"the certified spectral_norm takes real floating weights, not {weight.dtype}: convert the layer "
                "to a floating dtype (e.g. module.float()) first"
            )
        ndim = weight.ndim
        if not -ndim <= dim < max(ndim, 1):
            raise IndexError(f"dim must lie in [-{ndim}, {ndim - 1}], got {dim}")
        if n_power_iterations <= 0:
            raise ValueError(f"n_power_iterations must be positive, got {n_power_iterations}")
        if not (isinstance(tol, float | int) and 0 < tol < 1):
            raise ValueError(f"tol must be a float in (0, 1), e.g. 0.02; got {tol!r}")
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
        if isinstance(eps, bool) or not isinstance(eps, float | int) or not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a positive float (PyTorch's default is 1e-12), got {eps!r}")
        _check_method(method, conv is not None and ndim > 1)
        self.dim = dim % ndim if ndim else 0
        self.eps = float(eps)
        self.n_power_iterations = int(n_power_iterations)
        self.tol = float(tol)
        self.method = method
        self.delta = 1.0 - float(confidence)
        # None (matrix) or the ConvNd arguments: the operator norm of the convolution; a ConvTransposeNd is
        # normed as the adjoint convolution (same weight, same arguments, on its output shape)
        conv = None if conv is None else dict(conv)
        self._output_padding = conv.pop("output_padding", None) if conv and conv.pop("transposed", False) else None
        self.conv = conv
        self._geom: ConvGeometry | None = None
        self._drift_geom: ConvDriftGeometry | None = None
        self._op: TorchConv | None = None
        self._power_lower = 0.0  # u^H W v after the last power step (an estimate from below; not certified)
        seed = _new_seed()
        kw = dict(dtype=torch.float64, device=weight.device)
        # set by loading a PyTorch spectral_norm checkpoint, by a cast to another dtype, and on the meta device
        # (a weight without values: the first forward call with values certifies them)
        self._recertify = weight.is_meta
        self._fresh_vectors = False  # u, v hold no power iterates (materialised from the meta device)
        # buffers are normal tensors even when the parametrization is registered under torch.inference_mode
        # (they are updated in place by later training steps), as PyTorch's spectral_norm allows
        with torch.inference_mode(False):
            self.register_buffer("_seed", torch.tensor(seed, dtype=torch.int64, device=weight.device))
            self.register_buffer("_upper_ref", torch.tensor(math.inf, **kw))
            self.register_buffer("_lower_ref", torch.tensor(0.0, **kw))
            self.register_buffer("_frob_ref", torch.tensor(0.0, **kw))  # drift(W_ref): pads the division rounding
            self.register_buffer("_sigma", torch.tensor(math.nan, **kw))
            self.register_buffer("_delta_spent", torch.tensor(0.0, **kw))
            self.register_buffer("_refreshes", torch.tensor(0, dtype=torch.int64, device=weight.device))
            self.register_buffer("_w_ref", weight.detach().clone())
            self.register_buffer("_input_shape", torch.zeros(0, dtype=torch.int64))
            self.register_buffer("_u", torch.zeros(0, dtype=weight.dtype, device=weight.device))
            self.register_buffer("_v", torch.zeros(0, dtype=weight.dtype, device=weight.device))
        if ndim <= 1:
            if not weight.is_meta:
                self._certify(weight.detach())
        elif conv is None:
            self._init_vectors(weight)
        elif input_shape is not None:
            self.set_input_shape(tuple(input_shape), weight)

    # ------------------------------------------------------------------ moves, casts and copies
    def _apply(self, fn, recurse: bool = True):
        """:meth:`torch.nn.Module._apply`, which ``.to``, ``.cuda``, ``.double``, ``.half`` ... go through.

        The certificate's bookkeeping stays in float64 (a cast of the module would round ``upper(W_ref)`` to the
        nearest value of the new dtype, possibly below it), and a weight cast to another dtype is a new matrix:
        its next forward call certifies it afresh.
        """
        kept = {name: getattr(self, name).detach().clone() for name in _FLOAT64_STATE}
        dtype, meta = self._w_ref.dtype, self._w_ref.is_meta
        super()._apply(fn, recurse)
        for name, value in kept.items():
            if getattr(self, name).dtype != torch.float64:
                setattr(self, name, value.to(device=getattr(self, name).device))
        if self._w_ref.dtype != dtype:
            self._recertify = True
        if meta and not self._w_ref.is_meta:  # materialised (module.to_empty): the buffers hold arbitrary bytes
            self._reset_certificate()
        self._op = None
        return self

    @torch.no_grad()
    def _reset_certificate(self) -> None:
        """The state of a weight that was never certified: no refresh spent, a fresh seed, new ``u``, ``v``
        (drawn at the next forward call, which certifies the weight)."""
        self._upper_ref.fill_(math.inf)
        self._lower_ref.zero_()
        self._frob_ref.zero_()
        self._sigma.fill_(math.nan)
        self._delta_spent.zero_()
        self._refreshes.zero_()
        self._seed.fill_(_new_seed())
        if self._geom is not None:
            self._input_shape = torch.tensor([self._geom.c_in, *self._geom.spatial], dtype=torch.int64)
        self._recertify = self._fresh_vectors = True

    def __getstate__(self) -> dict:
        """For ``copy.deepcopy``: the state without the cached convolution operator (it holds the torch module
        object, which cannot be copied), rebuilt on use."""
        state = self.__dict__.copy()
        state["_op"] = None
        return state

    # ------------------------------------------------------------------ public state
    @property
    def sigma(self) -> float:
        return float(self._sigma)

    @property
    def confidence(self) -> float:
        return max(0.0, 1.0 - float(self._delta_spent))

    @property
    def refreshes(self) -> int:
        return int(self._refreshes)

    # ------------------------------------------------------------------ shapes and vectors
    def _matrix(self, weight: torch.Tensor) -> torch.Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.dim()) if d != self.dim))
        return weight.flatten(1)

    def _pad_norm(self) -> float | None:
        return None if self._geom is None else self._drift_geom.pad_norm

    def _init_vectors(self, weight: torch.Tensor) -> None:
        # new buffers are normal tensors even when the first call runs under torch.inference_mode (a validation
        # pass before training): an inference tensor could not be updated in place by a later training step
        with torch.no_grad(), torch.inference_mode(False):
            if self.conv is None:
                h, w = self._matrix(weight).shape
                u, v = weight.new_empty(h).normal_(0, 1), weight.new_empty(w).normal_(0, 1)
            else:
                g = self._geom
                u = weight.new_empty((1, g.c_out, *g.out)).normal_(0, 1)
                v = weight.new_empty((1, g.c_in, *g.spatial)).normal_(0, 1)
            self._u = F.normalize(u.flatten(), dim=0, eps=self.eps).reshape(u.shape)
            self._v = F.normalize(v.flatten(), dim=0, eps=self.eps).reshape(v.shape)
            self._fresh_vectors = False
            if weight.is_meta:  # shapes only: the first forward call with values iterates and certifies
                return
            self._power_method(weight, 15)
            self._certify(weight.detach())

    def _require_conv(self, what: str) -> None:
        if self.conv is None:
            raise ValueError(
                f"{what} applies to a convolution normed as an operator (conv_norm='operator'); this "
                "parametrization norms a matrix (the weight reshaped to a matrix), which has no input shape"
            )

    def conv_input_shape(self, layer_input_shape: tuple, output_size: Sequence[int] | None = None) -> tuple:
        """``(c, *spatial)`` of the convolution whose norm is taken: the layer's input shape, or for a
        ``ConvTransposeNd`` the shape of its output (the layer is the adjoint of that convolution).

        Parameters
        ----------
        layer_input_shape : tuple of int
            ``(c_in, *spatial)`` of the layer's input (no batch axis).
        output_size : sequence of int, optional
            A ``ConvTransposeNd`` forward call's ``output_size``: it sets that shape as it sets PyTorch's output
            padding. Ignored by a plain convolution.

        Returns
        -------
        tuple of int
            ``(c, *spatial)`` of the convolution's input.

        Raises
        ------
        ValueError
            The parametrization norms a matrix (not a convolution normed as an operator).

        Examples
        --------
        >>> import torch, spectra.torch as st
        >>> up = st.spectral_norm(torch.nn.ConvTranspose2d(4, 2, 2, stride=2))
        >>> up.parametrizations.weight[0].conv_input_shape((4, 5, 5))   # the adjoint conv acts on the output
        (2, 10, 10)
        """
        self._require_conv("conv_input_shape")
        return self._adjoint_arguments(layer_input_shape, output_size)[0]

    def _adjoint_arguments(self, layer_input_shape: tuple, output_size=None) -> tuple[tuple, dict]:
        """:meth:`conv_input_shape` and the arguments of :func:`conv_geometry` for it (a ``ConvTransposeNd``
        whose output padding reaches its stride crops the end of that input, :func:`transposed_padding`)."""
        if self._output_padding is None:
            return tuple(layer_input_shape), self.conv
        c = self.conv
        sides = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"])
        output_padding = self._output_padding
        if output_size is not None:
            output_padding = transposed_output_padding(self._w_ref.shape, layer_input_shape, output_size, **sides)
        shape = transposed_input_shape(
            self._w_ref.shape, layer_input_shape, **sides, groups=c["groups"], output_padding=output_padding
        )
        return shape, self._transposed_arguments(output_padding)

    def _transposed_arguments(self, output_padding) -> dict:
        c = self.conv
        padding = transposed_padding(self._w_ref.ndim - 2, c["padding"], c["stride"], output_padding)
        return {**c, "padding": padding, "crop": True}

    def set_input_shape(
        self, input_shape: tuple, weight: torch.Tensor | None = None, output_size: Sequence[int] | None = None
    ) -> None:
        """Fix the layer's input shape (called by the forward pre-hook; a certificate is computed for it).

        Parameters
        ----------
        input_shape : tuple of int
            ``(c_in, *spatial)`` of the layer's input (no batch axis).
        weight : torch.Tensor, optional
            The current (unnormalised) weight; default: that of the last certificate.
        output_size : sequence of int, optional
            A ``ConvTransposeNd``'s ``output_size``, as passed to its forward.

        Raises
        ------
        ValueError
            The parametrization norms a matrix (no input shape), or the shape does not suit the convolution.

        Examples
        --------
        >>> import torch, spectra.torch as st
        >>> conv = st.spectral_norm(torch.nn.Conv2d(2, 3, 3, padding=1))
        >>> p = conv.parametrizations.weight[0]
        >>> p.set_input_shape((2, 8, 8))   # certified now, before any forward call
        >>> p.refreshes
        1
        """
        self._require_conv("set_input_shape")
        if weight is None:
            weight = self._w_ref
        shape, arguments = self._adjoint_arguments(input_shape, output_size)
        geom = conv_geometry(weight.shape, shape, **arguments)
        if self._geom is not None and geom == self._geom:
            return
        self._geom = geom
        self._drift_geom = ConvDriftGeometry.of(geom)
        self._op = None
        with torch.inference_mode(False):  # a buffer: a normal tensor (see _init_vectors)
            self._input_shape = torch.tensor([geom.c_in, *geom.spatial], dtype=torch.int64)
        self._init_vectors(weight)

    def _conv_op(self, weight: torch.Tensor) -> TorchConv:
        op = self._op
        if op is None or op.weight.device != weight.device or op.weight.dtype != weight.dtype:
            op = self._op = TorchConv(weight.detach(), self._geom)
        return op

    def _product(self, weight, v):
        if self.conv is None:
            return torch.mv(self._matrix(weight), v)
        return self._conv_op(weight).forward(v, weight)

    def _adjoint_product(self, weight, u):
        if self.conv is None:
            return torch.mv(self._matrix(weight).H, u)
        return self._conv_op(weight).adjoint(u, weight)

    @torch.no_grad()
    def _power_method(self, weight: torch.Tensor, steps: int) -> None:
        """``steps`` power steps on ``u``, ``v`` at any finite scale of ``weight`` (:mod:`._power`); a step that
        gives no direction (a zero weight, or a product beyond float64) leaves ``u``, ``v`` as they were."""
        k = self._weight_exponent(weight)
        w = weight if k == 0 else times_pow2(weight, k)
        v = self._v
        for _ in range(steps):
            u = unit(self._product(w, v).flatten(), self.eps)[0].reshape(self._u.shape)
            v, norm_v, e = unit(self._adjoint_product(w, u).flatten(), self.eps)
            v = v.reshape(self._v.shape)
        # u^H W v for the new v is ||W^H u||: the lower estimate, without another product
        lower = ldexp(float(norm_v), int(e) - k)
        if math.isfinite(lower) and lower > 0.0:
            # in place, as PyTorch's: DataParallel replicas share the buffers' storage
            self._u.copy_(u)
            self._v.copy_(v)
        self._power_lower = lower if math.isfinite(lower) else 0.0

    def _weight_exponent(self, weight: torch.Tensor) -> int:
        """The power of two the products are scaled by (:func:`weight_exponent`), from the weight's size at the
        last certificate (no extra pass), or from the weight itself before the first one."""
        scale = float(self._frob_ref)
        if not scale > 0.0:
            scale = drift_upper(weight.detach(), None)
        return weight_exponent(scale, weight.dtype)

    # ------------------------------------------------------------------ certificates
    def _drift(self, weight: torch.Tensor) -> float:
        if weight.ndim <= 1:
            return drift_upper((weight - self._w_ref).reshape(1, -1), None)
        return drift_upper(weight - self._w_ref, self._pad_norm())

    @torch.no_grad()
    def _certify(self, weight: torch.Tensor) -> None:
        """Full certificate of ``weight`` (warm-started from ``v``), then ``W_ref = weight``."""
        r = int(self._refreshes) + 1
        delta_r = self.delta * 6.0 / (math.pi**2 * r * r)  # Σ_r δ_r <= δ: all certificates hold jointly
        seed = np.random.SeedSequence([int(self._seed) & (2**63 - 1), r])
        if weight.ndim <= 1:
            fro = drift_upper(weight.reshape(1, -1), None)
            est = dict(lower=float(torch.linalg.vector_norm(weight, dtype=torch.float64)), upper=fro, confidence=1.0)
        elif self.conv is not None:
            est = self._conv_certificate(weight, seed, delta_r)
        else:
            est = self._matrix_certificate(self._matrix(weight), seed, delta_r)
        if est["confidence"] < 1.0:
            self._delta_spent += delta_r
        self._upper_ref.fill_(est["upper"])
        self._lower_ref.fill_(est["lower"])
        self._w_ref.copy_(weight)
        zero = torch.zeros_like(weight)
        self._frob_ref.fill_(drift_upper(weight - zero, self._pad_norm() if weight.ndim > 1 else None))
        self._refreshes += 1

    def _conv_certificate(self, weight: torch.Tensor, seed, delta_r: float) -> dict:
        """The operator norm's certificate (the embedding bound, else :func:`spectra.conv_norm`), taken of the
        float64 weight times the power of two ``2**-k`` that puts ``max |W|`` into ``[1/2, 1)`` (exact; the norm is
        homogeneous, and conv_norm's float64 sums of squares overflow beyond 1e154), its bounds scaled back
        outward."""
        w64 = weight.detach().to(dtype=torch.float64)
        k = int(torch.frexp(w64.abs().amax()).exponent)
        w64 = times_pow2(w64, -k)
        est = self._embedding_certificate(w64, weight, k)
        if est is None:
            iterative = self.method not in ("fft", "svd")  # maxiter and v0 do not apply to svd
            res = conv_norm_on(
                w64,
                self._geom,
                method=self.method,
                rtol=self.tol / 4,
                confidence=1.0 - delta_r,
                maxiter=REFRESH_MAXITER if iterative else None,
                certify=True if self.method in ("lanczos", "power", "randomized") else None,
                seed=seed,
                # no start vector for svd, nor for randomized (its bound needs a Gaussian start block)
                v0=self._v.reshape(-1).detach().cpu().double().numpy()
                if self.method not in ("svd", "randomized")
                else None,
            )
            est = dict(lower=res.lower, upper=res.upper, confidence=res.confidence)
        return dict(lower=ldexp(est["lower"], k), upper=ldexp(est["upper"], k, up=True), confidence=est["confidence"])

    def _embedding_certificate(self, w64: torch.Tensor, weight: torch.Tensor, k: int) -> dict | None:
        """The deterministic DFT / circular-embedding bound (bounds.md §11) of ``w64 = 2**-k weight`` when it is
        exact or within ``tol / 4`` of the power estimate ``u^H W v`` of ``weight``; else ``None`` (then
        :func:`spectra.conv_norm` certifies). Bounds of ``w64``."""
        if self.method not in ("auto", "fft"):
            return None
        lower, _, upper, exact = deterministic_upper(w64.cpu().numpy(), self._geom)
        if exact:
            return dict(lower=lower, upper=upper, confidence=1.0)
        target = ldexp(upper, k, up=True)  # the bound of the weight itself
        for _ in range(EMBEDDING_POWER_STEPS):  # a lagging power estimate: cheaper to improve than Lanczos
            if target <= (1.0 + self.tol / 4) * self._power_lower:
                break
            self._power_method(weight, 1)
        if target <= (1.0 + self.tol / 4) * self._power_lower:
            # lower: an estimate
            return dict(lower=min(ldexp(self._power_lower, -k), upper), upper=upper, confidence=1.0)
        return None

    def _matrix_certificate(self, W: torch.Tensor, seed, delta_r: float) -> dict:
        m, n = W.shape
        method = self.method
        if method == "auto":
            method = "svd" if m * n * min(m, n) <= AUTO_SVD_MAX_WORK else "lanczos"
        kw: dict[str, Any] = {}
        if method != "svd":
            v0 = self._v.detach()
            # certify: the width, not a residual (power's default), stops it: the tightness of tol
            kw = dict(rtol=self.tol / 4, maxiter=REFRESH_MAXITER, seed=seed, certify=True)
            # gram is deterministic and takes no start vector; randomized's bound needs a Gaussian start block
            kw["v0"] = v0 if bool(v0.any()) and method not in ("gram", "randomized") else None
        res = norm(W.detach(), method=method, confidence=1.0 - delta_r, **kw)
        return dict(lower=res.lower, upper=res.upper, confidence=res.confidence)

    def _divisor(
        self, weight: torch.Tensor, drift: float, lowered: torch.dtype | None, pad_norm: float | None = None
    ) -> float:
        """``upper(W_ref) + drift``, padded for the rounding of ``W / sigma`` in the weight's precision and, under
        autocast, its cast to ``lowered`` (bounds.md §12), rounded up to the weight's dtype. ``pad_norm``: the
        padding factor of the drift bound (default the layer's ``||P||``; none for a matrix)."""
        pad = 1.0 + 4.0 * _bounds.unit_roundoff(np.float64)
        u, eta = roundoff(weight.dtype, lowered)
        upper = (float(self._upper_ref) + drift) * pad
        # the weight used is (W/sigma)∘(1 + E) + Z, |E| <= u, |Z| <= eta: E adds at most u · drift(W) / sigma to
        # the norm (drift(W) <= drift(W_ref) + drift(D) bounds || |W| || for the matrix or the layer), Z at most z
        upper += u * (float(self._frob_ref) + drift) * pad
        if weight.ndim > 1 and pad_norm is None:
            pad_norm = self._pad_norm()
        z = eta * underflow_upper(weight, pad_norm) * pad
        upper = upper / (1.0 - z) * pad if z < 0.5 else math.inf
        return round_up_to(max(upper, self.eps), weight.dtype)

    @torch.no_grad()
    def _shape_free_divisor(self, weight: torch.Tensor, lowered: torch.dtype | None) -> float:
        """Before the input shape is known: ``sqrt(prod(1 + lo + hi)) · Σ_j ||W_j||_F`` bounds the layer on every
        input shape (each entry is copied at most ``1 + lo + hi`` times per axis by any padding mode); loose."""
        d = weight.ndim - 2
        pad = _padding(self.conv["padding"], d, weight.shape[2:], self.conv["dilation"], self.conv["stride"])
        copies = math.sqrt(math.prod(1 + lo + hi for lo, hi in pad)) if self.conv["padding_mode"] != "zeros" else 1.0
        frob = drift_upper(weight, copies)
        self._frob_ref.fill_(frob)
        self._upper_ref.fill_(frob)
        self._w_ref.copy_(weight)
        return self._divisor(weight, 0.0, lowered, copies)

    def _tracked(self, weight: torch.Tensor, drift: float) -> float | None:
        """The drift bound to divide by, or ``None`` when ``upper(W_ref) + drift > (1 + tol) · lower`` persists
        and a full certificate is due.

        Before giving up: for a convolution the tighter reshaped-kernel drift (two small SVDs, only now); then up
        to :data:`CATCH_UP_STEPS` more power steps (two products each), since a lagging power vector (the top
        singular direction turning faster than one step per update follows) is the usual cause.
        """
        upper_ref, lower_ref = float(self._upper_ref), float(self._lower_ref)

        def within(d: float) -> bool:
            lower = lower_ref - d if weight.ndim <= 1 else max(lower_ref - d, self._power_lower)
            return upper_ref + d <= (1.0 + self.tol) * lower

        if within(drift):
            return drift
        if weight.ndim <= 1:
            return None
        if self.conv is not None:
            drift = min(drift, reshaped_drift_upper(weight - self._w_ref, self._drift_geom))
        for _ in range(CATCH_UP_STEPS):
            if within(drift):
                return drift
            before = self._power_lower
            self._power_method(weight, 1)
            if self._power_lower <= before * (1.0 + self.tol / 8):
                break  # the power estimate has settled: the certificate, not the estimate, is behind
        return drift if within(drift) else None

    # ------------------------------------------------------------------ forward
    # run eagerly under torch.compile: the certificate is host arithmetic on Python floats, which a compiled
    # graph would capture as constants (a stale divisor: a normalised weight of norm 1.11 after eight steps)
    @torch.compiler.disable
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        """The normalised weight ``W / sigma`` (with PyTorch's gradient; the certificate is refreshed as needed).

        Parameters
        ----------
        weight : torch.Tensor
            The unnormalised weight (``parametrizations.<name>.original``).

        Returns
        -------
        torch.Tensor
            ``weight / sigma``, of the weight's shape and dtype.

        Examples
        --------
        >>> import torch, spectra.torch as st
        >>> layer = st.spectral_norm(torch.nn.Linear(3, 2))
        >>> p = layer.parametrizations.weight[0]
        >>> W = layer.parametrizations.weight.original
        >>> bool(torch.equal(p(W), layer.weight))   # what reading layer.weight computes
        True
        """
        if weight.is_meta:  # no values (shape inference on the meta device): the shape and dtype of the result
            return weight * 1.0
        # under autocast the layer's product casts W / sigma to `lowered`: sigma is padded for that rounding, and the
        # certificate's own arithmetic (products of a CUDA weight, the power steps) stays in the weight's precision
        enabled, lowered = autocast_state(weight)
        with autocast_off(weight, enabled):
            return self._normalised(weight, lowered)

    def _normalised(self, weight: torch.Tensor, lowered: torch.dtype | None) -> torch.Tensor:
        """:meth:`forward` without autocast: ``weight / sigma``, ``sigma`` padded for a cast to ``lowered``."""
        if (self.conv is not None and self._geom is None) or self._recertify:
            with torch.no_grad():
                _check_finite(weight)
        if self.conv is not None and self._geom is None:
            return weight / self._shape_free_divisor(weight, lowered)
        if self._recertify:  # a checkpoint, a cast or a materialised module: this weight has no certificate yet
            if self._fresh_vectors and weight.ndim > 1:
                self._init_vectors(weight)  # power steps from a random start, then the certificate
            else:
                self._certify(weight.detach())
            self._recertify = False
        with torch.no_grad():
            drift = self._drift(weight)  # before the power steps: a non-finite weight must not reach u and v
            if not math.isfinite(drift):
                _check_finite(weight)
        if weight.ndim > 1 and self.training:
            self._power_method(weight, self.n_power_iterations)
        with torch.no_grad():
            if self.training and drift > 0.0:
                tracked = self._tracked(weight, drift)
                if tracked is None:
                    self._certify(weight.detach())
                    drift = self._drift(weight)
                else:
                    drift = tracked
            sigma = self._divisor(weight, drift, lowered)
            self._sigma.fill_(sigma)
        if weight.ndim <= 1 or not (torch.is_grad_enabled() and weight.requires_grad):
            return weight / sigma
        # gradient as PyTorch's (through s = u^H W v with u, v detached); the value divided by is `sigma`
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        if self.conv is None:
            s = torch.vdot(u.flatten(), self._product(weight, v).flatten())
        else:
            # s = <u, conv_W(v)> is linear in W: s = <W, G> with G = ∂s/∂W, one weight-gradient product
            # (instead of a convolution in the graph and its backward)
            with torch.no_grad():
                G = self._conv_op(weight).weight_grad(u, v)
            s = torch.sum(weight * G)
        return weight / ((s - s.detach()) + sigma)

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        """What assigning ``module.<name> = value`` stores as the original: ``value`` unchanged (as PyTorch's).

        Parameters
        ----------
        value : torch.Tensor
            The assigned weight.

        Returns
        -------
        torch.Tensor
            ``value``.

        Examples
        --------
        >>> import torch, spectra.torch as st
        >>> layer = st.spectral_norm(torch.nn.Linear(3, 2))
        >>> with torch.no_grad():
        ...     layer.weight = torch.ones(2, 3)    # stored as the original through right_inverse
        >>> layer.parametrizations.weight.original
        Parameter containing:
        tensor([[1., 1., 1.],
                [1., 1., 1.]], requires_grad=True)
        """
        return value

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        pytorch = prefix + "_u" in state_dict and prefix + "_upper_ref" not in state_dict
        if pytorch:  # a checkpoint of torch.nn.utils.parametrizations.spectral_norm: PyTorch's buffers only
            self._load_pytorch_state(state_dict, prefix)
        shape = state_dict.get(prefix + "_input_shape")
        if self.conv is not None and shape is not None and shape.numel() and self._geom is None:
            # a lazily shaped convolution: take the saved input shape so the buffers match
            # (a ConvTransposeNd: the module's own output padding; a forward call re-shapes for output_size)
            arguments = self.conv if self._output_padding is None else self._transposed_arguments(self._output_padding)
            self._geom = conv_geometry(self._w_ref.shape, tuple(int(s) for s in shape), **arguments)
            self._drift_geom = ConvDriftGeometry.of(self._geom)
            self._input_shape = shape.clone()
            self._u = state_dict[prefix + "_u"].clone()
            self._v = state_dict[prefix + "_v"].clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _load_pytorch_state(self, state_dict, prefix) -> None:
        """Complete a PyTorch ``spectral_norm`` checkpoint (``_u``, ``_v``) with this module's own buffers, so
        that it loads; the next forward call (in either mode) certifies the loaded weight afresh (one more
        refresh of the union bound). Its ``_u``/``_v`` warm-start the power steps where they have this module's
        shapes (not for a convolution normed as an operator, whose vectors live on its input and output)."""
        device = state_dict[prefix + "_u"].device
        for name, buf in self.named_buffers(recurse=False):
            key = prefix + name
            if key not in state_dict or (name in ("_u", "_v") and state_dict[key].shape != buf.shape):
                # (a module on the meta device: placeholders on the checkpoint's device, reset before use)
                if not buf.is_meta:
                    state_dict[key] = buf.detach().clone()
                else:  # never certified: no refresh spent, a fresh seed (the rest is set by the certificate)
                    state_dict[key] = torch.full_like(buf, _new_seed() if name == "_seed" else 0, device=device)
                self._fresh_vectors |= buf.is_meta and name in ("_u", "_v")
        self._recertify = True


def _check_method(method: Any, conv: bool) -> None:
    """``method`` at registration: a method of :func:`spectra.conv_norm` for a convolution normed as an operator,
    else one of :func:`spectra.norm` (the matrix certificate)."""
    methods, of = (CONV_METHODS, "spectra.conv_norm") if conv else (METHODS, "spectra.norm")
    if not isinstance(method, str) or method not in methods:
        what = "a convolution normed as an operator" if conv else "a matrix (a weight normed as a reshaped matrix)"
        raise ValueError(
            f"method must be one of {', '.join(map(repr, methods))} (the methods of {of}) for {what}; got {method!r}"
        )


def _check_finite(weight: torch.Tensor) -> None:
    """Refuse a weight with NaN or Inf (a divergent step) before it reaches the certificate's state."""
    if not bool(torch.isfinite(weight).all()):
        raise ValueError(
            "spectral_norm: the weight contains NaN or Inf (a divergent optimisation step?); it has no spectral "
            "norm to certify. The certificate's state is unchanged: restore finite weights (e.g. the last "
            "checkpoint) and continue"
        )


def _new_seed() -> int:
    """The seed of a module's certificates, drawn from PyTorch's generator (``torch.manual_seed`` fixes it)."""
    # on the CPU: under a `with torch.device("meta"):` block (deferred initialisation) a tensor has no value
    return int(torch.randint(0, 2**62, (1,), device="cpu").item())


def spectral_norm(
    module: nn.Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    conv_norm: str = "operator",
    tol: float = 0.02,
    method: str = "auto",
    confidence: float = 0.999,
) -> nn.Module:
    r"""Spectral normalisation by a certified upper bound: ``W / sigma`` with ``sigma >= ||W||_2``.

    A replacement for :func:`torch.nn.utils.parametrizations.spectral_norm` (same first five arguments, same
    ``parametrizations.<name>.original``, ``_u``/``_v`` and further state in buffers, ``state_dict`` round trip,
    power iteration only in training mode; a PyTorch checkpoint loads, and the next forward call certifies its
    weight afresh; a checkpoint of this one loads into PyTorch's only with ``strict=False`` and not for a
    convolution normed as an operator, docs/torch.md), with one difference: PyTorch
    divides by ``sigma = u^H W v``, an *under*-estimate after a few power steps, so its normalised weight can
    have norm > 1; here ``sigma`` is a certified upper bound, so ``||W / sigma||_2 <= 1`` at every step
    (with probability ``confidence`` over the whole training run, ``1`` when every certificate was
    deterministic), including the rounding of the division.

    .. math::

        \sigma_t = \mathrm{upper}(W_\mathrm{ref}) + \mathrm{drift}(W_t - W_\mathrm{ref}),
        \qquad \mathrm{drift}(D) = \|D\|_F \ \text{(matrix)}, \quad \|P\|_2 \sum_j \|D_j\|_F \ \text{(conv)}

    ``W_ref`` and ``upper(W_ref)`` come from the last full certificate (:func:`spectra.norm`, or
    :func:`spectra.conv_norm` for a convolution), recomputed (warm-started from ``v``) in training mode when
    ``sigma_t > (1 + tol) · lower_t``, with ``lower_t = max(u^H W_t v, lower(W_ref) - drift)``. Refresh ``r``
    runs at ``delta_r = 6 delta / (pi^2 r^2)`` so that all refreshes hold jointly with probability
    ``>= 1 - delta`` (a union bound; ``delta = 1 - confidence``).

    Gradients flow as in PyTorch's: the weight is divided by ``(s - s.detach()) + sigma_t`` with
    ``s = u^H W v`` (``u``, ``v`` detached), whose value is exactly ``sigma_t`` and whose derivative is
    ``u v^H``, the derivative of ``||W||_2`` at a simple top singular value.

    Parameters
    ----------
    module : torch.nn.Module
        Module holding the parameter ``name`` (e.g. ``nn.Linear``, ``nn.Conv2d``).
    name : str
        Name of the weight parameter.
    n_power_iterations : int
        Power steps per training forward (they keep ``u``, ``v`` and the lower estimate current).
    eps : float
        Floor of ``sigma``: a weight of norm below ``eps`` is divided by ``eps``. The power steps normalise their
        vectors at any scale (scaled by powers of two first; ``eps`` only guards a zero vector).
    dim : int, optional
        Output dimension for the reshaped-matrix view, as in PyTorch (default 0, 1 for ``ConvTranspose``).
    input_shape : tuple of int, optional
        ``(c_in, *spatial)`` of a convolution's input, for ``conv_norm="operator"``; when omitted it is read
        from the first input the module sees (a forward pre-hook), and the certificate follows later shape changes.
    conv_norm : {"operator", "kernel"}
        For ``nn.Conv1d/2d/3d`` and ``nn.ConvTranspose1d/2d/3d``: ``"operator"`` (default) normalises by the
        operator norm of the layer on inputs of ``input_shape`` (its l2 Lipschitz constant,
        :func:`spectra.conv_norm`; a transposed layer is the adjoint of a convolution); ``"kernel"`` by the
        norm of the ``c_out × (c_in k_1 k_2)`` reshaped kernel, as PyTorch does, which neither bounds nor is
        bounded by the operator norm (the layer then need not be 1-Lipschitz). Other modules always use the
        reshaped matrix.
    tol : float
        Relative slack allowed between ``sigma`` and the lower estimate before a refresh; each refresh is
        certified to ``tol / 4``. The tightness ``||W||_2 / sigma`` stays above about ``1 / (1 + tol)``.
    method : str
        Method of the full certificate: ``"auto"`` (``svd`` for small matrices, else ``lanczos``; for a
        convolution the DFT when exact, else ``lanczos`` capped by the circular-embedding bound). For a weight
        normed as a matrix (``nn.Linear``, ``conv_norm="kernel"``, ...) any method of :func:`spectra.norm`:
        ``"auto"``, ``"svd"``, ``"power"``, ``"lanczos"``, ``"randomized"``, ``"gram"``; for a convolution
        normed as an operator any method of :func:`spectra.conv_norm`: ``"auto"``, ``"fft"``, ``"svd"``,
        ``"lanczos"``, ``"power"``, ``"randomized"``. Checked when the parametrization is registered.
    confidence : float
        Joint probability, over the whole run, that every certificate holds.

    Returns
    -------
    torch.nn.Module
        ``module``, with the parametrization registered on ``name``.

    Raises
    ------
    ValueError
        ``module`` has no parameter ``name``; an argument is out of range (``n_power_iterations < 1``, ``eps``
        not positive, ``tol`` or ``confidence`` outside ``(0, 1)``, ``conv_norm``); ``method`` is not one of the
        methods listed above for this kind of weight (checked at registration, also for a convolution without
        ``input_shape``). At a forward call: the weight contains NaN or Inf (the certificate's state is left
        unchanged).
    TypeError
        The weight is complex (or not floating): only real floating weights are normalised.
    IndexError
        ``dim`` outside ``[-weight.ndim, weight.ndim - 1]``.

    Warns
    -----
    ConvergenceWarning
        As :func:`spectra.norm`, from a full certificate computed by an iterative method.

    Notes
    -----
    The drift bound, the tracking rule and the union bound over the refreshes are derived in docs/bounds.md
    §12; the convolution bounds in §11. Under :class:`torch.autocast` (when it would cast the weight: floating,
    not float64, not already of the autocast dtype) ``sigma`` is also padded for the cast of ``W / sigma`` to the
    autocast dtype, so the weight the layer's product uses has norm ``<= 1``; it costs relative tightness
    ``u·||W||_F / sigma`` (``u = 2**-8`` for bfloat16), docs/torch.md.

    Examples
    --------
    >>> import torch, spectra.torch as st
    >>> _ = torch.manual_seed(0)
    >>> layer = st.spectral_norm(torch.nn.Linear(20, 40))
    >>> W = layer.weight
    >>> bool(torch.linalg.matrix_norm(W.double(), 2) <= 1.0)
    True
    >>> p = layer.parametrizations.weight[0]
    >>> p.confidence, p.refreshes   # small matrix: certified by the SVD, deterministic
    (1.0, 1)
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if conv_norm not in ("operator", "kernel"):
        raise ValueError(f"conv_norm must be 'operator' or 'kernel', got {conv_norm!r}")
    if dim is None:
        dim = 1 if isinstance(module, TRANSPOSED_TYPES) else 0
    conv = None
    if isinstance(module, CONV_TYPES + TRANSPOSED_TYPES) and conv_norm == "operator" and name == "weight":
        conv = conv_arguments(module)
    param = CertifiedSpectralNorm(
        weight,
        n_power_iterations=n_power_iterations,
        dim=dim,
        eps=eps,
        conv=conv,
        input_shape=input_shape,
        tol=tol,
        method=method,
        confidence=confidence,
    )
    parametrize.register_parametrization(module, name, param)
    if conv is not None:
        module.register_forward_pre_hook(_InputShapeHook(name, weight.ndim - 2), with_kwargs=True)
    return module


class _InputShapeHook:
    """The forward pre-hook of a convolution normed as an operator: it sets the parametrization's input shape
    from each input. It looks the parametrization up in the module it is called on, so that a copy of the layer
    (``copy.deepcopy``) re-shapes its own certificate, not the original's."""

    def __init__(self, name: str, spatial_dims: int):
        self.name, self.d = name, spatial_dims

    @torch.compiler.disable  # eager under torch.compile, as the parametrization's forward
    def __call__(self, mod, args, kwargs):
        # after parametrize.remove_parametrizations the layer is a plain convolution: nothing to shape
        plist = getattr(getattr(mod, "parametrizations", None), self.name, None)
        param = next((p for p in plist if isinstance(p, CertifiedSpectralNorm)), None) if plist is not None else None
        if param is None:
            return None
        x = args[0]
        shape = tuple(int(s) for s in x.shape[-(self.d + 1) :])
        # ConvTransposeNd.forward(input, output_size=None): the output size sets the output padding
        size = kwargs.get("output_size", args[1] if len(args) > 1 else None)
        size = None if size is None or param._output_padding is None else tuple(int(s) for s in size)
        wanted = param.conv_input_shape(shape, size)
        if param._geom is None or wanted != (param._geom.c_in, *param._geom.spatial):
            with torch.no_grad():
                param.set_input_shape(shape, plist.original, size)
