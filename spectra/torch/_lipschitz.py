"""``lipschitz_bound``: a certified upper bound on the l2 Lipschitz constant of a feed-forward network.

Composition multiplies Lipschitz constants and a residual block ``x + f(x)`` adds them, so the network's
constant is at most the product (and sums) of certified per-layer constants:

- ``Linear``: ``||W||_2`` by :func:`spectra.norm`; ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``: the operator
  norm of the convolution on the shape it actually receives, by :func:`spectra.conv_norm` (a transposed layer is
  the adjoint of a convolution, with the same norm; bias and shifts do not count);
- ``BatchNorm`` in eval mode: ``max_c |gamma_c| / sqrt(running_var_c + eps)``;
- every ``Dropout`` (also ``AlphaDropout``) in eval mode: the identity, 1 (in training mode it scales by
  ``1 / (1 - p)``, or is a random affine map: refused);
- pooling: average pooling is a linear operator (overlapping windows: its operator norm as a depthwise
  convolution; otherwise ``sqrt(coverage / smallest window)`` by Cauchy–Schwarz, exact for a partition); max
  pooling ``sqrt(coverage)``, ``coverage`` = most windows that share one input entry;
- activations: the supremum of ``|f'|`` (table :data:`ACTIVATION_CONSTANTS`, rounded up).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.spectral_norm import SpectralNorm as _TorchSpectralNormHook
from torch.nn.utils.weight_norm import WeightNorm as _TorchWeightNormHook

from .. import _bounds
from .._api import norm
from .._conv import conv_norm
from .._validate import validate_solver_options
from ._activations import ACTIVATION_CONSTANTS, activation_constant
from ._modules import CONV_TYPES, TRANSPOSED_TYPES, conv_arguments
from ._parametrization import _InputShapeHook

__all__ = [
    "ACTIVATION_CONSTANTS",
    "METHODS",
    "LayerBound",
    "LipschitzBound",
    "Residual",
    "certified_radius",
    "lipschitz_bound",
]

#: the ``method`` values :func:`lipschitz_bound` accepts
METHODS = ("auto", "fft", "lanczos", "power", "randomized")
_U64 = _bounds.unit_roundoff(np.float64)
#: forward pre-hooks that only recompute a layer's weight from its parameters: the walker calls the layer, then
#: bounds the weight the call used (spectra's input-shape hook; torch.nn.utils.spectral_norm and weight_norm)
_WEIGHT_HOOKS = (
    _InputShapeHook,
    _TorchSpectralNormHook,
    _TorchWeightNormHook,
)


def _check_hooks(hooks: dict, where: str) -> None:
    """A forward hook or pre-hook can change what a module returns (``output * 10``, in place or by returning a
    value), so the map the model computes is not the one bounded: refuse any but :data:`_WEIGHT_HOOKS`."""
    for hook in hooks.values():
        if not isinstance(hook, _WEIGHT_HOOKS):
            label = getattr(hook, "__qualname__", None) or type(hook).__qualname__
            raise TypeError(
                f"lipschitz_bound cannot bound {where}: it has the forward hook {label}, which may change what it "
                "returns, so the map the model computes is not the one the layers' constants bound. Remove the "
                "hook while bounding (the handle's remove()) and register it again after."
            )


#: the methods through which the supported modules compute their output: ``forward``, the call machinery and what
#: the standard forwards delegate to (``ConvNd._conv_forward``, ``ConvTransposeNd._output_padding``,
#: ``_BatchNorm._check_input_dim``, ``Sequential.__iter__``)
_FORWARD_PATH = (
    "forward",
    "__call__",
    "_wrapped_call_impl",
    "_call_impl",
    "__iter__",
    "_conv_forward",
    "_output_padding",
    "_check_input_dim",
)


def _check_forward_path(module: nn.Module, where: str) -> None:
    """The map bounded is that of the module's base class: refuse a class that overrides a method of its forward
    path outside ``torch.nn.modules`` (``Residual.forward`` excepted), and any such method set on the instance."""
    for attr in _FORWARD_PATH:
        if attr in vars(module):
            raise TypeError(
                f"lipschitz_bound cannot bound {where}: its {attr} is replaced on the instance, so the map it "
                f"computes is not the one of {type(module).__name__} that would be bounded. Delete the attribute "
                f"while bounding (del module.{attr}) or build the change from supported modules."
            )
        owner = next((c for c in type(module).__mro__ if attr in vars(c)), None)
        if owner is None or owner is Residual or owner.__module__.startswith("torch.nn.modules."):
            continue
        detail = "" if attr == "forward" else ", which the forward of its torch.nn base class calls"
        raise TypeError(
            f"lipschitz_bound has no certified constant for {where}: it defines its own {attr}{detail}, so the map "
            "of its base class is not the map it computes. Build it from the supported modules (see "
            "lipschitz_bound's docstring), wrap residual blocks in spectra.torch.Residual, or express a changed "
            "weight as a parametrization (torch.nn.utils.parametrize.register_parametrization), whose weight is "
            "the one bounded."
        )


class Residual(nn.Module):
    """``x ↦ block(x) + shortcut(x)`` (identity shortcut by default): a residual block ``lipschitz_bound`` reads.

    Its constant is at most ``L(block) + L(shortcut)``.

    Parameters
    ----------
    block : torch.nn.Module
        The residual branch ``f``.
    shortcut : torch.nn.Module, optional
        The shortcut branch (e.g. a 1 x 1 convolution where the shapes change); default ``nn.Identity()``.

    Examples
    --------
    >>> import torch
    >>> r = Residual(torch.nn.Linear(3, 3))
    >>> r(torch.zeros(1, 3)).shape
    torch.Size([1, 3])
    """

    def __init__(self, block: nn.Module, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        self.block = block
        self.shortcut = nn.Identity() if shortcut is None else shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``block(x) + shortcut(x)``.

        Parameters
        ----------
        x : torch.Tensor
            The input (with its batch axis).

        Returns
        -------
        torch.Tensor
            The sum of both branches.

        Examples
        --------
        >>> import torch
        >>> Residual(torch.nn.Identity())(torch.ones(1, 2))   # x + x
        tensor([[2., 2.]])
        """
        return self.block(x) + self.shortcut(x)


@dataclass(frozen=True)
class LayerBound:
    """One row of the per-layer table: a certified constant of one leaf module on the shape it receives.

    Attributes
    ----------
    name : str
        The module's qualified name in the model (as ``model.named_modules()`` gives it); a module applied more
        than once (listed twice in a ``Sequential``) has one row per application, named by the position of each.
    layer : str
        The module's type name (``"Linear"``, ``"Conv2d"``, ``"ReLU"``, ...).
    input_shape : tuple of int
        Shape of the input the module receives, without the batch axis.
    output_shape : tuple of int
        Shape of its output, without the batch axis.
    upper : float
        Certified upper bound on the module's l2 Lipschitz constant.
    confidence : float
        Probability that ``upper`` holds (1.0 for a deterministic bound).
    how : str
        What gave the bound (e.g. ``"spectra.norm(svd)"``, ``"spectra.conv_norm(fft)"``, ``"sup |f'|"``).

    Examples
    --------
    >>> import torch, spectra.torch as st
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()
    >>> row = st.lipschitz_bound(net, (4,), method="fft").layers[1]
    >>> row.name, row.layer, row.input_shape, row.output_shape, row.upper, row.confidence, row.how
    ('1', 'ReLU', (3,), (3,), 1.0, 1.0, "sup |f'|")
    """

    name: str
    layer: str
    input_shape: tuple
    output_shape: tuple
    upper: float
    confidence: float
    how: str


@dataclass(frozen=True)
class LipschitzBound:
    """Certified upper bound ``upper`` on the l2 Lipschitz constant, holding with probability ``confidence``.

    ``float(b)`` is ``b.upper``, so a bound can be passed where a number is expected (e.g.
    :func:`certified_radius`).

    Attributes
    ----------
    upper : float
        Certified upper bound on the network's l2 Lipschitz constant (products and sums of the layers').
    confidence : float
        Probability that ``upper`` holds: the union bound over the layers (1.0 when every layer's bound is
        deterministic).
    layers : tuple of LayerBound
        The per-layer constants, in the order the model applies them.

    Examples
    --------
    >>> import torch, spectra.torch as st
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)).eval()
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(2 * torch.eye(3, 4)), net[2].weight.copy_(3 * torch.eye(2, 3))
    >>> b = st.lipschitz_bound(net, (4,), method="fft")
    >>> round(float(b), 4), b.confidence, [round(layer.upper, 4) for layer in b.layers]
    (6.0, 1.0, [2.0, 1.0, 3.0])
    """

    upper: float
    confidence: float
    layers: tuple[LayerBound, ...]

    def __float__(self) -> float:
        return float(self.upper)

    def table(self) -> str:
        """The per-layer table as aligned text.

        Returns
        -------
        str
            One line per layer (name, type, input and output shapes, upper bound, confidence, what gave it),
            a header line, and a last line for the whole network.

        Examples
        --------
        >>> import torch, spectra.torch as st
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()
        >>> lines = st.lipschitz_bound(net, (4,), method="fft").table().splitlines()
        >>> lines[0].split(), lines[2].split()[:6], len(lines)
        (['layer', 'type', 'input', 'output', 'upper', 'confidence', 'how'], ['1', 'ReLU', '(3,)', '(3,)', '1', '1'], 4)
        """
        rows = [("layer", "type", "input", "output", "upper", "confidence", "how")]
        for b in self.layers:
            rows.append(
                (b.name, b.layer, str(b.input_shape), str(b.output_shape), f"{b.upper:.6g}", f"{b.confidence:g}", b.how)
            )
        rows.append(("network", "", "", "", f"{self.upper:.6g}", f"{self.confidence:g}", "product / sum"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _coverage(sizes, kernel, stride, dilation, padding, out) -> int:
    """Most windows of a pooling that contain one input entry."""
    cov = 1
    for n, k, s, d, p, o in zip(sizes, kernel, stride, dilation, padding, out, strict=True):
        counts = np.zeros(n, dtype=np.int64)
        for i in range(o):
            pos = i * s - p + d * np.arange(k)
            pos = pos[(pos >= 0) & (pos < n)]
            counts[np.unique(pos)] += 1
        cov *= int(counts.max()) if n else 1
    return cov


def _adaptive_windows(n: int, o: int) -> tuple[int, int]:
    """(coverage, smallest window) of PyTorch's adaptive pooling windows ``[floor(i n/o), ceil((i+1) n/o))``."""
    counts = np.zeros(n, dtype=np.int64)
    smallest = n
    for i in range(o):
        a, b = (i * n) // o, -((-(i + 1) * n) // o)
        counts[a:b] += 1
        smallest = min(smallest, b - a)
    return int(counts.max()), smallest


def _applications(module: nn.Module):
    """Every leaf the walker bounds, once per application (a module listed twice in a Sequential runs twice)."""
    if isinstance(module, nn.Sequential):
        for child in module._modules.values():
            yield from _applications(child)
    elif isinstance(module, Residual):
        yield from _applications(module.block)
        yield from _applications(module.shortcut)
    else:
        yield module


def _tup(v, d):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * d


class _Walker:
    def __init__(self, method, rtol, delta_each, seed):
        self.method, self.rtol, self.delta_each = method, rtol, delta_each
        self.rng = np.random.default_rng(seed)
        self.rows: list[LayerBound] = []

    # --------------------------------------------------------------- composition
    def walk(self, module: nn.Module, x: torch.Tensor, name: str) -> tuple[float, torch.Tensor]:
        where = f"{type(module).__name__} ({name or 'the model'})"
        _check_forward_path(module, where)
        _check_hooks(module._forward_pre_hooks, where)
        _check_hooks(module._forward_hooks, where)
        if isinstance(module, nn.Sequential):
            # Sequential.forward applies every entry of _modules, a module listed twice twice; named_children()
            # would yield it once
            total = 1.0
            for child_name, child in module._modules.items():
                lip, x = self.walk(child, x, f"{name}.{child_name}" if name else child_name)
                total *= lip * (1.0 + 2.0 * _U64)
            return total, x
        if isinstance(module, Residual):
            lb, y = self.walk(module.block, x, f"{name}.block")
            ls, s = self.walk(module.shortcut, x, f"{name}.shortcut")
            return (lb + ls) * (1.0 + 2.0 * _U64), y + s
        if isinstance(module, (nn.Linear, *CONV_TYPES, *TRANSPOSED_TYPES)):
            # the call first: a conv layer's spectral_norm reads its input shape in a forward pre-hook, and the
            # weight it divides by that shape's operator norm is the one the model uses from then on
            y = module(x)
            lip, how, conf = self.leaf(module, x)
        else:  # the leaf's own checks (BatchNorm, Dropout in training mode) come before torch's
            lip, how, conf = self.leaf(module, x)
            y = module(x)
        self.rows.append(
            LayerBound(name, type(module).__name__, tuple(x.shape[1:]), tuple(y.shape[1:]), lip, conf, how)
        )
        return lip, y

    # --------------------------------------------------------------- leaves
    def leaf(self, m: nn.Module, x: torch.Tensor) -> tuple[float, str, float]:
        if isinstance(m, nn.Linear):
            r = norm(m.weight.detach(), **self._norm_kwargs(m.weight))
            return r.upper, f"spectra.norm({r.method})", float(r.confidence)
        if isinstance(m, CONV_TYPES + TRANSPOSED_TYPES):
            r = conv_norm(
                m.weight.detach(),
                tuple(x.shape[1:]),
                **conv_arguments(m),
                method=self.method,
                rtol=self.rtol,
                confidence=1.0 - self.delta_each,
                seed=self.rng,
            )
            return r.upper, f"spectra.conv_norm({r.method})", float(r.confidence)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.training or m.running_var is None:
                raise ValueError(
                    f"{type(m).__name__} is bounded in eval mode with running statistics; call model.eval() "
                    "(and keep track_running_stats=True)"
                )
            scale = torch.rsqrt(m.running_var.double() + m.eps)
            if m.weight is not None:
                scale = scale * m.weight.detach().double().abs()
            return float(scale.max()) * (1.0 + 8.0 * _U64), "max |gamma| / sqrt(var + eps)", 1.0
        if isinstance(m, nn.modules.dropout._DropoutNd):  # every Dropout, AlphaDropout and FeatureAlphaDropout
            if m.training and m.p > 0:
                how = (
                    "it is a random affine map"
                    if "Alpha" in type(m).__name__
                    else f"it scales the kept units by 1 / (1 - p) = {1.0 / (1.0 - m.p) if m.p < 1 else math.inf:g}"
                )
                raise ValueError(
                    f"{type(m).__name__} is bounded in eval mode (the identity); in training mode {how}; "
                    "call model.eval()"
                )
            return 1.0, "identity (eval mode or p = 0)", 1.0
        if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
            return self._avg_pool(m, x)
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
            d = x.ndim - 2
            y = m(x)
            k, s = _tup(m.kernel_size, d), _tup(m.stride if m.stride is not None else m.kernel_size, d)
            cov = _coverage(x.shape[2:], k, s, _tup(m.dilation, d), _tup(m.padding, d), y.shape[2:])
            return math.sqrt(cov) * (1.0 + 2.0 * _U64), f"sqrt(coverage {cov})", 1.0
        if isinstance(
            m,
            (
                nn.AdaptiveAvgPool1d,
                nn.AdaptiveAvgPool2d,
                nn.AdaptiveAvgPool3d,
                nn.AdaptiveMaxPool1d,
                nn.AdaptiveMaxPool2d,
                nn.AdaptiveMaxPool3d,
            ),
        ):
            y = m(x)
            cov, smallest = 1, 1
            for n, o in zip(x.shape[2:], y.shape[2:], strict=True):
                c, s = _adaptive_windows(int(n), int(o))
                cov, smallest = cov * c, smallest * s
            is_avg = "Avg" in type(m).__name__
            value = math.sqrt(cov / smallest) if is_avg else math.sqrt(cov)
            how = f"sqrt({cov} / {smallest})" if is_avg else f"sqrt(coverage {cov})"
            return value * (1.0 + 2.0 * _U64), how, 1.0
        value = activation_constant(m, x.dtype)
        if value is not None:
            return value, "sup |f'|", 1.0
        raise TypeError(
            f"lipschitz_bound has no certified constant for {type(m).__name__}; supported: Sequential, "
            "spectra.torch.Residual, Linear, Conv(Transpose)1d/2d/3d, BatchNorm and Dropout (eval), pooling and the "
            "activations of spectra.torch.ACTIVATION_CONSTANTS. Wrap residual blocks in spectra.torch.Residual."
        )

    def _norm_kwargs(self, w) -> dict:
        kw = dict(confidence=1.0 - self.delta_each)
        if self.method in ("lanczos", "power", "randomized"):
            kw.update(method=self.method, rtol=self.rtol, seed=self.rng)
        elif self.method == "auto":
            m, n = w.shape
            if m * n * min(m, n) > 1e8:
                kw.update(method="lanczos", rtol=self.rtol, seed=self.rng)
            else:
                kw.update(method="svd")
        else:  # "fft" and the deterministic choices: the SVD for dense matrices
            kw.update(method="svd")
        return kw

    def _avg_pool(self, m, x):
        d = x.ndim - 2
        k, s = _tup(m.kernel_size, d), _tup(m.stride if m.stride else m.kernel_size, d)
        p = _tup(m.padding, d)
        if getattr(m, "divisor_override", None) is not None or m.ceil_mode:
            raise TypeError("lipschitz_bound does not support AvgPool with ceil_mode=True or divisor_override")
        if not m.count_include_pad and any(p):
            raise TypeError("lipschitz_bound does not support AvgPool with padding and count_include_pad=False")
        if all(kk <= ss for kk, ss in zip(k, s, strict=True)):  # no overlap: Cauchy–Schwarz per window, exact
            T = math.prod(k)
            return math.sqrt(1.0 / T) * (1.0 + 2.0 * _U64), f"1 / sqrt({T})", 1.0
        w = np.full((1, 1, *k), 1.0 / math.prod(k))
        r = conv_norm(w, tuple(x.shape[2:]), stride=s, padding=p, method="fft")
        return r.upper, "spectra.conv_norm(fft)", 1.0


def lipschitz_bound(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    method: str = "auto",
    rtol: float = 1e-4,
    confidence: float = 0.999,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> LipschitzBound:
    """Certified upper bound on the l2 Lipschitz constant of a feed-forward network.

    Parameters
    ----------
    model : torch.nn.Module
        ``nn.Sequential`` (nested), :class:`Residual` blocks, ``Linear``, ``Conv1d/2d/3d``,
        ``ConvTranspose1d/2d/3d``, ``BatchNorm`` in eval mode, average/max pooling (also adaptive), ``Flatten``,
        every ``Dropout`` (also ``AlphaDropout``) in eval mode and the activations of
        :data:`spectra.torch.ACTIVATION_CONSTANTS` (matched by exact type). Any other module raises ``TypeError``.
        A module listed more than once in a ``Sequential`` (weight tying, a repeated block) is bounded at each
        application, on the input shape it receives there.
    input_shape : tuple of int
        Shape of one input without the batch axis, e.g. ``(3, 32, 32)``; convolutions are bounded on the
        shapes they receive.
    method : str
        ``"auto"``: SVD for small matrices, Lanczos for large ones, :func:`spectra.conv_norm`'s default for
        convolutions. ``"fft"``: deterministic bounds only (SVD; DFT / circular embedding for convolutions), so
        ``confidence == 1``. Or ``"lanczos"``, ``"power"``, ``"randomized"``.
    rtol : float
        Relative accuracy asked of the iterative methods; a positive finite float, checked on every route.
    confidence : float
        Joint confidence, in ``(0, 1)`` (also for ``method="fft"``, whose bounds then hold with confidence 1):
        each probabilistic layer bound gets ``(1 - confidence) / (number of weight layers)``.
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seed of the random starts.

    Returns
    -------
    LipschitzBound
        ``upper``, ``confidence`` (union bound over the layers, 1.0 when all are deterministic) and the
        per-layer ``layers`` (``.table()`` prints them).

    Raises
    ------
    TypeError
        ``model`` is not a ``torch.nn.Module``; ``seed`` is not a seed NumPy takes (as :func:`spectra.norm`).
        A module without a certified constant; a subclass of a supported one that defines its own ``forward``
        or a method that forward calls (``_conv_forward`` of a convolution, ``_output_padding`` of a transposed
        one, ``_check_input_dim`` of ``BatchNorm``, ``__iter__`` of ``Sequential``, the call machinery); a
        module with such a method set on the instance (``layer.forward = ...``); a module with a forward hook
        or pre-hook (also a global one) that may change what it returns. The hooks of
        ``torch.nn.utils.spectral_norm``/``weight_norm`` and of :func:`spectral_norm`, and parametrizations
        (``torch.nn.utils.parametrize``), only recompute the weight and are read through.
    ValueError
        An activation whose PyTorch definition is not Lipschitz for its parameters: ``CELU`` with
        ``alpha <= 0``; ``Softplus`` with ``beta = 0``, or whose jump ``log1p(exp(-threshold)) / |beta|`` at
        ``x = threshold / beta`` (where PyTorch switches to the identity) exceeds ``u |threshold / beta|``, the
        rounding error of the output there in the dtype the layer computes in (``u`` its unit roundoff; the
        default ``threshold=20`` passes in float32, float16 and bfloat16, not in float64: use
        ``threshold >= 34`` there). ``BatchNorm`` or ``Dropout`` (``p > 0``) in training mode: call
        ``model.eval()`` first. An
        ``input_shape`` that is not a tuple of positive ints, or that the model does not run on. A ``method``
        not listed above; ``rtol`` not positive and finite; ``confidence`` outside ``(0, 1)`` (checked up
        front, as :func:`spectra.norm` does).

    Warns
    -----
    ConvergenceWarning
        As :func:`spectra.norm`, from a layer bounded by an iterative method.

    Notes
    -----
    Composition multiplies Lipschitz constants and a residual block ``x + f(x)`` adds them. Per layer:
    ``Linear`` and convolutions by :func:`spectra.norm` / :func:`spectra.conv_norm` (docs/bounds.md §11);
    ``BatchNorm`` in eval mode ``max_c |gamma_c| / sqrt(running_var_c + eps)``; ``Dropout`` in eval mode 1;
    average pooling as a linear operator (overlapping windows: its norm as a depthwise convolution; else
    ``sqrt(coverage / smallest window)`` by Cauchy–Schwarz, exact for a partition); max pooling
    ``sqrt(coverage)``, ``coverage`` the most windows that share one input entry; elementwise activations
    ``sup |f'|`` (:data:`ACTIVATION_CONSTANTS`, rounded up). Every product and sum is rounded up. The probe input
    has the dtype and device of the model's first floating parameter (or buffer, where it has no parameter).

    Examples
    --------
    >>> import torch, spectra.torch as st
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4 * 8 * 8, 10)).eval()
    >>> b = st.lipschitz_bound(net, (1, 8, 8), method="fft")
    >>> b.confidence, len(b.layers)
    (1.0, 4)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    # rtol, confidence and seed as spectra.norm checks them, on every route (also where no layer reaches norm)
    opts = validate_solver_options(rtol=rtol, confidence=confidence, seed=seed)
    seed = opts["rng"]
    weighted = sum(isinstance(m, (nn.Linear, *CONV_TYPES, *TRANSPOSED_TYPES)) for m in _applications(model))
    walker = _Walker(method, rtol, (1.0 - confidence) / max(weighted, 1), seed)
    # the probe in the model's floating dtype: of its parameters or, where it has none, of its buffers
    state = itertools.chain(model.parameters(), model.buffers())
    p = next((t for t in state if t.is_floating_point()), None)
    kw = dict(dtype=p.dtype, device=p.device) if p is not None else {}
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list, torch.Size)) else None
    if shape is None or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(
            f"input_shape must be a tuple of positive ints (one input, no batch axis); got {input_shape!r}"
        )
    hooks = torch.nn.modules.module
    _check_hooks(hooks._global_forward_pre_hooks, "any module (global hook)")
    _check_hooks(hooks._global_forward_hooks, "any module (global hook)")
    x = torch.zeros((1, *shape), **kw)
    with torch.no_grad():
        try:
            lip, _ = walker.walk(model, x, "")
        except RuntimeError as exc:  # the layers' own shape checks (a matmul, a convolution)
            raise ValueError(f"the model does not run on an input of shape {shape} (input_shape): {exc}") from exc
    deltas = sum(1.0 - b.confidence for b in walker.rows)
    conf = 1.0 if deltas == 0 else max(0.0, 1.0 - deltas)
    return LipschitzBound(float(lip), conf, tuple(walker.rows))


def certified_radius(
    logits: torch.Tensor, lipschitz: float | LipschitzBound, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """l2 radius around each input within which the predicted class cannot change: ``margin / (sqrt(2) L)``.

    For a network ``f`` with l2 Lipschitz constant ``<= L``, each margin ``f_y - f_j`` is ``sqrt(2) L``-Lipschitz
    (``||e_y - e_j|| = sqrt(2)``), so no perturbation smaller than ``margin / (sqrt(2) L)`` flips the decision
    (Tsuzuku, Sato & Sugiyama, NeurIPS 2018).

    Parameters
    ----------
    logits : torch.Tensor
        ``(batch, classes)`` outputs of the network.
    lipschitz : float or LipschitzBound
        Certified upper bound ``L``.
    labels : torch.Tensor, optional
        True classes ``(batch,)``; a misclassified input gets radius 0. Default: the predicted class.

    Returns
    -------
    torch.Tensor
        ``(batch,)`` radii, float64 (``inf`` for a single class or ``L = 0``, whose prediction cannot change;
        0 for a misclassified input or a tie).

    Raises
    ------
    ValueError
        ``lipschitz`` negative or NaN; ``logits`` not 2-D; ``labels`` not ``(batch,)`` integers in
        ``[0, classes)``.
    TypeError
        ``lipschitz`` is not a number (or a :class:`LipschitzBound`).

    Examples
    --------
    >>> import torch
    >>> certified_radius(torch.tensor([[3.0, 1.0]]), 1.0)
    tensor([1.4142], dtype=torch.float64)
    """
    try:
        L = float(lipschitz)
    except (TypeError, ValueError):
        raise TypeError(
            f"lipschitz must be a number or a LipschitzBound (an upper bound L), got {type(lipschitz).__name__}"
        ) from None
    if not L >= 0.0:
        raise ValueError(f"lipschitz must be a Lipschitz upper bound, >= 0; got {L}")
    if logits.ndim != 2:
        raise ValueError(f"logits must be (batch, classes); got shape {tuple(logits.shape)}")
    z = logits.detach().double()
    if labels is None:
        labels = z.argmax(dim=1)
    labels = torch.as_tensor(labels, device=z.device)
    batch, classes = z.shape
    if labels.shape != (batch,) or labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be ({batch},) integers; got {labels.dtype} of shape {tuple(labels.shape)}")
    if batch and not bool(((labels >= 0) & (labels < classes)).all()):
        low, high = int(labels.min()), int(labels.max())
        raise ValueError(f"labels must lie in [0, {classes}); got values from {low} to {high}")
    top = z.gather(1, labels.reshape(-1, 1))[:, 0]
    others = z.scatter(1, labels.reshape(-1, 1), -math.inf).max(dim=1).values
    margin = torch.clamp(top - others, min=0.0)
    with torch.no_grad():
        radius = margin / (math.sqrt(2.0) * L) * (1.0 - 4.0 * _U64)
    return torch.where(margin > 0, radius, torch.zeros_like(radius))  # 0 / 0 (L = 0, no margin): radius 0
